// The engine checks a reviewer's conflicts of interest when it is assigned
// (DESIGN.md §12), against the reviewer profiles the processor passes in.
#include "common/time.h"
#include "workflow/engine.h"

#include <gtest/gtest.h>

#include <map>

namespace stagewise::workflow {
namespace {

using nlohmann::json;

class Profiles : public ReviewerDirectory {
 public:
  std::map<std::string, json> by_id;
  const json* profile(const std::string& reviewer) const override {
    const auto it = by_id.find(reviewer);
    return it == by_id.end() ? nullptr : &it->second;
  }
};

class ReviewerRules : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Problem> problems;
    registry_ = Registry::load({std::string(STAGEWISE_SOURCE_DIR) + "/workflows"}, problems);
    ASSERT_TRUE(problems.empty());
    app_ = step(nullptr, "application.submitted", "applicant",
                {{"institution", "Université Laval"}, {"conflicts", {"rev-declared"}}});
    app_ = step(&app_, "decision.recorded", "program_manager", {{"outcome", "eligible"}});
    app_ = step(&app_, "application.document_added", "applicant", {{"kind", "transcript"}});
    app_ = step(&app_, "application.document_added", "applicant",
                {{"kind", "recommendation_letter"}, {"author", {{"name", "Lee Wong"}}}});
    ASSERT_EQ(app_.stage, "review");
  }

  CloudEvent event(const std::string& type, const std::string& role, json data) {
    CloudEvent e;
    e.id = "e" + std::to_string(++n_);
    e.source = "test";
    e.type = type;
    e.subject = "app-1";
    e.program = "summer-research-internship";
    e.time_ms = parse_rfc3339_ms("2026-06-01T00:00:00Z").value() + n_ * 60'000;
    e.time = format_rfc3339_ms(e.time_ms);
    e.actorrole = role;
    e.actorid = role == "applicant" ? "stu-1" : "pm-1";
    e.data = std::move(data);
    return e;
  }
  Application step(const Application* at, const std::string& type, const std::string& role,
                   json data) {
    auto out = apply(registry_, at, event(type, role, std::move(data)), {}, &profiles_);
    const auto* done = std::get_if<Applied>(&out);
    EXPECT_NE(done, nullptr) << std::get<Rejected>(out).message;
    return done ? done->next : Application{};
  }
  Outcome assign(const std::string& reviewer, json extra = json::object()) {
    extra["reviewer"] = reviewer;
    return apply(registry_, &app_, event("reviewer.assigned", "program_manager", extra), {},
                 &profiles_);
  }

  Registry registry_;
  Profiles profiles_;
  Application app_;
  int n_ = 0;
};

TEST_F(ReviewerRules, AConflictedReviewerIsRefusedWithTheReason) {
  profiles_.by_id["rev-laval"] = {{"name", "Ana"}, {"institution", "UNIVERSITE LAVAL"}};
  profiles_.by_id["rev-letter"] = {{"name", "lee wong"}, {"institution", "Elsewhere"}};
  for (const auto& [who, reason] :
       std::map<std::string, std::string>{{"rev-laval", "same_institution"},
                                          {"rev-letter", "letter_writer"},
                                          {"rev-declared", "declared_by_applicant"}}) {
    const auto out = assign(who);
    const auto* rej = std::get_if<Rejected>(&out);
    ASSERT_NE(rej, nullptr) << who;
    EXPECT_EQ(rej->reason, Reason::conflict_of_interest);
    EXPECT_NE(rej->message.find(reason), std::string::npos) << rej->message;
  }
}

TEST_F(ReviewerRules, AnAssignmentKeepsItsAffinityAndARecusalFreesIt) {
  profiles_.by_id["rev-ok"] = {{"name", "Bo"}, {"institution", "Elsewhere"}};
  auto out = assign("rev-ok", {{"affinity", 0.5}, {"assignment", "run-1"}});
  ASSERT_TRUE(std::holds_alternative<Applied>(out)) << std::get<Rejected>(out).message;
  app_ = std::get<Applied>(out).next;
  EXPECT_EQ(app_.facts["reviewers"], json::array({"rev-ok"}));
  EXPECT_EQ(app_.facts["assignments"]["rev-ok"]["affinity"], 0.5);
  EXPECT_EQ(app_.facts["assignments"]["rev-ok"]["assignment"], "run-1");
  app_ = step(&app_, "reviewer.recused", "program_manager", {{"reviewer", "rev-ok"}});
  EXPECT_TRUE(app_.facts["reviewers"].empty());
  EXPECT_FALSE(app_.facts["assignments"].contains("rev-ok"));
}

TEST_F(ReviewerRules, AnUnknownReviewerIsCheckedAgainstTheApplicantsDeclaredConflictsOnly) {
  EXPECT_TRUE(std::holds_alternative<Applied>(assign("rev-unknown")));
  EXPECT_TRUE(std::holds_alternative<Rejected>(assign("rev-declared")));
}

}  // namespace
}  // namespace stagewise::workflow
