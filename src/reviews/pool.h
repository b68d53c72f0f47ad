#pragma once

#include "reviews/profile.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace stagewise::reviews {

using ReviewerPtr = std::shared_ptr<const ReviewerRecord>;

/// Every reviewer this process knows of (DESIGN.md §12): a reference table
/// like a Kafka Streams GlobalKTable, fed by the processor's own commits and
/// by the reviewers topic every process follows. A copy replaces the one
/// held only when its revision is larger, so copies arriving late or twice
/// change nothing.
///
/// Thread safety: every method from any thread.
class ReviewerPool {
 public:
  /// Keeps `r` when it is newer than the copy held; true when kept.
  bool put(ReviewerPtr r);
  /// Nullptr when unknown.
  ReviewerPtr get(const std::string& id) const;
  /// The reviewers whose profile lists `program`, by id.
  std::vector<ReviewerPtr> serving(const std::string& program) const;
  /// Every reviewer, by id.
  std::vector<ReviewerPtr> all() const;
  size_t size() const;
  /// The records' encoded size, summed (what ProfileLimits::max_pool_bytes
  /// bounds).
  uint64_t bytes() const;
  /// Bumped by every put that kept something: readers cache on it.
  uint64_t version() const;

 private:
  mutable std::shared_mutex mu_;
  struct Held {
    ReviewerPtr record;
    uint64_t bytes = 0;
  };
  std::unordered_map<std::string, Held> by_id_;
  uint64_t version_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace stagewise::reviews
