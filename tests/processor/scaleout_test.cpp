// Several processors sharing the input partitions of one embedded cluster
// (DESIGN.md §9, docs/scale-out.md): state per partition, the changelog,
// restore on assignment, timers once per owner change. A processor of its
// own group, reading the whole input alone, is the oracle.
#include "auth/signature.h"
#include "cluster/reviewers.h"
#include "common/partition.h"
#include "processor/processor.h"
#include "store/store.h"
#include "support/kafka_fixture.h"
#include "workflow/workflow.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace stagewise::processor {
namespace {

using nlohmann::json;
using stagewise::testing::event;
using stagewise::testing::eventually;
using stagewise::testing::read_topic;
using stagewise::testing::TempDir;

constexpr int kPartitions = 4;
constexpr int64_t kDay = 24LL * 3600 * 1000;
const std::string kInternalKey(40, 'k');

struct Member {
  std::string dir;
  std::string group = "stagewise";
  bool changelog = true;
  bool follow_reviewers = true;  ///< run a ReviewerFollower (with the changelog)
  int reset_grace_ms = 10'000;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<reviews::ReviewerPool> pool;
  std::unique_ptr<Processor> proc;
  std::unique_ptr<cluster::ReviewerFollower> follower;
  bool running() const { return proc != nullptr; }
};

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<workflow::Problem> problems;
    registry_ =
        workflow::Registry::load({std::string(STAGEWISE_SOURCE_DIR) + "/workflows"}, problems);
    ASSERT_TRUE(problems.empty()) << problems[0].to_string();
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    for (int i = 0; i < 3; ++i) members_[i].dir = dir_ / ("m" + std::to_string(i));
    oracle_.dir = dir_ / "oracle";
    oracle_.group = "oracle";
    oracle_.changelog = false;
  }
  void TearDown() override {
    producer_.reset();
    for (auto& m : members_) stop(m);
    stop(oracle_);
  }

  void start_cluster() {
    producer_.reset();
    auto c = kafka::EmbeddedCluster::start(1, kPartitions, kafka::Topics{}.all());
    ASSERT_TRUE(c.ok()) << c.error().message;
    cluster_ = std::move(*c);
    auto p = kafka::Producer::create({{"bootstrap.servers", cluster_->bootstrap()}}, nullptr);
    ASSERT_TRUE(p.ok()) << p.error().message;
    producer_ = std::move(*p);
  }

  void start(Member& m) {
    auto s = store::Store::open(m.dir, {.sync = false, .kek = std::string(32, 'k')});
    ASSERT_TRUE(s.ok()) << s.error().message;
    m.store = std::move(*s);
    Options o;
    o.kafka = {{"bootstrap.servers", cluster_->bootstrap()},
               {"session.timeout.ms", "6000"},
               {"heartbeat.interval.ms", "500"}};
    o.group_id = m.group;
    o.clock = &clock_;
    o.max_event_bytes = 4096;
    o.internal_key = kInternalKey;
    o.trust = auth::InputTrust({kInternalKey, {}});
    o.changelog = m.changelog;
    o.reset_grace_ms = m.reset_grace_ms;
    m.pool = std::make_unique<reviews::ReviewerPool>();
    o.reviewers = m.pool.get();
    m.proc = std::make_unique<Processor>(registry_, *m.store, o);
    auto r = m.proc->start();
    ASSERT_TRUE(r.ok()) << r.error().message;
    if (!m.changelog || !m.follow_reviewers) return;
    m.follower = std::make_unique<cluster::ReviewerFollower>(
        *m.store, *m.pool,
        cluster::ReviewerFollower::Options{o.kafka, "stagewise.reviewers", kPartitions});
    ASSERT_TRUE(m.follower->start().ok());
  }
  static void stop(Member& m) {
    m.follower.reset();
    m.proc.reset();
    m.store.reset();
    m.pool.reset();
  }

  // Every running member is ready and the partitions are split between them.
  bool settled() {
    std::multiset<int32_t> owned;
    for (auto& m : members_) {
      if (!m.running()) continue;
      if (!m.proc->ready() || m.proc->failed()) return false;
      for (int32_t p : m.proc->owned_partitions()) owned.insert(p);
    }
    return owned.size() == kPartitions &&
           std::set<int32_t>(owned.begin(), owned.end()).size() == static_cast<size_t>(kPartitions);
  }
  void wait_settled() {
    ASSERT_TRUE(eventually([&] { return settled(); }, 60)) << "no settled split";
  }

  Member* owner_of(const std::string& id) {
    const int32_t p = partition_of(id, kPartitions);
    for (auto& m : members_) {
      if (!m.running()) continue;
      const auto owned = m.proc->owned_partitions();
      if (std::find(owned.begin(), owned.end(), p) != owned.end()) return &m;
    }
    return nullptr;
  }

  void send(const json& e) {
    const std::string key = e.value("subject", "");
    ASSERT_TRUE(producer_->produce("stagewise.events", key, e.dump(), {}, 0).ok());
  }
  void flush() { ASSERT_TRUE(producer_->flush(10000).ok()); }

  // The relay of `m` published what it applied (at least `n` events).
  void wait_handled_by(Member& m, uint64_t n) {
    ASSERT_TRUE(eventually([&] {
      auto left = m.store->outbox(1, 0);
      return m.proc->stats().applied >= n && left.ok() && left->empty();
    }));
  }
  static uint64_t handled(const Member& m) {
    uint64_t n = m.proc->stats().applied + m.proc->stats().duplicates;
    for (const auto& r : m.proc->stats().rejected) n += r;
    return n;
  }
  // The oracle has handled `n` events, and every member's outbox is empty.
  void wait_handled(uint64_t n) {
    ASSERT_TRUE(eventually([&] { return handled(oracle_) >= n; }, 60))
        << "the oracle handled " << handled(oracle_) << " of " << n;
    ASSERT_TRUE(eventually(
        [&] {
          for (auto& m : members_) {
            if (!m.running()) continue;
            auto a = m.store->outbox(1, 0);
            if (!a.ok() || !a->empty()) return false;
          }
          uint64_t sum = 0;
          for (auto& m : members_)
            if (m.running()) sum += m.proc->stats().applied;
          return sum > 0;
        },
        60));
  }

  // Every application is answered by its owner exactly as by the oracle,
  // and by nobody else.
  void expect_answers_match_oracle(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      const auto want = oracle_.store->application(id);
      ASSERT_TRUE(want.ok()) << id << ": " << want.error().message;
      Member* owner = nullptr;
      ASSERT_TRUE(eventually([&] { return (owner = owner_of(id)) != nullptr; })) << id;
      bool same = eventually([&] {
        auto got = owner->store->application(id);
        return got.ok() && got->stage == want->stage && got->sequence == want->sequence &&
               got->facts == want->facts;
      });
      auto got = owner->store->application(id);
      EXPECT_TRUE(same) << id << " in partition " << partition_of(id, kPartitions)
                        << ": owner says "
                        << (got.ok() ? got->stage + "/" + std::to_string(got->sequence)
                                     : got.error().message)
                        << ", oracle " << want->stage << "/" << want->sequence;
      EXPECT_EQ(owner->store->history(id)->size(), oracle_.store->history(id)->size()) << id;
      for (auto& m : members_) {
        if (!m.running() || &m == owner) continue;
        const auto other = m.store->application(id);
        EXPECT_FALSE(other.ok()) << id << " is served by a member that does not own it";
        if (!other.ok()) {
          EXPECT_EQ(other.error().code, Errc::unavailable);
        }
      }
    }
  }

  std::vector<std::string> submit_cohort(int n, const std::string& prefix, int& sent) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      const std::string id = prefix + std::to_string(i);
      ids.push_back(id);
      send(event(id + "-s", "application.submitted", id, "applicant", {{"name", "N" + id}}));
      ++sent;
      if (i % 2 == 0) {
        send(event(id + "-e", "decision.recorded", id, "program_manager", {{"outcome", "eligible"}},
                   1));
        ++sent;
      }
    }
    flush();
    return ids;
  }

  // Makes eligible the applications submit_cohort left undecided.
  void decide_the_rest(const std::vector<std::string>& ids, int& sent) {
    for (size_t i = 1; i < ids.size(); i += 2) {
      send(event(ids[i] + "-e", "decision.recorded", ids[i], "program_manager",
                 {{"outcome", "eligible"}}, 2));
      ++sent;
    }
    flush();
  }

  TempDir dir_;
  FakeClock clock_{stagewise::testing::test_epoch_ms()};
  workflow::Registry registry_;
  std::unique_ptr<kafka::EmbeddedCluster> cluster_;
  std::unique_ptr<kafka::Producer> producer_;
  Member members_[3];
  Member oracle_;
};

TEST_F(ScaleOutTest, ANewMemberRestoresItsPartitionsFromTheChangelogAndOnlyOwnersAnswer) {
  start(oracle_);
  start(members_[0]);
  wait_settled();
  int sent = 0;
  const auto ids = submit_cohort(40, "a", sent);
  wait_handled(sent);
  expect_answers_match_oracle(ids);

  start(members_[1]);  // an empty data dir
  wait_settled();
  const auto& took = members_[1].proc->takeover_stats();
  EXPECT_GE(took.restored.load(), 1u) << "the new member restored nothing";
  EXPECT_GT(took.restored_records.load(), 0u);
  // It consumed no input: everything before the restored offsets came from
  // the changelog.
  EXPECT_EQ(members_[1].proc->stats().consumed.load(), 0u);
  expect_answers_match_oracle(ids);

  // Both go on, each with its own partitions.
  decide_the_rest(ids, sent);
  wait_handled(sent);
  expect_answers_match_oracle(ids);
  for (const auto& id : ids) EXPECT_EQ(owner_of(id)->store->application(id)->stage, "documents");
}

TEST_F(ScaleOutTest, APartitionTakenBackIsRestoredNeverServedFromTheStaleCopy) {
  start(oracle_);
  start(members_[0]);
  start(members_[1]);
  wait_settled();
  int sent = 0;
  const auto ids = submit_cohort(40, "b", sent);
  wait_handled(sent);
  const auto had = members_[1].proc->owned_partitions();
  ASSERT_FALSE(had.empty());

  stop(members_[1]);  // member 0 takes everything over
  wait_settled();
  // Move every application on, withdrawing those member 1 had.
  std::vector<std::string> moved;
  for (const auto& id : ids) {
    const int32_t p = partition_of(id, kPartitions);
    if (std::find(had.begin(), had.end(), p) == had.end()) continue;
    send(event(id + "-w", "application.withdrawn", id, "applicant", nullptr, 3));
    moved.push_back(id);
    ++sent;
  }
  flush();
  ASSERT_FALSE(moved.empty());
  wait_handled(sent);

  start(members_[1]);  // its old copy: every application it had is stale now
  wait_settled();
  expect_answers_match_oracle(ids);
  for (const auto& id : moved) EXPECT_EQ(owner_of(id)->store->application(id)->stage, "withdrawn");
  if (!members_[1].proc->owned_partitions().empty()) {
    EXPECT_GE(members_[1].proc->takeover_stats().restored.load(), 1u);
  }
}

TEST_F(ScaleOutTest, PartitionsLostWhenTheSessionRunsOutComeBackConsistent) {
  start(oracle_);
  start(members_[0]);
  start(members_[1]);
  wait_settled();
  int sent = 0;
  const auto ids = submit_cohort(30, "l", sent);
  wait_handled(sent);
  // The coordinator forgets member 0: its next heartbeats fail, and its
  // partitions are lost, not revoked in a rebalance.
  for (int i = 0; i < 3; ++i)
    rd_kafka_mock_push_request_errors(cluster_->mock(), 12 /* Heartbeat */, 1,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID);
  ASSERT_TRUE(eventually(
      [&] {
        return members_[0].proc->stats().partitions_lost +
                   members_[1].proc->stats().partitions_lost >
               0;
      },
      30))
      << "no partitions were lost";
  wait_settled();
  decide_the_rest(ids, sent);
  wait_handled(sent);
  wait_settled();
  expect_answers_match_oracle(ids);
}

TEST_F(ScaleOutTest, TimersFireOnceAcrossOwnerChanges) {
  start(members_[0]);
  wait_settled();
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    const std::string id = "t" + std::to_string(i);
    ids.push_back(id);
    send(event(id + "-s", "application.submitted", id, "applicant"));
    send(
        event(id + "-e", "decision.recorded", id, "program_manager", {{"outcome", "eligible"}}, 1));
  }
  flush();
  ASSERT_TRUE(eventually([&] {
    for (const auto& id : ids) {
      auto a = members_[0].store->application(id);
      if (!a.ok() || a->stage != "documents") return false;
    }
    return true;
  }));
  auto reminders = [&] {
    std::map<std::string, std::set<std::string>> ids_by_app;  // application -> notification ids
    size_t records = 0;
    for (const auto& m :
         read_topic(cluster_->bootstrap(), "stagewise.notifications", kPartitions)) {
      const json n = m.json();
      if (n["data"]["cause"]["type"] != "reminder") continue;
      ++records;
      ids_by_app[m.key].insert(n["id"].get<std::string>());
    }
    return std::make_pair(records, ids_by_app);
  };
  auto poke = [&] {
    for (auto& m : members_)
      if (m.running()) m.proc->poke_timers();
  };
  clock_.advance(8 * kDay);  // documents: a reminder at P7D
  poke();
  ASSERT_TRUE(eventually([&] { return reminders().first >= ids.size(); }));

  start(members_[1]);  // half the partitions move; their reminders fired already
  wait_settled();
  clock_.advance(kDay);
  poke();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto [records, by_app] = reminders();
  EXPECT_EQ(records, ids.size()) << "a reminder fired again after the owner changed";
  for (const auto& id : ids) EXPECT_EQ(by_app[id].size(), 1u) << id;

  stop(members_[0]);  // and the rest move too
  wait_settled();
  clock_.advance(4 * kDay);  // past the P12D reminder, before the P14D deadline
  poke();
  ASSERT_TRUE(eventually([&] { return reminders().first >= 2 * ids.size(); }));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::tie(records, by_app) = reminders();
  EXPECT_EQ(records, 2 * ids.size());
  for (const auto& id : ids) EXPECT_EQ(by_app[id].size(), 2u) << id;
}

TEST_F(ScaleOutTest, OnANewBrokerOnlyPartitionsOwnedAtTheResetAreKept) {
  members_[0].reset_grace_ms = 1000;
  start(members_[0]);
  wait_settled();
  int sent = 0;
  const auto ids = submit_cohort(24, "r", sent);
  ASSERT_TRUE(eventually([&] { return members_[0].proc->stats().applied >= uint64_t(sent); }));
  start(members_[1]);  // takes half: member 0's copies of those go stale
  wait_settled();
  const auto kept = members_[0].proc->owned_partitions();
  const auto lost = members_[1].proc->owned_partitions();
  for (const auto& id : ids)
    if (std::find(lost.begin(), lost.end(), partition_of(id, kPartitions)) != lost.end())
      send(event(id + "-w", "application.withdrawn", id, "applicant", nullptr, 3));
  flush();
  ASSERT_TRUE(eventually([&] {
    for (const auto& id : ids)
      if (owner_of(id) == &members_[1] && members_[1].store->application(id)->stage != "withdrawn")
        return false;
    return true;
  }));
  stop(members_[0]);
  stop(members_[1]);

  ASSERT_NO_FATAL_FAILURE(start_cluster());  // a new broker: its logs are empty
  start(members_[0]);
  wait_settled();  // alone: it is assigned every partition
  for (const auto& id : ids) {
    const int32_t p = partition_of(id, kPartitions);
    const auto got = members_[0].store->application(id);
    if (std::find(kept.begin(), kept.end(), p) != kept.end()) {
      EXPECT_TRUE(got.ok()) << id << " of a partition it owned at the reset was not kept";
    } else {
      // Its copy of a partition member 1 owned was stale: dropped, not served.
      EXPECT_FALSE(got.ok()) << id << " served from a stale copy: " << got->stage;
    }
  }
  EXPECT_GE(members_[0].proc->takeover_stats().reseeded.load(), 1u);
  EXPECT_GE(members_[0].proc->takeover_stats().dropped.load(), 1u);

  // What it kept is in the new broker's changelog: a member on an empty
  // data dir restores it.
  std::map<std::string, std::string> stage_of;
  for (const auto& id : ids)
    if (auto a = members_[0].store->application(id); a.ok()) stage_of[id] = a->stage;
  start(members_[2]);
  wait_settled();
  ASSERT_FALSE(members_[2].proc->owned_partitions().empty());
  for (const auto& [id, stage] : stage_of) {
    Member* owner = owner_of(id);
    ASSERT_NE(owner, nullptr);
    const auto got = owner->store->application(id);
    EXPECT_TRUE(got.ok() && got->stage == stage) << id << " lost on its way to a new member";
  }
}

// A member that took a partition over merges the next update of its
// reviewers onto the copy it restored from the changelog, even before (or
// without) the reviewers topic bringing it: nothing the previous owner
// applied is lost.
TEST_F(ScaleOutTest, AReviewerUpdatedAfterATakeOverKeepsWhatThePreviousOwnerApplied) {
  start(members_[0]);
  wait_settled();
  const std::string reviewer = "rev-taken-over";
  send(event("p-1", "reviewer.profile_updated", reviewer, "program_manager",
             {{"name", "Ana"}, {"institution", "Far U"}}));
  flush();
  ASSERT_TRUE(eventually([&] { return members_[0].pool->get(reviewer) != nullptr; }));
  wait_handled_by(members_[0], 1);
  members_[1].follow_reviewers = false;
  start(members_[1]);
  wait_settled();
  stop(members_[0]);
  ASSERT_TRUE(eventually([&] { return owner_of(reviewer) == &members_[1]; }, 60));
  send(event("p-2", "reviewer.profile_updated", reviewer, "program_manager",
             {{"topics", {"fairness"}}}, 1));
  flush();
  ASSERT_TRUE(eventually([&] {
    const auto r = members_[1].pool->get(reviewer);
    return r != nullptr && r->profile.contains("topics");
  }));
  const auto r = members_[1].pool->get(reviewer);
  EXPECT_EQ(r->revision, 2u);
  EXPECT_EQ(r->profile.value("name", ""), "Ana") << "the previous owner's update was lost";
}

}  // namespace
}  // namespace stagewise::processor

namespace stagewise::processor {
namespace {

// An id in a partition `m` does not own.
std::string id_not_owned_by(const std::vector<int32_t>& owned, const std::string& stem) {
  for (int k = 0;; ++k) {
    std::string id = stem + std::to_string(k);
    if (std::find(owned.begin(), owned.end(), partition_of(id, kPartitions)) == owned.end())
      return id;
  }
}

// Reference data (DESIGN.md §12): a reviewer's profile applied by the owner
// of its id's partition reaches every member through the reviewers topic;
// each checks its own applications' assignments against it, and keeps it in
// its store for a restart.
TEST_F(ScaleOutTest, EveryMemberKnowsEveryReviewerAndChecksAssignmentsAgainstIt) {
  start(members_[0]);
  start(members_[1]);
  wait_settled();
  const std::string reviewer = id_not_owned_by(members_[1].proc->owned_partitions(), "rev-");
  const std::string app = id_not_owned_by(members_[0].proc->owned_partitions(), "app-");
  ASSERT_EQ(owner_of(reviewer), &members_[0]);
  ASSERT_EQ(owner_of(app), &members_[1]);
  send(event(
      "p-1", "reviewer.profile_updated", reviewer, "program_manager",
      {{"name", "Ana"}, {"institution", "Far U"}, {"programs", {"summer-research-internship"}}}));
  send(event("s-1", "application.submitted", app, "applicant", {{"institution", "Far U"}}));
  send(event("e-1", "decision.recorded", app, "program_manager", {{"outcome", "eligible"}}, 1));
  send(event("t-1", "application.document_added", app, "applicant", {{"kind", "transcript"}}, 2));
  send(event("l-1", "application.document_added", app, "applicant",
             {{"kind", "recommendation_letter"}}, 3));
  flush();
  Member& b = members_[1];
  ASSERT_TRUE(eventually([&] { return b.pool->get(reviewer) != nullptr; }, 30))
      << "the other member never learned the reviewer";
  EXPECT_NE(members_[0].pool->get(reviewer), nullptr);
  EXPECT_TRUE(b.store->reviewer(reviewer).ok()) << "not kept for a restart";
  ASSERT_TRUE(eventually([&] {
    auto a = b.store->application(app);
    return a.ok() && a->stage == "review";
  }));
  const auto conflicts = [&] {
    return b.proc->stats().rejected[static_cast<size_t>(Reason::conflict_of_interest)].load();
  };
  send(event("a-1", "reviewer.assigned", app, "program_manager", {{"reviewer", reviewer}}, 4));
  flush();
  ASSERT_TRUE(eventually([&] { return conflicts() == 1; }, 30));

  // Restarted, it knows the reviewer before reading anything.
  stop(b);
  start(b);
  EXPECT_NE(b.pool->get(reviewer), nullptr);
  EXPECT_EQ(b.pool->get(reviewer)->profile["institution"], "Far U");
}

}  // namespace
}  // namespace stagewise::processor
