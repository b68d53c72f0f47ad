#pragma once

// Small pieces every handler uses: JSON answers, errors, query parameters.
#include "api/server.h"
#include "api/views.h"
#include "auth/scope.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

namespace stagewise::api::detail {

inline void reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  // Never throws: text from a request (an id that is not UTF-8) is replaced.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

inline void fail(httplib::Response& res, int status, const std::string& code,
                 const std::string& msg) {
  reply(res, status, error_view(code, msg));
}

/// Application `id` as `who` may see it: its scope, and the application in
/// `app` when the scope is not none. Missing, unreadable and out of scope
/// are all `none`, so that no caller can tell them apart.
auth::Scope scope_in_store(const Context& ctx, const auth::Principal& who, const std::string& id,
                           workflow::Application* app = nullptr);

/// A whole-number query parameter, `fallback` when absent, at most `max`;
/// nullopt when malformed.
std::optional<uint64_t> count_param(const httplib::Request& req, const char* name,
                                    uint64_t fallback, uint64_t max);

/// Lets one request at a time through a route (an assignment, a backup):
/// `acquired()` is false while another holds `running`; it is released when
/// the holder goes out of scope.
class OneAtATime {
 public:
  explicit OneAtATime(std::atomic<bool>& running)
      : running_(running), acquired_(!running.exchange(true)) {}
  ~OneAtATime() {
    if (acquired_) running_ = false;
  }
  OneAtATime(const OneAtATime&) = delete;
  OneAtATime& operator=(const OneAtATime&) = delete;
  bool acquired() const { return acquired_; }

 private:
  std::atomic<bool>& running_;
  bool acquired_;
};

}  // namespace stagewise::api::detail
