// Personal data at rest (DESIGN.md §14, docs/audit.md "Encryption"): the
// store seals each application and its history's event data under the
// application's own key; an erasure destroys the key, on disk too, and the
// audit still verifies.
#include "audit/verify.h"
#include "privacy/keys.h"
#include "store/changelog.h"
#include "store/detail/packing.h"
#include "store/store.h"
#include "support/files.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

namespace stagewise::store {
namespace {

#define ASSERT_OK(r) ASSERT_TRUE((r).ok()) << (r).error().message

const std::string kMarker = "Qzx-Lovelace-7";  // a name no store would hold by chance
const std::string kKek = privacy::kek_from_secret("the test's data.secret");

workflow::Application app(const std::string& id, uint64_t seq) {
  workflow::Application a;
  a.id = id;
  a.program = "p";
  a.workflow_version = 1;
  a.stage = "review";
  a.sequence = seq;
  a.facts = {{"profile", {{"name", kMarker}, {"email", "q@example.org"}}}};
  return a;
}

HistoryEntry entry(uint64_t seq, const std::string& event_id, nlohmann::json data) {
  HistoryEntry h;
  h.sequence = seq;
  h.id = event_id;
  h.source = "test";
  h.type = "application.submitted";
  h.to = "review";
  h.data = std::move(data);
  return h;
}

// Whether any file under `dir` holds `bytes`.
bool on_disk(const std::string& dir, const std::string& bytes) {
  return !stagewise::testing::file_holding(dir, bytes).empty();
}

// The value of `key` in column family `cf` as RocksDB holds it (the store
// closed).
std::string raw_value(const std::string& dir, const std::string& cf, const std::string& key) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies({}, dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  EXPECT_TRUE(rocksdb::DB::OpenForReadOnly({}, dir, cfs, &handles, &db).ok());
  std::string v;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == cf) {
      EXPECT_TRUE(db->Get({}, handles[i], key, &v).ok());
    }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  delete db;
  return v;
}

class Sealing : public ::testing::Test {
 protected:
  std::unique_ptr<Store> open(const std::string& name, const std::string& kek = kKek,
                              bool read_only = false) {
    auto s = Store::open(dir_ / name, {.sync = false, .read_only = read_only, .kek = kek});
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(*s) : nullptr;
  }
  void submit(Store& s, const std::string& id) {
    Batch b = s.batch();
    b.add_history(id, entry(1, id + "-e1", {{"statement", "I am " + kMarker}}), heads_[id]);
    workflow::Application a = app(id, 1);
    a.history_head = heads_[id];
    b.put_application(a, "");
    ASSERT_OK(s.commit(b));
  }
  void erase(Store& s, const std::string& id) {
    workflow::Application a = app(id, 2);
    a.facts = {{"erased", {{"time", "2026-11-29T08:00:00Z"}}}};
    Batch b = s.batch();
    b.add_history(id, entry(2, id + "-e2", {{"reason", "asked by " + kMarker}}), heads_[id]);
    a.history_head = heads_[id];
    b.put_application(a, "review");
    b.drop_dead_letter_originals(id);
    ASSERT_OK(s.commit(b));
  }
  // A rejected event about `id`, its original kept (in clear: it may not
  // even be about a real application).
  void reject(Store& s, const std::string& id) {
    DeadLetter d;
    d.id = "deadletter/stagewise.events/0/" + id;
    d.reason = "unauthorized";
    d.subject = id;
    d.kept = true;
    d.original = R"({"data":{"name":"Forged )" + kMarker + R"("}})";
    Batch b = s.batch();
    b.add_dead_letter(d);
    ASSERT_OK(s.commit(b));
  }
  std::map<std::string, std::string> heads_;
  stagewise::testing::TempDir dir_;
};

TEST_F(Sealing, PersonalDataReadsBackButIsNowhereOnDiskInClear) {
  {
    auto s = open("db");
    ASSERT_NO_FATAL_FAILURE(submit(*s, "a-1"));
    EXPECT_EQ((*s->application("a-1")).facts["profile"]["name"], kMarker);
    EXPECT_EQ((*s->history("a-1"))[0].data["statement"], "I am " + kMarker);
  }  // closed: memtables flushed to table files
  EXPECT_FALSE(on_disk(dir_ / "db", kMarker)) << "a name is stored in clear";
  EXPECT_FALSE(on_disk(dir_ / "db", "q@example.org"));
  auto again = open("db");
  EXPECT_EQ((*again->application("a-1")).facts["profile"]["email"], "q@example.org");
  auto report = audit::verify(*again, {});
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok()) << (report->broken.empty() ? "" : audit::describe(report->broken[0]));
  EXPECT_EQ(report->sealed, 1u);
}

// Ciphertext does not compress, so what is sealed is compressed first.
TEST_F(Sealing, SealedValuesAreCompressedBeforeSealing) {
  std::string statement;
  for (int i = 0; i < 400; ++i) statement += "I studied fairness in ranking. ";  // 12 KB
  {
    auto s = open("db");
    Batch b = s->batch();
    b.add_history("a-1", entry(1, "a-1-e1", {{"statement", statement}}), heads_["a-1"]);
    workflow::Application a = app("a-1", 1);
    a.facts["statement"] = statement;
    a.history_head = heads_["a-1"];
    b.put_application(a, "");
    ASSERT_OK(s->commit(b));
    EXPECT_EQ((*s->application("a-1")).facts["statement"], statement);
    EXPECT_EQ((*s->history("a-1"))[0].data["statement"], statement);
  }
  const std::string stored = raw_value(dir_ / "db", "applications", "a-1");
  EXPECT_GT(stored.size(), 0u);
  EXPECT_LT(stored.size(), statement.size() / 4) << "the sealed record is not compressed";
  auto again = open("db");
  EXPECT_EQ((*again->application("a-1")).facts["statement"], statement);
  EXPECT_EQ((*again->history("a-1"))[0].data["statement"], statement);
}

TEST(Packing, ShortensWhatRepeatsAndLeavesTheRestAsItWas) {
  using detail::pack;
  using detail::unpack;
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "stage review; ";
  std::string packed;
  pack(packed, text);
  EXPECT_EQ(static_cast<uint8_t>(packed[0]), detail::kPacked);
  EXPECT_LT(packed.size(), text.size() / 10);
  EXPECT_EQ(unpack(std::string(packed)), text);
  // Short, incompressible, and written before packing existed (msgpack,
  // tagged encodings): kept as they are, and read back as they are.
  std::string noise(4096, '\0');
  std::mt19937 rng(3);
  for (auto& c : noise) c = static_cast<char>(rng());
  for (const std::string& plain : {std::string("\x81\xa1k\xa1v"), std::string("short"), noise}) {
    pack(packed, plain);
    EXPECT_EQ(packed, plain);
    EXPECT_EQ(unpack(std::string(plain)), plain);
  }
}

TEST(Packing, AMalformedPackedValueIsRefusedNotTrusted) {
  std::string text(5000, 'x');
  std::string packed;
  detail::pack(packed, text);
  ASSERT_EQ(static_cast<uint8_t>(packed[0]), detail::kPacked);
  EXPECT_FALSE(detail::unpack(packed.substr(0, packed.size() - 3)));                 // cut short
  EXPECT_FALSE(detail::unpack(std::string(1, static_cast<char>(detail::kPacked))));  // no size
  std::string lying = packed;
  lying[1] = static_cast<char>(static_cast<uint8_t>(lying[1]) + 1);  // one byte more than it holds
  EXPECT_FALSE(detail::unpack(std::move(lying)));
  // A size past the bound is refused before anything is allocated.
  const std::string huge = "\xc1\xff\xff\xff\xff\x0f" + packed.substr(3);
  EXPECT_FALSE(detail::unpack(std::string(huge)));
}

TEST_F(Sealing, AnErasureDestroysTheKeyOnDiskAndTheAuditStillVerifies) {
  {
    auto s = open("db");
    ASSERT_NO_FATAL_FAILURE(submit(*s, "a-1"));
    ASSERT_NO_FATAL_FAILURE(submit(*s, "b-1"));
    ASSERT_NO_FATAL_FAILURE(reject(*s, "a-1"));
  }
  const std::string key = raw_value(dir_ / "db", "keys", "a-1");
  ASSERT_GT(key.size(), privacy::kKeyBytes);
  ASSERT_TRUE(on_disk(dir_ / "db", key));
  ASSERT_TRUE(on_disk(dir_ / "db", "Forged " + kMarker));
  auto s = open("db");
  ASSERT_NO_FATAL_FAILURE(erase(*s, "a-1"));
  // While the store runs: not in the write-ahead log, not in any table file.
  EXPECT_FALSE(on_disk(dir_ / "db", key)) << "the destroyed key is still on disk";
  EXPECT_FALSE(on_disk(dir_ / "db", "Forged " + kMarker)) << "a dead letter's original stayed";
  EXPECT_FALSE(s->dead_letter("deadletter/stagewise.events/0/a-1")->kept);
  const auto h = *s->history("a-1");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].data, "erased");
  EXPECT_EQ(h[1].data, "erased") << "the erasure's own data is sealed under the destroyed key";
  EXPECT_EQ(h[0].type, "application.submitted") << "what happened stays readable";
  EXPECT_EQ(s->application("a-1")->stage, "review");
  EXPECT_FALSE(s->application("a-1")->facts.contains("profile"));
  EXPECT_EQ((*s->history("b-1"))[0].data["statement"], "I am " + kMarker) << "another's data went";
  auto report = audit::verify(*s, {});
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok()) << (report->broken.empty() ? "" : audit::describe(report->broken[0]));
}

TEST_F(Sealing, AnotherKeyEncryptionKeyIsRefusedNamingTheKeyFile) {
  {
    auto s = open("db");
    ASSERT_NO_FATAL_FAILURE(submit(*s, "a-1"));
  }
  auto wrong = Store::open(dir_ / "db", {.sync = false, .kek = privacy::kek_from_secret("other")});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("auth/data.secret"), std::string::npos)
      << wrong.error().message;
  auto none = open("db", "", true);  // opened without any: reads say what is missing
  ASSERT_TRUE(none);
  const auto a = none->application("a-1");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("key-encryption key"), std::string::npos) << a.error().message;
  EXPECT_FALSE(none->history("a-1").ok()) << "sealed history read as if erased";
}

TEST_F(Sealing, AVoidedBatchLeavesNoKeyBehind) {
  auto s = open("db");
  Batch voided = s->batch();
  voided.put_application(app("a-1", 1), "");
  voided.clear();  // a revoked round: never committed
  ASSERT_NO_FATAL_FAILURE(submit(*s, "a-1"));
  {
    Batch dropped = s->batch();
    dropped.put_application(app("c-1", 1), "");
  }
  ASSERT_NO_FATAL_FAILURE(submit(*s, "c-1"));
  s.reset();
  auto again = open("db");
  for (const char* id : {"a-1", "c-1"}) {
    ASSERT_OK(again->application(id));
    ASSERT_OK(again->history(id));
    EXPECT_EQ((*again->history(id))[0].data["statement"], "I am " + kMarker) << id;
  }
}

// The changelog carries the wrapped key beside the sealed values: a new
// owner sharing the key-encryption key reads them, an erasure's tombstone
// destroys its copy too, and one with another key is told which file.
TEST_F(Sealing, APartitionRestoredElsewhereOpensAndFollowsTheErasure) {
  auto from = open("from");
  from->set_partitions(1);
  from->mirror_to("stagewise.changelog", "stagewise.events");
  ASSERT_NO_FATAL_FAILURE(submit(*from, "a-1"));
  auto entries = [&](uint64_t after) {
    std::vector<ChangelogEntry> out;
    const auto recs = from->outbox(1000, after);  // kept alive: a range-for would not
    for (const auto& rec : *recs) {
      if (!rec.bundle) continue;
      Bundle b;
      EXPECT_TRUE(changelog::decode(rec.value, b));
      for (auto& e : b.entries) out.push_back(std::move(e));
    }
    return out;
  };
  const auto first = entries(0);
  bool has_key = false;
  for (const auto& e : first) has_key |= e.key == changelog::data_key_key("a-1");
  EXPECT_TRUE(has_key) << "the key is not mirrored";
  for (const auto& e : first)
    if (e.value) {
      EXPECT_EQ(e.value->find(kMarker), std::string::npos) << e.key << " in clear";
    }

  auto to = open("to");
  to->set_partitions(1);
  ASSERT_OK(to->restore_entries(first));
  EXPECT_EQ(to->application("a-1")->facts["profile"]["name"], kMarker);
  EXPECT_EQ((*to->history("a-1"))[0].data["statement"], "I am " + kMarker);

  auto stranger = open("stranger", privacy::kek_from_secret("not shared"));
  stranger->set_partitions(1);
  const auto refused = stranger->restore_entries(first);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("auth/data.secret"), std::string::npos);

  const uint64_t seen = from->last_outbox_seq();
  ASSERT_NO_FATAL_FAILURE(erase(*from, "a-1"));
  ASSERT_OK(to->restore_entries(entries(seen)));
  EXPECT_EQ((*to->history("a-1"))[0].data, "erased");
  EXPECT_FALSE(to->application("a-1")->facts.contains("profile"));
}

}  // namespace
}  // namespace stagewise::store
