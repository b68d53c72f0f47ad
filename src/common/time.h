#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stagewise {

/// Parses an RFC 3339 timestamp ("2026-03-01T12:00:00Z", "...00.25+02:00")
/// into milliseconds since the Unix epoch (UTC). nullopt when malformed.
std::optional<int64_t> parse_rfc3339_ms(std::string_view s);

/// Formats milliseconds since the epoch as RFC 3339 UTC, with milliseconds
/// only when they are not zero.
std::string format_rfc3339_ms(int64_t ms);

/// Parses an ISO-8601 duration of fixed length (weeks, days, hours, minutes,
/// seconds: "P14D", "PT36H", "P1DT2H30M") into milliseconds. Years and
/// months are refused because their length varies.
std::optional<int64_t> parse_iso8601_duration_ms(std::string_view s);

/// Wall-clock milliseconds since the epoch. Never called by the engine.
int64_t now_ms();

}  // namespace stagewise
