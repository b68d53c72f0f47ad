#pragma once

// `stagewise replay`: a store rebuilt from a recorded input log by the real
// processor over the real Kafka protocol (DESIGN.md §5.4, §8).
#include "common/result.h"
#include "processor/processor.h"
#include "replay/source.h"
#include "store/store.h"
#include "workflow/workflow.h"

#include <cstdint>
#include <functional>
#include <map>

namespace stagewise::replay {

struct RebuildOptions {
  /// The processor as the original ran it (limits, time window, trust with
  /// the original's internal key, dedupe, engine limits). Its Kafka
  /// properties, topics, timers, changelog and group are set by rebuild().
  processor::Options processor;
  int32_t partitions = 8;      ///< of the input topic: as many as the original's
  int64_t max_ahead = 10'000;  ///< messages produced and not yet consumed, at most
  /// How long without progress before giving up (a processor that stopped).
  std::chrono::milliseconds stall_timeout{120'000};
  /// Called about every 100 ms with the messages the processor has taken.
  std::function<void(uint64_t consumed)> progress;
};

struct Rebuilt {
  uint64_t messages = 0;            ///< produced into the input topic
  std::map<int32_t, int64_t> ends;  ///< next offset per partition once all was applied
  uint64_t applied = 0;             ///< events that changed an application (history entries)
  uint64_t rejected = 0;            ///< dead letters
  uint64_t duplicates = 0;
};

/// Starts an embedded cluster (in memory, loopback) with `partitions`
/// input partitions and the processor on `store` with its timers off (the
/// deadlines and retention erasures the original's timers fired are in the
/// log, and firing them again would put events into it that the original
/// never had); produces `read`'s messages in order into the input topic,
/// each into its recorded partition (else its key's, as the original
/// producer's partitioner chose) with its headers and timestamp, never more
/// than max_ahead ahead of the processor (the embedded cluster trims what
/// it holds past ~5 MB per partition); waits until the processor has
/// committed every partition to its end; stops it cleanly.
Result<Rebuilt> rebuild(const workflow::Registry& registry, store::Store& store,
                        const std::function<Result<void>(const Each&)>& read,
                        RebuildOptions options);

}  // namespace stagewise::replay
