#pragma once

// The processor integration fixture: an embedded Kafka cluster (the real
// protocol on loopback), a RocksDB store in a temporary dir, the workflows of
// the repository and a running Processor.
#include "auth/signature.h"
#include "processor/processor.h"
#include "store/store.h"
#include "support/kafka_fixture.h"
#include "workflow/workflow.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

namespace stagewise::processor {

using nlohmann::json;
using stagewise::testing::event;
using stagewise::testing::eventually;
using stagewise::testing::read_topic;
using stagewise::testing::TempDir;

constexpr int kPartitions = 4;
inline const std::string kInternalKey(40, 'k');

/// Signs an event as stagewise's timers do.
inline void sign_as_timers(CloudEvent& e) {
  e.authsub = e.actorid;
  e.authrole = e.actorrole;
  e.authsig = auth::event_signature(kInternalKey, e);
}

class ProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<workflow::Problem> problems;
    registry_ =
        workflow::Registry::load({std::string(STAGEWISE_SOURCE_DIR) + "/workflows"}, problems);
    ASSERT_TRUE(problems.empty()) << problems[0].to_string();
    start_cluster();
    open_store();
    ASSERT_NO_FATAL_FAILURE(start_processor());
    auto p = kafka::Producer::create({{"bootstrap.servers", cluster_->bootstrap()}}, nullptr);
    ASSERT_TRUE(p.ok()) << p.error().message;
    producer_ = std::move(*p);
  }
  void TearDown() override {
    producer_.reset();
    processor_.reset();
    store_.reset();
  }

  void start_cluster() {
    auto c = kafka::EmbeddedCluster::start(1, kPartitions, kafka::Topics{}.all());
    ASSERT_TRUE(c.ok()) << c.error().message;
    cluster_ = std::move(*c);
  }
  void open_store() {
    store_.reset();
    // Personal data sealed as `serve` seals it (a fixed test key).
    auto s = store::Store::open(dir_ / "db", {.sync = false, .kek = std::string(32, 'k')});
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  void start_processor() {
    Options o = options_;
    if (o.clock == nullptr) o.clock = &clock_;
    o.kafka["bootstrap.servers"] = cluster_->bootstrap();
    o.kafka["session.timeout.ms"] = "6000";
    o.kafka["heartbeat.interval.ms"] = "500";
    if (o.max_event_bytes == Options{}.max_event_bytes) o.max_event_bytes = 4096;
    o.internal_key = kInternalKey;
    o.trust = auth::InputTrust({kInternalKey, sources_});
    processor_ = std::make_unique<Processor>(registry_, *store_, o);
    auto r = processor_->start();
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(eventually([&] { return processor_->ready(); }, 30)) << "no partitions assigned";
  }
  void send(const json& e) { send_raw(e.value("subject", ""), e.dump()); }
  void send_raw(const std::string& key, const std::string& value, const Headers& headers = {}) {
    ASSERT_TRUE(producer_->produce("stagewise.events", key, value, headers, 0).ok());
    ASSERT_TRUE(producer_->flush(10000).ok());
  }
  std::string stage(const std::string& id) {
    auto a = store_->application(id);
    return a.ok() ? a->stage : "(none)";
  }
  size_t history_size(const std::string& id) {
    auto h = store_->history(id);
    return h.ok() ? h->size() : 0;
  }
  uint64_t handled() {
    uint64_t n = processor_->stats().applied + processor_->stats().duplicates;
    for (const auto& r : processor_->stats().rejected) n += r;
    return n;
  }
  /// Waits until the relay published everything committed so far.
  void wait_published() {
    EXPECT_TRUE(eventually([&] {
      auto left = store_->outbox(1, 0);
      return left.ok() && left->empty();
    }));
  }
  std::map<std::string, json> dead_letters() {
    wait_published();
    std::map<std::string, json> out;  // by reason, the last one
    for (const auto& m : read_topic(cluster_->bootstrap(), "stagewise.deadletter", kPartitions))
      out[m.json()["data"]["reason"].get<std::string>()] = m.json();
    return out;
  }

  TempDir dir_;
  // Timers run on a clock the tests move; it starts at the events' time.
  FakeClock clock_{stagewise::testing::test_epoch_ms()};
  Options options_;  ///< start_processor() adds the bootstrap and test timeouts
  std::map<std::string, std::vector<std::string>> sources_;  ///< security.sources
  workflow::Registry registry_;
  std::unique_ptr<kafka::EmbeddedCluster> cluster_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Processor> processor_;
  std::unique_ptr<kafka::Producer> producer_;
};

}  // namespace stagewise::processor
