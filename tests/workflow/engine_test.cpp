// Data-driven engine tests: every tests/workflow/cases/*.json walks one path
// of a program's workflow, event by event, with the stage (or rejection) and
// the notifications expected after each.
#include "workflow/engine.h"

#include "common/time.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace stagewise::workflow {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kRoot = STAGEWISE_SOURCE_DIR;

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

std::vector<std::string> case_files() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kRoot + "/tests/workflow/cases"))
    if (e.path().extension() == ".json") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Builds the CloudEvent of a case step, filling in what the case leaves out.
CloudEvent make_event(const json& step, size_t n, const std::string& program, int64_t t0) {
  CloudEvent e;
  e.id = step.value("id", "evt-" + std::to_string(n));
  e.source = step.value("source", "test");
  e.type = step.at("type").get<std::string>();
  e.subject = step.value("subject", "app-1");
  e.time_ms = step.contains("time") ? *parse_rfc3339_ms(step["time"].get<std::string>())
                                    : t0 + static_cast<int64_t>(n) * 3600 * 1000;
  e.time = format_rfc3339_ms(e.time_ms);
  e.program = step.value("program", program);
  e.actorid = step.value("actorid", "");
  e.actorrole = step.value("actorrole", "");
  e.data = step.value("data", json());
  return e;
}

// A case's event; an applicant's step without an actorid is the
// application's owner (the one who submitted it).
CloudEvent case_event(const json& step, size_t n, const std::string& program, int64_t t0,
                      const std::map<std::string, Application>& apps) {
  CloudEvent e = make_event(step, n, program, t0);
  if (e.actorrole == "applicant" && e.actorid.empty()) {
    const auto it = apps.find(e.subject);
    e.actorid =
        it != apps.end() ? it->second.facts.value("owner", "") : "applicant-of-" + e.subject;
  }
  return e;
}

class WorkflowCase : public ::testing::TestWithParam<std::string> {};

TEST_P(WorkflowCase, WalksAsExpected) {
  const json c = read_json(kRoot + "/tests/workflow/cases/" + GetParam());
  std::vector<Problem> problems;
  const auto reg =
      Registry::load({kRoot + "/workflows/" + c.at("workflow").get<std::string>()}, problems);
  for (const auto& p : problems) ADD_FAILURE() << p.to_string();
  ASSERT_TRUE(problems.empty());
  const std::string program = reg.all().front()->program;
  const int64_t t0 = *parse_rfc3339_ms(c.value("start", "2026-03-02T09:00:00Z"));

  std::map<std::string, Application> apps;
  size_t n = 0;
  for (const auto& step : c.at("events")) {
    ++n;
    const CloudEvent e = case_event(step, n, program, t0, apps);
    SCOPED_TRACE("step " + std::to_string(n) + ": " + e.type + " " + step.dump());
    const auto it = apps.find(e.subject);
    const Outcome out = apply(reg, it == apps.end() ? nullptr : &it->second, e);
    const json& expect = step.at("expect");
    if (expect.contains("rejected")) {
      const auto* rej = std::get_if<Rejected>(&out);
      ASSERT_NE(rej, nullptr) << "expected a rejection";
      EXPECT_EQ(reason_code(rej->reason), expect["rejected"].get<std::string>()) << rej->message;
      EXPECT_FALSE(rej->message.empty());
    } else {
      const auto* ok = std::get_if<Applied>(&out);
      ASSERT_NE(ok, nullptr) << "rejected: " << std::get<Rejected>(out).message;
      EXPECT_EQ(ok->next.sequence, it == apps.end() ? 1u : it->second.sequence + 1);
      apps.insert_or_assign(e.subject, ok->next);
      if (expect.contains("notify")) {
        std::vector<std::string> got;
        for (const auto& nt : ok->notifications)
          got.push_back(nt.recipient + ":" + nt.template_name);
        EXPECT_EQ(json(got), expect["notify"]);
      }
    }
    if (expect.contains("stage")) {
      ASSERT_TRUE(apps.count(e.subject));
      EXPECT_EQ(apps[e.subject].stage, expect["stage"].get<std::string>());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, WorkflowCase, ::testing::ValuesIn(case_files()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name =
                               param_info.param.substr(0, param_info.param.size() - 5);
                           for (auto& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

// The cases together walk every path: each transition of every workflow in
// workflows/ fires in at least one case, and each state is reached.
TEST(WorkflowCases, CoverEveryTransitionAndState) {
  std::vector<Problem> problems;
  const auto all = Registry::load({kRoot + "/workflows"}, problems);
  ASSERT_TRUE(problems.empty());
  std::map<std::string, std::set<int>> fired;
  std::map<std::string, std::set<std::string>> reached;
  for (const auto& file : case_files()) {
    const json c = read_json(kRoot + "/tests/workflow/cases/" + file);
    const auto reg =
        Registry::load({kRoot + "/workflows/" + c.at("workflow").get<std::string>()}, problems);
    ASSERT_TRUE(problems.empty()) << file;
    const std::string program = reg.all().front()->program;
    const int64_t t0 = *parse_rfc3339_ms(c.value("start", "2026-03-02T09:00:00Z"));
    std::map<std::string, Application> apps;
    size_t n = 0;
    for (const auto& step : c.at("events")) {
      const CloudEvent e = case_event(step, ++n, program, t0, apps);
      const auto it = apps.find(e.subject);
      const Outcome out = apply(reg, it == apps.end() ? nullptr : &it->second, e);
      if (const auto* ok = std::get_if<Applied>(&out)) {
        if (ok->transition >= 0) fired[ok->next.program].insert(ok->transition);
        reached[ok->next.program].insert(ok->next.stage);
        apps.insert_or_assign(e.subject, ok->next);
      }
    }
  }
  for (const Workflow* wf : all.all()) {
    SCOPED_TRACE(wf->program);
    for (const auto& t : wf->transitions)
      EXPECT_TRUE(fired[wf->program].count(t.index))
          << "no case fires transition " << t.index << " (" << t.from << " --" << t.on << "--> "
          << t.to << ")";
    for (const auto& [name, st] : wf->states)
      EXPECT_TRUE(reached[wf->program].count(name)) << "no case reaches state " << name;
  }
}

// The engine is a function of its inputs: the same events give the same state.
TEST(Engine, IsDeterministic) {
  std::vector<Problem> problems;
  const auto reg = Registry::load({kRoot + "/workflows"}, problems);
  ASSERT_TRUE(problems.empty());
  CloudEvent e = make_event(
      {{"type", "application.submitted"}, {"actorrole", "applicant"}, {"data", {{"name", "A"}}}}, 1,
      "summer-research-internship", 0);
  const auto a = apply(reg, nullptr, e);
  const auto b = apply(reg, nullptr, e);
  ASSERT_TRUE(std::holds_alternative<Applied>(a));
  EXPECT_EQ(std::get<Applied>(a).next, std::get<Applied>(b).next);
  EXPECT_EQ(std::get<Applied>(a).next.stage_entered_ms, e.time_ms);
}

TEST(Engine, StoredApplicationRoundTrips) {
  Application a;
  a.id = "x";
  a.program = "p";
  a.workflow_version = 2;
  a.stage = "review";
  a.stage_entered_ms = 1000;
  a.created_ms = 500;
  a.updated_ms = 1500;
  a.sequence = 7;
  a.facts = {{"profile", {{"name", "N"}}}};
  EXPECT_EQ(application_from_json(to_json(a)), a);
}

}  // namespace
}  // namespace stagewise::workflow

namespace stagewise::workflow {
namespace {

// An event the engine fails on (here: a stored application whose documents
// are corrupt) is refused with engine_error, never an exception that would
// stop or loop the processor.
TEST(Engine, AFailureInsideTheEngineIsARejectionNotAnException) {
  std::vector<Problem> problems;
  const auto reg = Registry::load({kRoot + "/workflows/summer-research-internship.json"}, problems);
  ASSERT_TRUE(problems.empty());
  Application app;
  app.id = "broken";
  app.program = "summer-research-internship";
  app.workflow_version = 1;
  app.stage = "documents";
  app.sequence = 2;
  app.facts = {{"profile", json::object()}, {"documents", json::array({42})}};
  CloudEvent e = make_event({{"type", "application.document_added"},
                             {"actorrole", "applicant"},
                             {"subject", "broken"},
                             {"data", {{"kind", "transcript"}}}},
                            1, "summer-research-internship", 0);
  const Outcome out = apply(reg, &app, e);
  const auto* rej = std::get_if<Rejected>(&out);
  ASSERT_NE(rej, nullptr);
  EXPECT_EQ(rej->reason, Reason::engine_error);
  EXPECT_NE(rej->message.find("engine"), std::string::npos);
}

}  // namespace
}  // namespace stagewise::workflow

namespace stagewise::workflow {
namespace {

TEST(ContextNeeds, ListsTheMembersGuardsRead) {
  const nlohmann::json g1 = {{">=", {{{"var", "application.reviews.mean"}}, 3}}};
  const nlohmann::json g2 = {
      {"and",
       {{{"var", {"event.data.accepted", false}}},
        {{"missing", {"application.profile.email"}}},
        {{"filter", {{{"var", "application.documents.list"}}, {{"var", "kind"}}}}}}}};
  const auto n = context_needs({&g1, &g2});
  EXPECT_FALSE(n.all);
  EXPECT_EQ(n.application, (std::set<std::string>{"reviews", "profile", "documents"}));
  EXPECT_EQ(n.event, (std::set<std::string>{"data"}));
}

TEST(ContextNeeds, ComputedNamesOrTheWholeContextMeanEverything) {
  const nlohmann::json computed = {{"var", {{"cat", {"application.", "stage"}}}}};
  const nlohmann::json whole = {{"var", ""}};
  const nlohmann::json root = {{"var", "application"}};
  const nlohmann::json some = {{"missing_some", {1, {{"var", "names"}}}}};
  for (const auto* g : {&computed, &whole, &root, &some})
    EXPECT_TRUE(context_needs({g}).all) << g->dump();
  const nlohmann::json none = {{"==", {1, 1}}};
  const auto n = context_needs({&none});
  EXPECT_FALSE(n.all);
  EXPECT_TRUE(n.application.empty() && n.event.empty());
}

}  // namespace
}  // namespace stagewise::workflow
