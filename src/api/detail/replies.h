#pragma once

// Small pieces every handler uses: JSON answers, errors, query parameters.
#include "api/views.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace stagewise::api::detail {

inline void reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

inline void fail(httplib::Response& res, int status, const std::string& code,
                 const std::string& msg) {
  reply(res, status, error_view(code, msg));
}

/// A whole-number query parameter, `fallback` when absent, at most `max`;
/// nullopt when malformed.
std::optional<uint64_t> count_param(const httplib::Request& req, const char* name,
                                    uint64_t fallback, uint64_t max);

}  // namespace stagewise::api::detail
