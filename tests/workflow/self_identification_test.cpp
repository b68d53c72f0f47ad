// Voluntary self-identification (DESIGN.md §13) is kept apart from the
// profile, accepted in every stage, and never read by guards; every stay in
// a stage is recorded for the reports.
#include "workflow/self_identification.h"

#include "common/time.h"
#include "workflow/engine.h"

#include <gtest/gtest.h>

namespace stagewise::workflow {
namespace {

using nlohmann::json;

class SelfIdentification : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Problem> problems;
    registry_ = Registry::load({std::string(STAGEWISE_SOURCE_DIR) + "/workflows"}, problems);
    ASSERT_TRUE(problems.empty());
  }
  CloudEvent event(const std::string& type, const std::string& role, json data,
                   int64_t minutes = -1) {
    CloudEvent e;
    e.id = "e" + std::to_string(++n_);
    e.source = "test";
    e.type = type;
    e.subject = "app-1";
    e.program = "summer-research-internship";
    e.time_ms = t0_ + (minutes >= 0 ? minutes : n_) * 60'000;
    e.time = format_rfc3339_ms(e.time_ms);
    e.actorrole = role;
    e.actorid = role == "applicant" ? "stu-1" : role + "-1";
    e.data = std::move(data);
    return e;
  }
  Outcome send(const Application* at, CloudEvent e) { return apply(registry_, at, e); }
  Application step(const Application* at, CloudEvent e) {
    auto out = send(at, std::move(e));
    const auto* done = std::get_if<Applied>(&out);
    EXPECT_NE(done, nullptr) << std::get<Rejected>(out).message;
    return done ? done->next : Application{};
  }
  Application submitted() {
    return step(nullptr, event("application.submitted", "applicant",
                               {{"name", "Ada"},
                                {"gpa", 3.9},
                                {"self_identification",
                                 {{"gender", "decline to state"},
                                  {"first_generation", true},
                                  {"disability", nullptr}}}},
                               0));
  }

  Registry registry_;
  int64_t t0_ = parse_rfc3339_ms("2026-06-01T00:00:00Z").value();
  int n_ = 0;
};

TEST_F(SelfIdentification, AnswersAreKeptApartFromTheProfile) {
  const auto app = submitted();
  EXPECT_FALSE(app.facts["profile"].contains("self_identification"));
  EXPECT_EQ(app.facts["profile"]["name"], "Ada");
  EXPECT_EQ(app.self_identification,
            json({{"gender", "decline to state"}, {"first_generation", true}}))
      << "a null answer is no answer";
  // Guards read the profile: the answers are not in what they see.
  const auto ctx = guard_context(*registry_.latest("summer-research-internship"), app,
                                 event("decision.recorded", "program_manager", {}));
  EXPECT_FALSE(ctx.dump().find("decline to state") != std::string::npos) << ctx.dump();
  // Nor in the event's data, when an update carries answers and fields.
  const auto mixed = guard_context(
      *registry_.latest("summer-research-internship"), app,
      event("application.updated", "applicant",
            {{"gpa", 3.5}, {"self_identification", {{"gender", "decline to state"}}}}));
  EXPECT_EQ(mixed.dump().find("self_identification"), std::string::npos) << mixed.dump();
  EXPECT_EQ(mixed["event"]["data"]["gpa"], 3.5);
}

TEST_F(SelfIdentification, AnswersGivenOverSeveralUpdatesStayWithinTheLimit) {
  auto app = submitted();  // two answers
  for (int i = 0; i < 30; ++i)
    app = step(&app, event("application.updated", "applicant",
                           {{"self_identification", {{"q" + std::to_string(i), "x"}}}}));
  EXPECT_EQ(app.self_identification.size(), 32u);
  const auto out = send(&app, event("application.updated", "applicant",
                                    {{"self_identification", {{"one_more", "x"}}}}));
  ASSERT_TRUE(std::holds_alternative<Rejected>(out));
  EXPECT_NE(std::get<Rejected>(out).message.find("more than 32"), std::string::npos);
}

TEST_F(SelfIdentification, AcceptedInEveryStageWithoutTheWorkflowNamingIt) {
  auto app = submitted();
  app = step(&app, event("application.withdrawn", "applicant", {{"reason", "other offer"}}));
  ASSERT_EQ(app.stage, "withdrawn");  // terminal, accepts nothing
  const auto out = send(&app, event("application.updated", "applicant",
                                    {{"self_identification",
                                      {{"race_ethnicity", {"Hispanic or Latino", "Black"}},
                                       {"first_generation", nullptr}}}}));
  const auto* done = std::get_if<Applied>(&out);
  ASSERT_NE(done, nullptr) << std::get<Rejected>(out).message;
  EXPECT_FALSE(done->moved);
  EXPECT_EQ(done->next.stage, "withdrawn");
  EXPECT_EQ(done->next.sequence, app.sequence + 1);
  EXPECT_EQ(done->next.facts, app.facts) << "nothing but the answers changes";
  EXPECT_EQ(
      done->next.self_identification,
      json({{"gender", "decline to state"}, {"race_ethnicity", {"Hispanic or Latino", "Black"}}}));
  EXPECT_EQ(self_identified_group(done->next.self_identification, "race_ethnicity"),
            "Black + Hispanic or Latino");
  // With profile fields as well, the stage's rules apply to the event.
  const auto mixed = send(&app, event("application.updated", "applicant",
                                      {{"gpa", 4.0}, {"self_identification", {{"gender", "f"}}}}));
  ASSERT_TRUE(std::holds_alternative<Rejected>(mixed));
  EXPECT_EQ(std::get<Rejected>(mixed).reason, Reason::not_accepted_in_stage);
}

TEST_F(SelfIdentification, OnlyTheApplicantOrTheOfficeAnswers) {
  const auto app = submitted();
  auto other = event("application.updated", "applicant", {{"self_identification", {{"g", "x"}}}});
  other.actorid = "stu-2";
  EXPECT_EQ(std::get<Rejected>(send(&app, other)).reason, Reason::unauthorized);
  const auto reviewer =
      send(&app, event("application.updated", "reviewer", {{"self_identification", {{"g", "x"}}}}));
  EXPECT_EQ(std::get<Rejected>(reviewer).reason, Reason::unauthorized);
  EXPECT_TRUE(
      std::holds_alternative<Applied>(send(&app, event("application.updated", "program_manager",
                                                       {{"self_identification", {{"g", "x"}}}}))));
}

TEST_F(SelfIdentification, MalformedAnswersAreRefusedNamingTheField) {
  const auto app = submitted();
  const std::vector<std::pair<json, std::string>> bad = {
      {"female", "data.self_identification must be an object"},
      {{{"gender", {{"nested", 1}}}}, "data.self_identification.gender must be"},
      {{{"race", json::array({1})}}, "data.self_identification.race must list strings"},
      {{{"bad key!", "x"}}, "key \"bad key!\""},
      {{{"gender", std::string(129, 'x')}}, "data.self_identification.gender is longer"},
  };
  for (const auto& [answers, says] : bad) {
    const auto out =
        send(&app, event("application.updated", "applicant", {{"self_identification", answers}}));
    ASSERT_TRUE(std::holds_alternative<Rejected>(out)) << answers.dump();
    EXPECT_EQ(std::get<Rejected>(out).reason, Reason::invalid_data);
    EXPECT_NE(std::get<Rejected>(out).message.find(says), std::string::npos)
        << std::get<Rejected>(out).message;
  }
  json many = json::object();
  for (int i = 0; i < 33; ++i) many["a" + std::to_string(i)] = "x";
  EXPECT_TRUE(std::holds_alternative<Rejected>(
      send(nullptr, event("application.submitted", "applicant", {{"self_identification", many}}))));
}

TEST_F(SelfIdentification, EveryStayIsRecordedWithItsTime) {
  auto app = submitted();
  EXPECT_EQ(app.stays, (std::vector<StageStay>{{"submitted", t0_, 0, 1}}));
  app = step(&app, event("decision.recorded", "program_manager", {{"outcome", "eligible"}}, 90));
  app = step(&app, event("application.updated", "applicant",
                         {{"self_identification", {{"gender", "m"}}}}, 100));
  app = step(&app, event("application.document_added", "applicant", {{"kind", "transcript"}}, 120));
  app = step(&app, event("application.document_added", "applicant",
                         {{"kind", "recommendation_letter"}}, 150));
  ASSERT_EQ(app.stage, "review");
  const int64_t m = 60'000;
  EXPECT_EQ(app.stays, (std::vector<StageStay>{{"submitted", t0_, 90 * m, 1},
                                               {"documents", t0_ + 90 * m, 60 * m, 1},
                                               {"review", t0_ + 150 * m, 0, 1}}));
  app = step(&app, event("application.withdrawn", "applicant", {}, 200));
  EXPECT_EQ(app.stays.back(), (StageStay{"withdrawn", t0_ + 200 * m, 0, 1}));
  EXPECT_EQ(app.stays[2].spent_ms, 50 * m);
}

TEST(SelfIdentifiedGroup, EveryKindOfAnswerHasAGroup) {
  const json a = {{"s", "Woman"}, {"b", false}, {"n", 3}, {"l", json::array()}, {"z", nullptr}};
  EXPECT_EQ(self_identified_group(a, "s"), "Woman");
  EXPECT_EQ(self_identified_group(a, "b"), "false");
  EXPECT_EQ(self_identified_group(a, "n"), "3");
  EXPECT_EQ(self_identified_group(a, "l"), "unknown");
  EXPECT_EQ(self_identified_group(a, "z"), "unknown");
  EXPECT_EQ(self_identified_group(a, "missing"), "unknown");
  EXPECT_EQ(self_identified_group(json(), "s"), "unknown");
}

}  // namespace
}  // namespace stagewise::workflow
