// End to end: the built `stagewise` binary, run as the README runs it.
#include "support/kafka_fixture.h"
#include "support/openapi_answers.h"
#include "support/process.h"
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <tuple>
#include <vector>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::event;
using testing::eventually;
using testing::Process;
using testing::run;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";

using Ready = testing::ReadyLine;
const auto parse_ready = testing::parse_ready_line;

// A small cohort of the summer program; expected stage per applicant.
std::map<std::string, std::string> write_cohort(const std::string& path) {
  std::ofstream out(path);
  int minute = 0;
  auto put = [&](json e) { out << e.dump() << "\n"; };
  std::map<std::string, std::string> expected;
  for (int i = 0; i < 12; ++i) {
    const std::string id = "stu-" + std::to_string(i);
    put(event(id + "-s", "application.submitted", id, "applicant", {{"name", id}}, minute++));
    expected[id] = "submitted";
    if (i % 3 == 0) continue;
    if (i % 4 == 1) {
      put(event(id + "-d", "decision.recorded", id, "program_manager", {{"outcome", "ineligible"}},
                minute++));
      expected[id] = "rejected";
      continue;
    }
    put(event(id + "-d", "decision.recorded", id, "program_manager", {{"outcome", "eligible"}},
              minute++));
    expected[id] = "documents";
    if (i % 2 == 0) {
      put(event(id + "-t", "application.document_added", id, "applicant", {{"kind", "transcript"}},
                minute++));
      put(event(id + "-r", "application.document_added", id, "applicant",
                {{"kind", "recommendation_letter"}}, minute++));
      expected[id] = "review";
    }
    if (i == 11) {
      put(event(id + "-w", "application.withdrawn", id, "applicant", nullptr, minute++));
      expected[id] = "withdrawn";
    }
  }
  return expected;
}

std::string stage_of(const std::string& data_dir, const std::string& id,
                     const std::string& scratch) {
  const auto r = run({kBin, "status", id, "--data-dir", data_dir, "--json"}, scratch);
  if (r.code != 0) return "(exit " + std::to_string(r.code) + ": " + r.err + ")";
  return json::parse(r.out)["stage"].get<std::string>();
}

TEST(Serve, CohortSurvivesARestartAndNothingIsAppliedTwice) {
  TempDir tmp;
  const std::string data = tmp / "data";
  const std::string cohort = tmp / "cohort.jsonl";
  const auto expected = write_cohort(cohort);

  auto p = std::make_unique<Process>(
      std::vector<std::string>{kBin, "serve", "--data-dir", data, "--workflows", kWorkflows,
                               "--http-port", "0"},
      tmp / "serve.out", tmp / "serve.err");
  const Ready ready = parse_ready(p->wait_line("ready ", 60));
  ASSERT_FALSE(ready.http.empty()) << p->err();
  ASSERT_FALSE(ready.bootstrap.empty());

  auto sub = run({kBin, "submit", cohort, "--data-dir", data}, tmp / "submit");
  ASSERT_EQ(sub.code, 0) << sub.err;
  EXPECT_NE(sub.err.find("submitted"), std::string::npos);
  for (const auto& [id, stage] : expected)
    EXPECT_TRUE(eventually([&] { return stage_of(data, id, tmp / "q") == stage; }))
        << id << " is " << stage_of(data, id, tmp / "q") << ", expected " << stage;

  // Histories before the restart, through the HTTP API.
  httplib::Client http(ready.http);
  http.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "e2e-admin"));
  std::map<std::string, size_t> history_len;
  for (const auto& [id, stage] : expected) {
    auto res = http.Get("/v1/applications/" + id + "/history");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    history_len[id] = json::parse(res->body)["events"].size();
  }

  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(), 0) << p->err();
  // Stopped: the query reads the data dir directly.
  EXPECT_EQ(stage_of(data, "stu-2", tmp / "q"), expected.at("stu-2"));

  p = std::make_unique<Process>(
      std::vector<std::string>{kBin, "serve", "--data-dir", data, "--workflows", kWorkflows,
                               "--http-port", "0"},
      tmp / "serve2.out", tmp / "serve2.err");
  const Ready again = parse_ready(p->wait_line("ready ", 60));
  ASSERT_FALSE(again.http.empty()) << p->err();
  for (const auto& [id, stage] : expected) EXPECT_EQ(stage_of(data, id, tmp / "q"), stage) << id;

  // The same cohort again (a client retrying everything): no event applies twice.
  sub = run({kBin, "submit", cohort, "--data-dir", data}, tmp / "submit2");
  ASSERT_EQ(sub.code, 0) << sub.err;
  auto h = run({kBin, "history", "stu-4", "--data-dir", data}, tmp / "h");
  ASSERT_EQ(h.code, 0);
  // One more event shows the processor is live and has consumed the retries.
  std::ofstream(tmp / "one.jsonl")
      << event("late-note", "note.added", "stu-0", "program_manager", {{"text", "hi"}}, 500).dump()
      << "\n";
  ASSERT_EQ(run({kBin, "submit", tmp / "one.jsonl", "--data-dir", data}, tmp / "s3").code, 0);
  httplib::Client http2(again.http);
  http2.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "e2e-admin"));
  ASSERT_TRUE(eventually([&] {
    auto res = http2.Get("/v1/applications/stu-0/history");
    return res && res->status == 200 && json::parse(res->body)["events"].size() == 2;
  }));
  for (const auto& [id, len] : history_len) {
    if (id == "stu-0") continue;
    auto res = http2.Get("/v1/applications/" + id + "/history");
    ASSERT_TRUE(res);
    EXPECT_EQ(json::parse(res->body)["events"].size(), len) << id << " got events twice";
  }
  auto metrics = http2.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("stagewise_events_duplicate_total"), std::string::npos);

  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(), 0) << p->err();
}

// Every read route as a user calls it, good and bad, recorded to be checked
// against the OpenAPI document; `h-1` is an application, a dead letter is kept.
void read_every_route(testing::AnswerLog& log, const std::string& url, const std::string& admin,
                      const std::string& applicant) {
  httplib::Client anyone(url), as_admin(url), as_applicant(url);
  as_admin.set_bearer_token_auth(admin);
  as_applicant.set_bearer_token_auth(applicant);
  const std::string p = "/v1/programs/summer-research-internship";
  const std::vector<std::tuple<httplib::Client*, std::string, int>> calls = {
      {&anyone, "/healthz", 200},
      {&anyone, "/readyz", 200},
      {&anyone, "/metrics", 200},
      {&anyone, "/", 200},
      {&anyone, "/v1/openapi.json", 200},
      {&anyone, "/v1/info", 401},
      {&as_applicant, "/v1/info", 200},
      {&as_applicant, "/v1/workflows", 200},
      {&as_applicant, "/v1/workflows/summer-research-internship/graph", 200},
      {&as_applicant, "/v1/workflows/summer-research-internship/graph?format=dot", 200},
      {&as_applicant, "/v1/workflows/summer-research-internship/graph?format=png", 400},
      {&as_applicant, "/v1/workflows/no-such-program/graph", 404},
      {&as_applicant, "/v1/applications/h-1", 200},
      {&as_applicant, "/v1/applications/h-1/history", 200},
      {&as_admin, "/v1/applications/h-1/history", 200},
      {&as_applicant, p + "/funnel", 403},
      {&as_admin, p + "/funnel", 200},
      {&as_admin, p + "/applications", 200},
      {&as_admin, p + "/applications?stage=submitted&limit=1", 200},
      {&as_admin, p + "/applications?limit=0", 400},
      {&as_admin, p + "/deadlines?before=2100-01-01T00:00:00Z", 200},
      {&as_admin, p + "/deadlines?before=tomorrow", 400},
      {&as_admin, p + "/ranking", 200},
      {&as_admin, "/v1/reviewers", 200},
      {&as_admin, "/v1/outbox/parked", 200},
      {&as_admin, "/v1/deadletters?limit=x", 400},
      {&as_admin, "/v1/deadletters/deadletter/nowhere/0/0", 404},
  };
  for (const auto& [client, path, status] : calls) {
    auto res = client->Get(path);
    log.add("GET", path, res);
    EXPECT_EQ(res ? res->status : 0, status) << "GET " << path;
  }
  const auto kept = log.get(as_admin, "/v1/deadletters");
  ASSERT_EQ(kept.status, 200);
  ASSERT_FALSE(kept.body["deadletters"].empty());
  EXPECT_EQ(
      log.get(as_admin, "/v1/deadletters/" + kept.body["deadletters"][0]["id"].get<std::string>())
          .status,
      200);
  // What is served is the document in the repository.
  auto doc = anyone.Get("/v1/openapi.json");
  ASSERT_TRUE(doc);
  EXPECT_EQ(
      json::parse(doc->body),
      json::parse(testing::read_file(std::string(STAGEWISE_SOURCE_DIR) + "/src/api/openapi.json")));
}

TEST(Serve, KcatStyleProducerJunkAndHttpIntake) {
  TempDir tmp;
  const std::string data = tmp / "data";
  Process p({kBin, "serve", "--data-dir", data, "--workflows", kWorkflows, "--http-port", "0"},
            tmp / "serve.out", tmp / "serve.err");
  const Ready ready = parse_ready(p.wait_line("ready ", 60));
  ASSERT_FALSE(ready.http.empty()) << p.err();

  // A plain Kafka client writes junk and a good event to the printed bootstrap.
  auto producer = kafka::Producer::create({{"bootstrap.servers", ready.bootstrap}}, nullptr);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->produce("stagewise.events", "x", "this is not json", {}, 0).ok());
  ASSERT_TRUE((*producer)
                  ->produce("stagewise.events", "k-1",
                            event("k1", "application.submitted", "k-1", "applicant").dump(), {}, 0)
                  .ok());
  ASSERT_TRUE((*producer)->flush(10000).ok());

  httplib::Client http(ready.http);
  http.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "e2e-admin"));
  ASSERT_TRUE(eventually([&] {
    auto res = http.Get("/v1/applications/k-1");
    return res && res->status == 200;
  }));
  // The dead letter is published by the relay after the round commits, so it
  // may follow the application's state by a moment.
  std::vector<testing::ReadMessage> dl;
  ASSERT_TRUE(eventually([&] {
    dl = testing::read_topic(ready.bootstrap, "stagewise.deadletter", 8);
    return !dl.empty();
  }));
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(dl[0].json()["data"]["reason"], "malformed_json");

  // HTTP intake: 202 with ids for a good event, 400 naming the problem for a
  // bad one; the events are sent as the token's actor, an applicant.
  httplib::Client as_applicant(ready.http);
  as_applicant.set_bearer_token_auth(testing::token_for(kBin, data, "applicant", "stu-h"));
  testing::AnswerLog log;
  auto res = as_applicant.Post("/v1/events",
                               event("h1", "application.submitted", "h-1", "applicant").dump(),
                               "application/cloudevents+json");
  log.add("POST", "/v1/events", res);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202) << res->body;
  EXPECT_EQ(json::parse(res->body)["ids"], json::array({"h1"}));
  json bad = event("h2", "application.submitted", "h-2", "applicant");
  bad.erase("time");
  res = as_applicant.Post("/v1/events", bad.dump(), "application/json");
  log.add("POST", "/v1/events", res);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  const json err = json::parse(res->body);
  EXPECT_NE(err["error"]["message"].get<std::string>().find("time"), std::string::npos);
  ASSERT_TRUE(eventually([&] {
    auto r = http.Get("/v1/applications/h-1");
    return r && r->status == 200;
  }));
  res = http.Get("/v1/applications/nope");
  log.add("GET", "/v1/applications/nope", res);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "not_found");
  res = http.Get("/v1/info");
  log.add("GET", "/v1/info", res);
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["bootstrap_servers"], ready.bootstrap);
  // Every answer is as the OpenAPI document describes it.
  read_every_route(log, ready.http, testing::token_for(kBin, data, "admin", "e2e-admin"),
                   testing::token_for(kBin, data, "applicant", "stu-h"));
  EXPECT_TRUE(log.conform(tmp / "answers"));

  p.signal(SIGINT);
  EXPECT_EQ(p.wait(), 0);
}

TEST(Cli, UsageErrorsExitTwoAndHelpWorks) {
  TempDir tmp;
  EXPECT_EQ(run({kBin}, tmp / "a").code, 2);
  EXPECT_EQ(run({kBin, "status"}, tmp / "b").code, 2);
  EXPECT_EQ(run({kBin, "frobnicate"}, tmp / "c").code, 2);
  for (const char* cmd : {"serve", "submit", "status", "history", "broker"}) {
    const auto r = run({kBin, cmd, "--help"}, tmp / "d");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("--"), std::string::npos) << cmd;
  }
  const auto missing = run({kBin, "status", "x", "--data-dir", tmp / "nothing-here"}, tmp / "e");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("data dir"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace stagewise
