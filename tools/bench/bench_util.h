#pragma once

// Helpers of the benchmark programs: workload from the simulator, a scratch
// directory, memory and disk figures, percentiles. Benchmarks only.
#include "common/cloudevent.h"
#include "sim/cohort.h"
#include "store/store.h"
#include "workflow/engine.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stagewise::bench {

inline const std::vector<std::string>& programs() {
  static const std::vector<std::string> all = {"summer-research-internship", "faculty-scholars",
                                               "phd-fellowship", "research-grant",
                                               "visiting-academics"};
  return all;
}

inline workflow::Registry load_registry() {
  std::vector<workflow::Problem> problems;
  auto reg = workflow::Registry::load({std::string(STAGEWISE_SOURCE_DIR) + "/workflows"}, problems);
  if (!problems.empty()) throw std::runtime_error(problems.front().to_string());
  return reg;
}

/// Messages packed in one buffer (keys and values), so that a large workload
/// costs one allocation that goes back to the system when released.
class Arena {
 public:
  void add(std::string_view key, std::string_view value, bool bad) {
    entries_.push_back({bytes_.size(), key.size(), value.size(), bad});
    bytes_.append(key);
    bytes_.append(value);
  }
  size_t size() const { return entries_.size(); }
  std::string_view key(size_t i) const {
    return std::string_view(bytes_).substr(entries_[i].at, entries_[i].key);
  }
  std::string_view value(size_t i) const {
    return std::string_view(bytes_).substr(entries_[i].at + entries_[i].key, entries_[i].value);
  }
  bool bad(size_t i) const { return entries_[i].bad; }
  size_t bytes() const { return bytes_.size(); }
  void release() {
    std::string().swap(bytes_);
    std::vector<Entry>().swap(entries_);
  }

 private:
  struct Entry {
    size_t at, key, value;
    bool bad;
  };
  std::string bytes_;
  std::vector<Entry> entries_;
};

/// At least `events` messages of simulated cohorts, the five programs in
/// turn (2000 applicants each), timelines ending now. Seeds from
/// `first_seed` up, so two workloads with different seeds share no ids.
inline Arena workload(const workflow::Registry& reg, size_t events, uint64_t first_seed,
                      double bad_fraction, int applicants_per_cohort = 2000) {
  Arena a;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (uint64_t k = 0; a.size() < events; ++k) {
    sim::CohortOptions o;
    o.program = programs()[k % programs().size()];
    o.applicants = applicants_per_cohort;
    o.seed = first_seed + k;
    o.bad_fraction = bad_fraction;
    o.start_ms = (now - o.span_ms) / 1000 * 1000;
    const auto c = sim::generate(reg, o);
    for (const auto& e : c.events) {
      if (a.size() >= events) break;
      a.add(e.key, e.value, e.bad);
    }
  }
  return a;
}

/// One applied event of a simulated cohort: the state before, the event,
/// and what the engine made of it (for store and engine benchmarks).
struct AppliedEvent {
  std::optional<workflow::Application> before;
  CloudEvent event;
  workflow::Applied applied;
};

inline std::vector<AppliedEvent> applied_events(const workflow::Registry& reg,
                                                const std::string& program, int applicants,
                                                uint64_t seed) {
  sim::CohortOptions o;
  o.program = program;
  o.applicants = applicants;
  o.seed = seed;
  const auto c = sim::generate(reg, o);
  std::map<std::string, workflow::Application> apps;
  std::vector<AppliedEvent> out;
  for (const auto& m : c.events) {
    auto d = decode_structured(m.value);
    auto* e = std::get_if<CloudEvent>(&d);
    if (e == nullptr) continue;
    const auto it = apps.find(e->subject);
    std::optional<workflow::Application> before;
    if (it != apps.end()) before = it->second;
    auto r = workflow::apply(reg, before ? &*before : nullptr, *e);
    auto* a = std::get_if<workflow::Applied>(&r);
    if (a == nullptr) continue;
    apps.insert_or_assign(e->subject, a->next);
    out.push_back({std::move(before), *e, std::move(*a)});
  }
  return out;
}

/// A scratch directory under $TMPDIR, removed at the end.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("stagewise-bench-" + name + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// A field of /proc/self/status in MB ("VmRSS", "VmHWM").
inline double proc_status_mb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  return 0;
}

inline double dir_mb(const std::string& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) bytes += it->file_size(ec);
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

/// The q-th quantile (0..1) of `v` (sorted in place); 0 when empty.
inline double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

inline double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

inline int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Wall-clock microseconds (Kafka timestamps are wall-clock milliseconds).
inline int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// A benchmark's main after its arguments: the processor's log lines are
/// formatted as in production but go nowhere, so that stdout carries only
/// the result; an exception is reported as "name: message", exit 1.
template <class F>
int run_main(const char* name, F&& run) {
  spdlog::set_default_logger(spdlog::null_logger_mt("bench"));
  spdlog::set_level(spdlog::level::info);
  try {
    return run();
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace stagewise::bench
