#pragma once

#include "common/result.h"
#include "kafka/kafka.h"
#include "reviews/pool.h"
#include "store/store.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace stagewise::cluster {

/// Follows the reviewers topic (DESIGN.md §12) in full, so that every
/// process knows every reviewer whichever process applied its events: each
/// record newer than the one held goes into the pool and, durably, into the
/// store (a restart starts from it). Like a Kafka Streams GlobalKTable.
///
/// Thread safety: start() and stop() from one thread.
class ReviewerFollower {
 public:
  struct Options {
    kafka::Properties kafka;
    std::string topic = "stagewise.reviewers";
    int32_t topic_partitions = 1;
  };
  ReviewerFollower(store::Store& store, reviews::ReviewerPool& pool, Options options);
  ~ReviewerFollower();
  ReviewerFollower(const ReviewerFollower&) = delete;
  ReviewerFollower& operator=(const ReviewerFollower&) = delete;

  Result<void> start();
  /// Waits until every record on the topic when called has been read (a
  /// GlobalKTable's bootstrap): call before the processor applies events,
  /// so that it never checks an assignment against a pool behind the topic.
  Result<void> catch_up(std::chrono::milliseconds timeout);
  void stop();
  /// Records taken from the topic (newer than what was held).
  uint64_t kept() const { return kept_.load(); }

 private:
  void run();

  store::Store& store_;
  reviews::ReviewerPool& pool_;
  Options options_;
  std::unique_ptr<kafka::PartitionReader> reader_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> kept_{0};
  std::mutex mu_;
  std::map<int32_t, int64_t> next_;  // per partition: the offset after the last read
  std::thread thread_;
};

}  // namespace stagewise::cluster
