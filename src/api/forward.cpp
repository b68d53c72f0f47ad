#include "api/forward.h"

#include "api/detail/replies.h"
#include "auth/openssl.h"
#include "common/partition.h"
#include "common/time.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <future>
#include <openssl/crypto.h>

namespace stagewise::api {

namespace {

using nlohmann::json;

struct Answer {
  int status = 0;  // 0: no answer
  std::string body;
  std::string content_type;
  std::string error;
};

// What a peer signs: when, and which request.
std::string peer_mac(const std::string& key, const std::string& when, const httplib::Request& req) {
  return auth::ssl::hmac_sha256_hex(key, when + "\n" + req.method + "\n" + req.target);
}

// One request to another process, with the caller's credential and this
// process's signature (when.mac under the internal key).
Answer ask(const Context& ctx, const std::string& url, const httplib::Request& req,
           const char* marker) {
  httplib::Client client(url);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(10, 0);
  client.set_write_timeout(5, 0);
  client.set_url_encode(false);  // the target as received: what is signed is what arrives
  const std::string when = std::to_string(now_ms());
  httplib::Headers headers = {{marker, when + "." + peer_mac(ctx.internal_key, when, req)}};
  if (req.has_header("Authorization"))
    headers.emplace("Authorization", req.get_header_value("Authorization"));
  auto r = req.method == "POST" ? client.Post(req.target.c_str(), headers, req.body,
                                              req.get_header_value("Content-Type").c_str())
                                : client.Get(req.target.c_str(), headers);
  if (!r) return {0, "", "", httplib::to_string(r.error())};
  return {r->status, r->body, r->get_header_value("Content-Type"), ""};
}

}  // namespace

bool local_only(const httplib::Request& req) {
  return req.has_header(kLocalHeader);
}

bool from_peer(const Context& ctx, const httplib::Request& req) {
  constexpr int64_t kSkewMs = 60'000;
  const std::string v = req.get_header_value(kLocalHeader);
  const size_t dot = v.find('.');
  if (ctx.internal_key.empty() || dot == std::string::npos || dot == 0) return false;
  const std::string when = v.substr(0, dot), mac = v.substr(dot + 1);
  if (when.find_first_not_of("0123456789") != std::string::npos || when.size() > 15) return false;
  if (std::abs(now_ms() - std::stoll(when)) > kSkewMs) return false;
  const std::string want = peer_mac(ctx.internal_key, when, req);
  return mac.size() == want.size() && CRYPTO_memcmp(mac.data(), want.data(), mac.size()) == 0;
}

bool forward_to_owner(const Context& ctx, const httplib::Request& req, httplib::Response& res,
                      const std::string& application_id) {
  if (ctx.members == nullptr || req.has_header(kForwardedHeader) || local_only(req)) return false;
  const int32_t n = ctx.store->partitions();
  const int32_t partition = n > 0 ? partition_of(application_id, n) : -1;
  const auto owner = ctx.members->owner_of(partition);
  if (!owner) {
    detail::fail(res, 503, "no_owner",
                 "no process owns partition " + std::to_string(partition) +
                     " right now (a hand-over is under way); try again in a few seconds");
    res.set_header("Retry-After", "2");
    return true;
  }
  const Answer a = ask(ctx, owner->url, req, kForwardedHeader);
  if (a.status == 0) {
    detail::fail(res, 503, "owner_unreachable",
                 "the process owning partition " + std::to_string(partition) + " (" + owner->url +
                     ") did not answer: " + a.error + "; try again in a few seconds");
    res.set_header("Retry-After", "2");
    return true;
  }
  res.status = a.status;
  res.set_content(a.body, a.content_type.empty() ? "application/json" : a.content_type.c_str());
  res.set_header("X-Stagewise-Answered-By", owner->id);
  return true;
}

Gathered gather(const Context& ctx, const httplib::Request& req) {
  Gathered g;
  if (ctx.processor != nullptr)
    for (const int32_t p : ctx.processor->owned_partitions()) g.covered.insert(p);
  if (ctx.members == nullptr || local_only(req) || req.has_header(kForwardedHeader)) return g;
  const auto others = ctx.members->others();
  std::vector<std::future<Answer>> asks;
  for (const auto& m : others)
    asks.push_back(std::async(std::launch::async, [&ctx, &req, url = m.url] {
      return ask(ctx, url, req, kLocalHeader);
    }));
  for (size_t i = 0; i < others.size(); ++i) {
    const Answer a = asks[i].get();
    auto j = a.status == 200 ? json::parse(a.body, nullptr, false) : json();
    if (!j.is_object() || !j.contains("partitions") || !j["partitions"].is_array()) {
      g.failed.push_back(others[i].id);
      continue;
    }
    for (const auto& p : j["partitions"])
      if (p.is_number_integer()) g.covered.insert(p.get<int32_t>());
    g.answers.push_back(std::move(j));
  }
  return g;
}

std::optional<Gathered> gather_parts(const Context& ctx, const httplib::Request& req,
                                     httplib::Response& res, json local) {
  if (local_only(req)) {
    // Only a peer may ask for a part: a report's part is not yet suppressed.
    if (!from_peer(ctx, req)) {
      detail::fail(res, 403, "forbidden",
                   std::string(kLocalHeader) +
                       " is for stagewise processes, signed with the "
                       "internal key; leave it out");
      return std::nullopt;
    }
    local["partitions"] =
        ctx.processor != nullptr ? json(ctx.processor->owned_partitions()) : json::array();
    detail::reply(res, 200, local);
    return std::nullopt;
  }
  Gathered g = gather(ctx, req);
  if (ctx.members != nullptr && !g.complete(ctx.store->partitions())) {
    incomplete(ctx, g, res);
    return std::nullopt;
  }
  return g;
}

void incomplete(const Context& ctx, const Gathered& g, httplib::Response& res) {
  json missing = json::array();
  for (int32_t p = 0; p < ctx.store->partitions(); ++p)
    if (!g.covered.contains(p)) missing.push_back(p);
  res.set_header("Retry-After", "2");
  detail::reply(res, 503,
                {{"error", "incomplete"},
                 {"message",
                  "no process answered for some partitions (a hand-over is under way, or a "
                  "process is down); try again in a few seconds"},
                 {"partitions_missing", missing},
                 {"members_failed", g.failed}});
}

}  // namespace stagewise::api
