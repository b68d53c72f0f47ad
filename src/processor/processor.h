#pragma once

#include "common/clock.h"
#include "common/reasons.h"
#include "common/result.h"
#include "kafka/kafka.h"
#include "processor/outcomes.h"
#include "processor/timers.h"
#include "store/store.h"
#include "workflow/workflow.h"

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace stagewise::processor {

struct Options {
  kafka::Properties kafka;  ///< bootstrap.servers and any librdkafka property
  kafka::Topics topics;
  std::string group_id = "stagewise";
  std::string group_instance_id;     ///< static membership when not empty
  std::string transactional_id;      ///< relay rounds in Kafka transactions when not empty
  OutcomeBoard* outcomes = nullptr;  ///< where outcomes are published, when set
  bool timers = true;                ///< fire deadlines and reminders
  const Clock* clock = nullptr;      ///< for timers; the system clock when null
  int batch_max_events = 2000;
  int batch_max_ms = 5;
  int64_t max_event_bytes = 256 * 1024;
  /// Applications kept decoded between batches; the processor is their only
  /// writer, so the copy never goes stale.
  uint64_t cache_applications = 20'000;
};

inline constexpr size_t kReasonCount = static_cast<size_t>(Reason::engine_error) + 1;

/// Counters for /metrics. Updated by the processor thread, read anywhere.
struct Stats {
  std::atomic<uint64_t> consumed{0};
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> moved{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> publish_failures{0};
  std::atomic<uint64_t> log_resets{0};
  std::atomic<uint64_t> gaps{0};
  std::atomic<uint64_t> gap_messages{0};
  std::atomic<uint64_t> consumer_errors{0};
  std::array<std::atomic<uint64_t>, kReasonCount> rejected{};
  std::atomic<int64_t> lag{0};  ///< input events on the broker not yet processed
};

/// The consume → apply → commit loop and the outbox relay (DESIGN.md §2).
/// Each input event's effects (state, history, dedupe id, outputs, input
/// offset) are written in one RocksDB batch; outputs are published from the
/// outbox afterwards, at least once, with stable ids.
///
/// Thread safety: start() and stop() from one thread; stats() and ready()
/// from any.
class Processor {
 public:
  Processor(const workflow::Registry& registry, store::Store& store, Options options);
  ~Processor();
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  /// Connects to Kafka and starts the consume loop and the relay threads.
  Result<void> start();
  /// Finishes and commits the current batch, publishes what the outbox
  /// holds (bounded wait), leaves the group. Idempotent.
  void stop();
  /// True once the consumer has its partitions assigned.
  bool ready() const { return ready_.load(); }
  /// Input events on the broker not yet processed (from the consumer's
  /// cached watermarks; updated after every poll).
  int64_t lag() const { return stats_.lag.load(); }
  /// True when the loop stopped on a store failure (the process should exit).
  bool failed() const { return failed_.load(); }
  const Stats& stats() const { return stats_; }
  /// Null when timers are off.
  const TimerStats* timer_stats() const { return timers_ ? &timers_->stats() : nullptr; }
  /// The input partitions assigned to this process now.
  std::vector<int32_t> owned_partitions() const;
  /// Wakes the timer service (tests moving a fake clock).
  void poke_timers() {
    if (timers_) timers_->poke();
  }

 private:
  struct Loop;
  struct Relay;
  struct Round;
  void run_loop();
  void run_committer();
  bool finish_round();
  void update_lag();
  void run_relay();

  const workflow::Registry& registry_;
  store::Store& store_;
  Options options_;
  Stats stats_;
  std::atomic<bool> running_{false};
  std::atomic<bool> relay_running_{false};
  std::atomic<bool> ready_{false};
  std::atomic<bool> failed_{false};
  SystemClock system_clock_;
  std::unique_ptr<TimerService> timers_;
  mutable std::mutex owned_mu_;
  std::vector<int32_t> owned_;
  std::unique_ptr<Loop> loop_;
  std::unique_ptr<Relay> relay_;
  std::thread loop_thread_;
  std::thread relay_thread_;
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool wake_flag_ = false;
};

}  // namespace stagewise::processor
