#include "store/store.h"

#include "support/temp_dir.h"

#include <gtest/gtest.h>

namespace stagewise::store {
namespace {

#define ASSERT_OK(r) ASSERT_TRUE((r).ok()) << (r).error().message

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }
  void reopen(Store::Options o = {.sync = false, .read_only = false, .dedupe_retention = 5}) {
    store_.reset();
    auto s = Store::open(dir_ / "db", o);
    ASSERT_OK(s);
    store_ = std::move(*s);
  }
  static workflow::Application app(const std::string& id, const std::string& stage, uint64_t seq) {
    workflow::Application a;
    a.id = id;
    a.program = "p";
    a.workflow_version = 1;
    a.stage = stage;
    a.sequence = seq;
    a.facts = {{"profile", {{"name", id}}}};
    return a;
  }
  static TimerRecord timer(const std::string& id, int64_t due, int32_t partition = 0) {
    TimerRecord t;
    t.application = id;
    t.program = "p";
    t.partition = partition;
    t.timer.due_ms = due;
    t.timer.stage = "s";
    return t;
  }
  stagewise::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, MissingApplicationIsNotFoundNotEmpty) {
  auto a = store_->application("nope");
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(a.error().is_not_found());
}

TEST_F(StoreTest, BatchWritesStateHistoryAndIndexTogether) {
  Batch b = store_->batch();
  b.put_application(app("a", "submitted", 1), "");
  HistoryEntry h;
  h.sequence = 1;
  h.id = "e1";
  h.type = "application.submitted";
  h.to = "submitted";
  std::string head;
  b.add_history("a", h, head);
  b.set_input_position({"stagewise.events", 3, 42});
  ASSERT_OK(store_->commit(b));
  reopen();
  EXPECT_EQ(store_->application("a")->stage, "submitted");
  EXPECT_EQ(store_->history("a")->size(), 1u);
  EXPECT_EQ(*store_->list_stage("p", "submitted", 10), std::vector<std::string>{"a"});
  EXPECT_EQ(*store_->input_positions(), (std::vector<InputPosition>{{"stagewise.events", 3, 42}}));

  Batch move = store_->batch();
  move.put_application(app("a", "review", 2), "submitted");
  ASSERT_OK(store_->commit(move));
  EXPECT_TRUE(store_->list_stage("p", "submitted", 10)->empty());
  EXPECT_EQ(store_->stage_counts("p")->at("review"), 1u);
}

TEST_F(StoreTest, HistoryIsInSequenceOrderAndPerApplication) {
  Batch b = store_->batch();
  std::string head;
  for (uint64_t s : {3, 1, 2, 10}) {
    HistoryEntry h;
    h.sequence = s;
    h.id = "e" + std::to_string(s);
    b.add_history("a", h, head);
  }
  HistoryEntry other;
  other.sequence = 1;
  b.add_history("a-longer", other, head);
  ASSERT_OK(store_->commit(b));
  const auto h = *store_->history("a");
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0].sequence, 1u);
  EXPECT_EQ(h[3].sequence, 10u);
}

TEST_F(StoreTest, DedupeIdsAreRememberedWithinTheRetention) {
  for (int i = 0; i < 8; ++i) {
    Batch b = store_->batch();
    b.mark_seen("src", "id-" + std::to_string(i));
    ASSERT_OK(store_->commit(b));
  }
  EXPECT_TRUE(*store_->seen("src", "id-7"));
  EXPECT_TRUE(*store_->seen("src", "id-3"));
  EXPECT_FALSE(*store_->seen("src", "id-0")) << "retention is 5";
  EXPECT_FALSE(*store_->seen("other", "id-7"));
  reopen();
  Batch b = store_->batch();
  b.mark_seen("src", "id-8");
  ASSERT_OK(store_->commit(b));
  EXPECT_FALSE(*store_->seen("src", "id-3"));
  EXPECT_TRUE(*store_->seen("src", "id-4"));
}

TEST_F(StoreTest, OutboxKeepsOrderAcrossRestarts) {
  Batch b = store_->batch();
  b.add_outbox({0, "t", "k", "v1", {{"h", "x"}}});
  b.add_outbox({0, "t", "k", std::string("\0\xff", 2), {}});
  ASSERT_OK(store_->commit(b));
  const auto before = *store_->outbox(10);
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(before[0].headers, (Headers{{"h", "x"}}));
  reopen();
  Batch c = store_->batch();
  c.add_outbox({0, "t", "k", "v3", {}});
  c.delete_outbox(before[0].seq);
  ASSERT_OK(store_->commit(c));
  const auto out = *store_->outbox(10);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].value, std::string("\0\xff", 2));
  EXPECT_EQ(out[1].value, "v3");
  EXPECT_GT(out[1].seq, out[0].seq) << "numbering continues after a restart";
  EXPECT_EQ(store_->outbox(10, out[0].seq)->size(), 1u);
}

TEST_F(StoreTest, OutboxRangeDeleteRemovesExactlyTheRange) {
  Batch b = store_->batch();
  for (int i = 0; i < 6; ++i) b.add_outbox({0, "t", "k", "v" + std::to_string(i), {}});
  ASSERT_OK(store_->commit(b));
  const auto all = *store_->outbox(10);
  ASSERT_EQ(all.size(), 6u);
  Batch d = store_->batch();
  d.delete_outbox_range(all[1].seq, all[3].seq);
  d.delete_outbox(all[5].seq);
  ASSERT_OK(store_->commit(d));
  const auto left = *store_->outbox(10);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].value, "v0");
  EXPECT_EQ(left[1].value, "v4");
}

// Seqs follow commit order, not the order batches were filled in: a batch
// filled first but committed second must not be skipped by a reader whose
// cursor already passed the other batch.
TEST_F(StoreTest, OutboxSeqsFollowCommitOrder) {
  Batch early = store_->batch();
  early.add_outbox({0, "t", "k", "filled first", {}});
  Batch late = store_->batch();
  late.add_outbox({0, "t", "k", "filled second", {}});
  ASSERT_OK(store_->commit(late));
  const auto first = *store_->outbox(10);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_OK(store_->commit(early));
  const auto after = *store_->outbox(10, first[0].seq);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].value, "filled first");
}

TEST_F(StoreTest, CommittedOutboxTailHandsRecordsOverInOrder) {
  std::vector<OutboxRecord> taken;
  ASSERT_TRUE(store_->take_committed_outbox(10, taken)) << "starts keeping the tail";
  EXPECT_TRUE(taken.empty());
  for (int i = 0; i < 3; ++i) {
    Batch b = store_->batch();
    b.add_outbox({0, "t", "k" + std::to_string(i), "v" + std::to_string(i), {}});
    ASSERT_OK(store_->commit(b));
  }
  ASSERT_TRUE(store_->take_committed_outbox(2, taken));
  ASSERT_EQ(taken.size(), 2u);
  ASSERT_TRUE(store_->take_committed_outbox(10, taken));
  ASSERT_EQ(taken.size(), 3u);
  const auto stored = *store_->outbox(10);
  ASSERT_EQ(stored.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(taken[i].seq, stored[i].seq);
    EXPECT_EQ(taken[i].value, stored[i].value);
  }
}

TEST_F(StoreTest, CommittedOutboxTailIsKeptFromTheFirstCallEvenTakingNothing) {
  std::vector<OutboxRecord> taken;
  Batch before = store_->batch();
  before.add_outbox({0, "t", "k", "before anyone asked", {}});
  ASSERT_OK(store_->commit(before));
  ASSERT_TRUE(store_->take_committed_outbox(0, taken));
  EXPECT_TRUE(taken.empty()) << "not kept before the first call (read those with outbox())";
  Batch after = store_->batch();
  after.add_outbox({0, "t", "k", "after", {}});
  ASSERT_OK(store_->commit(after));
  ASSERT_TRUE(store_->take_committed_outbox(10, taken));
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].value, "after");
}

// Issue 10.6: the tail was bounded by count (50k records of up to ~1.5 MB).
TEST_F(StoreTest, CommittedOutboxTailIsBoundedInBytes) {
  reopen({.sync = false, .dedupe_retention = 5, .outbox_tail_bytes = 1 << 20});
  std::vector<OutboxRecord> taken;
  ASSERT_TRUE(store_->take_committed_outbox(1, taken));
  Batch b = store_->batch();
  for (int i = 0; i < 5; ++i) b.add_outbox({0, "t", "k", std::string(100'000, 'v'), {}});
  ASSERT_OK(store_->commit(b));
  ASSERT_TRUE(store_->take_committed_outbox(10, taken)) << "500 KB fit in 1 MB";
  EXPECT_EQ(taken.size(), 5u);
  taken.clear();
  for (int i = 0; i < 15; ++i) b.add_outbox({0, "t", "k", std::string(100'000, 'v'), {}});
  ASSERT_OK(store_->commit(b));
  EXPECT_FALSE(store_->take_committed_outbox(10, taken))
      << "a reader that fell behind must be told to read the outbox";
  EXPECT_TRUE(taken.empty());
  EXPECT_EQ(store_->outbox(100)->size(), 20u) << "nothing is lost";
  EXPECT_TRUE(store_->take_committed_outbox(10, taken));
}

TEST_F(StoreTest, IntakeRecordsStayUntilProcessed) {
  std::vector<IntakeRecord> recs = {{0, "s", "1", "a", "{}"}, {0, "s", "2", "b", "{}"}};
  ASSERT_OK(store_->intake_put(recs));
  EXPECT_EQ(store_->intake_count(), 2u);
  reopen();
  EXPECT_EQ(store_->intake_count(), 2u);
  Batch b = store_->batch();
  b.intake_done("s", "1");
  b.intake_done("s", "not-from-intake");
  ASSERT_OK(store_->commit(b));
  EXPECT_EQ(store_->intake_count(), 1u);
  const auto left = *store_->intake_pending(10);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, "2");
}

// Issue 10.3: a duplicate in one POST, or a retry before processing, orphaned
// an intake record re-produced every 30 s, and the pending gauge wrapped.
TEST_F(StoreTest, IntakeRepeatsAndRetriesKeepOneRecordAndTheCountNeverWraps) {
  std::vector<IntakeRecord> recs = {{0, "s", "1", "a", "{}"}, {0, "s", "1", "a", "{}"}};
  ASSERT_OK(store_->intake_put(recs));
  EXPECT_EQ(store_->intake_count(), 1u);
  EXPECT_EQ(recs[0].seq, recs[1].seq);
  std::vector<IntakeRecord> retry = {{0, "s", "1", "a", "{}"}, {0, "s", "2", "b", "{}"}};
  ASSERT_OK(store_->intake_put(retry));
  EXPECT_EQ(retry[0].seq, recs[0].seq);
  EXPECT_EQ(store_->intake_count(), 2u);
  Batch b = store_->batch();
  for (int i = 0; i < 3; ++i) b.intake_done("s", "1");  // read three times in one round
  b.intake_done("s", "2");
  ASSERT_OK(store_->commit(b));
  EXPECT_EQ(store_->intake_count(), 0u);
  EXPECT_TRUE(store_->intake_pending(10)->empty()) << "no orphan left to re-produce";
  b.intake_done("s", "1");
  ASSERT_OK(store_->commit(b));
  EXPECT_EQ(store_->intake_count(), 0u);
  reopen();
  EXPECT_EQ(store_->intake_count(), 0u);
}

TEST_F(StoreTest, DeadLettersAreKeptWithinTheRetentionNewestFirst) {
  reopen({.sync = false, .dedupe_retention = 5, .deadletter_retention = 3});
  for (int i = 0; i < 5; ++i) {
    Batch b = store_->batch();
    DeadLetter d;
    d.id = "deadletter/t/0/" + std::to_string(i);
    d.reason = "malformed_json";
    d.original = std::string(1000, static_cast<char>(i));
    d.kept = true;
    d.length = 1000;
    b.add_dead_letter(d);
    ASSERT_OK(store_->commit(b));
  }
  const auto got = store_->dead_letter("deadletter/t/0/4");
  ASSERT_OK(got);
  EXPECT_EQ(got->original, std::string(1000, '\x04'));
  EXPECT_TRUE(store_->dead_letter("deadletter/t/0/1").error().is_not_found())
      << "past the retention of 3";
  const auto list = store_->dead_letters(10);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, "deadletter/t/0/4");
  EXPECT_EQ((*list)[2].id, "deadletter/t/0/2");
  EXPECT_EQ(store_->dead_letters(10, (*list)[0].seq)->size(), 2u) << "paging by seq";
  reopen({.sync = false, .dedupe_retention = 5, .deadletter_retention = 3});
  ASSERT_OK(store_->compact());
  EXPECT_TRUE(store_->dead_letter("deadletter/t/0/0").error().is_not_found());
  EXPECT_EQ(store_->dead_letters(10)->size(), 3u);
}

TEST_F(StoreTest, ParkedOutboxRecordsLeaveTheOutboxAndAreKept) {
  Batch b = store_->batch();
  b.add_outbox({0, "t", "k1", "first", {}});
  b.add_outbox({0, "t", "k2", "too large", {{"h", "v"}}});
  b.add_outbox({0, "t", "k3", "third", {}});
  ASSERT_OK(store_->commit(b));
  const auto all = *store_->outbox(10);
  b.park_outbox(all[1].seq, "Broker: Message size too large", 1000);
  b.park_outbox(999, "gone already", 1000);
  ASSERT_OK(store_->commit(b));
  const auto left = *store_->outbox(10);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[1].key, "k3");
  EXPECT_EQ(store_->parked_count(), 1u);
  reopen();
  EXPECT_EQ(store_->parked_count(), 1u);
  const auto parked = store_->parked(10);
  ASSERT_OK(parked);
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].record.value, "too large");
  EXPECT_EQ((*parked)[0].record.headers[0].second, "v");
  EXPECT_EQ((*parked)[0].reason, "Broker: Message size too large");
}

TEST_F(StoreTest, TimersAreDueInOrderPerPartitionAndCancelledPerApplication) {
  Batch b = store_->batch();
  b.add_timer(timer("a", 300));
  b.add_timer(timer("b", 100));
  b.add_timer(timer("c", 200, 1));
  ASSERT_OK(store_->commit(b));
  const auto due = *store_->due_timers(0, 250, 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].application, "b");
  EXPECT_EQ(*store_->next_due(0), 100);
  EXPECT_EQ(*store_->next_due(1), 200);
  EXPECT_TRUE(store_->next_due(2).error().is_not_found());
  EXPECT_EQ(store_->timers_due_before(1000, 10)->size(), 3u);

  // Cancel and re-add in one batch: the committed timer goes, the new stays;
  // a timer added before a cancel in the same batch goes too.
  Batch c = store_->batch();
  c.add_timer(timer("b", 150));
  c.cancel_timers("b");
  c.add_timer(timer("b", 500));
  c.cancel_timers("a");
  ASSERT_OK(store_->commit(c));
  EXPECT_TRUE(store_->timers_of("a")->empty());
  const auto b_timers = *store_->timers_of("b");
  ASSERT_EQ(b_timers.size(), 1u);
  EXPECT_EQ(b_timers[0].timer.due_ms, 500);
  Batch d = store_->batch();
  d.delete_timer(b_timers[0]);
  ASSERT_OK(store_->commit(d));
  EXPECT_TRUE(store_->timers_of("b")->empty());
}

TEST_F(StoreTest, ReadOnlyOpenSeesDataWhileTheWriterRuns) {
  Batch b = store_->batch();
  b.put_application(app("r", "x", 1), "");
  ASSERT_OK(store_->commit(b));
  auto ro = Store::open(dir_ / "db", {.sync = false, .read_only = true, .dedupe_retention = 5});
  ASSERT_OK(ro);
  EXPECT_EQ((*ro)->application("r")->stage, "x");
  auto second_writer = Store::open(dir_ / "db", {});
  ASSERT_FALSE(second_writer.ok());
  EXPECT_NE(second_writer.error().message.find("another stagewise process"), std::string::npos)
      << second_writer.error().message;
}

}  // namespace
}  // namespace stagewise::store
