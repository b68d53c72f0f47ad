// The changelog side of the store (DESIGN.md §9, docs/scale-out.md): what a
// commit mirrors, and what a new owner rebuilds from it.
#include "store/changelog.h"

#include "common/partition.h"
#include "store/codec.h"
#include "store/store.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>

#include <map>

namespace stagewise::store {
namespace {

#define ASSERT_OK(r) ASSERT_TRUE((r).ok()) << (r).error().message

constexpr int32_t kPartitions = 4;
const std::string kChangelog = "stagewise.changelog";
const std::string kInput = "stagewise.events";

workflow::Application app(const std::string& id, const std::string& stage, uint64_t seq) {
  workflow::Application a;
  a.id = id;
  a.program = "p";
  a.workflow_version = 1;
  a.stage = stage;
  a.sequence = seq;
  a.facts = {{"profile", {{"name", id}}}};
  return a;
}

HistoryEntry entry(uint64_t seq, const std::string& event_id) {
  HistoryEntry h;
  h.sequence = seq;
  h.id = event_id;
  h.source = "test";
  h.type = "t";
  h.to = "s";
  return h;
}

TimerRecord timer(const std::string& id, int64_t due) {
  TimerRecord t;
  t.application = id;
  t.program = "p";
  t.partition = partition_of(id, kPartitions);
  t.timer.due_ms = due;
  t.timer.stage = "s";
  return t;
}

// An id living in partition `p`.
std::string id_in(int32_t p, const std::string& stem) {
  for (int k = 0;; ++k) {
    std::string id = stem + "-" + std::to_string(k);
    if (partition_of(id, kPartitions) == p) return id;
  }
}

class ChangelogTest : public ::testing::Test {
 protected:
  std::map<std::string, std::string> heads_;  // each application's audit chain
  std::unique_ptr<Store> open(const std::string& name) {
    auto s = Store::open(dir_ / name, {.sync = false});
    EXPECT_TRUE(s.ok());
    (*s)->set_partitions(kPartitions);
    (*s)->mirror_to(kChangelog, kInput);
    return std::move(*s);
  }
  // The bundles of the outbox, in order.
  static std::vector<Bundle> bundles(Store& s) {
    std::vector<Bundle> out;
    const auto recs = s.outbox(1000);  // kept alive: a range-for would not
    for (const auto& rec : *recs) {
      if (!rec.bundle) continue;
      EXPECT_EQ(rec.topic, kChangelog);
      Bundle b;
      EXPECT_TRUE(changelog::decode(rec.value, b));
      EXPECT_EQ(b.partition, rec.partition);
      out.push_back(std::move(b));
    }
    return out;
  }
  stagewise::testing::TempDir dir_;
};

TEST(PartitionOf, IsWhatLibrdkafkasDefaultPartitionerPicks) {
  // CRC-32("123456789") = 0xCBF43926, the check value of the IEEE CRC.
  EXPECT_EQ(partition_of("123456789", 1000), static_cast<int32_t>(0xCBF43926u % 1000));
  for (const int32_t n : {1, 4, 8, 12, 1024})
    for (int i = 0; i < 2000; ++i) {
      const std::string key = "app-" + std::to_string(i * 7919) + (i % 3 ? "é" : "");
      EXPECT_EQ(partition_of(key, n), rd_kafka_msg_partitioner_consistent(
                                          nullptr, key.data(), key.size(), n, nullptr, nullptr))
          << key << " of " << n;
    }
}

TEST_F(ChangelogTest, ACommitMirrorsItsChangesPerPartitionAfterItsOutputsClosedByAMarker) {
  auto s = open("a");
  ASSERT_OK(s->set_lineage(1, kInput, {true, 3, 7, 40}));
  const std::string a = id_in(1, "a");
  const std::string b = id_in(2, "b");
  Batch batch = s->batch();
  batch.put_application(app(a, "new", 1), "");  // overridden below: mirrored once, last
  batch.put_application(app(a, "submitted", 1), "new");
  batch.add_history(a, entry(1, "e1"), heads_[a]);
  batch.add_timer(timer(a, 1000));
  batch.put_application(app(b, "submitted", 1), "");
  OutboxRecord status;
  status.topic = "stagewise.status";
  status.key = a;
  status.value = "status";
  batch.add_outbox(status);
  batch.set_input_position({kInput, 1, 42});
  ASSERT_OK(s->commit(batch));

  const auto all = *s->outbox(1000);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_FALSE(all[0].bundle) << "outputs come before the round's changelog";
  const auto bs = bundles(*s);
  ASSERT_EQ(bs.size(), 2u);
  std::map<int32_t, Bundle> by;
  for (const auto& x : bs) by[x.partition] = x;
  ASSERT_TRUE(by.count(1) && by.count(2));
  const Bundle& one = by[1];
  EXPECT_EQ(one.epoch, 3u);
  ASSERT_TRUE(one.marker.has_value());
  EXPECT_EQ(one.marker->owner, s->id());
  EXPECT_EQ(one.marker->epoch, 3u);
  EXPECT_EQ(one.marker->round, 8u);
  EXPECT_EQ(one.marker->next_offset, 42);
  std::vector<std::string> keys;
  for (const auto& e : one.entries) keys.push_back(e.key);
  // The round's audit seal of the partition comes with what it seals.
  EXPECT_EQ(keys, (std::vector<std::string>{changelog::app_key(a), changelog::history_key(a, 1),
                                            changelog::audit_key(1, 1), changelog::timers_key(a)}));
  workflow::Application mirrored;
  ASSERT_TRUE(codec::decode(*one.entries[0].value, mirrored));
  EXPECT_EQ(mirrored.stage, "submitted") << "the last write of a key is the one mirrored";
  EXPECT_EQ(s->lineage(1), (Lineage{true, 3, 8, 42}));
  EXPECT_EQ(by[2].marker->round, 1u);  // a partition never owned before starts at round 1

  // Timers are mirrored as the application's whole set: a cancel leaves a
  // tombstone, not a stale set.
  Batch cancel = s->batch();
  cancel.cancel_timers(a);
  ASSERT_OK(s->commit(cancel));
  const auto after = bundles(*s);
  const Bundle& last = after.back();
  ASSERT_EQ(last.entries.size(), 1u);
  EXPECT_EQ(last.entries[0].key, changelog::timers_key(a));
  EXPECT_FALSE(last.entries[0].value.has_value());
}

TEST_F(ChangelogTest, ARestoreRebuildsStateIndexTimersAndDedupeIdsExactly) {
  auto from = open("from");
  const std::string a = id_in(0, "a"), b = id_in(0, "b"), other = id_in(3, "o");
  Batch w = from->batch();
  w.put_application(app(a, "submitted", 1), "");
  w.add_history(a, entry(1, "e1"), heads_[a]);
  w.add_timer(timer(a, 5000));
  w.put_application(app(b, "submitted", 1), "");
  w.add_history(b, entry(1, "e2"), heads_[b]);
  w.put_application(app(other, "submitted", 1), "");
  ASSERT_OK(from->commit(w));
  Batch w2 = from->batch();
  w2.put_application(app(a, "documents", 2), "submitted");
  w2.add_history(a, entry(2, "e3"), heads_[a]);
  w2.cancel_timers(a);
  w2.add_timer(timer(a, 9000));
  w2.set_input_position({kInput, 0, 17});
  ASSERT_OK(from->commit(w2));

  // A stale copy of partition 0 elsewhere: it goes, partition 3 stays.
  auto to = open("to");
  const std::string stale = id_in(0, "stale"), kept = id_in(3, "kept");
  Batch old = to->batch();
  old.put_application(app(a, "withdrawn", 9), "");
  old.add_history(a, entry(9, "applied-here-only"), heads_[a]);
  old.mark_seen("test", "applied-here-only");
  old.put_application(app(stale, "submitted", 1), "");
  old.put_application(app(kept, "submitted", 1), "");
  old.add_timer(timer(stale, 100));
  ASSERT_OK(to->commit(old));
  ASSERT_OK(to->drop_partition(0, kInput));
  EXPECT_TRUE(to->application(stale).error().is_not_found());
  EXPECT_TRUE(to->application(a).error().is_not_found());
  EXPECT_TRUE(to->application(kept).ok()) << "another partition's copy was dropped";
  EXPECT_TRUE(to->timers_of(stale)->empty());
  // An event the dropped copy had applied is not a repeat when it comes
  // again: the new lineage may not have applied it yet.
  EXPECT_FALSE(*to->seen("test", "applied-here-only"));

  for (const auto& bundle : bundles(*from)) {
    if (bundle.partition != 0) continue;
    ASSERT_OK(to->restore_entries(bundle.entries));
  }
  ASSERT_OK(to->set_lineage(0, kInput, {true, 2, 0, 17}));
  EXPECT_EQ(to->application(a)->stage, "documents");
  EXPECT_EQ(to->application(a)->sequence, 2u);
  EXPECT_EQ(to->history(a)->size(), 2u);
  ASSERT_EQ(to->timers_of(a)->size(), 1u);
  EXPECT_EQ((*to->timers_of(a))[0].timer.due_ms, 9000);
  EXPECT_EQ(*to->list_stage("p", "documents", 10), std::vector<std::string>{a});
  EXPECT_EQ(to->list_stage("p", "withdrawn", 10)->size(), 0u) << "a stale index entry survived";
  EXPECT_TRUE(*to->seen("test", "e1"));
  EXPECT_TRUE(*to->seen("test", "e3"));
  EXPECT_TRUE(to->application(other).error().is_not_found()) << "partition 3 was not restored";
  const auto positions = *to->input_positions();
  bool at17 = false;
  for (const auto& p : positions) at17 |= p.partition == 0 && p.next_offset == 17;
  EXPECT_TRUE(at17);
}

TEST_F(ChangelogTest, OnlyOwnedPartitionsAreServed) {
  auto s = open("o");
  const std::string mine = id_in(1, "m"), theirs = id_in(2, "t");
  Batch w = s->batch();
  w.put_application(app(mine, "submitted", 1), "");
  w.put_application(app(theirs, "submitted", 1), "");
  ASSERT_OK(s->commit(w));
  EXPECT_TRUE(s->application(theirs).ok()) << "before any assignment everything is served";
  s->set_owned({1});
  EXPECT_TRUE(s->application(mine).ok());
  const auto got = s->application(theirs);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::unavailable);
  EXPECT_FALSE(s->history(theirs).ok());
  EXPECT_EQ(*s->list_stage("p", "submitted", 10), std::vector<std::string>{mine});
  EXPECT_EQ(s->stage_counts("p")->at("submitted"), 1u);
  s->set_owned({});
  EXPECT_FALSE(s->application(mine).ok()) << "a revoked partition is still served";
}

TEST_F(ChangelogTest, AReseedIsASnapshotUnderANewEpochWithTombstonesAndAMarkerLast) {
  auto s = open("r");
  const std::string a = id_in(2, "a");
  Batch w = s->batch();
  w.put_application(app(a, "submitted", 1), "");
  w.add_history(a, entry(1, "e1"), heads_[a]);
  ASSERT_OK(s->commit(w));
  std::vector<ChangelogEntry> snapshot;
  ASSERT_OK(s->scan_partition(2, [&](ChangelogEntry&& e) { snapshot.push_back(std::move(e)); }));
  ASSERT_EQ(snapshot.size(), 3u);  // the application, its entry, the audit round sealing it
  EXPECT_EQ(snapshot[2].key, changelog::audit_key(2, 1));
  snapshot.push_back({changelog::timers_key(a), std::nullopt});
  ASSERT_OK(s->reseed(2, kInput, snapshot, 5, 99, /*part_bytes=*/1));
  auto bs = bundles(*s);
  std::vector<Bundle> parts;
  for (auto& b : bs)
    if (b.epoch == 5) parts.push_back(b);
  ASSERT_EQ(parts.size(), 4u) << "one entry per part at part_bytes 1";
  for (size_t i = 0; i + 1 < parts.size(); ++i) EXPECT_FALSE(parts[i].marker.has_value());
  ASSERT_TRUE(parts.back().marker.has_value());
  EXPECT_EQ(parts.back().marker->next_offset, 99);
  EXPECT_EQ(s->lineage(2), (Lineage{true, 5, 1, 99}));
}

// Reviewers (reference data, DESIGN.md §12) are mirrored with their id's
// partition; a restore or a copy from the reviewers topic replaces a stored
// record only when its revision is larger, and a drop never removes one.
TEST_F(ChangelogTest, ReviewerRecordsAreMirroredAndOnlyANewerRevisionReplacesOne) {
  auto from = open("from");
  const std::string r = id_in(2, "rev");
  auto record = [&](uint64_t revision, const std::string& name) {
    return nlohmann::json{{"id", r}, {"revision", revision}, {"profile", {{"name", name}}}}.dump();
  };
  Batch w = from->batch();
  w.put_reviewer(r, record(3, "three"));
  ASSERT_OK(from->commit(w));
  std::vector<ChangelogEntry> mirrored;
  for (const auto& bundle : bundles(*from)) {
    EXPECT_EQ(bundle.partition, 2);
    for (const auto& e : bundle.entries) mirrored.push_back(e);
  }
  ASSERT_EQ(mirrored.size(), 1u);
  EXPECT_EQ(mirrored[0].key, changelog::reviewer_key(r));
  EXPECT_EQ(changelog::parse_key(mirrored[0].key).kind, 'r');

  auto to = open("to");
  ASSERT_TRUE(*to->keep_reviewer(r, record(5, "five")));
  EXPECT_FALSE(*to->keep_reviewer(r, record(4, "four"))) << "an older copy replaced a newer one";
  ASSERT_OK(to->restore_entries(mirrored));
  EXPECT_NE(to->reviewer(r)->find("five"), std::string::npos) << "a restore went back in time";
  ASSERT_OK(to->drop_partition(2, kInput));
  EXPECT_TRUE(to->reviewer(r).ok()) << "every process keeps every reviewer";

  auto fresh = open("fresh");
  ASSERT_OK(fresh->restore_entries(mirrored));
  EXPECT_NE(fresh->reviewer(r)->find("three"), std::string::npos);
  std::vector<ChangelogEntry> snapshot;
  ASSERT_OK(fresh->scan_partition(2, [&](ChangelogEntry&& e) { snapshot.push_back(e); }));
  ASSERT_EQ(snapshot.size(), 1u) << "a re-seed carries the partition's reviewers";
  EXPECT_EQ(snapshot[0].key, changelog::reviewer_key(r));
  ASSERT_OK(fresh->scan_partition(1, [&](ChangelogEntry&& e) { snapshot.push_back(e); }));
  EXPECT_EQ(snapshot.size(), 1u) << "another partition's re-seed carried it";
  EXPECT_TRUE(fresh->keep_reviewer(r, "not json").ok());
  EXPECT_FALSE(*fresh->keep_reviewer(r, "not json"));
}

TEST(ChangelogKeys, ParseBackWhatTheyMake) {
  const auto h = changelog::parse_key(changelog::history_key("x-1", 300));
  EXPECT_EQ(h.kind, 'h');
  EXPECT_EQ(h.id, "x-1");
  EXPECT_EQ(h.seq, 300u);
  EXPECT_EQ(changelog::parse_key(changelog::app_key("x")).kind, 'a');
  EXPECT_EQ(changelog::parse_key(changelog::timers_key("x")).id, "x");
  EXPECT_EQ(changelog::parse_key("h/x/123").kind, 0);
  EXPECT_EQ(changelog::parse_key("z/x").kind, 0);
  EXPECT_EQ(changelog::parse_key("a/").kind, 0);
}

}  // namespace
}  // namespace stagewise::store
