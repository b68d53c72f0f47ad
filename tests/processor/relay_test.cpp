// The relay's order between a round's outputs and its changelog round
// (docs/scale-out.md): a changelog round is sent only once every output
// committed before it is acknowledged, so a restored owner never lacks an
// output of a round it does not redo; and a round waiting for that does not
// hold back the outputs committed after it.
#include "processor/relay.h"

#include "store/changelog.h"
#include "store/store.h"
#include "support/kafka_fixture.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka_mock.h>

namespace stagewise::processor {
namespace {

using stagewise::testing::eventually;
using stagewise::testing::read_topic;

store::OutboxRecord output(const std::string& id, int32_t partition) {
  store::OutboxRecord r;
  r.topic = "stagewise.status";
  r.key = id;
  r.value = R"({"id":")" + id + R"("})";
  r.partition = partition;
  return r;
}

store::OutboxRecord round_of(const std::string& key) {
  store::Bundle b{0, 1, {{key, std::string("state")}}, store::RoundMarker{"test", 1, 1, 7}};
  store::OutboxRecord r;
  r.topic = "stagewise.changelog";
  r.partition = 0;
  r.bundle = true;
  store::changelog::encode(r.value, b);
  return r;
}

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = kafka::EmbeddedCluster::start(2, 2, kafka::Topics().all());
    ASSERT_TRUE(c.ok()) << c.error().message;
    cluster_ = std::move(*c);
    auto* m = cluster_->mock();
    // The status topic's partition 1 lives on broker 2, everything read
    // here on broker 1.
    rd_kafka_mock_partition_set_leader(m, "stagewise.status", 0, 1);
    rd_kafka_mock_partition_set_leader(m, "stagewise.status", 1, 2);
    rd_kafka_mock_partition_set_leader(m, "stagewise.changelog", 0, 1);
    auto s = store::Store::open(dir_ / "db", {});
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }

  void commit(std::vector<store::OutboxRecord> records) {
    store::Batch b = store_->batch();
    for (auto& r : records) b.add_outbox(std::move(r));
    ASSERT_TRUE(store_->commit(b, true).ok());
  }

  std::vector<std::string> changelog_keys() {
    std::vector<std::string> keys;
    for (const auto& m : read_topic(cluster_->bootstrap(), "stagewise.changelog", 1))
      keys.push_back(m.key);
    return keys;
  }

  stagewise::testing::TempDir dir_;
  std::unique_ptr<kafka::EmbeddedCluster> cluster_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(RelayTest, ARoundsChangelogWaitsForItsOutputsButLaterOutputsDoNot) {
  rd_kafka_mock_broker_set_down(cluster_->mock(), 2);
  commit({output("stuck", 1), round_of("a/first")});  // its output cannot be acknowledged
  commit({output("later", 0)});

  Relay::Options o;
  o.kafka = {{"bootstrap.servers", cluster_->bootstrap()}, {"reconnect.backoff.max.ms", "200"}};
  o.may_mirror = [](int32_t, uint64_t) { return true; };
  Relay relay(*store_, o);
  ASSERT_TRUE(relay.start().ok());

  // The later round's output is published while the first round waits...
  ASSERT_TRUE(eventually(
      [&] { return !read_topic(cluster_->bootstrap(), "stagewise.status", 1).empty(); }));
  EXPECT_EQ(read_topic(cluster_->bootstrap(), "stagewise.status", 1).front().key, "later");
  // ...and the first round is not in the changelog while its output is not.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(changelog_keys().empty()) << "a changelog round went before its output";

  rd_kafka_mock_broker_set_up(cluster_->mock(), 2);
  ASSERT_TRUE(eventually([&] { return store_->outbox(1)->empty(); }, 60));
  const auto keys = changelog_keys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], "a/first");
  EXPECT_EQ(keys[1], store::changelog::kMarkerKey);
  relay.stop();
}

// Rounds of several partitions (one bundle each) all reach the changelog,
// in commit order, with no output left behind.
TEST_F(RelayTest, ManyRoundsReachTheChangelogInCommitOrder) {
  for (int i = 0; i < 50; ++i)
    commit({output("o" + std::to_string(i), 0), round_of("a/" + std::to_string(i))});
  Relay::Options o;
  o.kafka = {{"bootstrap.servers", cluster_->bootstrap()}};
  o.may_mirror = [](int32_t, uint64_t) { return true; };
  Relay relay(*store_, o);
  ASSERT_TRUE(relay.start().ok());
  ASSERT_TRUE(eventually([&] { return store_->outbox(1)->empty(); }, 60));
  std::vector<std::string> want;
  for (int i = 0; i < 50; ++i) {
    want.push_back("a/" + std::to_string(i));
    want.emplace_back(store::changelog::kMarkerKey);
  }
  EXPECT_EQ(changelog_keys(), want);
  EXPECT_EQ(read_topic(cluster_->bootstrap(), "stagewise.status", 1).size(), 50u);
  relay.stop();
}

}  // namespace
}  // namespace stagewise::processor
