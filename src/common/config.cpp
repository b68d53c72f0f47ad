#include "common/config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace stagewise {
namespace {

using nlohmann::json;

void set_key(Config& c, const std::string& section, const std::string& key, const json& v,
             const std::string& where) {
  auto bad = [&](const char* want) {
    return std::runtime_error(where + ": " + section + "." + key + " must be " + want);
  };
  auto as_string = [&]() -> std::string {
    if (v.is_string()) return v.get<std::string>();
    throw bad("a string");
  };
  auto as_int = [&]() -> int64_t {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_string()) {
      const std::string s = v.get<std::string>();
      char* end = nullptr;
      const long long n = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && end == s.c_str() + s.size()) return n;
    }
    throw bad("an integer");
  };
  auto as_bool = [&]() -> bool {
    if (v.is_boolean()) return v.get<bool>();
    if (v == "true" || v == "1") return true;
    if (v == "false" || v == "0") return false;
    throw bad("true or false");
  };
  if (section == "kafka") {
    if (key == "bootstrap_servers") return void(c.kafka.bootstrap_servers = as_string());
    if (key == "partitions") return void(c.kafka.partitions = static_cast<int>(as_int()));
    if (key == "group_id") return void(c.kafka.group_id = as_string());
    if (key == "group_instance_id") return void(c.kafka.group_instance_id = as_string());
    if (key == "transactional_id") return void(c.kafka.transactional_id = as_string());
    if (key == "properties") {
      if (!v.is_object()) throw bad("an object of librdkafka properties");
      for (const auto& [k, pv] : v.items())
        c.kafka.properties[k] = pv.is_string() ? pv.get<std::string>() : pv.dump();
      return;
    }
  } else if (section == "store") {
    if (key == "data_dir") return void(c.store.data_dir = as_string());
    if (key == "sync") return void(c.store.sync = as_bool());
  } else if (section == "http") {
    if (key == "host") return void(c.http.host = as_string());
    if (key == "port") return void(c.http.port = static_cast<int>(as_int()));
  } else if (section == "workflows") {
    if (key == "dir") return void(c.workflows.dir = as_string());
  } else if (section == "processor") {
    if (key == "batch_max_events")
      return void(c.processor.batch_max_events = static_cast<int>(as_int()));
    if (key == "batch_max_ms") return void(c.processor.batch_max_ms = static_cast<int>(as_int()));
    if (key == "max_event_bytes") return void(c.processor.max_event_bytes = as_int());
    if (key == "dedupe_retention")
      return void(c.processor.dedupe_retention = static_cast<uint64_t>(as_int()));
    if (key == "intake_max_lag") return void(c.processor.intake_max_lag = as_int());
    if (key == "cache_applications")
      return void(c.processor.cache_applications = static_cast<uint64_t>(as_int()));
  } else if (section == "log") {
    if (key == "level") return void(c.log.level = as_string());
    if (key == "format") return void(c.log.format = as_string());
  }
  throw std::runtime_error(where + ": unknown setting " + section + "." + key +
                           "; see config/stagewise.json for the known ones");
}

}  // namespace

Config load_config(const std::string& path) {
  Config c;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read config file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    json j;
    try {
      j = json::parse(ss.str());
    } catch (const json::parse_error& e) {
      throw std::runtime_error(path + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw std::runtime_error(path + ": must be a JSON object of sections");
    for (const auto& [section, body] : j.items()) {
      if (!body.is_object())
        throw std::runtime_error(path + ": section \"" + section + "\" must be an object");
      for (const auto& [key, v] : body.items()) set_key(c, section, key, v, path);
    }
  }
  apply_env_overrides(c);
  return c;
}

void apply_env_overrides(Config& c) {
  static const char* const kKeys[][2] = {{"kafka", "bootstrap_servers"},
                                         {"kafka", "partitions"},
                                         {"kafka", "group_id"},
                                         {"kafka", "group_instance_id"},
                                         {"kafka", "transactional_id"},
                                         {"store", "data_dir"},
                                         {"store", "sync"},
                                         {"http", "host"},
                                         {"http", "port"},
                                         {"workflows", "dir"},
                                         {"processor", "batch_max_events"},
                                         {"processor", "batch_max_ms"},
                                         {"processor", "max_event_bytes"},
                                         {"processor", "dedupe_retention"},
                                         {"processor", "intake_max_lag"},
                                         {"processor", "cache_applications"},
                                         {"log", "level"},
                                         {"log", "format"}};
  for (const auto& [section, key] : kKeys) {
    std::string name = std::string("STAGEWISE_") + section + "_" + key;
    for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (const char* v = std::getenv(name.c_str()))
      set_key(c, section, key, json(std::string(v)), "environment variable " + name);
  }
}

json to_json(const Config& c) {
  return {{"kafka",
           {{"bootstrap_servers", c.kafka.bootstrap_servers},
            {"partitions", c.kafka.partitions},
            {"group_id", c.kafka.group_id},
            {"group_instance_id", c.kafka.group_instance_id},
            {"transactional_id", c.kafka.transactional_id},
            {"properties", c.kafka.properties}}},
          {"store", {{"data_dir", c.store.data_dir}, {"sync", c.store.sync}}},
          {"http", {{"host", c.http.host}, {"port", c.http.port}}},
          {"workflows", {{"dir", c.workflows.dir}}},
          {"processor",
           {{"batch_max_events", c.processor.batch_max_events},
            {"batch_max_ms", c.processor.batch_max_ms},
            {"max_event_bytes", c.processor.max_event_bytes},
            {"dedupe_retention", c.processor.dedupe_retention},
            {"intake_max_lag", c.processor.intake_max_lag},
            {"cache_applications", c.processor.cache_applications}}},
          {"log", {{"level", c.log.level}, {"format", c.log.format}}}};
}

}  // namespace stagewise
