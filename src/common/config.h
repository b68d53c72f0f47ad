#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace stagewise {

/// A fixed-length ISO-8601 duration from the configuration ("P7D", "PT5S").
struct Duration {
  std::string text;
  int64_t ms = 0;
};

/// Everything `serve` and the tools can be configured with. Loaded from a
/// JSON file (sections as below), then `STAGEWISE_<SECTION>_<KEY>`
/// environment variables, then CLI flags, each overriding the one before.
/// Every key is listed once, with its bounds, in config.cpp's table.
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
    int port = 8080;                       ///< 0: pick a free port
    int threads = 16;                      ///< connections served at once
    int listen_backlog = 512;              ///< connections the kernel queues beyond those
    int64_t read_timeout_ms = 5000;        ///< longest wait for the next bytes of a request
    int64_t write_timeout_ms = 5000;       ///< longest wait to send the next bytes of an answer
    int64_t keep_alive_timeout_ms = 5000;  ///< idle time before a kept-alive connection closes
    int64_t request_timeout_ms = 10000;    ///< a request's head and body must arrive within this
    int64_t max_body_bytes = 8 << 20;      ///< larger bodies get 413
    int max_events_per_request = 1000;     ///< larger arrays get 413
    /// The URL other stagewise processes reach this one's API at (reads of
    /// applications it owns are forwarded there); empty: http://HOST:PORT.
    std::string advertise;
  } http;
  struct Workflows {
    std::string dir = "workflows";
  } workflows;
  /// Who may call the HTTP API (DESIGN.md §11). With no key configured,
  /// serve makes DATA_DIR/auth/token.secret and `stagewise token` signs
  /// with it.
  struct Auth {
    std::string hs256_secret_file;  ///< HS256 key file; empty: DATA_DIR/auth/token.secret
    std::string jwks_file;          ///< RS256/ES256 public keys (an identity provider's JWKS)
    std::string issuer;             ///< required `iss` of tokens, when set
    std::string audience;           ///< required `aud` of tokens, when set
    std::string metrics_token;      ///< /metrics wants this bearer token when set; open otherwise
    /// Signs the events stagewise produces itself (timers, HTTP intake);
    /// processes sharing partitions need the same. Empty:
    /// DATA_DIR/auth/internal.secret.
    std::string internal_secret_file;
    /// The key-encryption key's secret (personal data at rest, DESIGN.md
    /// §14); processes sharing partitions need the same. Empty:
    /// DATA_DIR/auth/data.secret.
    std::string data_secret_file;
    /// A service token (role service) may act as these roles, by its sub.
    std::map<std::string, std::vector<std::string>> services;
  } auth;
  /// Trust in producers of the input topic (authenticated by Kafka ACLs).
  struct Security {
    /// CloudEvents source -> roles its events may claim. Empty: any source
    /// may claim any role but `system`; once set, unlisted sources are
    /// refused (dead letter `unauthorized`).
    std::map<std::string, std::vector<std::string>> sources;
  } security;
  struct Processor {
    int batch_max_events = 2000;
    int batch_max_ms = 5;
    int64_t max_event_bytes = 256 * 1024;
    int max_json_depth = 32;                ///< nesting of objects and arrays in an event
    uint64_t dedupe_retention = 1'000'000;  ///< (source, id) pairs remembered
    /// Intake (HTTP, submit) waits while the processor is this many input
    /// events behind, so the embedded cluster never trims unread input.
    int64_t intake_max_lag = 20'000;
    /// Applications kept decoded in memory between batches (0: none), and
    /// the bytes they may take.
    uint64_t cache_applications = 20'000;
    int64_t cache_bytes = 64 << 20;
    /// Committed outbox records handed to the relay in memory, in bytes.
    int64_t outbox_tail_bytes = 64 << 20;
    /// How far an event's time may lie ahead of the time it was produced
    /// (the Kafka message's timestamp, or the intake's clock), and how far
    /// behind it for actors other than stagewise's timers.
    Duration max_clock_skew{"P7D", 7LL * 86'400'000};
    Duration max_backdate{"P400D", 400LL * 86'400'000};
    /// Items one application may accumulate per list fact (documents,
    /// notes, reports, reviews, reviewers), and its encoded size.
    int max_list_items = 200;
    int64_t max_application_bytes = 1 << 20;
    /// Dead letters carry this much of the original; the whole original is
    /// kept in the store (up to deadletter_keep_bytes) for GET /v1/deadletters.
    int64_t deadletter_excerpt_bytes = 64 * 1024;
    int64_t deadletter_keep_bytes = 8 << 20;
    uint64_t deadletter_retention = 100'000;  ///< dead letters kept in the store
  } processor;
  struct Reports {
    /// Fairness reports hide groups of fewer applications (DESIGN.md §13);
    /// a caller may ask for a larger threshold, never a smaller one.
    int64_t min_cell = 5;
  } reports;
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
