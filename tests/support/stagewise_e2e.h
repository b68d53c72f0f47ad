#pragma once

// Helpers of the end-to-end tests that run `stagewise broker` and
// `stagewise serve` as separate processes, the way an operator would.
#include "support/kafka_fixture.h"
#include "support/process.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace stagewise::testing {

/// The parts of `ready http=http://HOST:PORT bootstrap=HOSTS`.
struct ReadyLine {
  std::string http;
  std::string bootstrap;
};

inline ReadyLine parse_ready_line(const std::string& line) {
  ReadyLine r;
  const auto h = line.find("http=");
  const auto b = line.find(" bootstrap=");
  if (h == std::string::npos || b == std::string::npos) return r;
  r.http = line.substr(h + 5, b - h - 5);
  r.bootstrap = line.substr(b + 11);
  return r;
}

/// `stagewise broker [--partitions N]`; `bootstrap` is empty when it did not
/// print its address within `seconds`.
struct BrokerProcess {
  std::unique_ptr<Process> proc;
  std::string bootstrap;
};

inline BrokerProcess start_broker(const std::string& bin, const std::string& log_prefix,
                                  int partitions, int seconds = 60) {
  BrokerProcess b;
  b.proc = std::make_unique<Process>(
      std::vector<std::string>{bin, "broker", "--partitions", std::to_string(partitions)},
      log_prefix + ".out", log_prefix + ".err");
  const std::string line = b.proc->wait_line("bootstrap=", seconds);
  if (!line.empty()) b.bootstrap = line.substr(10);
  return b;
}

/// `stagewise serve` on an external broker; `ready.http` is empty when it did
/// not print its ready line within `seconds`.
struct ServeProcess {
  std::unique_ptr<Process> proc;
  ReadyLine ready;
};

inline std::vector<std::string> serve_args(const std::string& bin, const std::string& workflows,
                                           const std::string& data_dir,
                                           const std::string& bootstrap) {
  return {bin,           "serve", "--data-dir",          data_dir, "--workflows", workflows,
          "--http-port", "0",     "--bootstrap-servers", bootstrap};
}

/// `stagewise serve` run as `args`.
inline ServeProcess start_serve_as(const std::vector<std::string>& args,
                                   const std::string& log_prefix, int seconds = 90) {
  ServeProcess s;
  s.proc = std::make_unique<Process>(args, log_prefix + ".out", log_prefix + ".err");
  s.ready = parse_ready_line(s.proc->wait_line("ready ", seconds));
  return s;
}

inline ServeProcess start_serve(const std::string& bin, const std::string& workflows,
                                const std::string& data_dir, const std::string& bootstrap,
                                const std::string& log_prefix, int seconds = 90) {
  return start_serve_as(serve_args(bin, workflows, data_dir, bootstrap), log_prefix, seconds);
}

/// `stagewise serve` with the broker it embeds.
inline ServeProcess start_serve_embedded(const std::string& bin, const std::string& workflows,
                                         const std::string& data_dir, const std::string& log_prefix,
                                         int seconds = 90) {
  return start_serve_as(
      {bin, "serve", "--data-dir", data_dir, "--workflows", workflows, "--http-port", "0"},
      log_prefix, seconds);
}

/// A bearer token from `stagewise token` for the server on `data_dir`
/// (signed with its secret); empty when the command failed.
inline std::string token_for(const std::string& bin, const std::string& data_dir,
                             const std::string& role, const std::string& sub,
                             const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {bin,      "token", "--data-dir", data_dir,
                                   "--role", role,    "--sub",      sub};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = run(args, data_dir + ".token-" + role + "-" + sub);
  if (r.code != 0) return "";
  std::string t = r.out;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

/// A counter or gauge from GET /metrics (`name value` or `name{labels} value`);
/// nullopt when the server does not answer or has no such series.
inline std::optional<double> metric(const std::string& http, const std::string& series) {
  httplib::Client c(http);
  c.set_connection_timeout(5);
  c.set_read_timeout(10);
  auto res = c.Get("/metrics");
  if (!res || res->status != 200) return std::nullopt;
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) != 0) continue;
    try {
      return std::stod(line.substr(series.size() + 1));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

/// GET `path` as JSON: {status, body}; status 0 when there was no answer.
struct JsonReply {
  int status = 0;
  nlohmann::json body;
};

inline JsonReply get_json(httplib::Client& c, const std::string& path) {
  auto res = c.Get(path);
  if (!res) return {};
  return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
}

inline JsonReply post_json(httplib::Client& c, const std::string& path,
                           const nlohmann::json& body) {
  auto res = c.Post(path, body.dump(), "application/json");
  if (!res) return {};
  return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
}

/// One message for the input topic, keyed by application id.
struct InputMessage {
  std::string key;
  std::string value;
};

/// Produces messages to stagewise.events with an idempotent producer and
/// records where each landed (index → partition, offset).
class InputProducer {
 public:
  explicit InputProducer(const std::string& bootstrap) {
    auto p = kafka::Producer::create({{"bootstrap.servers", bootstrap}},
                                     [this](const kafka::DeliveryReport& d) {
                                       std::lock_guard lock(mu_);
                                       if (d.ok)
                                         landed_[d.token] = {d.partition, d.offset};
                                       else
                                         ++failed_;
                                     });
    if (p.ok()) producer_ = std::move(*p);
  }
  bool ok() const { return producer_ != nullptr; }
  /// Queues message `token`; `partition` -1 lets the key choose.
  bool produce(uint64_t token, const InputMessage& m, int32_t partition = -1) {
    static const Headers kStructured = {{"content-type", "application/cloudevents+json"}};
    return producer_->produce("stagewise.events", m.key, m.value, kStructured, token, partition)
        .ok();
  }
  /// Waits until everything queued is acknowledged; false on timeout.
  bool flush(int timeout_ms = 60000) { return producer_->flush(timeout_ms).ok(); }
  void poll() { producer_->poll(0); }
  std::map<uint64_t, std::pair<int32_t, int64_t>> landed() {
    std::lock_guard lock(mu_);
    return landed_;
  }
  size_t failed() {
    std::lock_guard lock(mu_);
    return failed_;
  }

 private:
  std::mutex mu_;
  std::map<uint64_t, std::pair<int32_t, int64_t>> landed_;
  size_t failed_ = 0;
  std::unique_ptr<kafka::Producer> producer_;
};

/// Seconds since `start`, as a double.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace stagewise::testing
