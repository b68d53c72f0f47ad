#include "store/codec.h"

#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <map>
#include <string>
#include <vector>

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
  a.stays = {{"submitted", -5, 1000, 1}, {"review", 1'790'000'000'123, 0, 2}};
  a.self_identification = {{"gender", "decline to state"}, {"first_generation", true}};
  a.history_head = std::string(32, '\x7f');
  return a;
}

TEST(Codec, ApplicationRoundTrips) {
  std::string bytes;
  codec::encode(bytes, sample_app());
  workflow::Application back;
  ASSERT_TRUE(codec::decode(bytes, back));
  EXPECT_EQ(back, sample_app());
}

// Applications stored before stays and self-identification existed
// (kApplication) are read as they were, with neither.
TEST(Codec, ApplicationOfTheFirstEncodingIsStillRead) {
  auto old = sample_app();
  std::string bytes;
  codec::encode(bytes, old);
  old.stays.clear();
  old.self_identification = nlohmann::json::object();
  old.history_head.clear();
  std::string first;
  codec::Writer w(first);
  w.u8(codec::kApplication);
  w.str(old.id);
  w.str(old.program);
  w.svarint(old.workflow_version);
  w.str(old.stage);
  w.svarint(old.stage_entered_ms);
  w.svarint(old.created_ms);
  w.svarint(old.updated_ms);
  w.varint(old.sequence);
  w.json(old.facts);
  workflow::Application back;
  ASSERT_TRUE(codec::decode(first, back));
  EXPECT_EQ(back, old);
  EXPECT_TRUE(first.size() < bytes.size());
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

// A sealed entry (DESIGN.md §14) reads back as the entry it wraps, with
// the round that sealed it and its chain hash; the unsealed encodings too,
// without them.
TEST(Codec, SealedHistoryReadsBackWithItsRoundAndChain) {
  HistoryEntry h;
  h.sequence = 3;
  h.id = "e3";
  h.to = "review";
  h.data = {{"note", "x"}};
  std::string body;
  codec::encode(body, h);
  const std::string chain(32, '\x01');
  std::string sealed;
  codec::seal(sealed, 41, chain, body);
  HistoryEntry back;
  ASSERT_TRUE(codec::decode(sealed, back));
  EXPECT_EQ(to_json(back), to_json(h));
  EXPECT_EQ(back.round, 41u);
  EXPECT_EQ(back.chain, chain);
  codec::SealedView view;
  ASSERT_TRUE(codec::unseal(sealed, view));
  EXPECT_TRUE(view.sealed);
  EXPECT_EQ(view.body, body) << "the chain hash covers exactly the entry's bytes";
  ASSERT_TRUE(codec::unseal(body, view));
  EXPECT_FALSE(view.sealed);
  ASSERT_TRUE(codec::decode(body, back));
  EXPECT_EQ(back.round, 0u);
  EXPECT_TRUE(back.chain.empty());
  // A short chain, a seal inside a seal, or nothing sealed is refused.
  std::string bad;
  codec::seal(bad, 1, "short", body);
  EXPECT_FALSE(codec::decode(bad, back));
  std::string twice;
  codec::seal(twice, 1, chain, sealed);
  EXPECT_FALSE(codec::decode(twice, back));
  std::string empty;
  codec::seal(empty, 1, chain, "");
  EXPECT_FALSE(codec::decode(empty, back));
}

// Issue 15: an entry whose event data is sealed under its application's
// key keeps everything else readable, and the data's bytes as they were.
TEST(Codec, HistoryWithSealedDataKeepsTheRestReadable) {
  HistoryEntry h;
  h.sequence = 4;
  h.id = "e4";
  h.type = "note.added";
  h.from = "review";
  h.to = "review";
  h.actorid = "pm-1";
  h.authsub = "pm-1";
  h.data = {{"text", "personal"}};
  const std::string sealed_data("\x00\x01 not msgpack \xff", 17);
  std::string body;
  codec::encode(body, h, sealed_data);
  EXPECT_EQ(body.find("personal"), std::string::npos);
  EXPECT_TRUE(codec::is_history(body));
  HistoryEntry back;
  std::string data;
  ASSERT_TRUE(codec::decode(body, back, &data));
  EXPECT_EQ(data, sealed_data);
  EXPECT_TRUE(back.data.is_null());
  back.data = h.data;
  EXPECT_EQ(to_json(back), to_json(h));
  EXPECT_EQ(back.authsub, "pm-1");
  std::string wrapped;
  codec::seal(wrapped, 7, std::string(32, '\x02'), body);
  data.clear();
  ASSERT_TRUE(codec::decode(wrapped, back, &data)) << "sealed in the chain, then read";
  EXPECT_EQ(data, sealed_data);
  ASSERT_TRUE(codec::decode(wrapped, back)) << "the data is optional to take";
  EXPECT_FALSE(codec::decode(body.substr(0, body.size() - 1), back, &data));
}

TEST(Codec, AuditRoundRoundTrips) {
  audit::Round r{5, 77, 1'790'000'000'000, std::string(32, '\0'), {}, {}, {}};
  r.leaves = {{"b", 2, std::string(32, 'b')}, {"a", 1, std::string(32, 'a')}};
  audit::seal(r);
  std::string bytes;
  codec::encode(bytes, r);
  audit::Round back;
  ASSERT_TRUE(codec::decode(bytes, back));
  EXPECT_EQ(back, r);
  EXPECT_EQ(back.leaves[0].application, "a") << "sealed leaves are sorted";
  EXPECT_FALSE(codec::decode(bytes.substr(0, bytes.size() - 1), back));
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

// An application whose facts are the given msgpack bytes, as the store holds it.
std::string application_with_facts(const std::string& msgpack) {
  std::string out;
  codec::Writer w(out);
  w.u8(codec::kApplication);
  for (int i = 0; i < 2; ++i) w.str("x");  // id, program
  w.svarint(1);                            // workflow_version
  w.str("s");                              // stage
  for (int i = 0; i < 3; ++i) w.svarint(0);
  w.varint(1);  // sequence
  w.str(msgpack);
  return out;
}

// A history entry whose data are the given msgpack bytes.
std::string history_with_data(const std::string& msgpack) {
  std::string out;
  codec::Writer w(out);
  w.u8(codec::kHistory);
  w.varint(1);                             // sequence
  for (int i = 0; i < 6; ++i) w.str("x");  // id, source, type, time, actorid, actorrole
  w.u8(0);                                 // no from
  w.str("s");                              // to
  w.svarint(-1);                           // transition
  w.str("");                               // note
  w.str(msgpack);                          // data
  w.str("t");                              // topic
  w.svarint(0);                            // partition
  w.svarint(0);                            // offset
  return out;
}

// `levels` nested one-element arrays around a nil, as msgpack.
std::string nested_msgpack(size_t levels) {
  return std::string(levels, '\x91') + '\xc0';
}

// from_msgpack recurses once per level and so do copying and destroying
// the tree: a corrupt value some 10,000 levels deep overflowed the stack
// (under ASan; fuzz_codec on a hand-made input). It is refused before any
// tree is built.
TEST(Codec, DeeplyNestedMsgpackIsRefusedWithoutRecursion) {
  const std::string deep = nested_msgpack(1'000'000);
  EXPECT_FALSE(codec::msgpack_depth_within(deep, codec::kMaxMsgpackDepth));
  workflow::Application a;
  EXPECT_FALSE(codec::decode(application_with_facts(deep), a));

  // Maps nest too (keys are values): {"k": {"k": ... }}.
  std::string maps;
  for (int i = 0; i < 1'000'000; ++i) maps += "\x81\xa1k";
  maps += '\xc0';
  EXPECT_FALSE(codec::msgpack_depth_within(maps, codec::kMaxMsgpackDepth));
  EXPECT_FALSE(codec::decode(application_with_facts(maps), a));

  HistoryEntry h;
  const auto shallow = nlohmann::json::to_msgpack({{"x", 1}});
  ASSERT_TRUE(codec::decode(history_with_data(std::string(shallow.begin(), shallow.end())), h));
  EXPECT_FALSE(codec::decode(history_with_data(deep), h));
}

TEST(Codec, MsgpackUpToTheDepthLimitReadsBack) {
  const auto depth = static_cast<size_t>(codec::kMaxMsgpackDepth);
  workflow::Application a;
  ASSERT_TRUE(codec::decode(application_with_facts(nested_msgpack(depth)), a));
  const nlohmann::json* level = &a.facts;
  size_t n = 0;
  for (; level->is_array(); level = &(*level)[0]) ++n;
  EXPECT_EQ(n, depth);
  EXPECT_FALSE(codec::decode(application_with_facts(nested_msgpack(depth + 1)), a));

  // Strings, binaries and numbers of every width are stepped over whole:
  // bytes inside them that look like arrays do not count.
  nlohmann::json wide = nlohmann::json::array();
  wide.push_back(std::string(70'000, '\x91'));
  wide.push_back(nlohmann::json::binary(std::vector<uint8_t>(300, 0x91), 7));
  wide.push_back(nlohmann::json::binary(std::vector<uint8_t>(8, 0x91)));
  wide.push_back(nlohmann::json::binary(std::vector<uint8_t>(16, 0x91), 1));
  for (const int64_t v : {-1LL, -200LL, 70'000LL, -70'000LL, 5'000'000'000LL}) wide.push_back(v);
  wide.push_back(1.5);
  wide.push_back(0.1);
  wide.push_back(nlohmann::json::object({{"k", nlohmann::json::array()}}));
  const auto bytes = nlohmann::json::to_msgpack(wide);
  EXPECT_TRUE(codec::msgpack_depth_within(std::string(bytes.begin(), bytes.end()), 3));
  EXPECT_FALSE(codec::msgpack_depth_within(std::string(bytes.begin(), bytes.end()), 2));
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

// Opens the store's RocksDB directly (the store closed), to write or read
// the raw layout.
struct RawDb {
  explicit RawDb(const std::string& path) {
    rocksdb::Options o;
    std::vector<std::string> names;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(o, path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    EXPECT_TRUE(rocksdb::DB::Open(o, path, cfs, &handles, &raw).ok());
    db.reset(raw);
    for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  }
  ~RawDb() {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  size_t count(const std::string& cf, const std::string& prefix) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, by_name.at(cf)));
    size_t n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    return n;
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  std::unique_ptr<rocksdb::DB> db;
};

TEST(StoredLayout, DedupeIdsOutOfTheRetentionAreDroppedByCompaction) {
  stagewise::testing::TempDir dir;
  {
    auto st = Store::open(dir / "db", {.sync = false, .read_only = false, .dedupe_retention = 5});
    ASSERT_TRUE(st.ok());
    for (int i = 0; i < 1000; ++i) {
      Batch b = (*st)->batch();
      b.mark_seen("src", "id-" + std::to_string(i));
      ASSERT_TRUE((*st)->commit(b).ok());
    }
    EXPECT_TRUE(*(*st)->seen("src", "id-999"));
    EXPECT_TRUE(*(*st)->seen("src", "id-995"));
    EXPECT_FALSE(*(*st)->seen("src", "id-994")) << "out of the retention before compaction too";
    ASSERT_TRUE((*st)->compact().ok());
  }
  RawDb raw(dir / "db");
  EXPECT_EQ(raw.count("dedupe", ""), 5u) << "only the retained ids are kept";
}

TEST(StoredLayout, DedupeIdsOfTheEarlierLayoutAreConverted) {
  stagewise::testing::TempDir dir;
  {
    auto st = Store::open(dir / "db", {.sync = false});
    ASSERT_TRUE(st.ok());
  }
  {
    RawDb raw(dir / "db");
    auto* cf = raw.by_name.at("dedupe");
    for (uint64_t seq = 1; seq <= 3; ++seq) {
      const std::string key = std::string("src") + '\0' + "old-" + std::to_string(seq);
      std::string s = "s";
      for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>((seq >> (i * 8)) & 0xff));
      ASSERT_TRUE(raw.db->Put({}, cf, "k" + key, "").ok());
      ASSERT_TRUE(raw.db->Put({}, cf, s, key).ok());
    }
  }
  {
    auto st = Store::open(dir / "db", {.sync = false, .read_only = false, .dedupe_retention = 3});
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(*(*st)->seen("src", "old-1"));
    EXPECT_TRUE(*(*st)->seen("src", "old-3"));
    Batch b = (*st)->batch();
    b.mark_seen("src", "new-4");
    ASSERT_TRUE((*st)->commit(b).ok());
    EXPECT_FALSE(*(*st)->seen("src", "old-1")) << "numbering went on after the converted ids";
    EXPECT_TRUE(*(*st)->seen("src", "old-2"));
  }
  RawDb raw(dir / "db");
  EXPECT_EQ(raw.count("dedupe", "s"), 0u) << "the old index is gone";
}

}  // namespace
}  // namespace stagewise::store
