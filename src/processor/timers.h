#pragma once

#include "common/clock.h"
#include "common/result.h"
#include "kafka/kafka.h"
#include "store/store.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace stagewise::processor {

struct TimerStats {
  std::atomic<uint64_t> deadlines_fired{0};
  std::atomic<uint64_t> reminders_fired{0};
  std::atomic<uint64_t> reminders_stale{0};  ///< the application had left the stage
  std::atomic<uint64_t> late{0};             ///< fired more than a second after due
  std::atomic<int64_t> late_ms_max{0};
};

/// Fires due timers of the partitions this process owns (DESIGN.md §6,
/// deadlines). A deadline goes through the log: a `stage.deadline_passed`
/// event with a deterministic id is produced into the application's input
/// partition, and the timer is deleted once the broker acknowledged it; a
/// repeat after a crash is dropped by the processor's dedupe. A reminder
/// writes its notification to the outbox and deletes the timer in one batch.
/// Scans only what is due (timers are keyed by partition and due time).
///
/// Thread safety: start()/stop()/poke() from any thread.
class TimerService {
 public:
  struct Options {
    kafka::Properties kafka;
    std::string events_topic = "stagewise.events";
    std::string notifications_topic = "stagewise.notifications";
    /// The input partitions this process owns now.
    std::function<std::vector<int32_t>()> owned_partitions;
    /// Called after a batch wrote outbox records (wakes the relay).
    std::function<void()> on_outbox;
    int64_t late_after_ms = 1000;
    /// Signs deadline events (auth/signature.h), so the processor knows
    /// them from a producer claiming the system role.
    std::string internal_key;
  };

  TimerService(store::Store& store, const Clock& clock, Options options);
  ~TimerService();
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  Result<void> start();
  void stop();
  /// Look again now (new timers were committed, or a fake clock moved).
  void poke();
  const TimerStats& stats() const { return stats_; }

 private:
  void run();
  void fire_due(int64_t now);

  store::Store& store_;
  const Clock& clock_;
  Options options_;
  TimerStats stats_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  bool stop_ = false;
  bool running_ = false;
  // Deadline events produced and not yet acknowledged, by timer; touched by
  // the service thread only (delivery reports come from its poll()).
  std::map<uint64_t, store::TimerRecord> in_flight_;
  std::set<std::string> in_flight_keys_;
  std::vector<store::TimerRecord> acked_;
  uint64_t next_token_ = 1;
  // Declared last: destroyed first, while the members its delivery
  // callbacks write are still alive.
  std::unique_ptr<kafka::Producer> producer_;
};

}  // namespace stagewise::processor
