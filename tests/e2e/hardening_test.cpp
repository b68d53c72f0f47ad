// Issue 10, done when: a run that sends the poison message, the deep
// nesting, the oversize bodies and duplicate ids, then a normal cohort, ends
// with the cohort fully applied and published, the process alive, the
// pending gauge at 0, and every log line valid JSON without personal data.
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::eventually;
using testing::Process;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";

json valid_event(const std::string& id, const std::string& subject) {
  return testing::event(id, "application.submitted", subject, "applicant",
                        {{"name", "Hardening Person"}});
}

class Hardening : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(tmp_ / "config.json") << R"({"log": {"format": "json"}})";
    serve_ = std::make_unique<Process>(
        std::vector<std::string>{kBin, "serve", "--config", tmp_ / "config.json", "--data-dir",
                                 tmp_ / "data", "--workflows", kWorkflows, "--http-port", "0"},
        tmp_ / "serve.out", tmp_ / "serve.err");
    ready_ = testing::parse_ready_line(serve_->wait_line("ready ", 90));
    ASSERT_FALSE(ready_.http.empty()) << serve_->err();
    applicant_token_ = testing::token_for(kBin, tmp_ / "data", "applicant", "stu-hardening");
    admin_token_ = testing::token_for(kBin, tmp_ / "data", "admin", "e2e");
  }

  httplib::Result post(const std::string& body, const std::string& type = "application/json",
                       const std::string& path = "/v1/events") {
    httplib::Client c(ready_.http);
    c.set_bearer_token_auth(applicant_token_);
    c.set_read_timeout(60);
    c.set_write_timeout(60);
    return c.Post(path, body, type);
  }

  void kafka_attacks() {
    testing::InputProducer in(ready_.bootstrap);
    ASSERT_TRUE(in.ok());
    json deep = valid_event("k-deep", "k-deep");
    std::string deep_value = deep.dump();
    deep_value.insert(deep_value.size() - 1,
                      ",\"x\":" + std::string(100'000, '[') + std::string(100'000, ']'));
    json slash = valid_event("k-slash", "a/b");
    json old = valid_event("k-1970", "k-1970");
    old["time"] = "1970-01-02T00:00:00Z";
    std::vector<testing::InputMessage> msgs = {{"poison", std::string(200'000, '\x01')},
                                               {"k-deep", deep_value},
                                               {"a/b", slash.dump()},
                                               {"k-1970", old.dump()}};
    for (size_t i = 0; i < msgs.size(); ++i) ASSERT_TRUE(in.produce(i, msgs[i]));
    ASSERT_TRUE(in.flush());
  }

  void http_attacks() {
    // A body over http.max_body_bytes (8 MiB).
    auto r = post(std::string(10 << 20, ' '));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    // More events than http.max_events_per_request.
    json many = json::array();
    for (int i = 0; i < 100'000; ++i) many.push_back(json::object());
    r = post(many.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_NE(r->body.find("too_many_events"), std::string::npos) << r->body;
    // One event over processor.max_event_bytes: refused before any 202.
    json big = valid_event("h-big", "h-big");
    big["data"]["blob"] = std::string(300'000, 'b');
    r = post(big.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413) << r->body;
    // 100,000 nested brackets.
    r = post(std::string(100'000, '[') + std::string(100'000, ']'));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    // One level deeper than processor.max_json_depth (32) allows: refused,
    // not accepted and then dead-lettered again and again (review finding).
    json one_too_deep = valid_event("h-deep", "h-deep");
    json* at = &one_too_deep["data"];
    for (int i = 0; i < 31; ++i) at = &((*at)["n"] = json::object());
    r = post(one_too_deep.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    // A form post from a browser.
    r = post(valid_event("h-form", "h-form").dump(), "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415);
    // Duplicates in one request, an oversize one and a valid one together,
    // then a retry before processing: one record each.
    const json dup = valid_event("h-dup", "h-dup");
    r = post(json::array({dup, dup, big, valid_event("h-ok", "h-ok")}).dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413) << r->body;
    const json answer = json::parse(r->body);
    EXPECT_EQ(answer["events"][0]["accepted"], true);
    EXPECT_EQ(answer["events"][1]["accepted"], true);
    EXPECT_EQ(answer["events"][2]["accepted"], false);
    EXPECT_EQ(answer["events"][3]["accepted"], true);
    r = post(dup.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202);
  }

  TempDir tmp_;
  std::unique_ptr<Process> serve_;
  testing::ReadyLine ready_;
  std::string applicant_token_, admin_token_;
};

std::map<std::string, uint64_t> funnel(httplib::Client& http, const std::string& program) {
  std::map<std::string, uint64_t> out;
  auto res = http.Get("/v1/programs/" + program + "/funnel");
  if (!res || res->status != 200) return out;
  const json body = json::parse(res->body, nullptr, false);
  for (const auto& s : body["stages"]) out[s["stage"]] = s["count"].get<uint64_t>();
  return out;
}

TEST_F(Hardening, AttacksThenACohortAllAppliedPublishedAndNothingLeftPending) {
  ASSERT_NO_FATAL_FAILURE(kafka_attacks());
  ASSERT_NO_FATAL_FAILURE(http_attacks());

  const std::string program = "summer-research-internship";
  const auto sim =
      testing::run({kBin, "simulate", "--data-dir", tmp_ / "data", "--workflows", kWorkflows,
                    "--program", program, "--applicants", "40", "--seed", "11", "--json"},
                   tmp_ / "sim");
  ASSERT_EQ(sim.code, 0) << sim.err;
  const json s = json::parse(sim.out);
  std::map<std::string, uint64_t> expected;
  uint64_t from_http = 2;  // h-dup and h-ok, in the initial stage
  for (const auto& [stage, n] : s["expected"].items()) expected[stage] = n.get<uint64_t>();
  expected["submitted"] += from_http;

  httplib::Client http(ready_.http);
  http.set_bearer_token_auth(admin_token_);
  ASSERT_TRUE(eventually([&] { return funnel(http, program) == expected; }, 90))
      << json(funnel(http, program)).dump() << " expected " << json(expected).dump();
  ASSERT_TRUE(serve_->running()) << serve_->err().substr(0, 4000);
  EXPECT_EQ(http.Get("/healthz")->status, 200);
  EXPECT_TRUE(eventually([&] {
    return testing::metric(ready_.http, "stagewise_intake_pending") == 0;
  })) << testing::metric(ready_.http, "stagewise_intake_pending").value_or(-1);
  EXPECT_EQ(testing::metric(ready_.http, "stagewise_outbox_parked"), 0);

  // Published: every application's current stage is the last status event.
  std::map<std::string, std::pair<int64_t, std::string>> last;  // id -> sequence, to
  ASSERT_TRUE(eventually(
      [&] {
        last.clear();
        for (const auto& m : testing::read_topic(ready_.bootstrap, "stagewise.status", 8)) {
          const json e = m.json();
          const auto& d = e["data"];
          auto& l = last[d["application"]];
          if (d["sequence"].get<int64_t>() > l.first) l = {d["sequence"], d["to"]};
        }
        return last.size() == 42u;  // the cohort, h-dup and h-ok
      },
      60))
      << last.size() << " applications have status events";
  for (const auto& [id, seq_to] : last) {
    const auto app = testing::get_json(http, "/v1/applications/" + id);
    ASSERT_EQ(app.status, 200) << id;
    EXPECT_EQ(app.body["stage"], seq_to.second) << id;
  }

  // The poison message's dead letter is bounded, and its original kept.
  json poison;
  for (const auto& m : testing::read_topic(ready_.bootstrap, "stagewise.deadletter", 8))
    if (m.json()["data"]["original"]["length"] == 200'000) poison = m.json();
  ASSERT_FALSE(poison.is_null());
  const auto kept = testing::get_json(http, "/v1/deadletters/" + poison["id"].get<std::string>());
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_EQ(kept.body["length"], 200'000);

  // Nothing more is re-produced: duplicates stop growing.
  const auto dups = testing::metric(ready_.http, "stagewise_events_duplicate_total");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(testing::metric(ready_.http, "stagewise_events_duplicate_total"), dups);

  // Logs: one JSON object per line, no applicant's name or e-mail.
  serve_->signal(SIGTERM);
  EXPECT_EQ(serve_->wait(), 0);
  std::istringstream lines(serve_->err());
  size_t n = 0;
  for (std::string line; std::getline(lines, line);) {
    ++n;
    EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line.substr(0, 300);
    EXPECT_EQ(line.find("@example.edu"), std::string::npos) << line;
    EXPECT_EQ(line.find("Hardening Person"), std::string::npos) << line;
  }
  EXPECT_GT(n, 5u);
}

}  // namespace
}  // namespace stagewise
