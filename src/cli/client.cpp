#include "cli/client.h"

#include "privacy/keys.h"

#include <signal.h>

#include <fstream>
#include <sstream>

namespace stagewise::cli {

using nlohmann::json;

// Splits "http://host:port" into host and port for httplib.
std::optional<Url> parse_url(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (const auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  const auto colon = rest.rfind(':');
  Url u;
  u.host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (colon != std::string::npos) {
    try {
      u.port = std::stoi(rest.substr(colon + 1));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (u.host.empty()) return std::nullopt;
  return u;
}

json read_serve_file(const std::string& data_dir) {
  std::ifstream in(serve_file(data_dir));
  if (!in) return json();
  json j = json::parse(in, nullptr, false);
  return j.is_discarded() ? json() : j;
}

// The URL of the server to ask: --server, else the live server recorded in
// the data dir; empty when the data dir is to be read directly.
std::string server_url(const Target& t) {
  if (!t.server.empty()) return t.server;
  const json s = read_serve_file(t.data_dir);
  if (!s.is_object() || !s.contains("http")) return "";
  if (s.contains("pid") && kill(s["pid"].get<int>(), 0) != 0) return "";  // stale file
  return s["http"].get<std::string>();
}

std::string url_encode(const std::string& s) {
  std::ostringstream o;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      o << c;
    else
      o << '%' << std::uppercase << std::hex << (c >> 4) << (c & 15) << std::dec;
  }
  return o.str();
}

std::pair<int, json> http_call(const std::string& base, const std::string& method,
                               const std::string& path, const std::string& token,
                               const std::string& body, int timeout_s) {
  const auto u = parse_url(base);
  if (!u) return {0, json()};
  httplib::Client cli(u->host, u->port);
  cli.set_connection_timeout(3);
  cli.set_read_timeout(timeout_s);
  if (!token.empty()) cli.set_bearer_token_auth(token);
  auto res = method == "POST" ? cli.Post(path, body, "application/json") : cli.Get(path);
  if (!res) return {0, json()};
  json j = json::parse(res->body, nullptr, false);
  return {res->status, j.is_discarded() ? json() : j};
}

store::Store::Options local_store_options(const std::string& data_dir, bool read_only) {
  store::Store::Options o;
  o.read_only = read_only;
  if (auto kek = privacy::kek_of(data_dir)) o.kek = std::move(*kek);
  return o;
}

}  // namespace stagewise::cli
