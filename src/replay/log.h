#pragma once

// The recorded input log of `stagewise replay` (docs/replay.md): one Kafka
// message of the input topic per line of a file.
#include "common/cloudevent.h"
#include "common/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stagewise::replay {

/// One message of the input log as it was produced: what the processor
/// decides by (value, headers, timestamp) and where it lived (partition,
/// key). Absent parts take what a producer of the value alone would give.
struct LogRecord {
  std::optional<int32_t> partition;  ///< nullopt: the key's (partition_of)
  std::string key;                   ///< the application id
  std::string value;
  Headers headers;
  int64_t timestamp_ms = 0;  ///< 0: stamped when produced again
  int64_t offset = -1;       ///< where it was read (for messages only)
};

/// Bounds of a line of the log (input at the edge).
struct LineLimits {
  size_t max_line_bytes = 4 << 20;
  int max_depth = 64;  ///< of the record envelope; the event's own depth is the processor's
};

/// Reads one line. Two kinds (docs/replay.md):
/// - a recorded message, a JSON object with `payload` (a string, or null)
///   or `payload_base64url`, and optionally `partition`, `key`, `ts` (ms),
///   `headers` (kcat's flat array `["name","value",...]` or an object),
///   `offset`, `topic` — what `kcat -C -J` prints and `replay --write`
///   writes;
/// - anything else is a message value as is (`simulate --write`, `submit`):
///   keyed by its `subject` when it is a JSON object that has one, with the
///   structured-mode content-type header and no timestamp.
/// An error names what is wrong with the line (not its content).
Result<LogRecord> parse_line(std::string_view line, const LineLimits& limits = {});

/// The line `parse_line` reads back as `r` (a recorded message: with its
/// partition, key, headers, timestamp, offset and `topic`).
std::string format_line(const LogRecord& r, const std::string& topic);

}  // namespace stagewise::replay
