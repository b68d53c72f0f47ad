// Deadlines and reminders (DESIGN.md §6) on a fake clock, through the real
// log of the embedded cluster.
#include "processor/fixture.h"

#include <gtest/gtest.h>

namespace stagewise::processor {
namespace {

constexpr int64_t kDay = 24LL * 3600 * 1000;

class TimersTest : public ProcessorTest {
 protected:
  void submit_and_make_eligible(const std::string& id) {
    send(event(id + "-s", "application.submitted", id, "applicant"));
    send(
        event(id + "-e", "decision.recorded", id, "program_manager", {{"outcome", "eligible"}}, 1));
    ASSERT_TRUE(eventually([&] { return stage(id) == "documents"; }));
  }
  std::vector<std::string> timer_kinds(const std::string& id) {
    std::vector<std::string> out;
    const auto timers = store_->timers_of(id);  // a range-for would not keep the Result alive
    for (const auto& t : *timers)
      out.push_back(t.timer.stage + ":" +
                    (t.timer.kind == workflow::Timer::Kind::deadline   ? "deadline"
                     : t.timer.kind == workflow::Timer::Kind::reminder ? "reminder"
                                                                       : "retention"));
    return out;
  }
  void advance(int64_t ms) {
    clock_.advance(ms);
    processor_->poke_timers();
  }
  std::vector<json> notifications_for(const std::string& id) {
    std::vector<json> out;
    for (const auto& m : read_topic(cluster_->bootstrap(), "stagewise.notifications", kPartitions))
      if (m.key == id) out.push_back(m.json());
    return out;
  }
};

TEST_F(TimersTest, EnteringAStageSchedulesItsTimersAndLeavingCancelsThem) {
  send(event("a-s", "application.submitted", "a", "applicant"));
  ASSERT_TRUE(eventually([&] { return stage("a") == "submitted"; }));
  // submitted: deadline P7D, reminder P5D.
  EXPECT_EQ(timer_kinds("a"),
            (std::vector<std::string>{"submitted:reminder", "submitted:deadline"}));
  const auto timers = *store_->timers_of("a");
  EXPECT_EQ(timers[1].timer.due_ms, clock_.now_ms() + 7 * kDay);
  send(event("a-e", "decision.recorded", "a", "program_manager", {{"outcome", "eligible"}}, 1));
  ASSERT_TRUE(eventually([&] { return stage("a") == "documents"; }));
  // documents: P14D with reminders P7D and P12D; nothing of submitted is left.
  EXPECT_EQ(timer_kinds("a"), (std::vector<std::string>{"documents:reminder", "documents:reminder",
                                                        "documents:deadline"}));
}

TEST_F(TimersTest, ADeadlineMovesTheApplicationOnceThroughTheLog) {
  submit_and_make_eligible("d");
  advance(15 * kDay);
  ASSERT_TRUE(eventually([&] { return stage("d") == "expired"; }));
  auto h = *store_->history("d");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[2].type, "stage.deadline_passed");
  EXPECT_EQ(h[2].source, "stagewise.timers");
  EXPECT_EQ(h[2].from, "documents");
  EXPECT_EQ(h[2].to, "expired");
  EXPECT_EQ(h[2].topic, "stagewise.events") << "the deadline did not go through the log";
  EXPECT_TRUE(store_->timers_of("d")->empty());
  // Overdue by a day: counted as late.
  EXPECT_GE(processor_->timer_stats()->late, 1u);
  advance(30 * kDay);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(store_->history("d")->size(), 3u);
}

TEST_F(TimersTest, RemindersNotifyWhileTheApplicationStays) {
  submit_and_make_eligible("r");
  advance(8 * kDay);  // past the P7D reminder of documents, before its P14D deadline
  std::vector<json> reminders;
  ASSERT_TRUE(eventually([&] {
    reminders.clear();
    for (const auto& n : notifications_for("r"))
      if (n["data"]["cause"]["type"] == "reminder") reminders.push_back(n);
    return !reminders.empty();
  }));
  ASSERT_EQ(reminders.size(), 1u);
  EXPECT_EQ(reminders[0]["data"]["template"], "documents_reminder");
  EXPECT_EQ(reminders[0]["data"]["recipient"], "applicant");
  EXPECT_EQ(reminders[0]["data"]["stage"], "documents");
  EXPECT_FALSE(reminders[0]["data"]["due"].is_null());
  EXPECT_EQ(stage("r"), "documents");
  EXPECT_EQ(timer_kinds("r"),
            (std::vector<std::string>{"documents:reminder", "documents:deadline"}));
}

TEST_F(TimersTest, AStaleDeadlineIsRecordedAndChangesNothing) {
  submit_and_make_eligible("s");
  json late = event("late-deadline", "stage.deadline_passed", "s", "system",
                    {{"stage", "submitted"}, {"stage_entered_at", "2020-01-01T00:00:00Z"}}, 2);
  CloudEvent signed_late = std::get<CloudEvent>(decode_json(late));
  sign_as_timers(signed_late);
  send(to_json(signed_late));
  ASSERT_TRUE(eventually([&] { return history_size("s") == 3; }));
  const auto h = *store_->history("s");
  EXPECT_EQ(h[2].from, "documents");
  EXPECT_EQ(h[2].to, "documents");
  EXPECT_NE(h[2].note.find("stale"), std::string::npos) << h[2].note;
  EXPECT_EQ(stage("s"), "documents");
}

// Issue 11: a forged stage.deadline_passed claiming the system role expired
// an application weeks early, over HTTP and with kcat alike.
TEST_F(TimersTest, OnlyStagewisesOwnTimersSpeakForTheSystem) {
  submit_and_make_eligible("f");
  json forged =
      event("forged", "stage.deadline_passed", "f", "system", {{"stage", "documents"}}, 2);
  forged["source"] = "stagewise.timers";
  send(forged);
  CloudEvent tampered = std::get<CloudEvent>(decode_json(forged));
  tampered.id = "tampered";
  sign_as_timers(tampered);
  tampered.subject = "f";
  tampered.data["stage"] = "documents";
  tampered.authsig[0] = tampered.authsig[0] == 'a' ? 'b' : 'a';  // a signature that was not made
  send(to_json(tampered));
  ASSERT_TRUE(eventually([&] {
    return processor_->stats().rejected[static_cast<size_t>(Reason::unauthorized)] == 2;
  }));
  EXPECT_EQ(stage("f"), "documents") << "a forged deadline moved the application";
  EXPECT_NE(dead_letters()["unauthorized"]["data"]["message"].get<std::string>().find("signature"),
            std::string::npos);
}

TEST_F(TimersTest, ATimerFiredBeforeACrashIsNotAppliedTwiceAfterIt) {
  submit_and_make_eligible("x");
  const auto deadline = store_->timers_of("x")->back();
  ASSERT_EQ(deadline.timer.kind, workflow::Timer::Kind::deadline);
  // The process fired the deadline and died before deleting the timer: the
  // event is in the log and the timer still in the store.
  processor_.reset();
  workflow::Application app;
  app.id = "x";
  app.program = "summer-research-internship";
  CloudEvent fired = workflow::deadline_event(app, deadline.timer, clock_.now_ms());
  sign_as_timers(fired);
  // Stamped as the timer service stamps it: with its clock when it fired.
  ASSERT_TRUE(producer_
                  ->produce("stagewise.events", "x", to_json(fired).dump(), {}, 0,
                            deadline.partition, deadline.timer.due_ms)
                  .ok());
  ASSERT_TRUE(producer_->flush(10000).ok());
  clock_.advance(15 * kDay);
  open_store();
  ASSERT_NO_FATAL_FAILURE(start_processor());  // may fire the overdue timer again
  ASSERT_TRUE(eventually([&] { return stage("x") == "expired"; }));
  EXPECT_TRUE(eventually([&] { return store_->timers_of("x")->empty(); }));
  // Whichever comes first, the logged deadline or the timer fired again,
  // the other is dropped as a repeat or never fires: it applies once.
  processor_->poke_timers();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  wait_published();
  EXPECT_EQ(history_size("x"), 3u);
  uint64_t rejected = 0;
  for (const auto& r : processor_->stats().rejected) rejected += r;
  EXPECT_EQ(rejected, 0u) << "the deadline came again and was refused instead of dropped";
}

TEST_F(TimersTest, OverdueTimersFireAtOnceAfterARestart) {
  submit_and_make_eligible("o");
  processor_.reset();
  clock_.advance(20 * kDay);  // the deadline passed while nothing ran
  open_store();
  ASSERT_NO_FATAL_FAILURE(start_processor());
  ASSERT_TRUE(eventually([&] { return stage("o") == "expired"; }));
  EXPECT_GE(processor_->timer_stats()->late, 1u);
  EXPECT_GE(processor_->timer_stats()->late_ms_max, 5 * kDay);
}

// Retention (DESIGN.md §14): entering a terminal stage schedules the
// erasure; it goes through the log as the system's application.erased, and
// a restart in between loses nothing.
TEST_F(TimersTest, RetentionErasesThroughTheLogAndSurvivesARestart) {
  processor_.reset();
  std::vector<workflow::Problem> problems;
  const std::string src = STAGEWISE_SOURCE_DIR;
  registry_ =
      workflow::Registry::load({src + "/workflows", src + "/tests/processor/workflows"}, problems);
  ASSERT_TRUE(problems.empty()) << problems[0].to_string();
  ASSERT_NO_FATAL_FAILURE(start_processor());
  json submit = event("r-s", "application.submitted", "r", "applicant",
                      {{"name", "Ada Lovelace"}, {"email", "ada@example.edu"}});
  json decide = event("r-d", "decision.recorded", "r", "program_manager", {{"outcome", "no"}}, 1);
  submit["program"] = decide["program"] = "retained";
  send(submit);
  send(decide);
  ASSERT_TRUE(eventually([&] { return stage("r") == "decided"; }));
  EXPECT_EQ(timer_kinds("r"), std::vector<std::string>{"decided:retention"});

  processor_.reset();
  clock_.advance(31 * kDay);  // the retention ran out while nothing ran
  open_store();
  ASSERT_NO_FATAL_FAILURE(start_processor());
  ASSERT_TRUE(eventually([&] {
    auto a = store_->application("r");
    return a.ok() && a->facts.contains("erased");
  }));
  const auto app = store_->application("r");
  EXPECT_EQ(app->stage, "decided");
  EXPECT_EQ(app->facts.dump().find("Ada"), std::string::npos) << app->facts.dump();
  const auto history = store_->history("r");
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ(history->back().type, "application.erased");
  EXPECT_EQ(history->back().actorid, "stagewise-retention");
  EXPECT_EQ(
      history->back().id,
      "retention/r/" + std::to_string(stagewise::testing::test_epoch_ms() + 60'000 + 30 * kDay));
  EXPECT_TRUE(timer_kinds("r").empty());
}

}  // namespace
}  // namespace stagewise::processor
