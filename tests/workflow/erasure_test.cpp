// Erasure (DESIGN.md §14) is built into the engine: every stage of every
// workflow accepts `application.erased` from the owner or the office,
// personal data goes, the stages and times stay, and nothing applies after.
#include "common/time.h"
#include "support/temp_dir.h"
#include "workflow/engine.h"

#include <gtest/gtest.h>

#include <fstream>

namespace stagewise::workflow {
namespace {

using nlohmann::json;

class Erasure : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Problem> problems;
    registry_ = Registry::load({std::string(STAGEWISE_SOURCE_DIR) + "/workflows"}, problems);
    ASSERT_TRUE(problems.empty());
  }
  CloudEvent event(const std::string& type, const std::string& role, json data = json(),
                   const std::string& actor = "") {
    CloudEvent e;
    e.id = "e" + std::to_string(++n_);
    e.source = "test";
    e.type = type;
    e.subject = "app-1";
    e.program = "summer-research-internship";
    e.time_ms = t0_ + n_ * 60'000;
    e.time = format_rfc3339_ms(e.time_ms);
    e.actorrole = role;
    e.actorid = !actor.empty() ? actor : role == "applicant" ? "stu-1" : role + "-1";
    e.data = std::move(data);
    return e;
  }
  Outcome send(const Application& at, CloudEvent e) { return apply(registry_, &at, e); }
  Application step(const Application* at, CloudEvent e) {
    auto out = apply(registry_, at, e);
    const auto* done = std::get_if<Applied>(&out);
    EXPECT_NE(done, nullptr) << std::get<Rejected>(out).message;
    return done ? done->next : Application{};
  }
  // Submitted with a profile, self-identification, a document and a note.
  Application submitted() {
    Application a = step(nullptr, event("application.submitted", "applicant",
                                        {{"name", "Ada Lovelace"},
                                         {"email", "ada@example.edu"},
                                         {"gpa", 3.9},
                                         {"self_identification", {{"gender", "woman"}}}}));
    a = step(&a, event("application.document_added", "applicant",
                       {{"kind", "cv"}, {"name", "Ada_CV.pdf"}, {"uri", "s3://cv/ada.pdf"}}));
    return step(&a, event("note.added", "program_manager", {{"text", "met Ada at the fair"}}));
  }
  static Reason reason_of(const Outcome& o) {
    const auto* r = std::get_if<Rejected>(&o);
    return r ? r->reason : Reason::engine_error;
  }

  Registry registry_;
  int64_t t0_ = parse_rfc3339_ms("2026-06-01T00:00:00Z").value();
  int n_ = 0;
};

TEST_F(Erasure, TheOwnerErasesInAnyStagePersonalDataGoesTheStagesStay) {
  const Application before = submitted();
  const auto out = send(before, event("application.erased", "applicant"));
  const auto* done = std::get_if<Applied>(&out);
  ASSERT_NE(done, nullptr) << std::get<Rejected>(out).message;
  const Application& after = done->next;
  EXPECT_EQ(after.stage, before.stage);
  EXPECT_EQ(after.stage_entered_ms, before.stage_entered_ms);
  EXPECT_EQ(after.stays, before.stays);
  EXPECT_EQ(after.sequence, before.sequence + 1);
  EXPECT_FALSE(done->moved);
  EXPECT_TRUE(done->notifications.empty()) << "nobody is told about an erased person";
  EXPECT_TRUE(done->reset_timers);
  EXPECT_TRUE(done->timers.empty()) << "no deadline or reminder after erasure";
  const std::string dump = after.facts.dump() + after.self_identification.dump();
  for (const char* personal : {"Ada", "ada@example.edu", "s3://cv", "woman", "met Ada"})
    EXPECT_EQ(dump.find(personal), std::string::npos) << personal << " in " << dump;
  EXPECT_TRUE(after.facts.contains("erased"));
  EXPECT_EQ(after.facts["documents"][0]["kind"], "cv") << "what was sent stays, not what it said";
}

TEST_F(Erasure, TheOfficeErasesEvenInATerminalStageOthersMayNot) {
  Application a = submitted();
  a = step(&a, event("application.withdrawn", "applicant", {{"reason", "moving abroad"}}));
  ASSERT_TRUE(registry_.latest("summer-research-internship")->state(a.stage)->terminal);
  for (const auto& [role, actor] : std::vector<std::pair<std::string, std::string>>{
           {"reviewer", "rev-1"}, {"hub_admin", "hub-1"}, {"applicant", "stu-2"}}) {
    const auto out = send(a, event("application.erased", role, json(), actor));
    EXPECT_EQ(reason_of(out), Reason::unauthorized) << role << " " << actor;
  }
  for (const char* role : {"program_manager", "admin"}) {
    const auto out = send(a, event("application.erased", role));
    const auto* done = std::get_if<Applied>(&out);
    ASSERT_NE(done, nullptr) << role << ": " << std::get<Rejected>(out).message;
    EXPECT_EQ(done->next.facts["withdrawal"].dump().find("moving abroad"), std::string::npos);
  }
}

TEST_F(Erasure, NothingIsAppliedAfterwardsAndTheReasonSaysSo) {
  Application a = submitted();
  a = step(&a, event("application.erased", "applicant"));
  for (auto e : {event("application.updated", "applicant", {{"name", "Ada again"}}),
                 event("application.erased", "admin"),
                 event("note.added", "program_manager", {{"text", "x"}}),
                 event("application.updated", "applicant",
                       {{"self_identification", {{"gender", "woman"}}}})}) {
    const auto out = send(a, e);
    ASSERT_EQ(reason_of(out), Reason::application_erased) << e.type;
    EXPECT_NE(std::get<Rejected>(out).message.find("was erased"), std::string::npos);
  }
}

// Retention (DESIGN.md §14): from submission, the erasure is due at the same
// time whatever stage the application moves to; years count 366 days, so
// erasure never comes before the calendar date.
TEST(Retention, FromSubmissionIsDueAtOneTimeWhateverTheStage) {
  stagewise::testing::TempDir dir;
  {
    std::ofstream out(dir / "kept.json");
    out << R"({"program": "kept", "version": 1, "initial": "open",
               "retention": {"erase_after": "P2Y", "from": "submitted"},
               "states": {"open": {}, "review": {}, "done": {"terminal": true}},
               "transitions": [
                 {"from": "open", "on": "decision.recorded", "to": "review"},
                 {"from": "review", "on": "decision.recorded", "to": "done"}]})";
  }
  std::vector<Problem> problems;
  const auto reg = Registry::load({dir / "kept.json"}, problems);
  ASSERT_TRUE(problems.empty()) << problems[0].to_string();
  const int64_t t0 = parse_rfc3339_ms("2026-06-01T00:00:00Z").value();
  const int64_t due = t0 + 2 * 366 * 86'400'000LL;
  CloudEvent e;
  e.source = "test";
  e.subject = "k-1";
  e.program = "kept";
  e.actorrole = "program_manager";
  Application app;
  for (int i = 0; i < 3; ++i) {
    e.id = "e" + std::to_string(i);
    e.type = i == 0 ? "application.submitted" : "decision.recorded";
    e.actorrole = i == 0 ? "applicant" : "program_manager";
    e.actorid = i == 0 ? "stu-1" : "pm-1";
    e.time_ms = t0 + i * 86'400'000LL;
    e.time = format_rfc3339_ms(e.time_ms);
    e.data = i == 0 ? json{{"name", "Ada"}} : json{{"outcome", "go"}};
    const auto out = apply(reg, i == 0 ? nullptr : &app, e);
    const auto* done = std::get_if<Applied>(&out);
    ASSERT_NE(done, nullptr) << std::get<Rejected>(out).message;
    ASSERT_EQ(done->timers.size(), 1u) << "step " << i;
    EXPECT_EQ(done->timers[0].kind, Timer::Kind::retention);
    EXPECT_EQ(done->timers[0].due_ms, due) << "step " << i;
    app = done->next;
  }
  Timer timer;
  timer.kind = Timer::Kind::retention;
  timer.due_ms = due;
  timer.stage = "done";
  const CloudEvent erase = retention_event(app, timer, due + 5);
  EXPECT_EQ(erase.type, "application.erased");
  EXPECT_EQ(erase.time_ms, due) << "the erasure's time is the due time, so a replay agrees";
}

}  // namespace
}  // namespace stagewise::workflow
