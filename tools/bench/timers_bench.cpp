// Timers at scale: 1 million pending timers in the store. Prints one JSON
// line: insert rate, due_timers()/next_due() latency at 10 k, 100 k and 1 M
// pending (should grow like log n), cancel_timers() per application, the
// time to open a store holding them (must not scan them), and the firing
// throughput of the real TimerService (deadline events produced to an
// embedded cluster, acknowledged, deleted).
//
//   stagewise_timers_bench [--timers N] [--fire N] [--json]
#include "bench_util.h"
#include "common/clock.h"
#include "kafka/kafka.h"
#include "processor/timers.h"
#include "store/store.h"

#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace stagewise::bench {
namespace {

using nlohmann::json;

constexpr int32_t kPartitions = 8;
constexpr int64_t kDay = 24LL * 3600 * 1000;

struct Args {
  size_t timers = 1'000'000;
  size_t fire = 100'000;
  bool json = false;
};

// Timer `i`: one application each, due over the next 60 days, spread over
// the partitions; like the processor's (a deadline of a stay).
store::TimerRecord timer(size_t i, int64_t base) {
  store::TimerRecord t;
  char id[32];
  std::snprintf(id, sizeof id, "tmr-%08zu", i);
  t.application = id;
  t.program = "summer-research-internship";
  t.partition = static_cast<int32_t>(i % kPartitions);
  t.timer.kind = workflow::Timer::Kind::deadline;
  t.timer.stage = "review";
  t.timer.stage_entered_ms = base - 21 * kDay;
  // A scattered, deterministic due time: insertion order is not due order.
  const uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ULL;
  t.timer.due_ms = base + static_cast<int64_t>(h % static_cast<uint64_t>(60 * kDay));
  return t;
}

double insert(store::Store& s, size_t from, size_t to, int64_t base) {
  const auto start = Clock::now();
  store::Batch b = s.batch();
  for (size_t i = from; i < to; ++i) {
    b.add_timer(timer(i, base));
    if (b.count() >= 10'000) {
      if (auto r = s.commit(b, false); !r) throw std::runtime_error(r.error().message);
      b = s.batch();
    }
  }
  if (auto r = s.commit(b, true); !r) throw std::runtime_error(r.error().message);
  return static_cast<double>(to - from) / seconds_since(start);
}

// Latency of due_timers (a window holding ~100 due timers, max 1000) and
// next_due, in microseconds: {p50, p99} each.
json lookups(store::Store& s, int64_t base, size_t pending) {
  std::vector<double> due, next;
  const int64_t window = 60 * kDay / static_cast<int64_t>(pending / kPartitions + 1) * 100;
  for (int i = 0; i < 2000; ++i) {
    const int32_t p = i % kPartitions;
    auto t = Clock::now();
    auto d = s.due_timers(p, base + window, 1000);
    due.push_back(seconds_since(t) * 1e6);
    if (!d) throw std::runtime_error(d.error().message);
    t = Clock::now();
    auto n = s.next_due(p);
    next.push_back(seconds_since(t) * 1e6);
    if (!n) throw std::runtime_error(n.error().message);
  }
  return {{"pending", pending},
          {"due_timers_p50_us", round_to(quantile(due, 0.5), 1)},
          {"due_timers_p99_us", round_to(quantile(due, 0.99), 1)},
          {"next_due_p50_us", round_to(quantile(next, 0.5), 1)},
          {"next_due_p99_us", round_to(quantile(next, 0.99), 1)}};
}

int run(const Args& a) {
  ScratchDir dir("timers");
  const int64_t base = wall_ms();
  json out = {{"timers", a.timers}};
  json scaling = json::array();
  double insert_rate = 0;
  {
    store::Store::Options o;
    o.sync = false;
    auto st = store::Store::open(dir / "db", o);
    if (!st) throw std::runtime_error(st.error().message);
    size_t done = 0;
    double insert_seconds = 0;
    for (const size_t step : {a.timers / 100, a.timers / 10, a.timers}) {
      if (step <= done) continue;
      const double rate = insert(**st, done, step, base);
      insert_seconds += static_cast<double>(step - done) / rate;
      done = step;
      scaling.push_back(lookups(**st, base, done));
    }
    insert_rate = static_cast<double>(done) / insert_seconds;
    // cancel_timers: what the processor does on every stage change.
    std::vector<double> cancel;
    for (int i = 0; i < 1000; ++i) {
      store::Batch b = (*st)->batch();
      const auto t = timer(static_cast<size_t>(i) * 997 % a.timers, base);
      b.cancel_timers(t.application);
      b.add_timer(t);  // and the new stage's timer
      const auto s = Clock::now();
      if (auto r = (*st)->commit(b, false); !r) throw std::runtime_error(r.error().message);
      cancel.push_back(seconds_since(s) * 1e6);
    }
    out["cancel_and_add_p50_us"] = round_to(quantile(cancel, 0.5), 1);
    out["cancel_and_add_p99_us"] = round_to(quantile(cancel, 0.99), 1);
  }
  out["insert_per_s"] = round_to(insert_rate, 0);
  out["lookups"] = scaling;

  // Reopen with 1 M pending timers: the first open replays the WAL of the
  // inserts (nothing flushes it at close), the second is a clean restart.
  auto t0 = Clock::now();
  {
    auto first = store::Store::open(dir / "db", {});
    if (!first) throw std::runtime_error(first.error().message);
    out["open_after_inserts_ms"] = round_to(seconds_since(t0) * 1000, 1);
  }
  const double rss_before = proc_status_mb("VmRSS");
  t0 = Clock::now();
  auto st = store::Store::open(dir / "db", {});
  if (!st) throw std::runtime_error(st.error().message);
  out["open_ms"] = round_to(seconds_since(t0) * 1000, 1);
  t0 = Clock::now();
  for (int32_t p = 0; p < kPartitions; ++p) (*st)->next_due(p).permit_unchecked_error();
  out["first_next_due_all_partitions_ms"] = round_to(seconds_since(t0) * 1000, 2);
  out["open_rss_growth_mb"] = round_to(proc_status_mb("VmRSS") - rss_before, 1);
  out["pending_estimate"] = (*st)->timers_pending_estimate();
  out["db_mb"] = round_to(dir_mb(dir / "db"), 1);

  // Firing: the real TimerService with a clock that makes `fire` timers due.
  auto cluster = kafka::EmbeddedCluster::start(1, kPartitions, kafka::Topics().all());
  if (!cluster) throw std::runtime_error(cluster.error().message);
  const int64_t window = static_cast<int64_t>(
      static_cast<double>(60 * kDay) * static_cast<double>(a.fire) / static_cast<double>(a.timers));
  // Timers due by base + window, counted without firing them.
  auto remaining = [&] {
    size_t n = 0;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto d = (*st)->due_timers(p, base + window, 1'000'000);
      n += d ? d->size() : 0;
    }
    return n;
  };
  const size_t due_count = remaining();
  FakeClock clock(base - 1);
  processor::TimerService::Options to;
  to.kafka = {{"bootstrap.servers", (*cluster)->bootstrap()}};
  to.owned_partitions = [] {
    std::vector<int32_t> all;
    for (int32_t p = 0; p < kPartitions; ++p) all.push_back(p);
    return all;
  };
  processor::TimerService timers(**st, clock, to);
  if (auto r = timers.start(); !r) throw std::runtime_error(r.error().message);
  const auto fstart = Clock::now();
  clock.set(base + window);
  timers.poke();
  while (seconds_since(fstart) < 600) {
    if (timers.stats().deadlines_fired.load() >= due_count && remaining() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double fire_s = seconds_since(fstart);
  timers.stop();
  out["fired"] = due_count;
  out["fire_seconds"] = round_to(fire_s, 2);
  out["fired_per_s"] = round_to(static_cast<double>(due_count) / fire_s, 0);
  out["left_after_fire"] = remaining();
  out["rss_mb"] = round_to(proc_status_mb("VmRSS"), 1);
  std::cout << (a.json ? out.dump() : out.dump(2)) << std::endl;
  return 0;
}

}  // namespace
}  // namespace stagewise::bench

int main(int argc, char** argv) {
  stagewise::bench::Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") {
      a.json = true;
    } else if (arg == "--timers" && i + 1 < argc) {
      a.timers = std::stoull(argv[++i]);
    } else if (arg == "--fire" && i + 1 < argc) {
      a.fire = std::stoull(argv[++i]);
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "stagewise_timers_bench [--timers N] [--fire N] [--json]\n";
      return 0;
    } else {
      std::cerr << "unknown argument " << arg << " (see --help)\n";
      return 2;
    }
  }
  return stagewise::bench::run_main("stagewise_timers_bench",
                                    [&] { return stagewise::bench::run(a); });
}
