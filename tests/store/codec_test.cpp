#include "store/codec.h"

#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

namespace stagewise::store {
namespace {

workflow::Application sample_app() {
  workflow::Application a;
  a.id = "APP-1";
  a.program = "phd-fellowship";
  a.workflow_version = 3;
  a.stage = "review";
  a.stage_entered_ms = 1'790'000'000'123;
  a.created_ms = -5;  // before the epoch still round-trips
  a.updated_ms = 1'790'000'000'999;
  a.sequence = 300;
  a.facts = {{"profile", {{"name", "Ada \"L\" Ñ"}, {"gpa", 3.9}}},
             {"reviews", {{{"reviewer", "r1"}, {"score", 4}}}}};
  return a;
}

TEST(Codec, ApplicationRoundTrips) {
  std::string bytes;
  codec::encode(bytes, sample_app());
  workflow::Application back;
  ASSERT_TRUE(codec::decode(bytes, back));
  EXPECT_EQ(back, sample_app());
}

TEST(Codec, HistoryRoundTripsWithAndWithoutFrom) {
  HistoryEntry h;
  h.sequence = 7;
  h.id = "e1";
  h.source = "portal";
  h.type = "review.submitted";
  h.time = "2026-01-01T00:00:00Z";
  h.actorid = "r1";
  h.actorrole = "reviewer";
  h.from = "review";
  h.to = "interview";
  h.transition = 2;
  h.note = "why";
  h.data = {{"score", 5}};
  h.topic = "stagewise.events";
  h.partition = 3;
  h.offset = 99;
  for (const bool with_from : {true, false}) {
    if (!with_from) h.from.reset();
    std::string bytes;
    codec::encode(bytes, h);
    HistoryEntry back;
    ASSERT_TRUE(codec::decode(bytes, back));
    EXPECT_EQ(to_json(back), to_json(h));
  }
}

TEST(Codec, OutboxAndTimerRoundTrip) {
  OutboxRecord r{0, "stagewise.status", "APP-1", std::string("\0{\xff}", 4), {{"a", "b"}}};
  std::string bytes;
  codec::encode(bytes, r);
  OutboxRecord rb;
  ASSERT_TRUE(codec::decode(bytes, rb));
  EXPECT_EQ(rb.topic, r.topic);
  EXPECT_EQ(rb.key, r.key);
  EXPECT_EQ(rb.value, r.value);
  EXPECT_EQ(rb.headers, r.headers);

  TimerRecord t;
  t.application = "APP-1";
  t.program = "p";
  t.partition = 5;
  t.timer.kind = workflow::Timer::Kind::reminder;
  t.timer.index = 2;
  t.timer.due_ms = 123;
  t.timer.stage = "s";
  t.timer.stage_entered_ms = 100;
  t.timer.recipient = "applicant";
  t.timer.template_name = "tpl";
  t.timer.deadline_ms = 456;
  bytes.clear();
  codec::encode(bytes, t);
  TimerRecord tb;
  ASSERT_TRUE(codec::decode(bytes, tb));
  EXPECT_EQ(tb.application, t.application);
  EXPECT_EQ(tb.partition, t.partition);
  EXPECT_EQ(tb.timer.kind, t.timer.kind);
  EXPECT_EQ(tb.timer.index, t.timer.index);
  EXPECT_EQ(tb.timer.due_ms, t.timer.due_ms);
  EXPECT_EQ(tb.timer.stage_entered_ms, t.timer.stage_entered_ms);
  EXPECT_EQ(tb.timer.template_name, t.timer.template_name);
  EXPECT_EQ(tb.timer.deadline_ms, t.timer.deadline_ms);
}

TEST(Codec, TruncatedOrForeignBytesAreRejectedNotMisread) {
  std::string bytes;
  codec::encode(bytes, sample_app());
  workflow::Application back;
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(codec::decode(std::string_view(bytes).substr(0, n), back)) << "length " << n;
  EXPECT_FALSE(codec::decode(bytes + "x", back)) << "trailing bytes";
  HistoryEntry h;
  EXPECT_FALSE(codec::decode(bytes, h)) << "an application is not a history entry";
}

// Stores written before this encoding hold msgpack maps of the JSON form;
// they must still open and read.
TEST(Codec, StoreReadsApplicationsWrittenInTheOldEncoding) {
  stagewise::testing::TempDir dir;
  {
    auto st = Store::open(dir / "db", {.sync = false});
    ASSERT_TRUE(st.ok());
  }
  {
    rocksdb::Options o;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, dir / "db", &names).ok());
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir / "db", cfs, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    const auto legacy = nlohmann::json::to_msgpack(workflow::to_json(sample_app()));
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] != "applications") continue;
      ASSERT_TRUE(db->Put({}, handles[i], "APP-1", std::string(legacy.begin(), legacy.end())).ok());
    }
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  }
  auto st = Store::open(dir / "db", {.sync = false});
  ASSERT_TRUE(st.ok());
  auto got = (*st)->application("APP-1");
  ASSERT_TRUE(got.ok()) << got.error().message;
  auto want = sample_app();
  // The JSON form keeps timestamps to the millisecond as RFC 3339.
  EXPECT_EQ(got->facts, want.facts);
  EXPECT_EQ(got->stage, want.stage);
  EXPECT_EQ(got->sequence, want.sequence);
  EXPECT_EQ(got->stage_entered_ms, want.stage_entered_ms);
}

}  // namespace
}  // namespace stagewise::store
