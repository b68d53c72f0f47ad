// The audit (DESIGN.md §14): hash chains per application, round seals per
// partition, and what `audit verify` finds when a stored byte changes.
#include "audit/chain.h"
#include "audit/verify.h"
#include "store/store.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <map>
#include <memory>
#include <thread>

namespace stagewise::audit {
namespace {

#define ASSERT_OK(r) ASSERT_TRUE((r).ok()) << (r).error().message

TEST(Chain, EveryLeafsPathLeadsToTheRootAndNoOtherLeafsDoes) {
  for (size_t n = 1; n <= 17; ++n) {
    std::vector<std::string> leaves;
    for (size_t i = 0; i < n; ++i) leaves.push_back(leaf_hash({"a-" + std::to_string(i), i, "c"}));
    const std::string root = merkle_root(leaves);
    for (size_t i = 0; i < n; ++i) {
      const auto path = merkle_path(leaves, i);
      EXPECT_EQ(root_from_path(leaves[i], path), root) << n << " leaves, leaf " << i;
      if (n > 1) {
        EXPECT_NE(root_from_path(leaves[(i + 1) % n], path), root);
      }
    }
  }
  EXPECT_EQ(merkle_root({}), sha256(""));
}

// The digests reuse one OpenSSL context per thread: each call must still be
// SHA-256 of its own input alone (FIPS 180-2 test vectors), on any thread.
TEST(Chain, DigestsAreSha256OfTheirInputAloneOnEveryThread) {
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const std::string two_blocks = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
  const std::string long_input = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  auto check = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      EXPECT_EQ(hex(sha256("abc")), abc);
      EXPECT_EQ(hex(sha256(long_input)), two_blocks);
      EXPECT_EQ(hex(sha256("")),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
  };
  check(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(check, 200);
  for (auto& t : threads) t.join();
}

TEST(Chain, LinksDependOnEveryByteAndTheApplication) {
  const std::string g = genesis("a-1");
  EXPECT_NE(g, genesis("a-2"));
  EXPECT_EQ(g.size(), kHashBytes);
  EXPECT_NE(link(g, "entry"), link(g, "entrz"));
  EXPECT_NE(link(g, "entry"), link(genesis("a-2"), "entry"));
  EXPECT_EQ(unhex(hex(g)), g);
  EXPECT_FALSE(unhex("abc").has_value());
  EXPECT_FALSE(unhex("zz").has_value());
}

// A store written the way the processor writes it: each event seals its
// history entry after the application's head, which the record then holds.
class AuditStore : public ::testing::Test {
 protected:
  static constexpr int32_t kPartitions = 4;
  void SetUp() override { reopen(); }
  void reopen() {
    store_.reset();
    auto s = store::Store::open(dir_ / "db", {.sync = false});
    ASSERT_OK(s);
    store_ = std::move(*s);
    store_->set_partitions(kPartitions);
  }
  // One round: `events` events for each of `ids`.
  void round(const std::vector<std::string>& ids, int events = 1) {
    store::Batch b = store_->batch();
    for (const auto& id : ids)
      for (int i = 0; i < events; ++i) {
        auto& app = apps_[id];
        const std::string old = app.stage;
        app.id = id;
        app.program = "p";
        app.workflow_version = 1;
        app.stage = "s" + std::to_string(++app.sequence);
        store::HistoryEntry h;
        h.sequence = app.sequence;
        h.id = id + "-e" + std::to_string(app.sequence);
        h.source = "test";
        h.type = "application.updated";
        h.to = app.stage;
        h.data = {{"note", note_ + std::to_string(app.sequence)}};
        b.add_history(id, h, app.history_head);
        b.put_application(app, old);
      }
    ASSERT_OK(store_->commit(b));
  }
  Report verify_all() {
    auto r = verify(*store_, {});
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : Report{};
  }
  // Changes one stored value behind the store's back, as someone with the
  // files would; the store is closed meanwhile.
  void tamper(const std::string& cf_name, const std::string& key,
              const std::function<void(std::string&)>& change) {
    store_.reset();
    rocksdb::Options o;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, dir_ / "db", &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_ / "db", cfs, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == cf_name) cf = handles[i];
    ASSERT_NE(cf, nullptr) << cf_name;
    std::string v;
    ASSERT_TRUE(db->Get({}, cf, key, &v).ok()) << "no such key in " << cf_name;
    change(v);
    if (v.empty())
      ASSERT_TRUE(db->Delete({}, cf, key).ok());
    else
      ASSERT_TRUE(db->Put({}, cf, key, v).ok());
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    db.reset();
    reopen();
  }
  static std::string history_key(const std::string& id, uint64_t seq) {
    std::string k = id + std::string(1, '\0');
    for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>((seq >> (i * 8)) & 0xff));
    return k;
  }

  stagewise::testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::map<std::string, workflow::Application> apps_;
  std::string note_ = "event ";
};

TEST_F(AuditStore, AnUntouchedStoreVerifiesEntryByEntryAndRoundByRound) {
  round({"a", "b", "c"});
  round({"b"}, 3);
  round({"a", "c"});
  reopen();  // the round numbers go on after a restart
  round({"a"});
  const Report r = verify_all();
  EXPECT_TRUE(r.ok()) << (r.broken.empty() ? "" : describe(r.broken[0]));
  EXPECT_EQ(r.applications, 3u);
  EXPECT_EQ(r.entries, 9u);
  EXPECT_EQ(r.sealed, 9u);
  EXPECT_EQ(r.unsealed, 0u);
  EXPECT_EQ(r.leaves, 9u);
  EXPECT_GE(r.rounds, 4u);
  // Each partition's rounds chain: the next one's prev is this one's digest.
  auto tips = store_->audit_tips();
  ASSERT_OK(tips);
  ASSERT_FALSE(tips->empty());
  for (const auto& tip : *tips) {
    std::string prev = no_round();
    uint64_t last = 0;
    ASSERT_OK(store_->audit_rounds(tip.partition, 0, SIZE_MAX, [&](Round&& rd) {
      EXPECT_EQ(rd.prev, prev);
      EXPECT_GT(rd.number, last);
      prev = rd.digest;
      last = rd.number;
    }));
    EXPECT_EQ(prev, tip.digest);
  }
  auto one = verify(*store_, {"b"});
  ASSERT_OK(one);
  EXPECT_TRUE(one->ok());
  EXPECT_EQ(one->entries, 4u);
}

TEST_F(AuditStore, AFlippedByteInAnEntryNamesTheApplicationAndSequence) {
  round({"a", "b"});
  round({"b"}, 2);
  tamper("history", history_key("b", 2), [](std::string& v) { v[v.size() - 3] ^= 0x01; });
  const Report r = verify_all();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.broken[0].application, "b");
  EXPECT_EQ(r.broken[0].sequence, 2u);
  EXPECT_NE(r.broken[0].problem.find("does not match its chain hash"), std::string::npos)
      << r.broken[0].problem;
  auto only_a = verify(*store_, {"a"});
  ASSERT_OK(only_a);
  EXPECT_TRUE(only_a->ok()) << "an untouched application still verifies";
}

TEST_F(AuditStore, ARewrittenChainIsCaughtByTheRoundThatSealedTheOriginal) {
  round({"a"}, 3);
  // Someone with the store's own API rewrites entry 2 and everything after
  // it, chain and head included: each entry matches its chain...
  auto& app = apps_["a"];
  app.sequence = 1;
  app.history_head.clear();
  {
    auto first = store_->stored_entry("a", 1);
    ASSERT_OK(first);
    app.history_head = first->chain;
  }
  note_ = "rewritten ";
  round({"a"}, 2);  // entries 2 and 3 again, with other content
  apps_["a"].sequence = 3;
  auto r = verify(*store_, {"a"});
  ASSERT_OK(r);
  EXPECT_TRUE(r->ok()) << "each entry matches its chain and its latest round";
  // ...but the round that sealed the originals still holds their hashes.
  const Report all = verify_all();
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.broken[0].application, "a");
  EXPECT_EQ(all.broken[0].sequence, 2u);
  EXPECT_NE(all.broken[0].problem.find("rewritten after it was sealed"), std::string::npos)
      << all.broken[0].problem;
}

TEST_F(AuditStore, ARemovedEntryOrRoundIsNamed) {
  round({"a", "b"});
  round({"a"}, 2);
  tamper("history", history_key("a", 3), [](std::string& v) { v.clear(); });
  Report r = verify_all();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.broken[0].application, "a");
  EXPECT_EQ(r.broken[0].sequence, 3u);
  EXPECT_NE(r.broken[0].problem.find("is missing"), std::string::npos) << r.broken[0].problem;
}

TEST_F(AuditStore, AChangedRoundBreaksItsPartitionsChain) {
  round({"a"});
  round({"a"});
  round({"a"});
  auto tips = store_->audit_tips();
  ASSERT_OK(tips);
  ASSERT_EQ(tips->size(), 1u);
  const int32_t p = (*tips)[0].partition;
  std::vector<uint64_t> numbers;
  ASSERT_OK(
      store_->audit_rounds(p, 0, SIZE_MAX, [&](Round&& rd) { numbers.push_back(rd.number); }));
  ASSERT_EQ(numbers.size(), 3u);
  std::string key = "audit/";
  for (int i = 3; i >= 0; --i) key.push_back(static_cast<char>((p >> (i * 8)) & 0xff));
  for (int i = 7; i >= 0; --i) key.push_back(static_cast<char>((numbers[1] >> (i * 8)) & 0xff));
  tamper("meta", key, [](std::string& v) { v.clear(); });  // the middle round goes
  const Report r = verify_all();
  ASSERT_FALSE(r.ok());
  bool named = false;
  for (const auto& f : r.broken)
    named = named || (f.partition == p && f.round == numbers[2] &&
                      f.problem.find("does not follow") != std::string::npos);
  EXPECT_TRUE(named) << describe(r.broken[0]);
}

TEST_F(AuditStore, APartitionRestoredFromItsChangelogVerifies) {
  round({"a", "b", "c", "d", "e"});
  round({"a", "c"}, 2);
  stagewise::testing::TempDir other;
  auto to = store::Store::open(other / "db", {.sync = false});
  ASSERT_OK(to);
  (*to)->set_partitions(kPartitions);
  for (int32_t p = 0; p < kPartitions; ++p) {
    std::vector<store::ChangelogEntry> entries;
    ASSERT_OK(store_->scan_partition(
        p, [&](store::ChangelogEntry&& e) { entries.push_back(std::move(e)); }));
    ASSERT_OK((*to)->restore_entries(entries));
  }
  auto r = verify(**to, {});
  ASSERT_OK(r);
  EXPECT_TRUE(r->ok()) << describe(r->broken[0]);
  EXPECT_EQ(r->sealed, 9u);
  EXPECT_EQ(r->leaves, 9u);
  auto before = store_->audit_tips();
  auto after = (*to)->audit_tips();
  ASSERT_OK(before);
  ASSERT_OK(after);
  EXPECT_EQ(*before, *after);
}

}  // namespace
}  // namespace stagewise::audit
