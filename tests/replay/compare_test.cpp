#include "replay/compare.h"

#include "support/temp_dir.h"

#include <gtest/gtest.h>

namespace stagewise::replay {
namespace {

#define ASSERT_OK(r) ASSERT_TRUE((r).ok()) << (r).error().message

using nlohmann::json;

// Two stores written alike, then changed one way or another.
class ReplayCompare : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* s : {&a_, &b_}) {
      auto opened = store::Store::open(dir_ / (s == &a_ ? "a" : "b"), {.sync = false});
      ASSERT_OK(opened);
      *s = std::move(*opened);
    }
    for (const auto& id : {"app-1", "app-2", "app-3"}) {
      put(*a_, id, "review");
      put(*b_, id, "review");
    }
  }
  // An application with two history entries and a deadline.
  static void put(store::Store& s, const std::string& id, const std::string& stage,
                  const std::string& reviewer = "r1", int64_t due = 2'000'000'000'000) {
    workflow::Application a;
    a.id = id;
    a.program = "p";
    a.workflow_version = 1;
    a.stage = stage;
    a.sequence = 2;
    a.facts = {{"profile", {{"name", "Ada " + id}}}, {"reviewers", {reviewer}}};
    store::Batch b = s.batch();
    std::string head;
    for (uint64_t seq : {1, 2}) {
      store::HistoryEntry h;
      h.sequence = seq;
      h.id = id + "/e" + std::to_string(seq);
      h.type = seq == 1 ? "application.submitted" : "reviewer.assigned";
      h.to = stage;
      h.data = {{"reviewer", reviewer}};
      h.topic = "stagewise.events";
      h.offset = static_cast<int64_t>(seq);
      b.add_history(id, h, head);
    }
    a.history_head = head;
    b.put_application(a, "");
    store::TimerRecord t;
    t.application = id;
    t.program = "p";
    t.timer.due_ms = due;
    t.timer.stage = stage;
    b.add_timer(t);
    ASSERT_OK(s.commit(b));
  }
  stagewise::testing::TempDir dir_;
  std::unique_ptr<store::Store> a_, b_;
};

TEST_F(ReplayCompare, EqualStoresHaveNoDifference) {
  auto c = compare(*a_, *b_);
  ASSERT_OK(c);
  EXPECT_TRUE(c->equal());
  EXPECT_FALSE(c->first);
  EXPECT_EQ(c->applications, 3u);
  EXPECT_EQ(c->history_entries, 6u);
}

TEST_F(ReplayCompare, TheFirstDifferenceNamesTheApplicationAndTheField) {
  put(*b_, "app-2", "review", "r9");  // the assignment named another reviewer
  put(*b_, "app-3", "decision");
  auto c = compare(*a_, *b_);
  ASSERT_OK(c);
  EXPECT_FALSE(c->equal());
  EXPECT_EQ(c->differing, 2u);
  ASSERT_TRUE(c->first);
  EXPECT_EQ(c->first->kind, Difference::Kind::differs);
  EXPECT_EQ(c->first->application, "app-2");
  EXPECT_EQ(c->first->path, "facts/reviewers/0");
  EXPECT_EQ(c->first->replay, "r1");
  EXPECT_EQ(c->first->store, "r9");
}

TEST_F(ReplayCompare, AnApplicationInOneStoreOnlyIsADifference) {
  put(*b_, "app-0", "review");
  put(*a_, "app-4", "review");
  auto c = compare(*a_, *b_);
  ASSERT_OK(c);
  EXPECT_EQ(c->differing, 2u);
  ASSERT_TRUE(c->first);
  EXPECT_EQ(c->first->application, "app-0");
  EXPECT_EQ(c->first->kind, Difference::Kind::only_in_store);
  auto reverse = compare(*b_, *a_);
  ASSERT_OK(reverse);
  EXPECT_EQ(reverse->first->kind, Difference::Kind::only_in_replay);
}

TEST_F(ReplayCompare, TheAuditChainAndWhereEntriesWereReadAreNotCompared) {
  // Same events, read at other offsets and sealed after another head.
  store::Batch b = b_->batch();
  auto app = *b_->application("app-1");
  auto history = *b_->history("app-1");
  std::string head = "another chain";
  for (auto& h : history) {
    h.offset += 100;
    h.partition = 5;
    b.add_history("app-1", h, head);
  }
  app.history_head = head;
  b.put_application(app, "review");
  ASSERT_OK(b_->commit(b));
  auto c = compare(*a_, *b_);
  ASSERT_OK(c);
  EXPECT_TRUE(c->equal()) << c->first->path;
}

TEST_F(ReplayCompare, TimersTheOriginalFiredAreNoDifferenceOthersAre) {
  // The original fired app-1's timer (due in the past) and deleted it; the
  // replay, without timers, still holds it.
  store::Batch b = b_->batch();
  auto timers = *b_->timers_of("app-1");
  for (const auto& t : timers) b.delete_timer(t);
  ASSERT_OK(b_->commit(b));
  CompareOptions fired_before;
  fired_before.fired_before_ms = 3'000'000'000'000;  // after the timer was due
  auto c = compare(*a_, *b_, fired_before);
  ASSERT_OK(c);
  EXPECT_TRUE(c->equal());
  auto not_yet_due = compare(*a_, *b_);  // the timer is not due yet: it must be there
  ASSERT_OK(not_yet_due);
  ASSERT_TRUE(not_yet_due->first);
  EXPECT_EQ(not_yet_due->first->path, "timers/0");
  EXPECT_EQ(not_yet_due->first->store, nullptr);
}

TEST(ReplayFirstDifference, PathsAreJsonPointersInKeyAndIndexOrder) {
  EXPECT_FALSE(first_difference(json{{"a", {1, 2}}}, json{{"a", {1, 2}}}));
  EXPECT_EQ(*first_difference(json{{"b", 1}, {"a", {1, 2}}}, json{{"b", 2}, {"a", {1, 3}}}), "a/1");
  EXPECT_EQ(*first_difference(json{{"a", {1}}}, json{{"a", {1, 2}}}), "a/1");
  EXPECT_EQ(*first_difference(json{{"x/y", 1}}, json{{"x/y", "1"}}), "x~1y");
  EXPECT_EQ(*first_difference(json{{"a", 1}}, json::object()), "a");
  EXPECT_EQ(*first_difference(json(1), json(2)), "");
}

}  // namespace
}  // namespace stagewise::replay
