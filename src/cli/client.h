#pragma once

// How CLI commands reach a running server (DESIGN.md §10).
#include "cli/commands.h"
#include "store/store.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>

namespace stagewise::cli {

struct Url {
  std::string host;
  int port = 80;
};
/// "http://host:port" taken apart for httplib; nullopt when malformed.
std::optional<Url> parse_url(const std::string& url);
/// What `serve` recorded in the data dir (null when nothing).
nlohmann::json read_serve_file(const std::string& data_dir);
/// The URL of the server to ask: --server, else the live server recorded
/// in the data dir; empty when none runs.
std::string server_url(const Target& t);
std::string url_encode(const std::string& s);
/// One request to the server: {status, body}; status 0 when unreachable.
std::pair<int, nlohmann::json> http_call(const std::string& base, const std::string& method,
                                         const std::string& path, const std::string& token,
                                         const std::string& body = "", int timeout_s = 30);

/// How a command opens the store in `data_dir` itself (no server runs on
/// it): read-only, with the key-encryption key from the data dir's
/// auth/data.secret when there is one, so sealed personal data reads.
store::Store::Options local_store_options(const std::string& data_dir, bool read_only = true);

}  // namespace stagewise::cli
