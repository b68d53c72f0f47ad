#pragma once

// How the fuzz targets cut one input into the parts of what they test, and
// how fuzz_seeds writes seeds in the same form. Text framings, so that seeds
// stay readable and mutations of them stay meaningful.

#include "common/cloudevent.h"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stagewise::fuzz {

/// A Kafka message: `name:value` header lines up to the first empty line,
/// then the value. Without an empty line the whole input is the value and
/// there are no headers (structured mode). The pseudo-header `@timestamp`
/// is the message's timestamp (the reference of check_time), not a header.
struct Message {
  Headers headers;
  std::string_view value;
  std::optional<int64_t> timestamp;
};

inline Message split_message(std::string_view in) {
  Message m;
  const size_t blank = in.find("\n\n");
  if (blank == std::string_view::npos) {
    m.value = in;
    return m;
  }
  m.value = in.substr(blank + 2);
  std::string_view head = in.substr(0, blank);
  while (!head.empty()) {
    const size_t eol = head.find('\n');
    const std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 1);
    const size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    const std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (name == "@timestamp") {
      int64_t t = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
      if (ec == std::errc()) m.timestamp = t;
      continue;
    }
    m.headers.emplace_back(name, value);
  }
  return m;
}

inline std::string join_message(const Headers& headers, std::string_view value,
                                std::optional<int64_t> timestamp = std::nullopt) {
  std::string out;
  if (timestamp) out += "@timestamp:" + std::to_string(*timestamp) + "\n";
  for (const auto& [k, v] : headers) out += k + ":" + v + "\n";
  out += "\n";
  out += value;
  return out;
}

/// A JsonLogic case: the rule's JSON on the first line, the data's JSON
/// after it (null when there is no line break).
struct RuleCase {
  std::string_view rule;
  std::string_view data;
};

inline RuleCase split_rule_case(std::string_view in) {
  const size_t eol = in.find('\n');
  if (eol == std::string_view::npos) return {in, "null"};
  return {in.substr(0, eol), in.substr(eol + 1)};
}

}  // namespace stagewise::fuzz
