// End-to-end benchmark of the pipeline: the real Processor and Store on an
// EmbeddedCluster, fed with the simulator's mix of the five programs.
// Prints one JSON line.
//
//   stagewise_pipeline_bench [--events N] [--json] [--scale] [--partitions P]
//                            [--rate R] [--latency-seconds S] [--bad-fraction F]
//
// Throughput: N events produced while the processor consumes (the embedded
// cluster keeps only about 5 MB per partition, so the producer stays at most
// --window events ahead of what the processor has committed, like the
// intake's backpressure). Passthrough: the same messages through a bare
// consume-and-produce loop (kafka::Consumer → kafka::Producer, one output per
// input) on the same broker, for the ratio. Latency: input produced → its
// stage_changed event produced (Kafka CreateTime of the status message) at a
// fixed offered load. --scale adds 1 million stored applications (open time,
// GET p99, RSS) and the replay of a whole log into an empty store; it runs in
// a child process so that its memory figures are its own. History growth:
// one application's 10 000 events, the cost per event early and late in its
// life. Scale-out: the same events through one processor, then through two
// of one group, each on its partitions.
#include "api/server.h"
#include "auth/tokens.h"
#include "bench_util.h"
#include "kafka/kafka.h"
#include "privacy/keys.h"
#include "processor/processor.h"
#include "store/store.h"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sys/wait.h>
#include <thread>
#include <unordered_map>

namespace stagewise::bench {
namespace {

using nlohmann::json;

struct Args {
  size_t events = 200'000;
  bool json = false;
  bool scale = false;
  bool scale_only = false;
  int partitions = 8;
  double rate = 20'000;
  double latency_seconds = 5;
  double bad_fraction = 0.02;
  int64_t window = 20'000;
  size_t scale_applications = 1'000'000;
  size_t replay_events = 150'000;
  size_t gets = 2'000;
  size_t growth_events = 10'000;  ///< the history-growth case's events; < 3 000: skipped
  bool growth_only = false;
  bool scale_out_only = false;
  size_t scale_out_events = 100'000;  ///< the scale-out case's events; 0: skipped
  int batch_max_ms = -1;              ///< processor batch_max_ms; -1: its default
  bool clear = false;                 ///< --clear: personal data not sealed (serve always seals)
  kafka::Properties kafka_props;      ///< extra librdkafka properties of the processor
};

const Headers kStructured = {{"content-type", "application/cloudevents+json"}};

// The store as serve opens it: personal data sealed under per-application
// keys (DESIGN.md §14), unless --clear measures without.
store::Store::Options store_options(const Args& a) {
  store::Store::Options o;
  if (!a.clear) o.kek = privacy::kek_from_secret("stagewise bench");
  return o;
}

uint64_t processed(const processor::Stats& s) {
  uint64_t n = s.applied.load() + s.duplicates.load();
  for (const auto& r : s.rejected) n += r.load();
  return n;
}

void log(const Args& a, const std::string& line) {
  if (!a.json) std::cerr << line << std::endl;
}

// Produces arena messages [0, n) to `topic`, never more than `window` ahead of
// `done()`, at `rate` events/s when > 0. Calls `on_produce(i)` just before
// each produce. Returns when all are acknowledged.
struct ProduceStats {
  double seconds = 0;
  uint64_t failed = 0;
};
ProduceStats produce_all(const std::string& bootstrap, const std::string& topic, const Arena& arena,
                         int64_t window, const std::function<uint64_t()>& done, double rate,
                         const std::function<void(size_t)>& on_produce = nullptr) {
  std::atomic<uint64_t> failed{0};
  auto p = kafka::Producer::create({{"bootstrap.servers", bootstrap}},
                                   [&](const kafka::DeliveryReport& d) {
                                     if (!d.ok) failed.fetch_add(1);
                                   });
  if (!p) throw std::runtime_error(p.error().message);
  auto& producer = **p;
  const auto start = Clock::now();
  for (size_t i = 0; i < arena.size(); ++i) {
    if (rate > 0) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(i) / rate));
      if (Clock::now() < due) {
        producer.poll(0);
        std::this_thread::sleep_until(due);
      }
    }
    while (static_cast<int64_t>(i) - static_cast<int64_t>(done()) > window) {
      producer.poll(0);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (on_produce) on_produce(i);
    if (auto r = producer.produce(topic, arena.key(i), arena.value(i), kStructured, i); !r)
      throw std::runtime_error(r.error().message);
    if (i % 64 == 0) producer.poll(0);
  }
  if (auto r = producer.flush(120'000); !r) throw std::runtime_error(r.error().message);
  return {seconds_since(start), failed.load()};
}

// A bare consume-and-produce loop over the same kind of messages: the cost of
// Kafka alone on this broker.
double passthrough(const std::string& bootstrap, const Args& a, const Arena& arena) {
  std::atomic<uint64_t> consumed{0}, delivered{0};
  std::atomic<bool> assigned{false}, stop{false};
  auto consumer = kafka::Consumer::create(
      {{"bootstrap.servers", bootstrap}, {"group.id", "bench-passthrough"}},
      [&](std::vector<kafka::Assigned>&) { assigned = true; },
      [](const std::vector<kafka::Assigned>&, bool) {});
  if (!consumer) throw std::runtime_error(consumer.error().message);
  if (auto r = (*consumer)->subscribe({"bench.passthrough.in"}); !r)
    throw std::runtime_error(r.error().message);
  auto out = kafka::Producer::create({{"bootstrap.servers", bootstrap}},
                                     [&](const kafka::DeliveryReport& d) {
                                       if (d.ok) delivered.fetch_add(1);
                                     });
  if (!out) throw std::runtime_error(out.error().message);
  std::thread loop([&] {
    while (!stop) {
      auto msgs = (*consumer)->poll(2000, 50);
      for (auto& m : msgs) {
        if (m.err()) continue;
        (*out)
            ->produce("bench.passthrough.out", m.key(), m.value(), kStructured, 0)
            .permit_unchecked_error();
        consumed.fetch_add(1);
      }
      (*out)->poll(0);
    }
  });
  const auto join_until = Clock::now() + std::chrono::seconds(30);
  while (!assigned && Clock::now() < join_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto start = Clock::now();
  std::thread producer([&] {
    produce_all(
        bootstrap, "bench.passthrough.in", arena, a.window, [&] { return consumed.load(); }, 0);
  });
  while (delivered.load() < arena.size() && seconds_since(start) < 600)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double seconds = seconds_since(start);
  producer.join();
  stop = true;
  loop.join();
  (*consumer)->close();
  return static_cast<double>(arena.size()) / seconds;
}

// The id of an input event (top-level "id" of the JSON object).
std::string event_id(std::string_view value) {
  const json j = json::parse(value, nullptr, false);
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) return "";
  return j["id"].get<std::string>();
}

// data.cause.id of a stage_changed event, without a full parse.
std::string_view cause_id(std::string_view v) {
  const auto c = v.find("\"cause\":{");
  if (c == std::string_view::npos) return {};
  const auto i = v.find("\"id\":\"", c);
  if (i == std::string_view::npos) return {};
  const auto start = i + 6;
  const auto end = v.find('"', start);
  return end == std::string_view::npos ? std::string_view() : v.substr(start, end - start);
}

struct Latency {
  double p50_ms = 0, p99_ms = 0, max_ms = 0, achieved_rate = 0;
  size_t samples = 0;
};

// Offered load `rate` for `seconds`; latency of input → its status event.
// Waits until the relay has published everything the outbox holds.
void wait_outbox_drained(store::Store& st, double max_seconds) {
  const auto start = Clock::now();
  while (seconds_since(start) < max_seconds) {
    auto pending = st.outbox(1);
    if (pending.ok() && pending->empty()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Latency latency(const std::string& bootstrap, const Args& a, const workflow::Registry& reg,
                processor::Processor& proc, store::Store& st, double rate, double seconds,
                uint64_t seed) {
  const size_t n = static_cast<size_t>(rate * seconds);
  Arena arena = workload(reg, n, seed, a.bad_fraction);
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < arena.size(); ++i)
    if (auto id = event_id(arena.value(i)); !id.empty()) index.emplace(std::move(id), i);
  std::vector<std::atomic<int64_t>> produced_us(arena.size());

  // The status topic from its end, with message timestamps.
  auto conf = kafka::make_conf({{"bootstrap.servers", bootstrap},
                                {"group.id", "bench-latency"},
                                {"enable.auto.commit", "false"},
                                {"fetch.wait.max.ms", "5"},
                                {"log_level", "3"}});
  if (!conf) throw std::runtime_error(conf.error().message);
  char err[256];
  kafka::RdKafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf->release(), err, sizeof err));
  if (!rk) throw std::runtime_error(err);
  kafka::RdPartitionListPtr parts(rd_kafka_topic_partition_list_new(a.partitions));
  for (int p = 0; p < a.partitions; ++p)
    rd_kafka_topic_partition_list_add(parts.get(), "stagewise.status", p)->offset =
        RD_KAFKA_OFFSET_END;
  rd_kafka_assign(rk.get(), parts.get());
  std::vector<double> samples;
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      kafka::RdMessagePtr m(rd_kafka_consumer_poll(rk.get(), 50));
      if (!m || m->err) continue;
      const std::string_view v(static_cast<const char*>(m->payload), m->len);
      const auto it = index.find(std::string(cause_id(v)));
      if (it == index.end()) continue;
      const int64_t sent = produced_us[it->second].load();
      if (sent == 0) continue;
      rd_kafka_timestamp_type_t type;
      const int64_t ts = rd_kafka_message_timestamp(m.get(), &type);
      std::lock_guard lock(mu);
      samples.push_back(static_cast<double>(ts * 1000 - sent) / 1000.0);
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the reader's END offsets resolve
  wait_outbox_drained(st, 120);                          // no backlog of an earlier phase in front

  const uint64_t base = processed(proc.stats());
  const auto stats = produce_all(
      bootstrap, "stagewise.events", arena, a.window,
      [&] { return processed(proc.stats()) - base; }, rate,
      [&](size_t i) { produced_us[i].store(wall_us()); });
  const auto until = Clock::now() + std::chrono::seconds(60);
  while (processed(proc.stats()) - base < arena.size() && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the last status events
  stop = true;
  reader.join();
  rd_kafka_consumer_close(rk.get());
  Latency l;
  std::lock_guard lock(mu);
  l.samples = samples.size();
  l.p50_ms = quantile(samples, 0.50);
  l.p99_ms = quantile(samples, 0.99);
  l.max_ms = samples.empty() ? 0 : samples.back();
  l.achieved_rate = static_cast<double>(arena.size()) / stats.seconds;
  return l;
}

// ---------------------------------------------------------- history growth

// One phd-fellowship application's events: its submission, 1 000 profile
// updates (a small application, its history growing), 199 notes (the list
// limit: the application grows to ~25 KB), then updates again (its history
// keeps growing, the application does not). Built from a simulated cohort's
// events, with this application's subject, fresh ids and times.
constexpr size_t kNotesFrom = 1'000, kNotesTo = 1'199;

Arena growth_events(const workflow::Registry& reg, size_t n) {
  sim::CohortOptions o;
  o.program = "phd-fellowship";
  o.applicants = 50;
  o.seed = 77;
  o.bad_fraction = 0;
  o.start_ms = wall_us() / 1000 - o.span_ms;
  json submitted, note, updated;
  for (const auto& e : sim::generate(reg, o).events) {
    json j = json::parse(e.value);
    const std::string type = j.value("type", "");
    json* slot = type == "application.submitted" ? &submitted
                 : type == "note.added"          ? &note
                 : type == "application.updated" ? &updated
                                                 : nullptr;
    if (slot != nullptr && slot->is_null()) *slot = std::move(j);
  }
  if (submitted.is_null() || note.is_null() || updated.is_null())
    throw std::runtime_error("the simulated cohort lacks a submission, note or update");
  const std::string subject = submitted["subject"];
  const int64_t start_ms = wall_us() / 1000;
  Arena arena;
  for (size_t i = 0; i < n; ++i) {
    const bool is_note = i >= kNotesFrom && i < kNotesTo;
    json e = i == 0 ? submitted : is_note ? note : updated;
    e["id"] = "growth-" + std::to_string(i);
    e["subject"] = subject;
    e["time"] = format_rfc3339_ms(start_ms + static_cast<int64_t>(i));
    if (is_note) e["data"]["text"] = "note " + std::to_string(i) + ": " + std::string(60, 'n');
    if (i > 0 && !is_note) {  // by the applicant who submitted it
      for (const char* k : {"actorid", "actorrole"})
        if (submitted.contains(k)) e[k] = submitted[k];
      e["data"]["profile"] = {{"phone", "+1 555 " + std::to_string(i)}};
    }
    arena.add(subject, e.dump(), false);
  }
  return arena;
}

// Microseconds per event over [from, to), from the times the processor's
// applied count passed each (rounds of 100 events).
double us_per_event(const std::vector<std::pair<uint64_t, Clock::time_point>>& seen, uint64_t from,
                    uint64_t to) {
  auto at = [&](uint64_t n) {
    for (const auto& [count, t] : seen)
      if (count >= n) return t;
    return seen.back().second;
  };
  const double us = std::chrono::duration<double, std::micro>(at(to) - at(from)).count();
  return us / static_cast<double>(to - from);
}

// The history-growth case: per-event cost early in one application's life
// against late in it (issue 16: it must not grow with the history).
json history_growth(const Args& a, const workflow::Registry& reg) {
  auto cluster = kafka::EmbeddedCluster::start(1, 1, kafka::Topics().all());
  if (!cluster) throw std::runtime_error(cluster.error().message);
  const std::string bootstrap = (*cluster)->bootstrap();
  const Arena arena = growth_events(reg, a.growth_events);
  ScratchDir dir("growth");
  // The cost of applying and writing an event, not of the disk: no fsync
  // (the throughput case has it).
  store::Store::Options so = store_options(a);
  so.sync = false;
  auto st = store::Store::open(dir / "db", so);
  if (!st) throw std::runtime_error(st.error().message);
  processor::Options po;
  po.kafka = {{"bootstrap.servers", bootstrap}};
  po.group_id = "bench-growth";
  po.timers = false;
  po.batch_max_events = 100;
  processor::Processor proc(reg, **st, po);
  if (auto r = proc.start(); !r) throw std::runtime_error(r.error().message);
  std::thread producer([&] {
    produce_all(
        bootstrap, "stagewise.events", arena, 2'000, [&] { return processed(proc.stats()); }, 0);
  });
  std::vector<std::pair<uint64_t, Clock::time_point>> seen;
  const auto start = Clock::now();
  for (uint64_t last = 0; last < arena.size() && seconds_since(start) < 600;) {
    const uint64_t now = processed(proc.stats());
    if (now != last) seen.emplace_back(now, Clock::now());
    last = now;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  producer.join();
  const auto& s = proc.stats();
  uint64_t rejected = 0;
  for (const auto& r : s.rejected) rejected += r.load();
  const uint64_t n = arena.size();
  json out = {{"growth_events", n},
              {"growth_applied", s.applied.load()},
              {"growth_rejected", rejected},
              // a small application, a short history
              {"growth_early_us_per_event", round_to(us_per_event(seen, 100, 900), 1)},
              // the application at its list limit, a short history
              {"growth_mid_us_per_event", round_to(us_per_event(seen, 1'300, 2'100), 1)},
              // the same application, its history ~10 000 entries long
              {"growth_late_us_per_event", round_to(us_per_event(seen, n - 800, n), 1)}};
  proc.stop();
  return out;
}

// ---------------------------------------------------------------- scale-out

// Events/s of `arena` through `members` processors of one group on a fresh
// broker, each on its share of the partitions, the changelog on.
double group_throughput(const Args& a, const workflow::Registry& reg, const Arena& arena,
                        int members) {
  auto cluster = kafka::EmbeddedCluster::start(1, a.partitions, kafka::Topics().all());
  if (!cluster) throw std::runtime_error(cluster.error().message);
  const std::string bootstrap = (*cluster)->bootstrap();
  ScratchDir dir("scaleout");
  std::vector<std::unique_ptr<store::Store>> stores;
  std::vector<std::unique_ptr<processor::Processor>> procs;
  for (int i = 0; i < members; ++i) {
    auto st = store::Store::open(dir / ("m" + std::to_string(i)), store_options(a));
    if (!st) throw std::runtime_error(st.error().message);
    stores.push_back(std::move(*st));
    processor::Options po;
    po.kafka = {{"bootstrap.servers", bootstrap}, {"session.timeout.ms", "6000"}};
    po.group_id = "bench-scaleout";
    po.timers = false;
    procs.push_back(std::make_unique<processor::Processor>(reg, *stores.back(), po));
    if (auto r = procs.back()->start(); !r) throw std::runtime_error(r.error().message);
  }
  auto done = [&] {
    uint64_t n = 0;
    for (const auto& p : procs) n += processed(p->stats());
    return n;
  };
  auto split = [&] {
    size_t owned = 0;
    for (const auto& p : procs) {
      if (!p->ready()) return false;
      owned += p->owned_partitions().size();
    }
    return owned == static_cast<size_t>(a.partitions);
  };
  const auto join = Clock::now();
  while (!split() && seconds_since(join) < 60)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto start = Clock::now();
  std::thread producer(
      [&] { produce_all(bootstrap, "stagewise.events", arena, a.window, done, 0); });
  while (done() < arena.size() && seconds_since(start) < 900)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double seconds = seconds_since(start);
  producer.join();
  procs.clear();
  return static_cast<double>(arena.size()) / seconds;
}

// The scale-out case: the same events through one processor, then through
// two of one group (in this process: they share its cores, as two
// processes on this 2-core machine would).
json scale_out(const Args& a, const workflow::Registry& reg) {
  const Arena arena = workload(reg, a.scale_out_events, 300'000, a.bad_fraction);
  const double one = group_throughput(a, reg, arena, 1);
  const double two = group_throughput(a, reg, arena, 2);
  return {{"scale_out_events", arena.size()},
          {"scale_out_one_events_per_s", round_to(one, 0)},
          {"scale_out_two_events_per_s", round_to(two, 0)},
          {"scale_out_two_vs_one", round_to(two / one, 2)}};
}

// ---------------------------------------------------------------- --scale

// Final states of simulated applications of every program, to clone.
std::vector<workflow::Application> templates(const workflow::Registry& reg) {
  std::vector<workflow::Application> out;
  for (const auto& p : programs()) {
    std::map<std::string, workflow::Application> last;
    for (auto& a : applied_events(reg, p, 400, 5)) last[a.applied.next.id] = a.applied.next;
    for (auto& [id, app] : last) out.push_back(std::move(app));
  }
  return out;
}

std::string scale_id(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "scale-%08zu", i);
  return buf;
}

// Replays a whole log (pre-produced, sized to fit the embedded cluster) into
// an empty store: events/s from the consumer's assignment to the last commit.
json replay(const Args& a, const workflow::Registry& reg) {
  constexpr int kPartitions = 32;
  auto cluster = kafka::EmbeddedCluster::start(1, kPartitions, kafka::Topics().all());
  if (!cluster) throw std::runtime_error(cluster.error().message);
  const std::string bootstrap = (*cluster)->bootstrap();
  Arena arena = workload(reg, a.replay_events, 900'000, a.bad_fraction);
  // Keep under ~4 MB per partition so nothing is trimmed before it is read.
  const size_t avg = arena.bytes() / std::max<size_t>(1, arena.size());
  const size_t fits = static_cast<size_t>(kPartitions) * 4 * 1024 * 1024 / (avg + 64);
  size_t n = std::min(arena.size(), fits);
  Arena log_arena;
  for (size_t i = 0; i < n; ++i) log_arena.add(arena.key(i), arena.value(i), arena.bad(i));
  arena.release();
  produce_all(
      bootstrap, "stagewise.events", log_arena, INT64_MAX, [] { return 0; }, 0);
  log_arena.release();

  ScratchDir dir("replay");
  auto st = store::Store::open(dir / "db", store_options(a));
  if (!st) throw std::runtime_error(st.error().message);
  processor::Options po;
  po.kafka = {{"bootstrap.servers", bootstrap}};
  po.group_id = "bench-replay";
  po.timers = false;
  processor::Processor proc(reg, **st, po);
  const auto started = Clock::now();
  if (auto r = proc.start(); !r) throw std::runtime_error(r.error().message);
  while (!proc.ready() && seconds_since(started) < 60)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const auto ready = Clock::now();
  while (processed(proc.stats()) < n && seconds_since(started) < 900)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const double seconds = seconds_since(ready);
  const uint64_t gaps = proc.stats().gap_messages.load();
  proc.stop();
  return {{"replay_events", n},
          {"replay_seconds", round_to(seconds, 2)},
          {"replay_events_per_s", round_to(static_cast<double>(n) / seconds, 0)},
          {"replay_gap_messages", gaps}};
}

json scale(const Args& a, const workflow::Registry& reg) {
  ScratchDir dir("scale");
  const auto tpl = templates(reg);
  const double rss_before = proc_status_mb("VmRSS");
  double write_s = 0;
  {
    store::Store::Options o = store_options(a);
    o.sync = false;
    auto st = store::Store::open(dir / "db", o);
    if (!st) throw std::runtime_error(st.error().message);
    const auto start = Clock::now();
    store::Batch b = (*st)->batch();
    for (size_t i = 0; i < a.scale_applications; ++i) {
      workflow::Application app = tpl[i % tpl.size()];
      app.id = scale_id(i);
      store::HistoryEntry h;
      h.sequence = 1;
      h.id = app.id + "-e1";
      h.source = "stagewise-sim";
      h.type = "application.submitted";
      h.time = format_rfc3339_ms(app.created_ms);
      h.to = app.stage;
      h.data = app.facts.value("profile", json::object());
      b.add_history(app.id, h, app.history_head);
      b.put_application(app, "");
      b.mark_seen(h.source, h.id);
      if (b.count() >= 20'000) {
        if (auto r = (*st)->commit(b, false); !r) throw std::runtime_error(r.error().message);
        b = (*st)->batch();
      }
    }
    if (auto r = (*st)->commit(b, true); !r) throw std::runtime_error(r.error().message);
    write_s = seconds_since(start);
  }
  // What a restarted server does before it answers: open, serve. The first
  // open after the writes replays RocksDB's WAL (nothing forces a flush at
  // close); a second open shows the cost without it.
  double first_open_ms = 0;
  {
    const auto t = Clock::now();
    auto first = store::Store::open(dir / "db", store_options(a));
    if (!first) throw std::runtime_error(first.error().message);
    first_open_ms = seconds_since(t) * 1000;
  }
  const auto t0 = Clock::now();
  auto st = store::Store::open(dir / "db", store_options(a));
  if (!st) throw std::runtime_error(st.error().message);
  const double open_ms = seconds_since(t0) * 1000;
  // As serve answers: a bearer token required; the bench's own, admin.
  const std::string secret = "stagewise bench token secret, 32+ bytes long";
  const auth::Verifier verifier({.hs256_secret = secret});
  auto token = auth::mint_hs256(secret, {.sub = "bench"}, wall_us() / 1000, 3'600'000);
  if (!token) throw std::runtime_error(token.error().message);
  api::Context ctx;
  ctx.registry = &reg;
  ctx.store = st->get();
  ctx.verifier = &verifier;
  api::Server server(ctx);
  auto port = server.start("127.0.0.1", 0);
  if (!port) throw std::runtime_error(port.error().message);
  httplib::Client http("127.0.0.1", *port);
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);  // as curl and browsers do
  http.set_bearer_token_auth(*token);
  double ready_ms = 0;
  for (;;) {
    auto res = http.Get("/v1/applications/" + scale_id(a.scale_applications / 2));
    if (res && res->status == 200) {
      ready_ms = seconds_since(t0) * 1000;
      break;
    }
    if (seconds_since(t0) > 120)
      throw std::runtime_error(
          "the API did not answer 200 within 120 s of the open (" +
          (res ? "status " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
               : "no answer: " + httplib::to_string(res.error())) +
          "; open took " + std::to_string(open_ms) + " ms)");
  }
  std::mt19937_64 rng(7);
  std::vector<double> lat;
  const size_t gets = a.gets;
  lat.reserve(gets);
  size_t not_ok = 0;
  const auto gstart = Clock::now();
  for (size_t i = 0; i < gets; ++i) {
    const std::string path = "/v1/applications/" + scale_id(rng() % a.scale_applications);
    const auto s = Clock::now();
    auto res = http.Get(path);
    lat.push_back(seconds_since(s) * 1000);
    if (!res || res->status != 200) ++not_ok;
  }
  const double gets_per_s = static_cast<double>(gets) / seconds_since(gstart);
  const double rss = proc_status_mb("VmRSS");
  json out = {{"applications", a.scale_applications},
              {"write_s", round_to(write_s, 1)},
              {"open_after_writes_ms", round_to(first_open_ms, 1)},
              {"open_ms", round_to(open_ms, 1)},
              {"ready_ms", round_to(ready_ms, 1)},
              {"get_p50_ms", round_to(quantile(lat, 0.5), 3)},
              {"get_p99_ms", round_to(quantile(lat, 0.99), 3)},
              {"get_max_ms", round_to(lat.back(), 3)},
              {"gets_per_s", round_to(gets_per_s, 0)},
              {"get_errors", not_ok},
              {"rss_mb", round_to(rss, 1)},
              {"rss_before_store_mb", round_to(rss_before, 1)},
              {"db_mb", round_to(dir_mb(dir / "db"), 1)}};
  server.stop();
  st->reset();
  out.update(replay(a, reg));
  return out;
}

// Runs scale() in a child process (forked before any thread exists), so
// that its RSS is its own; returns its JSON.
json scale_in_child(const Args& a, const workflow::Registry& reg) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string text;
    try {
      text = scale(a, reg).dump();
    } catch (const std::exception& e) {
      text = json({{"error", e.what()}}).dump();
    }
    const ssize_t w = write(fds[1], text.data(), text.size());
    _exit(w == static_cast<ssize_t>(text.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return json({{"error", "the scale run failed"}});
  return j;
}

// The processor's own throughput over `arena` (the producer at most
// --window ahead), then until the relay has published every output.
struct Throughput {
  double seconds = 0, published_s = 0;
};
Throughput throughput(const std::string& bootstrap, const Args& a, const Arena& arena,
                      processor::Processor& proc, store::Store& st) {
  const auto start = Clock::now();
  std::thread producer([&] {
    produce_all(
        bootstrap, "stagewise.events", arena, a.window, [&] { return processed(proc.stats()); }, 0);
  });
  while (processed(proc.stats()) < arena.size() && seconds_since(start) < 1800)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Throughput t;
  t.seconds = seconds_since(start);
  producer.join();
  wait_outbox_drained(st, 1800);
  t.published_s = seconds_since(start);
  return t;
}

// The main case: throughput, the pass-through on the same broker, latency.
json pipeline(const Args& a, const workflow::Registry& reg) {
  log(a, "generating " + std::to_string(a.events) + " events of simulated cohorts...");
  Arena arena = workload(reg, a.events, 1, a.bad_fraction);
  const double payload_mb = static_cast<double>(arena.bytes()) / (1024.0 * 1024.0);
  auto cluster = kafka::EmbeddedCluster::start(1, a.partitions, kafka::Topics().all());
  if (!cluster) throw std::runtime_error(cluster.error().message);
  const std::string bootstrap = (*cluster)->bootstrap();
  for (const char* t : {"bench.passthrough.in", "bench.passthrough.out"})
    if (auto r = (*cluster)->create_topic(t, a.partitions); !r)
      throw std::runtime_error(r.error().message);

  ScratchDir dir("pipeline");
  auto st = store::Store::open(dir / "db", store_options(a));
  if (!st) throw std::runtime_error(st.error().message);
  processor::Options po;
  po.kafka = a.kafka_props;
  po.kafka["bootstrap.servers"] = bootstrap;
  if (a.batch_max_ms >= 0) po.batch_max_ms = a.batch_max_ms;
  po.group_id = "bench";
  po.timers = false;  // the cohorts' past deadlines would add events of their own
  processor::Processor proc(reg, **st, po);
  if (auto r = proc.start(); !r) throw std::runtime_error(r.error().message);
  const auto join = Clock::now();
  while (!proc.ready() && seconds_since(join) < 60)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));

  log(a, "throughput: " + std::to_string(arena.size()) + " events...");
  const Throughput t = throughput(bootstrap, a, arena, proc, **st);
  const double eps = static_cast<double>(arena.size()) / t.seconds;
  const auto& s = proc.stats();
  uint64_t rejected = 0;
  for (const auto& r : s.rejected) rejected += r.load();
  log(a, "passthrough...");
  const double pass = passthrough(bootstrap, a, arena);
  arena.release();
  log(a, "latency at " + std::to_string(static_cast<int>(a.rate)) + " events/s...");
  const Latency lat = latency(bootstrap, a, reg, proc, **st, a.rate, a.latency_seconds, 500'000);
  // The same at a load far below capacity: the pipeline's own delay.
  log(a, "latency at 1000 events/s...");
  const Latency light = latency(bootstrap, a, reg, proc, **st, 1000, 3, 700'000);
  json out = {{"events", a.events},
              {"seconds", round_to(t.seconds, 2)},
              {"events_per_s", round_to(eps, 0)},
              {"outbox_drained_s", round_to(t.published_s, 2)},
              {"passthrough_events_per_s", round_to(pass, 0)},
              {"ratio", round_to(eps / pass, 3)},
              {"p50_ms", round_to(lat.p50_ms, 2)},
              {"p99_ms", round_to(lat.p99_ms, 2)},
              {"latency_max_ms", round_to(lat.max_ms, 2)},
              {"latency_offered_per_s", a.rate},
              {"latency_achieved_per_s", round_to(lat.achieved_rate, 0)},
              {"latency_samples", lat.samples},
              {"light_p50_ms", round_to(light.p50_ms, 2)},
              {"light_p99_ms", round_to(light.p99_ms, 2)},
              {"light_offered_per_s", 1000},
              {"rss_mb", round_to(proc_status_mb("VmRSS"), 1)},
              {"rss_peak_mb", round_to(proc_status_mb("VmHWM"), 1)},
              {"db_mb", round_to(dir_mb(dir / "db"), 1)},
              {"payload_mb", round_to(payload_mb, 1)},
              {"rejected", rejected},
              {"gap_messages", s.gap_messages.load()},
              {"batches", s.batches.load()},
              {"cache_misses", s.cache_misses.load()},
              {"partitions", a.partitions},
              {"bad_fraction", a.bad_fraction},
              {"nproc", std::thread::hardware_concurrency()}};
  proc.stop();
  return out;
}

int run(const Args& a) {
  const auto reg = load_registry();
  json scale_result;
  if (a.scale) {
    log(a, "scale: 1M applications, open, GET, replay (child process)...");
    scale_result = scale_in_child(a, reg);
    if (a.scale_only) {
      std::cout << scale_result.dump() << std::endl;
      return 0;
    }
  }
  if (a.growth_only || a.scale_out_only) {
    std::cout << (a.growth_only ? history_growth(a, reg) : scale_out(a, reg)).dump() << std::endl;
    return 0;
  }
  json out = pipeline(a, reg);  // its RSS figures before the cases below add their own
  if (a.growth_events >= 3'000) {
    log(a, "history growth: one application, " + std::to_string(a.growth_events) + " events...");
    out.update(history_growth(a, reg));
  }
  if (a.scale_out_events > 0) {
    log(a, "scale-out: one processor, then two...");
    out.update(scale_out(a, reg));
  }
  if (a.scale) out["scale"] = scale_result;
  std::cout << (a.json ? out.dump() : out.dump(2)) << std::endl;
  return 0;
}

}  // namespace
}  // namespace stagewise::bench

int main(int argc, char** argv) {
  stagewise::bench::Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--events") {
      a.events = std::stoull(next());
    } else if (arg == "--json") {
      a.json = true;
    } else if (arg == "--scale") {
      a.scale = true;
    } else if (arg == "--scale-only") {
      a.scale = a.scale_only = true;
    } else if (arg == "--partitions") {
      a.partitions = std::stoi(next());
    } else if (arg == "--rate") {
      a.rate = std::stod(next());
    } else if (arg == "--latency-seconds") {
      a.latency_seconds = std::stod(next());
    } else if (arg == "--bad-fraction") {
      a.bad_fraction = std::stod(next());
    } else if (arg == "--window") {
      a.window = std::stoll(next());
    } else if (arg == "--scale-applications") {
      a.scale_applications = std::stoull(next());
    } else if (arg == "--batch-max-ms") {
      a.batch_max_ms = std::stoi(next());
    } else if (arg == "--kafka-property") {
      const std::string kv = next();
      const auto eq = kv.find('=');
      if (eq == std::string::npos) {
        std::cerr << "--kafka-property takes KEY=VALUE\n";
        return 2;
      }
      a.kafka_props[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (arg == "--scale-out-only") {
      a.scale_out_only = true;
    } else if (arg == "--scale-out-events") {
      a.scale_out_events = std::stoull(next());
    } else if (arg == "--growth-only") {
      a.growth_only = true;
    } else if (arg == "--growth-events") {
      a.growth_events = std::stoull(next());
    } else if (arg == "--clear") {
      a.clear = true;
    } else if (arg == "--gets") {
      a.gets = std::stoull(next());
    } else if (arg == "--replay-events") {
      a.replay_events = std::stoull(next());
    } else if (arg == "--help" || arg == "-h") {
      std::cout
          << "stagewise_pipeline_bench [--events N] [--json] [--scale] [--scale-only]\n"
             "  [--partitions P] [--rate EVENTS_PER_S] [--latency-seconds S]\n"
             "  [--bad-fraction F] [--window N] [--scale-applications N]\n"
             "  [--replay-events N] [--gets N] [--batch-max-ms MS] [--clear]\n"
             "  [--growth-events N] [--growth-only] (one application's events; < 3000: skipped)\n"
             "  [--scale-out-events N] [--scale-out-only] (one, then two processors; 0: skipped)\n"
             "  [--kafka-property KEY=VALUE]... (processor's librdkafka properties)\n";
      return 0;
    } else {
      std::cerr << "unknown argument " << arg << " (see --help)\n";
      return 2;
    }
  }
  return stagewise::bench::run_main("stagewise_pipeline_bench",
                                    [&] { return stagewise::bench::run(a); });
}
