#include "replay/log.h"

#include "auth/openssl.h"
#include "common/json_limits.h"

#include <nlohmann/json.hpp>

namespace stagewise::replay {
namespace {

using nlohmann::json;

const Headers kStructured = {{"content-type", "application/cloudevents+json"}};

Result<Headers> headers_of(const json& h) {
  Headers out;
  if (h.is_null()) return out;
  if (h.is_array()) {  // kcat -J: ["name", "value", "name", "value", ...]
    if (h.size() % 2 != 0) return make_error(Errc::invalid_argument, "headers: odd array");
    for (size_t i = 0; i < h.size(); i += 2) {
      if (!h[i].is_string() || !(h[i + 1].is_string() || h[i + 1].is_null()))
        return make_error(Errc::invalid_argument, "headers: names and values must be strings");
      out.emplace_back(h[i].get<std::string>(),
                       h[i + 1].is_null() ? "" : h[i + 1].get<std::string>());
    }
    return out;
  }
  if (!h.is_object())
    return make_error(Errc::invalid_argument, "headers: an array or an object expected");
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (!it.value().is_string())
      return make_error(Errc::invalid_argument,
                        "headers: value of \"" + it.key() + "\" not a string");
    out.emplace_back(it.key(), it.value().get<std::string>());
  }
  return out;
}

Result<std::string> payload_of(const json& j) {
  if (const auto it = j.find("payload_base64url"); it != j.end()) {
    auto bytes =
        it->is_string() ? auth::ssl::base64url_decode(it->get<std::string>()) : std::nullopt;
    if (!bytes) return make_error(Errc::invalid_argument, "payload_base64url: not base64url");
    return *bytes;
  }
  const json& p = j.at("payload");
  if (p.is_null()) return std::string();
  if (!p.is_string()) return make_error(Errc::invalid_argument, "payload: a string expected");
  return p.get<std::string>();
}

// A recorded message (kcat -J's shape).
Result<LogRecord> record_of(const json& j) {
  LogRecord r;
  auto payload = payload_of(j);
  if (!payload) return payload.error();
  r.value = std::move(*payload);
  if (const auto it = j.find("partition"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || *it < 0 || *it > 100'000)
      return make_error(Errc::invalid_argument, "partition: a number from 0 expected");
    r.partition = it->get<int32_t>();
  }
  if (const auto it = j.find("key"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return make_error(Errc::invalid_argument, "key: a string expected");
    r.key = it->get<std::string>();
  }
  if (const auto it = j.find("ts"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || *it < 0)
      return make_error(Errc::invalid_argument, "ts: milliseconds since 1970 expected");
    r.timestamp_ms = it->get<int64_t>();
  }
  if (const auto it = j.find("offset"); it != j.end() && it->is_number_integer())
    r.offset = it->get<int64_t>();
  auto headers = headers_of(j.value("headers", json()));
  if (!headers) return headers.error();
  r.headers = std::move(*headers);
  return r;
}

// The application id an event names (its key, when none was recorded).
std::string subject_in(const json& j) {
  if (!j.is_object()) return "";
  const auto s = j.find("subject");
  return s != j.end() && s->is_string() ? s->get<std::string>() : "";
}

bool is_record(const json& j) {
  return j.is_object() && !j.contains("specversion") &&
         (j.contains("payload") || j.contains("payload_base64url"));
}

}  // namespace

Result<LogRecord> parse_line(std::string_view line, const LineLimits& limits) {
  if (line.size() > limits.max_line_bytes)
    return make_error(Errc::invalid_argument,
                      "line longer than " + std::to_string(limits.max_line_bytes) + " bytes");
  const json j = parse_json_bounded(line, limits.max_depth);
  if (is_record(j)) {
    auto r = record_of(j);
    if (r && r->key.empty() && !r->partition)
      r->key = subject_in(parse_json_bounded(r->value, limits.max_depth));
    return r;
  }
  // A message value as is; malformed ones too (they were in the log).
  LogRecord r;
  r.value = std::string(line);
  r.headers = kStructured;
  r.key = subject_in(j);
  return r;
}

std::string format_line(const LogRecord& r, const std::string& topic) {
  json headers = json::array();
  for (const auto& [name, value] : r.headers) {
    headers.push_back(name);
    headers.push_back(value);
  }
  json j = {{"topic", topic}, {"key", r.key}, {"ts", r.timestamp_ms}, {"headers", headers}};
  if (r.partition) j["partition"] = *r.partition;
  if (r.offset >= 0) j["offset"] = r.offset;
  // Header names and values, keys are text for stagewise's producers; a
  // value that is not UTF-8 travels encoded.
  if (is_utf8(r.value))
    j["payload"] = r.value;
  else
    j["payload_base64url"] = auth::ssl::base64url_encode(r.value);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace stagewise::replay
