#pragma once

#include "common/result.h"
#include "kafka/kafka.h"
#include "store/store.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace stagewise::processor {

/// Counters of the relay, for /metrics. Written by the relay thread.
struct RelayStats {
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> publish_failures{0};  ///< retried
  std::atomic<uint64_t> parked{0};            ///< refused for good, set aside
  std::atomic<uint64_t> mirrored{0};          ///< changelog messages acknowledged
  std::atomic<uint64_t> mirror_dropped{0};    ///< changelog rounds not this process's to send
};

/// Publishes the store's outbox (DESIGN.md §2): records committed by any
/// writer (processor rounds, reminders) are produced with the idempotent
/// producer and deleted once acknowledged, at least once and in commit
/// order, each under its stable id. The one owner of an outbox record's
/// fate after commit: a send that failed retriably is sent again; a record
/// the broker can never take (too large, invalid) is parked (moved aside in
/// the store, counted, logged with its id) so it never blocks the records
/// after it; a fatal error (the producer fenced, authorization refused)
/// stops the relay and is reported by failed().
///
/// Thread safety: start()/stop() from one thread; wake(), failed() and
/// failure() from any.
class Relay {
 public:
  struct Options {
    kafka::Properties kafka;       ///< bootstrap.servers and any librdkafka property
    std::string transactional_id;  ///< publish each round in a Kafka transaction when set
    size_t max_in_flight = 20'000;
    std::chrono::seconds drain{5};  ///< how long stop() keeps publishing
    /// Whether this process may mirror `epoch` of `partition` now (it owns
    /// the partition in that epoch); changelog bundles it may not are
    /// dropped unsent. Unset: none may.
    std::function<bool(int32_t partition, uint64_t epoch)> may_mirror;
  };
  Relay(store::Store& store, Options options);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  Result<void> start();
  /// Publishes what is left (bounded by Options::drain), then stops.
  void stop();
  /// New records were committed.
  void wake();
  /// Waits until every outbox record up to `seq` is published (or set
  /// aside), at most `timeout`. False when some are left.
  bool drain(uint64_t seq, std::chrono::milliseconds timeout);
  /// True once a fatal Kafka error stopped the relay (the process should
  /// exit; a restart resumes from the outbox).
  bool failed() const { return failed_.load(); }
  std::string failure() const;
  const RelayStats& stats() const { return stats_; }
  /// For tests: the producer's handle (fault injection).
  rd_kafka_t* producer_handle() const { return producer_ ? producer_->handle() : nullptr; }

 private:
  struct Delivery;
  void run();
  void refill();
  size_t produce_round();
  bool produce(store::OutboxRecord& rec);
  bool produce_bundle(store::OutboxRecord& rec);
  bool outputs_acknowledged_before(uint64_t seq) const;
  size_t release_held();
  void on_delivery(const kafka::DeliveryReport& d);
  void on_bundle_failure(const kafka::DeliveryReport& d);
  void settle();
  void fail(const Error& e);
  void wait_for_work(bool idle);

  store::Store& store_;
  Options options_;
  RelayStats stats_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_flag_ = false;
  bool stop_ = false;
  std::atomic<bool> failed_{false};
  mutable std::mutex failure_mu_;
  std::string failure_;

  // The relay thread's state (delivery reports arrive on it, from poll()).
  uint64_t cursor_ = 0;  // last seq queued; seqs are numbered in commit order
  bool scanning_ = true;
  uint64_t in_flight_ = 0;
  bool retry_ = false;
  std::vector<uint64_t> delivered_;
  std::vector<std::pair<uint64_t, std::string>> to_park_;
  std::vector<store::OutboxRecord> recs_;
  std::deque<store::OutboxRecord> queue_;     // taken, not yet sent
  std::deque<store::OutboxRecord> held_;      // bundles waiting for their outputs' acks
  std::set<uint64_t> outputs_in_flight_;      // seqs of outputs sent, not yet acknowledged
  std::map<uint64_t, uint64_t> bundle_left_;  // bundle seq -> messages not yet acknowledged
  // Declared last: destroyed first, while the members its delivery
  // callbacks write are still alive.
  std::unique_ptr<kafka::Producer> producer_;
};

}  // namespace stagewise::processor
