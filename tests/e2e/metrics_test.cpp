// Issue 14, item 6: the metrics operators expect, from the real `stagewise
// serve`, pass `promtool check metrics` and count what a user did: requests
// per route and status, processing latency, applications per stage, build
// and process.
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::metric;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
const std::string kProgram = "summer-research-internship";

// promtool on the PATH (tools/setup installs Debian's prometheus package);
// empty when there is none.
std::string find_promtool() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (const std::string p = dir + "/promtool"; ::access(p.c_str(), X_OK) == 0) return p;
  return "";
}

std::string requests(const std::string& method, const std::string& route, int status) {
  return "stagewise_http_requests_total{method=\"" + method + "\",route=\"" + route +
         "\",status=\"" + std::to_string(status) + "\"}";
}

class Metrics : public ::testing::Test {
 protected:
  void SetUp() override {
    serve_ = testing::start_serve_embedded(kBin, kWorkflows, data(), tmp_ / "serve");
    ASSERT_FALSE(serve_.ready.http.empty()) << serve_.proc->err();
    use_it();
  }
  std::string data() const { return tmp_ / "data"; }

  // What users did: four events applied (three submissions, one moved on to
  // documents); three applications read, one missing, two unknown paths, one
  // call without a token, one body refused before any route ran.
  void use_it() {
    applicant_ = testing::token_for(kBin, data(), "applicant", "stu-metrics");
    manager_ =
        testing::token_for(kBin, data(), "program_manager", "pm-metrics", {"--program", kProgram});
    ASSERT_FALSE(applicant_.empty());
    ASSERT_FALSE(manager_.empty());
    for (int i = 0; i < 3; ++i) {
      const std::string app = "metrics-app-" + std::to_string(i);
      const auto r = post(applicant_, testing::event(app + "-s", "application.submitted", app,
                                                     "applicant", {{"name", "Mia Metrics"}}, i));
      ASSERT_EQ(r.status, 202) << r.body.dump();
      ASSERT_EQ(r.body["events"][0]["outcome"]["status"], "applied") << r.body.dump();
    }
    const auto decided =
        post(manager_, testing::event("metrics-app-0-d", "decision.recorded", "metrics-app-0",
                                      "program_manager", {{"outcome", "eligible"}}, 5));
    ASSERT_EQ(decided.body["events"][0]["outcome"]["status"], "applied") << decided.body.dump();
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(get(applicant_, "/v1/applications/metrics-app-" + std::to_string(i)), 200);
    ASSERT_EQ(get(applicant_, "/v1/applications/no-such-app"), 404);
    ASSERT_EQ(get("", "/v1/no/such/path/stu-metrics"), 404);
    ASSERT_EQ(get("", "/v1/no/such/path/stu-metrics"), 404);
    ASSERT_EQ(get("", "/v1/info"), 401);
    httplib::Client c(serve_.ready.http);
    const auto refused =
        c.Post("/v1/events", {{"Content-Encoding", "gzip"}}, "{}", "application/json");
    ASSERT_TRUE(refused);
    ASSERT_EQ(refused->status, 415);
  }

  std::string page() {
    httplib::Client c(serve_.ready.http);
    auto res = c.Get("/metrics");
    return res && res->status == 200 ? res->body : "";
  }

  testing::JsonReply post(const std::string& token, const json& event) {
    httplib::Client c(serve_.ready.http);
    c.set_read_timeout(30);
    c.set_bearer_token_auth(token);
    return testing::post_json(c, "/v1/events?wait=10", event);
  }
  int get(const std::string& token, const std::string& path) {
    httplib::Client c(serve_.ready.http);
    if (!token.empty()) c.set_bearer_token_auth(token);
    auto res = c.Get(path);
    return res ? res->status : 0;
  }

  TempDir tmp_;
  testing::ServeProcess serve_;
  std::string applicant_, manager_;
};

// Every family, with samples in each (histograms with observations, two
// routes, two statuses), as Prometheus' own linter reads it.
TEST_F(Metrics, PassPromtoolCheck) {
  const std::string promtool = find_promtool();
  if (promtool.empty())
    GTEST_SKIP() << "promtool is not installed (tools/setup installs Debian's prometheus "
                    "package, which has it)";
  const std::string text = page();
  ASSERT_NE(text, "");
  const std::string file = tmp_ / "metrics.txt";
  std::ofstream(file) << text;
  const auto checked = testing::run(
      {"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool, file}, tmp_ / "promtool");
  EXPECT_EQ(checked.code, 0) << checked.out << checked.err;
  EXPECT_EQ(checked.out + checked.err, "") << "promtool's lint found problems";
}

TEST_F(Metrics, CountWhatUsersDid) {
  const std::string text = page();
  ASSERT_NE(text, "");
  EXPECT_EQ(text.find("stu-metrics"), std::string::npos) << "no raw path in a label";
  EXPECT_EQ(text.find("metrics-app-"), std::string::npos) << "no application id";
  EXPECT_EQ(text.find("Mia Metrics"), std::string::npos);

  const std::string& http = serve_.ready.http;
  EXPECT_EQ(metric(http, requests("GET", "/v1/applications/{id}", 200)), 3);
  EXPECT_EQ(metric(http, requests("GET", "/v1/applications/{id}", 404)), 1);
  EXPECT_EQ(metric(http, requests("POST", "/v1/events", 202)), 4);
  EXPECT_EQ(metric(http, requests("GET", "/v1/info", 401)), 1);
  EXPECT_EQ(metric(http, requests("GET", "other", 404)), 2) << "unknown paths count as other";
  EXPECT_EQ(metric(http, requests("POST", "other", 415)), 1) << "so do requests refused unread";
  EXPECT_EQ(metric(http,
                   "stagewise_http_request_duration_seconds_count{method=\"GET\",route=\"/"
                   "v1/applications/{id}\"}"),
            4);
  EXPECT_EQ(metric(http,
                   "stagewise_http_request_duration_seconds_count{method=\"GET\",route=\""
                   "other\"}"),
            2);

  // Every applied event was timed, from its time and from its message.
  EXPECT_EQ(metric(http, "stagewise_events_applied_total"), 4);
  EXPECT_EQ(metric(http, "stagewise_event_age_seconds_count"), 4);
  EXPECT_EQ(metric(http, "stagewise_event_queue_seconds_count"), 4);
  // The events were sent an hour or more after their `time`
  // (testing::test_epoch_ms); their messages were produced as they were sent.
  EXPECT_EQ(metric(http, "stagewise_event_age_seconds_bucket{le=\"900\"}"), 0);
  EXPECT_EQ(metric(http, "stagewise_event_age_seconds_bucket{le=\"21600\"}"), 4);
  EXPECT_EQ(metric(http, "stagewise_event_queue_seconds_bucket{le=\"900\"}"), 4);

  // The stage gauges say what the funnel says.
  httplib::Client pm(http);
  pm.set_bearer_token_auth(manager_);
  const auto funnel = testing::get_json(pm, "/v1/programs/" + kProgram + "/funnel");
  ASSERT_EQ(funnel.status, 200) << funnel.body.dump();
  int stages = 0;
  for (const auto& s : funnel.body["stages"]) {
    const std::string series = "stagewise_applications{program=\"" + kProgram + "\",stage=\"" +
                               s["stage"].get<std::string>() + "\"}";
    EXPECT_EQ(metric(http, series), s["count"].get<double>()) << series;
    ++stages;
  }
  EXPECT_GT(stages, 3);
  EXPECT_EQ(
      metric(http, "stagewise_applications{program=\"" + kProgram + "\",stage=\"submitted\"}"), 2);
  EXPECT_EQ(
      metric(http, "stagewise_applications{program=\"" + kProgram + "\",stage=\"documents\"}"), 1);

  EXPECT_EQ(metric(http, "stagewise_build_info{version=\"" STAGEWISE_VERSION "\"}"), 1);
  EXPECT_GT(metric(http, "process_resident_memory_bytes").value_or(0), 1 << 20);
  EXPECT_GT(metric(http, "process_open_fds").value_or(0), 3);
  EXPECT_GE(metric(http, "process_max_fds").value_or(0),
            metric(http, "process_open_fds").value_or(1));
  EXPECT_GT(metric(http, "process_start_time_seconds").value_or(0), 1.6e9);
  EXPECT_GT(metric(http, "process_cpu_seconds_total").value_or(0), 0);
}

}  // namespace
}  // namespace stagewise
