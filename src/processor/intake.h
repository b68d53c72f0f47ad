#pragma once

#include "common/cloudevent.h"
#include "common/result.h"
#include "kafka/kafka.h"
#include "processor/outcomes.h"
#include "store/store.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stagewise::processor {

/// What happened to one submitted event.
struct IntakeResult {
  bool accepted = false;
  std::string id;       ///< the event's id, when it had one
  std::string source;   ///< the event's source, when valid
  std::string subject;  ///< the application id, when it had one
  std::string error;    ///< why it was refused (names the attribute and what to do)
  std::string code;     ///< reason code when refused: an input reason, busy, unavailable, timeout
  nlohmann::json outcome;  ///< with a wait: what the processor made of it (null if not yet)
};

/// Validates CloudEvents and writes them to the input topic (structured mode,
/// key = application id). Used by `POST /v1/events` and `stagewise submit`.
///
/// Two modes. With a store (serve): an event is accepted once it is durable
/// in the store's intake column family; it is relayed to Kafka and kept
/// until the processor has applied or rejected it, and produced again after
/// a restart or when it stays unprocessed, so it survives the loss of the
/// broker's log. Without a store (submit): accepted once the broker
/// acknowledged it (acks=all).
///
/// Thread safety: submit() may be called from any number of threads.
class Intake {
 public:
  struct Options {
    kafka::Properties kafka;
    std::string topic = "stagewise.events";
    std::string deadletter_topic = "stagewise.deadletter";
    store::Store* store = nullptr;     ///< durable mode when set
    OutcomeBoard* outcomes = nullptr;  ///< needed for waits
    std::function<int64_t()> lag;      ///< input events not yet processed; null: no backpressure
    int64_t max_lag = 20'000;          ///< submit() waits while lag() is above this
    std::chrono::milliseconds backpressure_wait{10'000};  ///< then refuses with "busy"
    std::chrono::seconds reproduce_after{30};  ///< unprocessed durable events are produced again
    /// The processor's limits, checked before an event is taken, so that
    /// nothing accepted is refused later: the same bytes, depth, ids and
    /// time window.
    int64_t max_event_bytes = 256 * 1024;
    EnvelopeLimits envelope;
    TimeWindow time_window;
    /// Whether this process applies what lands in an input partition; null:
    /// it applies everything. Records of other partitions are done with once
    /// the broker acknowledged them.
    std::function<bool(int32_t partition)> owned_here;
  };
  static Result<std::unique_ptr<Intake>> create(Options options);
  ~Intake();
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  /// Validates each event and takes the valid ones; invalid ones are refused
  /// with a reason (an input reason such as `oversized` or
  /// `invalid_attribute`) and never produced. The same event twice, in one
  /// call or a retry, is one record. Waits up to `timeout_ms` for
  /// acknowledgements (without a store), and up to `wait_ms` (> 0) for each
  /// accepted event's outcome. The events must come from text whose depth
  /// was checked (json_depth_within).
  std::vector<IntakeResult> submit(const std::vector<nlohmann::json>& events, int timeout_ms,
                                   int wait_ms = 0);

 private:
  struct Waiter;
  Intake() = default;
  void on_delivery(const kafka::DeliveryReport& d);
  std::vector<size_t> validate(const std::vector<nlohmann::json>& events,
                               std::vector<IntakeResult>& results,
                               std::vector<std::string>& values) const;
  bool put_durably(const std::vector<size_t>& valid, std::vector<std::string>& values,
                   std::vector<IntakeResult>& results);
  void produce_acked(const std::vector<size_t>& valid, const std::vector<std::string>& values,
                     std::vector<IntakeResult>& results, int timeout_ms);
  void relay_loop();
  void produce_durable(const store::IntakeRecord& r);
  void settle_refused();
  void settle_handed_off();
  bool wait_for_room();

  Options options_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  uint64_t next_token_ = 1;
  std::map<uint64_t, std::pair<Waiter*, size_t>> pending_;              // ack waits (no store)
  std::map<uint64_t, std::chrono::steady_clock::time_point> produced_;  // intake seq -> when
  std::vector<std::pair<uint64_t, std::string>> refused_;  // seqs the broker refused for good
  std::vector<uint64_t> handed_off_;  // seqs acknowledged into another process's partition
  std::thread poller_;
  std::thread relay_;
  bool stop_ = false;
  // Declared last: destroyed first, while the members its delivery
  // callbacks write are still alive.
  std::unique_ptr<kafka::Producer> producer_;
};

}  // namespace stagewise::processor
