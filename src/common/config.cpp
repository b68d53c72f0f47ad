#include "common/config.h"

#include "common/time.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace stagewise {
namespace {

using nlohmann::json;

// What a setting's value is checked against, and how errors name it.
struct Check {
  const std::string& where;
  const char* section;
  const char* key;
  int64_t min;
  int64_t max;
  std::runtime_error bad(const std::string& want) const {
    return std::runtime_error(where + ": " + section + "." + key + " must be " + want);
  }
};

int64_t as_int(const json& v, const Check& c) {
  int64_t n = 0;
  bool ok = false;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
    ok = true;
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    char* end = nullptr;
    errno = 0;
    n = std::strtoll(s.c_str(), &end, 10);
    ok = !s.empty() && end == s.c_str() + s.size() && errno == 0;
  }
  if (!ok) throw c.bad("an integer");
  if (n < c.min || n > c.max)
    throw c.bad("between " + std::to_string(c.min) + " and " + std::to_string(c.max) + ", not " +
                std::to_string(n));
  return n;
}

void assign(std::string& out, const json& v, const Check& c) {
  if (!v.is_string()) throw c.bad("a string");
  out = v.get<std::string>();
}
void assign(int& out, const json& v, const Check& c) {
  out = static_cast<int>(as_int(v, c));
}
void assign(int64_t& out, const json& v, const Check& c) {
  out = as_int(v, c);
}
void assign(uint64_t& out, const json& v, const Check& c) {
  out = static_cast<uint64_t>(as_int(v, c));
}
void assign(bool& out, const json& v, const Check& c) {
  if (v.is_boolean())
    out = v.get<bool>();
  else if (v == "true" || v == "1")
    out = true;
  else if (v == "false" || v == "0")
    out = false;
  else
    throw c.bad("true or false");
}
void assign(Duration& out, const json& v, const Check& c) {
  const auto ms = v.is_string() ? parse_iso8601_duration_ms(v.get<std::string>()) : std::nullopt;
  if (!ms) throw c.bad("an ISO-8601 duration of fixed length, e.g. \"P7D\" or \"PT12H\"");
  out = {v.get<std::string>(), *ms};
}
void assign(std::map<std::string, std::string>& out, const json& v, const Check& c) {
  if (v.is_string()) {  // from the environment: a JSON object in a string
    const json parsed = json::parse(v.get<std::string>(), nullptr, false);
    if (parsed.is_object()) return assign(out, parsed, c);
  }
  if (!v.is_object()) throw c.bad("an object of librdkafka properties");
  for (const auto& [k, pv] : v.items()) out[k] = pv.is_string() ? pv.get<std::string>() : pv.dump();
}

void assign(std::map<std::string, std::vector<std::string>>& out, const json& v, const Check& c) {
  json parsed = v;
  if (v.is_string()) parsed = json::parse(v.get<std::string>(), nullptr, false);  // environment
  const auto bad = [&] { return c.bad("an object of names to arrays of roles"); };
  if (!parsed.is_object()) throw bad();
  out.clear();
  for (const auto& [k, roles] : parsed.items()) {
    if (!roles.is_array()) throw bad();
    auto& list = out[k];
    for (const auto& r : roles) {
      if (!r.is_string()) throw bad();
      list.push_back(r.get<std::string>());
    }
  }
}

json value_of(const Duration& d) {
  return d.text;
}
template <class T>
json value_of(const T& v) {
  return v;
}

// One row per setting: the only list of them (file keys, environment
// variables and the JSON of the effective configuration all come from it).
struct Setting {
  const char* section;
  const char* key;
  void (*set)(Config&, const json&, const Check&);
  json (*get)(const Config&);
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
};

template <auto S, auto M>
constexpr Setting setting(const char* section, const char* key,
                          int64_t min = std::numeric_limits<int64_t>::min(),
                          int64_t max = std::numeric_limits<int64_t>::max()) {
  return {section,
          key,
          [](Config& c, const json& v, const Check& chk) { assign((c.*S).*M, v, chk); },
          [](const Config& c) { return value_of((c.*S).*M); },
          min,
          max};
}

using C = Config;
constexpr int64_t kGiB = int64_t{1} << 30;
const std::array kSettings = {
    setting<&C::kafka, &C::Kafka::bootstrap_servers>("kafka", "bootstrap_servers"),
    setting<&C::kafka, &C::Kafka::partitions>("kafka", "partitions", 1, 1024),
    setting<&C::kafka, &C::Kafka::group_id>("kafka", "group_id"),
    setting<&C::kafka, &C::Kafka::group_instance_id>("kafka", "group_instance_id"),
    setting<&C::kafka, &C::Kafka::transactional_id>("kafka", "transactional_id"),
    setting<&C::kafka, &C::Kafka::properties>("kafka", "properties"),
    setting<&C::store, &C::Store::data_dir>("store", "data_dir"),
    setting<&C::store, &C::Store::sync>("store", "sync"),
    setting<&C::http, &C::Http::host>("http", "host"),
    setting<&C::http, &C::Http::advertise>("http", "advertise"),
    setting<&C::http, &C::Http::port>("http", "port", 0, 65535),
    setting<&C::http, &C::Http::threads>("http", "threads", 2, 1024),
    setting<&C::http, &C::Http::listen_backlog>("http", "listen_backlog", 1, 65535),
    setting<&C::http, &C::Http::read_timeout_ms>("http", "read_timeout_ms", 10, 600'000),
    setting<&C::http, &C::Http::write_timeout_ms>("http", "write_timeout_ms", 10, 600'000),
    setting<&C::http, &C::Http::keep_alive_timeout_ms>("http", "keep_alive_timeout_ms", 10,
                                                       600'000),
    setting<&C::http, &C::Http::request_timeout_ms>("http", "request_timeout_ms", 10, 600'000),
    setting<&C::http, &C::Http::max_body_bytes>("http", "max_body_bytes", 1024, kGiB),
    setting<&C::http, &C::Http::max_events_per_request>("http", "max_events_per_request", 1,
                                                        1'000'000),
    setting<&C::workflows, &C::Workflows::dir>("workflows", "dir"),
    setting<&C::auth, &C::Auth::hs256_secret_file>("auth", "hs256_secret_file"),
    setting<&C::auth, &C::Auth::jwks_file>("auth", "jwks_file"),
    setting<&C::auth, &C::Auth::issuer>("auth", "issuer"),
    setting<&C::auth, &C::Auth::audience>("auth", "audience"),
    setting<&C::auth, &C::Auth::metrics_token>("auth", "metrics_token"),
    setting<&C::auth, &C::Auth::internal_secret_file>("auth", "internal_secret_file"),
    setting<&C::auth, &C::Auth::data_secret_file>("auth", "data_secret_file"),
    setting<&C::auth, &C::Auth::services>("auth", "services"),
    setting<&C::security, &C::Security::sources>("security", "sources"),
    setting<&C::processor, &C::Processor::batch_max_events>("processor", "batch_max_events", 1,
                                                            1'000'000),
    setting<&C::processor, &C::Processor::batch_max_ms>("processor", "batch_max_ms", 0, 60'000),
    setting<&C::processor, &C::Processor::max_event_bytes>("processor", "max_event_bytes", 1024,
                                                           kGiB),
    setting<&C::processor, &C::Processor::max_json_depth>("processor", "max_json_depth", 4, 512),
    setting<&C::processor, &C::Processor::dedupe_retention>("processor", "dedupe_retention", 1,
                                                            int64_t{1} << 40),
    setting<&C::processor, &C::Processor::intake_max_lag>("processor", "intake_max_lag", 1,
                                                          int64_t{1} << 40),
    setting<&C::processor, &C::Processor::cache_applications>("processor", "cache_applications", 0,
                                                              int64_t{1} << 32),
    setting<&C::processor, &C::Processor::cache_bytes>("processor", "cache_bytes", 0, 64 * kGiB),
    setting<&C::processor, &C::Processor::outbox_tail_bytes>("processor", "outbox_tail_bytes", 0,
                                                             64 * kGiB),
    setting<&C::processor, &C::Processor::max_clock_skew>("processor", "max_clock_skew"),
    setting<&C::processor, &C::Processor::max_backdate>("processor", "max_backdate"),
    setting<&C::processor, &C::Processor::max_list_items>("processor", "max_list_items", 1,
                                                          1'000'000),
    setting<&C::processor, &C::Processor::max_application_bytes>(
        "processor", "max_application_bytes", 4096, kGiB),
    setting<&C::processor, &C::Processor::deadletter_excerpt_bytes>(
        "processor", "deadletter_excerpt_bytes", 256, 512 * 1024),
    setting<&C::processor, &C::Processor::deadletter_keep_bytes>("processor",
                                                                 "deadletter_keep_bytes", 0, kGiB),
    setting<&C::processor, &C::Processor::deadletter_retention>("processor", "deadletter_retention",
                                                                0, int64_t{1} << 40),
    setting<&C::reports, &C::Reports::min_cell>("reports", "min_cell", 1, 1'000'000),
    setting<&C::log, &C::Log::level>("log", "level"),
    setting<&C::log, &C::Log::format>("log", "format"),
};

void set_key(Config& c, const std::string& section, const std::string& key, const json& v,
             const std::string& where) {
  for (const auto& s : kSettings)
    if (section == s.section && key == s.key)
      return s.set(c, v, Check{where, s.section, s.key, s.min, s.max});
  throw std::runtime_error(where + ": unknown setting " + section + "." + key +
                           "; see config/stagewise.json for the known ones");
}

void check_consistency(const Config& c, const std::string& where) {
  if (c.log.format != "text" && c.log.format != "json")
    throw std::runtime_error(where + ": log.format must be \"text\" or \"json\"");
  // An event the intake accepts must fit what the producer may send, or it
  // could never be applied nor refused.
  int64_t producer_max = 1'000'000;  // librdkafka's message.max.bytes default
  if (const auto it = c.kafka.properties.find("message.max.bytes"); it != c.kafka.properties.end())
    producer_max = std::atoll(it->second.c_str());
  if (c.processor.max_event_bytes + 4096 > producer_max)
    throw std::runtime_error(where + ": processor.max_event_bytes (" +
                             std::to_string(c.processor.max_event_bytes) +
                             ") must stay 4 KiB under the producer's message.max.bytes (" +
                             std::to_string(producer_max) +
                             "), or accepted events could never "
                             "be produced");
  static const std::vector<std::string> kRoles = {"applicant", "reviewer", "program_manager",
                                                  "hub_admin", "admin",    "service"};
  for (const auto* table : {&c.auth.services, &c.security.sources})
    for (const auto& [name, roles] : *table)
      for (const auto& r : roles)
        if (std::find(kRoles.begin(), kRoles.end(), r) == kRoles.end())
          throw std::runtime_error(where + ": \"" + r + "\" (for \"" + name +
                                   "\") is not a role a service or source may claim; use " +
                                   "applicant, reviewer, program_manager, hub_admin, admin or "
                                   "service (system is stagewise's own)");
}

}  // namespace

Config load_config(const std::string& path) {
  Config c;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read config file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw std::runtime_error(path + ": not valid JSON");
    if (!j.is_object()) throw std::runtime_error(path + ": must be a JSON object of sections");
    for (const auto& [section, body] : j.items()) {
      if (!body.is_object())
        throw std::runtime_error(path + ": section \"" + section + "\" must be an object");
      for (const auto& [key, v] : body.items()) set_key(c, section, key, v, path);
    }
  }
  apply_env_overrides(c);
  check_consistency(c, path.empty() ? "configuration" : path);
  return c;
}

void apply_env_overrides(Config& c) {
  for (const auto& s : kSettings) {
    std::string name = std::string("STAGEWISE_") + s.section + "_" + s.key;
    for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (const char* v = std::getenv(name.c_str()))
      set_key(c, s.section, s.key, json(std::string(v)), "environment variable " + name);
  }
}

json to_json(const Config& c) {
  json out = json::object();
  for (const auto& s : kSettings) out[s.section][s.key] = s.get(c);
  return out;
}

}  // namespace stagewise
