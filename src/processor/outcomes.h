#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace stagewise::processor {

/// Where intake callers wait for what became of their events
/// (`POST /v1/events?wait=SECONDS`). The processor publishes the outcome of
/// each event once its batch is durable; only awaited keys are kept.
///
/// Thread safety: every member may be called from any thread.
class OutcomeBoard {
 public:
  /// The key of an event: its source and id.
  static std::string key(const std::string& source, const std::string& id) {
    return source + '\0' + id;
  }
  /// Starts waiting for `key` (before the event can possibly be processed).
  /// Each expect() is matched by one forget().
  void expect(const std::string& key);
  /// Stops waiting; what was published for `key` goes with its last waiter.
  void forget(const std::string& key);
  /// True when someone waits: the processor skips all work otherwise.
  bool wanted() const { return waiting_.load(std::memory_order_relaxed) > 0; }
  /// Records the outcome of `key` if someone waits for it.
  void publish(const std::string& key, nlohmann::json outcome);
  /// Waits until the outcome of `key` is published or `until` passes.
  std::optional<nlohmann::json> wait(const std::string& key,
                                     std::chrono::steady_clock::time_point until);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  struct Slot {
    int waiters = 0;  // requests waiting for this key (the same event may be sent twice)
    std::optional<nlohmann::json> outcome;
  };
  std::map<std::string, Slot> slots_;
  std::atomic<int> waiting_{0};
};

}  // namespace stagewise::processor
