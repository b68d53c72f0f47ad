#pragma once

// Answers the server gave in an end-to-end test, checked against the
// OpenAPI document (src/api/openapi.json) by tools/js/check-responses.mjs:
// the route and status must be described, the media type listed, and a JSON
// body valid against its schema. A schema that lies about an answer fails
// the test that recorded it.
#include "support/process.h"
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace stagewise::testing {

class AnswerLog {
 public:
  /// Records the answer to `method target` (nothing when there was none).
  void add(const std::string& method, const std::string& target, const httplib::Result& res) {
    if (!res) return;
    answers_.push_back({{"method", method},
                        {"target", target},
                        {"status", res->status},
                        {"content_type", res->get_header_value("Content-Type")},
                        {"body", res->body}});
  }
  /// get_json / post_json, recorded.
  JsonReply get(httplib::Client& c, const std::string& target) {
    auto res = c.Get(target);
    add("GET", target, res);
    if (!res) return {};
    return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
  }
  JsonReply post(httplib::Client& c, const std::string& target, const nlohmann::json& body) {
    auto res = c.Post(target, body.dump(), "application/json");
    add("POST", target, res);
    if (!res) return {};
    return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
  }
  size_t size() const { return answers_.size(); }

  /// Whether every recorded answer conforms to the document; the checker's
  /// words for each one that does not. `scratch` is a path prefix for its files.
  ::testing::AssertionResult conform(const std::string& scratch) const {
    const std::string file = scratch + ".answers.jsonl";
    {
      std::ofstream out(file);
      for (const auto& a : answers_)
        out << a.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    const std::string src = STAGEWISE_SOURCE_DIR;
    const auto r = run({STAGEWISE_NODE, src + "/tools/js/check-responses.mjs",
                        src + "/src/api/openapi.json", file},
                       scratch + ".check");
    if (r.code == 0 && !answers_.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << answers_.size() << " answers; tools/js/check-responses.mjs exit " << r.code << "\n"
           << r.err << r.out;
  }

 private:
  std::vector<nlohmann::json> answers_;
};

}  // namespace stagewise::testing
