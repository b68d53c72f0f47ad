// Issue 14, end to end with the real binary: applicants' self-identification
// is kept apart (no view, history or role sees it one by one), and the
// program office reads the funnel, time in stage, hubs and the fairness
// table (four-fifths flags, small groups suppressed) over HTTP, as CSV, and
// with `stagewise report`, also from the data dir once the server is gone.
#include "support/openapi_answers.h"
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <csignal>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::Process;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
constexpr const char* kProgram = "summer-research-internship";

// The cohort: per group, how many apply and how many are found eligible.
struct Group {
  std::string gender;  // empty: no answer
  int applied, eligible;
};
const std::vector<Group> kCohort = {
    {"woman", 10, 8}, {"man", 10, 4}, {"nonbinary", 3, 3}, {"", 6, 3}};

class Reports : public ::testing::Test {
 protected:
  void SetUp() override {
    serve_ = std::make_unique<Process>(
        std::vector<std::string>{kBin, "serve", "--data-dir", data(), "--workflows", kWorkflows,
                                 "--http-port", "0"},
        tmp_ / "serve.out", tmp_ / "serve.err");
    ready_ = testing::parse_ready_line(serve_->wait_line("ready ", 90));
    ASSERT_FALSE(ready_.http.empty()) << serve_->err();
    pm_ = testing::token_for(kBin, data(), "program_manager", "pm-1", {"--program", kProgram});
    send_cohort();
  }
  std::string data() const { return tmp_ / "data"; }

  httplib::Result call(const std::string& bearer, const std::string& path,
                       httplib::Headers headers = {}) {
    httplib::Client c(ready_.http);
    c.set_read_timeout(30);
    if (!bearer.empty()) c.set_bearer_token_auth(bearer);
    auto r = c.Get(path, headers);
    answers_.add("GET", path, r);  // checked against the OpenAPI document
    return r;
  }
  void TearDown() override {
    if (answers_.size() > 0) {
      EXPECT_TRUE(answers_.conform(tmp_ / "answers"));
    }
  }
  json get(const std::string& bearer, const std::string& path, int want = 200) {
    const auto r = call(bearer, path);
    EXPECT_TRUE(r) << path;
    if (!r) return json();
    EXPECT_EQ(r->status, want) << path << " " << r->body;
    return json::parse(r->body, nullptr, false);
  }
  json post(const std::string& bearer, const json& events) {
    httplib::Client c(ready_.http);
    c.set_read_timeout(60);
    c.set_bearer_token_auth(bearer);
    const auto r = testing::post_json(c, "/v1/events?wait=30", events);
    EXPECT_EQ(r.status, 202) << r.body.dump();
    return r.body;
  }
  testing::RunResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), kBin);
    args.insert(args.end(), {"--data-dir", data(), "--workflows", kWorkflows});
    return testing::run(args, tmp_ / ("cli-" + std::to_string(++runs_)));
  }

  // Every applicant submitted by the program manager on its behalf (half at
  // each of two hubs), then found eligible or not.
  void send_cohort() {
    json submitted = json::array(), decided = json::array();
    int n = 0;
    for (const auto& g : kCohort)
      for (int i = 0; i < g.applied; ++i, ++n) {
        const std::string id = "app-" + std::to_string(n);
        json profile = {{"name", "Applicant " + std::to_string(n)},
                        {"applicant", "stu-" + std::to_string(n)},
                        {"university", n % 2 ? "Northern Tech" : "Lakeside College"}};
        if (!g.gender.empty()) profile["self_identification"] = {{"gender", g.gender}};
        submitted.push_back(
            testing::event(id + "-s", "application.submitted", id, "program_manager", profile));
        decided.push_back(testing::event(id + "-d", "decision.recorded", id, "program_manager",
                                         {{"outcome", i < g.eligible ? "eligible" : "ineligible"}},
                                         30));
      }
    for (const json& events : {submitted, decided}) {
      const json answer = post(pm_, events);  // kept: the loop reads into it
      for (const auto& e : answer["events"])
        ASSERT_EQ(e["outcome"].value("status", ""), "applied") << e.dump();
    }
  }

  const json& stage(const json& report, const std::string& name) {
    for (const auto& s : report["stages"])
      if (s["stage"] == name) return s;
    static const json none;
    ADD_FAILURE() << "no stage " << name;
    return none;
  }
  const json& group(const json& groups, const std::string& name) {
    for (const auto& g : groups)
      if (g["group"] == name) return g;
    static const json none;
    ADD_FAILURE() << "no group " << name;
    return none;
  }

  TempDir tmp_;
  std::unique_ptr<Process> serve_;
  testing::ReadyLine ready_;
  std::string pm_;
  int runs_ = 0;
  testing::AnswerLog answers_;
};

TEST_F(Reports, SelfIdentificationIsKeptApartFromEveryView) {
  // The applicant answers again after withdrawing: accepted in any stage.
  const auto me = testing::token_for(kBin, data(), "applicant", "stu-0");
  post(me, json::array({testing::event("w", "application.withdrawn", "app-0", "applicant",
                                       {{"reason", "other offer"}}, 90)}));
  const json out = post(
      me,
      json::array({testing::event("again", "application.updated", "app-0", "applicant",
                                  {{"self_identification", {{"first_generation", "yes"}}}}, 91)}));
  EXPECT_EQ(out["events"][0]["outcome"].value("status", ""), "applied") << out.dump();
  const auto hub = testing::token_for(kBin, data(), "hub_admin", "hub-1",
                                      {"--program", kProgram, "--university", "Lakeside College"});
  const auto admin = testing::token_for(kBin, data(), "admin", "office");
  for (const auto& who : {pm_, me, hub, admin}) {
    const std::string app = get(who, "/v1/applications/app-0").dump();
    const std::string history = get(who, "/v1/applications/app-0/history").dump();
    for (const char* secret : {"self_identification", "woman", "first_generation"}) {
      EXPECT_EQ(app.find(secret), std::string::npos) << app;
      EXPECT_EQ(history.find(secret), std::string::npos) << history;
    }
  }
  EXPECT_EQ(get(pm_, "/v1/applications/app-0")["stage"], "withdrawn");
}

TEST_F(Reports, FairnessFlagsAndSuppressesByStage) {
  const std::string path = std::string("/v1/programs/") + kProgram + "/fairness?attribute=gender";
  const json r = get(pm_, path);
  EXPECT_EQ(r["program"], kProgram);
  EXPECT_EQ(r["attribute"], "gender");
  EXPECT_EQ(r["min_cell"], 5);
  EXPECT_EQ(group(r["groups"], "woman")["n"], 10);
  EXPECT_EQ(group(r["groups"], "man")["n"], 10);
  // nonbinary (3) is under 5; unknown (6) is hidden too, or the total would tell.
  for (const char* hidden : {"nonbinary", "unknown"}) {
    EXPECT_EQ(group(r["groups"], hidden)["suppressed"], true) << hidden;
    EXPECT_TRUE(group(r["groups"], hidden)["n"].is_null()) << hidden;
  }
  EXPECT_EQ(r["stages"][0]["stage"], "submitted");
  const json& docs = stage(r, "documents")["groups"];
  EXPECT_EQ(group(docs, "woman")["reached"], 8);
  EXPECT_DOUBLE_EQ(group(docs, "man")["rate"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(group(docs, "man")["impact_ratio"].get<double>(), 0.5);
  EXPECT_EQ(group(docs, "man")["flag"], true);
  EXPECT_EQ(group(docs, "woman")["flag"], false);
  EXPECT_TRUE(group(docs, "nonbinary")["reached"].is_null());
  // A caller may ask for a larger threshold, never a smaller one.
  EXPECT_EQ(get(pm_, path + "&min_cell=1")["min_cell"], 5);
  EXPECT_EQ(group(get(pm_, path + "&min_cell=11")["groups"], "woman")["suppressed"], true);
  // The CLI reads the same table.
  const auto c = cli({"report", kProgram, "fairness", "--attribute", "gender", "--json"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(json::parse(c.out), r);
  // As CSV, for a spreadsheet.
  const auto csv = call(pm_, path + "&format=csv");
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_NE(
      csv->body.find(kProgram + std::string(",gender,5,documents,man,10,4,0.4,0.5,true,false")),
      std::string::npos)
      << csv->body;
  EXPECT_EQ(get(pm_, std::string("/v1/programs/") + kProgram + "/fairness", 400)["error"]["code"],
            "invalid_argument");
}

TEST_F(Reports, FunnelTimeAndHubsAnswerTheOfficeAndEachHubItsOwn) {
  const std::string base = std::string("/v1/programs/") + kProgram;
  const json f = get(pm_, base + "/reports/funnel");
  EXPECT_EQ(f["total"], 29);
  EXPECT_EQ(stage(f, "documents")["reached"], 18);
  EXPECT_EQ(stage(f, "documents")["now"], 18);
  EXPECT_EQ(stage(f, "rejected")["now"], 11);
  EXPECT_DOUBLE_EQ(stage(f, "documents")["conversion"].get<double>(), 18.0 / 29);
  EXPECT_EQ(f["decided"], 11);
  // Submitted from the day after tomorrow on: nobody yet.
  const std::string later = format_rfc3339_ms(now_ms() + 2 * 86'400'000LL).substr(0, 10);
  EXPECT_EQ(get(pm_, base + "/reports/funnel?from=" + later)["total"], 0);
  EXPECT_EQ(get(pm_, base + "/reports/funnel?to=" + later)["total"], 29);
  // Half an hour in the first stage each; in documents since at least 30 minutes.
  const json t = get(pm_, base + "/reports/time-in-stage?over=PT29M");
  EXPECT_EQ(stage(t, "submitted")["finished"]["count"], 29);
  EXPECT_DOUBLE_EQ(stage(t, "submitted")["finished"]["p50"].get<double>(), 1800.0);
  EXPECT_EQ(stage(t, "documents")["waiting"]["over_threshold"], 18);
  const json hubs = get(pm_, base + "/reports/hubs");
  ASSERT_EQ(hubs["hubs"].size(), 2u);
  const auto lakeside =
      testing::token_for(kBin, data(), "hub_admin", "hub-1",
                         {"--program", kProgram, "--university", "Lakeside College"});
  const json mine = get(lakeside, base + "/reports/hubs?hub=Northern%20Tech");
  ASSERT_EQ(mine["hubs"].size(), 1u) << mine.dump();
  EXPECT_EQ(mine["hubs"][0]["hub"], "Lakeside College");
  EXPECT_EQ(mine["hubs"][0]["applications"], 15);
  // Hubs and reviewers do not read the office's reports.
  get(lakeside, base + "/fairness?attribute=gender", 403);
  get(testing::token_for(kBin, data(), "reviewer", "rev-1"), base + "/reports/funnel", 403);
  // A process's own part is counts before suppression: only peers get it.
  const auto part = call(pm_, base + "/fairness?attribute=gender", {{"X-Stagewise-Local", "1"}});
  ASSERT_TRUE(part);
  EXPECT_EQ(part->status, 403) << part->body;
  // Once the server is gone, the data dir answers the same funnel.
  serve_->signal(SIGTERM);
  ASSERT_EQ(serve_->wait_for(60), 0) << serve_->err();
  const auto c = cli({"report", kProgram, "--json"});
  ASSERT_EQ(c.code, 0) << c.err;
  const json offline = json::parse(c.out);
  EXPECT_EQ(offline["total"], f["total"]);
  EXPECT_EQ(offline["stages"], f["stages"]);
}

}  // namespace
}  // namespace stagewise
