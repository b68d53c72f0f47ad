#pragma once

#include "common/reasons.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace stagewise {

/// A decoded, validated CloudEvents 1.0 input event.
struct CloudEvent {
  std::string id;
  std::string source;
  std::string type;
  std::string subject;  ///< the application id
  std::string time;     ///< as sent (RFC 3339)
  int64_t time_ms = 0;  ///< parsed `time`, UTC
  std::string program;  ///< extension; may be empty for events on existing applications
  std::string actorid;
  std::string actorrole;
  /// Set only by stagewise's own producers (HTTP intake, timers), with
  /// `authsig` over the event: who was authenticated (auth/signature.h).
  std::string authsub;
  std::string authrole;
  std::string authsig;
  std::string datacontenttype;
  nlohmann::json data;  ///< null when absent
};

/// Why decoding failed; `event_id` is filled when the id could be read.
struct DecodeError {
  Reason reason;
  std::string message;
  std::string event_id;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

using DecodeResult = std::variant<CloudEvent, DecodeError>;

/// What an input event may be. Every id must be readable back (ids appear in
/// URL paths, file names and log lines), so besides lengths: all attributes
/// are UTF-8 without control or bidirectional formatting characters, and a
/// `subject` (an application or reviewer id) or `program` has no white space
/// and none of `/ \ ? # %`.
struct EnvelopeLimits {
  int max_depth = 32;              ///< nesting of objects and arrays, the whole event
  size_t max_id_bytes = 256;       ///< `id`, `source`
  size_t max_subject_bytes = 128;  ///< `subject`
  size_t max_name_bytes = 128;     ///< `type`, `program`, `actorid`, other attributes
};

/// Largest application id accepted (`subject`), in bytes.
inline constexpr size_t kMaxIdBytes = EnvelopeLimits{}.max_subject_bytes;

/// Decodes a structured-mode event (the JSON object is the whole value).
DecodeResult decode_structured(std::string_view value, const EnvelopeLimits& limits = {});

/// Decodes a Kafka message: binary mode when a `ce_specversion` header is
/// present, structured mode otherwise.
DecodeResult decode_kafka(const Headers& headers, std::string_view value,
                          const EnvelopeLimits& limits = {});

/// An input message as the processor takes it: no larger than `max_bytes`
/// (reason `oversized`), then decode_kafka. The HTTP intake checks the
/// bytes it will produce with this very function, so that nothing it
/// accepts is refused later.
DecodeResult decode_input(const Headers& headers, std::string_view value, int64_t max_bytes,
                          const EnvelopeLimits& limits);

/// Validates a JSON object as a CloudEvent (shared by Kafka and HTTP intake).
/// The object must come from text checked with json_depth_within.
DecodeResult decode_json(const nlohmann::json& j, const EnvelopeLimits& limits = {});

/// How far an event's time may stray from when it was produced.
struct TimeWindow {
  int64_t max_ahead_ms = 7LL * 86'400'000;     ///< into the future
  int64_t max_behind_ms = 400LL * 86'400'000;  ///< into the past, except for `system`
};

/// Checks the event's time against `reference_ms` (the Kafka message's
/// timestamp, or the intake's clock): an event from the far future or the
/// far past is refused as `invalid_attribute`, so a typo cannot make the
/// server's own timers expire an application at once. Stagewise's timers
/// (actorrole system) may be late by any amount.
std::optional<DecodeError> check_time(const CloudEvent& e, int64_t reference_ms,
                                      const TimeWindow& window);

/// Whether `id` may be an application (or reviewer) id: see EnvelopeLimits.
bool valid_subject(std::string_view id, size_t max_bytes = kMaxIdBytes);

/// The structured-mode JSON of an event (for re-publishing and tests).
nlohmann::json to_json(const CloudEvent& e);

/// The roles an `actorrole` may name.
bool is_known_role(std::string_view role);

}  // namespace stagewise
