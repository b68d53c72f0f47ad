#pragma once

#include "common/result.h"
#include "kafka/kafka.h"
#include "store/store.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace stagewise::processor {

/// What partition hand-overs did, for /metrics and /v1/info.
struct TakeoverStats {
  std::atomic<uint64_t> kept{0};      ///< local copies found current
  std::atomic<uint64_t> restored{0};  ///< partitions restored from the changelog
  std::atomic<uint64_t> restored_records{0};
  std::atomic<uint64_t> reseeded{0};  ///< changelogs re-seeded from a local copy
  std::atomic<uint64_t> dropped{0};   ///< stale local copies dropped
  std::atomic<uint64_t> restore_ms{0};
  std::atomic<int32_t> restoring{-1};  ///< the partition being restored now, -1: none
};

/// Makes this process's copy of an input partition the current one before
/// the processor applies anything to it (DESIGN.md §9, docs/scale-out.md).
/// Reads the partition's changelog and, by its last complete round marker:
/// - keeps the local copy when that marker is this copy's last round;
/// - keeps it and re-seeds the changelog from it (a snapshot under a new
///   epoch) when this copy is ahead of its own last mirrored round, or when
///   the changelog is empty and the copy may be trusted (see take());
/// - otherwise drops the local copy and restores the partition from the
///   changelog, then goes on from the input offset of that marker.
/// A restore that cannot be exact (the changelog's start was trimmed) is an
/// error: nothing is applied against a copy that cannot be proven current.
class Takeover {
 public:
  struct Options {
    kafka::Properties kafka;
    std::string changelog_topic = "stagewise.changelog";
    std::string input_topic = "stagewise.events";
    int read_timeout_ms = 30'000;
    /// After a reset, how long a process that did not own a partition then
    /// waits for the one that did to re-seed its changelog.
    int reset_grace_ms = 10'000;
  };
  Takeover(store::Store& store, Options options, TakeoverStats& stats);

  /// Called for each input partition assigned. `reset`: the broker's log is
  /// new (its cluster id changed since the store last saw it);
  /// `owned_at_reset`: this process had the partition when it was.
  Result<void> take(int32_t partition, bool reset, bool owned_at_reset);
  /// After a reset: mirrors a copy this process had then but was not
  /// assigned now, so that whoever was can restore it.
  Result<void> reseed_for_others(int32_t partition);

 private:
  struct Scan {
    int64_t lo = 0, hi = 0;
    std::optional<store::RoundMarker> last;  ///< the last complete round's marker
    int64_t last_offset = -1;                ///< where it is
    std::set<std::string> keys;              ///< every key in the changelog
  };
  Result<Scan> scan(int32_t partition);
  Result<void> restore(int32_t partition, const Scan& scan);
  Result<void> reseed(int32_t partition, const Scan& scan);
  Result<void> start_fresh(int32_t partition, const Scan& scan);
  Result<kafka::PartitionReader*> reader();

  store::Store& store_;
  Options options_;
  TakeoverStats& stats_;
  std::unique_ptr<kafka::PartitionReader> reader_;
};

}  // namespace stagewise::processor
