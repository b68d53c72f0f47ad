#pragma once

#include "common/reasons.h"

#include <nlohmann/json.hpp>

#include <cstdint>
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

/// Largest application id accepted (`subject`), in bytes.
inline constexpr size_t kMaxIdBytes = 256;

/// Decodes a structured-mode event (the JSON object is the whole value).
DecodeResult decode_structured(std::string_view value);

/// Decodes a Kafka message: binary mode when a `ce_specversion` header is
/// present, structured mode otherwise.
DecodeResult decode_kafka(const Headers& headers, std::string_view value);

/// Validates a JSON object as a CloudEvent (shared by Kafka and HTTP intake).
DecodeResult decode_json(const nlohmann::json& j);

/// The structured-mode JSON of an event (for re-publishing and tests).
nlohmann::json to_json(const CloudEvent& e);

/// The roles an `actorrole` may name.
bool is_known_role(std::string_view role);

}  // namespace stagewise
