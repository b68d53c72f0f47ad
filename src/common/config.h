#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace stagewise {

/// Everything `serve` and the tools can be configured with. Loaded from a
/// JSON file (sections as below), then `STAGEWISE_<SECTION>_<KEY>`
/// environment variables, then CLI flags, each overriding the one before.
struct Config {
  struct Kafka {
    std::string bootstrap_servers;  ///< empty: start the embedded cluster
    int partitions = 8;             ///< partitions of topics the embedded cluster creates
    std::string group_id = "stagewise";
    /// Static group membership: a restarted process takes its partitions
    /// back at once. Empty: derived from the host name and the data dir;
    /// "none": dynamic membership.
    std::string group_instance_id;
    /// Publish the outbox in Kafka transactions (clusters that support them).
    std::string transactional_id;
    std::map<std::string, std::string> properties;  ///< passed to librdkafka as is
  } kafka;
  struct Store {
    std::string data_dir = "./stagewise-data";
    bool sync = true;  ///< fsync the WAL on every batch commit
  } store;
  struct Http {
    std::string host = "127.0.0.1";
    int port = 8080;  ///< 0: pick a free port
  } http;
  struct Workflows {
    std::string dir = "workflows";
  } workflows;
  struct Processor {
    int batch_max_events = 2000;
    int batch_max_ms = 5;
    int64_t max_event_bytes = 256 * 1024;
    uint64_t dedupe_retention = 1'000'000;  ///< (source, id) pairs remembered
    /// Intake (HTTP, submit) waits while the processor is this many input
    /// events behind, so the embedded cluster never trims unread input.
    int64_t intake_max_lag = 20'000;
    /// Applications kept decoded in memory between batches (0: none).
    uint64_t cache_applications = 20'000;
  } processor;
  struct Log {
    std::string level = "info";
    std::string format = "text";  ///< text or json
  } log;
};

/// Reads a config file (may be empty: defaults), then applies environment
/// overrides. Throws std::runtime_error naming the file and key on error.
Config load_config(const std::string& path);

/// Applies `STAGEWISE_<SECTION>_<KEY>` variables from the environment.
void apply_env_overrides(Config& c);

/// The effective configuration as JSON (for /v1/info and --help output).
nlohmann::json to_json(const Config& c);

}  // namespace stagewise
