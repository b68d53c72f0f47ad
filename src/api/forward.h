#pragma once

#include "api/server.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace stagewise::api {

/// Requests between stagewise processes (DESIGN.md §9, docs/scale-out.md):
/// a read of an application another process owns is forwarded to it, once
/// (a forwarded request is never forwarded again); funnel, list and
/// deadline reads gather every owner's local answer.
inline constexpr const char* kForwardedHeader = "X-Stagewise-Forwarded";
inline constexpr const char* kLocalHeader = "X-Stagewise-Local";

/// Whether `req` asks for this process's own partitions only.
bool local_only(const httplib::Request& req);

/// Whether `req` comes from another stagewise process: its marker carries
/// a fresh (one minute) HMAC of the request under the internal key. A part
/// of a report is counts before suppression: only peers get one.
bool from_peer(const Context& ctx, const httplib::Request& req);

/// Answers `req` with the answer of the process owning `application_id`'s
/// partition; false (nothing written) when this process should answer
/// (no directory, or a request forwarded already). Writes 503 when no live
/// process owns it or the owner does not answer.
bool forward_to_owner(const Context& ctx, const httplib::Request& req, httplib::Response& res,
                      const std::string& application_id);

/// The local answers of every other live process to the same request, and
/// the partitions they cover (with this process's own).
struct Gathered {
  std::vector<nlohmann::json> answers;
  std::set<int32_t> covered;
  std::vector<std::string> failed;  ///< members that did not answer
  bool complete(int32_t partitions) const {
    return static_cast<int32_t>(covered.size()) == partitions;
  }
};
Gathered gather(const Context& ctx, const httplib::Request& req);

/// For the reads that gather every owner's part: a request for this
/// process's part only is answered with `local` (and its partitions);
/// otherwise the other processes' parts, or nothing when some partition
/// has no answer (503 written).
std::optional<Gathered> gather_parts(const Context& ctx, const httplib::Request& req,
                                     httplib::Response& res, nlohmann::json local);

/// Writes 503 naming the partitions no process answered for.
void incomplete(const Context& ctx, const Gathered& g, httplib::Response& res);

}  // namespace stagewise::api
