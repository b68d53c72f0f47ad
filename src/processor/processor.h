#pragma once

#include "auth/trust.h"
#include "common/clock.h"
#include "common/cloudevent.h"
#include "common/histogram.h"
#include "common/reasons.h"
#include "common/result.h"
#include "kafka/kafka.h"
#include "processor/conflict_watch.h"
#include "processor/outcomes.h"
#include "processor/outputs.h"
#include "processor/relay.h"
#include "processor/takeover.h"
#include "processor/timers.h"
#include "reports/book.h"
#include "reviews/pool.h"
#include "store/store.h"
#include "workflow/engine.h"
#include "workflow/workflow.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

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
  EnvelopeLimits envelope;                 ///< depth, lengths and characters of input events
  TimeWindow time_window;                  ///< event time against the message's timestamp
  auth::InputTrust trust;                  ///< who may claim what on the input topic
  std::string internal_key;                ///< signs the timers' deadline events
  workflow::Limits engine;                 ///< list caps per application
  size_t max_application_bytes = 1 << 20;  ///< an event that would grow one past it is rejected
  DeadLetterLimits dead_letters;
  /// Applications kept decoded between batches (count and bytes); the
  /// processor is their only writer, so the copy never goes stale.
  uint64_t cache_applications = 20'000;
  uint64_t cache_bytes = 64 << 20;
  /// Mirror each round to the changelog topic and restore assigned
  /// partitions from it (DESIGN.md §9): needed whenever processes may share
  /// the input. Off only for a process alone on a broker it embeds.
  bool changelog = true;
  /// After the broker's log was replaced: how long a process waits for the
  /// partition's previous owner to re-seed the changelog (docs/scale-out.md).
  int reset_grace_ms = 10'000;
  /// Every reviewer (DESIGN.md §12): loaded from the store at start, kept
  /// current by each committed reviewer event; the engine checks conflicts
  /// of interest against it. A private pool when null.
  reviews::ReviewerPool* reviewers = nullptr;
  reviews::ProfileLimits profile_limits;
  /// How often, at most, the conflict watch rechecks assigned reviewers.
  std::chrono::milliseconds conflict_check_interval{2000};
  /// Called (on the consumer's thread) whenever the owned partitions change.
  std::function<void()> on_owned_changed;
  /// The reports' rows (DESIGN.md §13): each committed application's is
  /// put there. None when null.
  reports::Book* reports = nullptr;
};

inline constexpr size_t kReasonCount = static_cast<size_t>(Reason::engine_error) + 1;

/// Buckets (seconds) of the processing latency histograms: events may be
/// sent late or back-dated by days (processor.max_backdate), while a
/// healthy pipeline applies a fresh one within milliseconds.
inline const std::vector<double> kEventAgeBuckets = {0.005, 0.01, 0.025, 0.05,  0.1,   0.25, 0.5,
                                                     1,     2.5,  5,     10,    30,    60,   300,
                                                     900,   3600, 21600, 86400, 604800};
inline const std::vector<double> kEventQueueBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600};

/// Counters for /metrics. Updated by the processor thread, read anywhere.
struct Stats {
  std::atomic<uint64_t> consumed{0};
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> moved{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> log_resets{0};
  std::atomic<uint64_t> gaps{0};
  std::atomic<uint64_t> gap_messages{0};
  std::atomic<uint64_t> consumer_errors{0};
  std::atomic<uint64_t> partitions_lost{0};  ///< taken away when the group session ran out
  std::array<std::atomic<uint64_t>, kReasonCount> rejected{};
  std::atomic<int64_t> lag{0};  ///< input events on the broker not yet processed
  std::atomic<uint64_t> cache_bytes{0};
  /// Events whose application was not in memory (read from the store, or
  /// new): processor.cache_applications / cache_bytes too small show here.
  std::atomic<uint64_t> cache_misses{0};
  /// Seconds from an applied event's `time` to its round being durable.
  metrics::Histogram event_age{kEventAgeBuckets};
  /// Seconds from an applied event's message being produced to its round
  /// being durable (events whose message has a timestamp).
  metrics::Histogram event_queue{kEventQueueBuckets};
};

/// The consume → apply → commit loop (DESIGN.md §2). Each input event's
/// effects (state, history, dedupe id, outputs, input offset) are written in
/// one RocksDB batch; the Relay publishes the outputs afterwards, at least
/// once, with stable ids.
///
/// Failure is never silent and never a crash: a store error, a fatal Kafka
/// error or an unreadable stored position stops the loop before anything
/// more is committed; failed() turns true and failure() says why, for the
/// process to exit (a restart resumes from what is durable).
///
/// Thread safety: start() and stop() from one thread; the accessors from any.
class Processor {
 public:
  Processor(const workflow::Registry& registry, store::Store& store, Options options);
  ~Processor();
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  /// Connects to Kafka and starts the consume loop and the relay threads.
  Result<void> start();
  /// Finishes and commits the current batch, publishes what the outbox
  /// holds (bounded wait), leaves the group. Idempotent; safe after a
  /// failure.
  void stop();
  /// True while the consumer has its partitions assigned.
  bool ready() const { return ready_.load(); }
  /// Input events on the broker not yet processed (from the consumer's
  /// cached watermarks; updated after every poll).
  int64_t lag() const { return stats_.lag.load(); }
  /// True when processing stopped for good (the process should exit 1).
  bool failed() const { return failed_.load() || (relay_ && relay_->failed()); }
  /// Why it failed, in one line.
  std::string failure() const;
  const Stats& stats() const { return stats_; }
  /// Null before start().
  const RelayStats* relay_stats() const { return relay_ ? &relay_->stats() : nullptr; }
  /// Null when timers are off.
  const TimerStats* timer_stats() const { return timers_ ? &timers_->stats() : nullptr; }
  /// The input partitions assigned to this process now (and made current).
  std::vector<int32_t> owned_partitions() const;
  /// Input events not yet processed, per owned partition.
  std::map<int32_t, int64_t> partition_lag() const;
  /// The input topic's partition count (0 before start()).
  int32_t partitions() const { return partitions_.load(); }
  const TakeoverStats& takeover_stats() const { return takeover_stats_; }
  /// Conflicts of interest found after assignment (null before start()).
  const ConflictWatchStats* conflict_stats() const { return watch_ ? &watch_->stats() : nullptr; }
  /// Every reviewer this process knows (the pool given in Options, or its own).
  const reviews::ReviewerPool& reviewers() const { return *pool_; }
  /// Wakes the timer service (tests moving a fake clock).
  void poke_timers() {
    if (timers_) timers_->poke();
  }
  /// For tests: the relay's producer handle (fault injection).
  rd_kafka_t* relay_producer() const { return relay_ ? relay_->producer_handle() : nullptr; }

 private:
  struct Loop;
  struct Round;
  class RoundReviewers;
  struct Current;
  void run_loop();
  void run_committer();
  void collect_round(Round& r);
  void handle_message(Round& r, kafka::Message& m);
  bool is_duplicate(Round& r, const CloudEvent& ev, const std::string& key);
  std::optional<std::string> misplaced(const CloudEvent& ev,
                                       const std::pair<std::string, int32_t>& tp) const;
  bool load_current(Round& r, const std::string& id, Current& out);
  void apply_event(Round& r, const InputRef& in, CloudEvent&& ev, std::string&& dedupe_key);
  void apply_reference(Round& r, const InputRef& in, CloudEvent&& ev, std::string&& dedupe_key);
  reviews::ReviewerPtr current_reviewer(const Round& r, const std::string& id) const;
  Result<void> load_reviewers();
  bool record_applied(Round& r, const InputRef& in, workflow::Applied& applied, CloudEvent&& ev,
                      const std::string& old_stage, bool existed, std::string&& dedupe_key);
  void give_back(Round& r, const std::string& id, Current& current);
  void reject(Round& r, const InputRef& in, Reason reason, const std::string& message,
              const std::string& event_id, const std::string& subject,
              const std::string* outcome_key = nullptr);
  Result<void> init_partitions();
  void on_assign(std::vector<kafka::Assigned>& parts);
  bool take_over(const std::vector<kafka::Assigned>& parts, bool reset);
  int64_t start_offset(const store::InputPosition& stored, bool new_cluster, store::Batch& fix);
  void start_serving(std::vector<int32_t> owned);
  void on_revoke(const std::vector<kafka::Assigned>& parts, bool lost);
  bool may_mirror(int32_t partition, uint64_t epoch) const;
  bool hand_over(Round* r);
  bool finish_round();
  void observe_latency(const Round& r);
  void cache_round(Round& r);
  void book_round(const Round& r);
  void update_lag();
  void fail(const std::string& why);
  void wake_relay() {
    if (relay_) relay_->wake();
  }

  const workflow::Registry& registry_;
  store::Store& store_;
  Options options_;
  Stats stats_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> ready_{false};
  std::atomic<bool> failed_{false};
  mutable std::mutex failure_mu_;
  std::string failure_;
  SystemClock system_clock_;
  mutable std::mutex owned_mu_;
  std::vector<int32_t> owned_;
  std::map<int32_t, int64_t> lag_by_partition_;  // under owned_mu_
  std::set<int32_t> assigned_;                   // under owned_mu_: mirrored from the take-over on
  std::set<int32_t> reseeding_for_others_;       // under owned_mu_
  std::atomic<int32_t> partitions_{0};
  TakeoverStats takeover_stats_;
  reviews::ReviewerPool own_pool_;
  reviews::ReviewerPool* pool_ = nullptr;
  std::unique_ptr<ConflictWatch> watch_;
  std::unique_ptr<Takeover> takeover_;
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<TimerService> timers_;
  std::unique_ptr<Loop> loop_;
  std::thread loop_thread_;
};

}  // namespace stagewise::processor
