#pragma once

// Where `stagewise replay` reads the recorded input log from: a file
// (log.h) or the input topic of a Kafka cluster.
#include "common/result.h"
#include "kafka/kafka.h"
#include "replay/log.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace stagewise::replay {

/// Takes the log's messages in order; an error stops the reading.
using Each = std::function<Result<void>(LogRecord&&)>;

/// What a first pass over a log file tells.
struct FileFacts {
  uint64_t messages = 0;  ///< lines that are not blank
  /// The input's partition count the recorded messages were produced
  /// with: the smallest one whose key partitioning (partition_of) puts
  /// every keyed recorded message in its recorded partition; 0 when no
  /// message recorded its partition and key.
  int32_t partitions = 0;
};

/// Reads the file once; an error names a line that does not parse, or
/// says that no partition count fits the recorded partitions.
Result<FileFacts> scan_file(const std::string& path, const LineLimits& limits = {});

/// Calls `each` for every message of the file, in order; an error names the
/// file and the line.
Result<void> read_file(const std::string& path, const Each& each, const LineLimits& limits = {});

/// What a topic held when the replay started: per partition, the offsets
/// from its low to its high watermark (messages after are not replayed).
struct TopicExtent {
  std::string topic;
  std::vector<std::pair<int64_t, int64_t>> ranges;  ///< by partition
  int32_t partitions() const { return static_cast<int32_t>(ranges.size()); }
  uint64_t total() const;
};

/// Asks the cluster at `props` (bootstrap.servers, any librdkafka property)
/// for `topic`'s partitions and watermarks.
Result<TopicExtent> topic_extent(const kafka::Properties& props, const std::string& topic);

/// Calls `each` for every message of `extent`, partition by partition, each
/// in offset order, with its partition, key, headers and timestamp. Reads
/// outside any consumer group; commits nothing.
Result<void> read_topic(const kafka::Properties& props, const TopicExtent& extent,
                        const Each& each);

}  // namespace stagewise::replay
