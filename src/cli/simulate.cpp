// `stagewise simulate`: a seeded cohort of one program through the real
// pipeline (the input topic), paced, with the engine's expectation printed.
#include "auth/secret.h"
#include "auth/signature.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "common/cloudevent.h"
#include "common/config.h"
#include "common/time.h"
#include "kafka/kafka.h"
#include "sim/cohort.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>

namespace stagewise::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string bootstrap_of(const std::string& data_dir) {
  std::ifstream in(serve_file(data_dir));
  if (!in) return "";
  const json s = json::parse(in, nullptr, false);
  if (!s.is_object() || !s.contains("bootstrap") || !s["bootstrap"].is_string()) return "";
  return s["bootstrap"].get<std::string>();
}

// The deadlines a walk lets lapse are the very events the server's timers
// would fire (actorrole system): signed with the server's internal key, as
// its timers sign them, when this process may read that key. Returns how
// many it could not sign.
size_t sign_system_events(sim::Cohort& cohort, const std::string& data_dir) {
  std::ifstream in(serve_file(data_dir));
  const json s = json::parse(in, nullptr, false);
  std::string key;
  if (s.is_object() && s.contains("internal_secret") && s["internal_secret"].is_string())
    if (auto k = auth::read_secret(s["internal_secret"].get<std::string>())) key = *k;
  size_t unsigned_events = 0;
  for (auto& ev : cohort.events) {
    if (ev.bad || ev.value.find("\"actorrole\":\"system\"") == std::string::npos) continue;
    auto decoded = decode_structured(ev.value);
    auto* e = std::get_if<CloudEvent>(&decoded);
    if (e == nullptr) continue;
    if (key.empty()) {
      ++unsigned_events;
      continue;
    }
    e->authsub = e->actorid;
    e->authrole = e->actorrole;
    e->authsig = auth::event_signature(key, *e);
    ev.value = to_json(*e).dump();
  }
  return unsigned_events;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

}  // namespace

namespace {

// The cohort of --program, or the exit code and message of why not.
std::optional<int> make_cohort(const SimulateFlags& f, workflow::Registry& registry,
                               sim::Cohort& cohort) {
  std::string workflows = f.workflows;
  if (workflows.empty()) {
    try {
      workflows = load_config("").workflows.dir;
    } catch (const std::exception& e) {
      std::cerr << "stagewise simulate: " << e.what() << "\n";
      return 2;
    }
  }
  std::vector<workflow::Problem> problems;
  registry = workflow::Registry::load({workflows}, problems);
  if (!problems.empty()) {
    for (const auto& p : problems) std::cerr << p.to_string() << "\n";
    std::cerr << "stagewise simulate: " << problems.size() << " problem(s) in " << workflows
              << "\n";
    return 1;
  }
  // The cohort's timeline ends now: deadlines still pending lie in the
  // future, so the server's timers do not fire weeks of them at once.
  sim::CohortOptions o;
  o.program = f.program;
  o.applicants = f.applicants;
  o.seed = f.seed;
  o.bad_fraction = f.bad_fraction;
  o.span_ms = static_cast<int64_t>(f.days) * 24 * 3600 * 1000;
  o.start_ms = (now_ms() - o.span_ms) / 1000 * 1000;
  try {
    cohort = sim::generate(registry, o);
  } catch (const std::invalid_argument& e) {
    std::cerr << "stagewise simulate: " << e.what() << " (--workflows " << workflows << ")\n";
    return 2;
  }
  if (!f.write_to.empty()) {
    std::ofstream out(f.write_to);
    for (const auto& ev : cohort.events) out << ev.value << "\n";
    if (!out) {
      std::cerr << "stagewise simulate: cannot write " << f.write_to << "\n";
      return 1;
    }
  }
  return std::nullopt;
}

void print_summary(const SimulateFlags& f, const workflow::Workflow& wf, const sim::Cohort& cohort,
                   uint64_t sent, double seconds, const std::string& bootstrap) {
  if (f.json) {
    json expected = json::object();
    for (const auto& stage : wf.state_order) expected[stage] = cohort.per_stage.at(stage);
    std::cout << json({{"program", f.program},
                       {"workflow_version", wf.version},
                       {"applicants", f.applicants},
                       {"seed", f.seed},
                       {"events", cohort.events.size()},
                       {"bad_events", cohort.bad_events},
                       {"sent", sent},
                       {"seconds", seconds},
                       {"first_event_time", format_rfc3339_ms(cohort.first_ms)},
                       {"last_event_time", format_rfc3339_ms(cohort.last_ms)},
                       {"bootstrap", bootstrap},
                       {"expected", expected}})
                     .dump()
              << "\n";
    return;
  }
  std::cout << "simulated " << f.applicants << " applicants of " << f.program << " (seed " << f.seed
            << "): " << sent << " of " << cohort.events.size() << " events sent ("
            << cohort.bad_events << " bad) in " << seconds_text(seconds) << " s, event times "
            << format_rfc3339_ms(cohort.first_ms) << " .. " << format_rfc3339_ms(cohort.last_ms)
            << "\n";
  std::cout << "expected once processed:\n";
  for (const auto& stage : wf.state_order)
    std::cout << "  " << stage << "\t" << cohort.per_stage.at(stage) << "\n";
}

// What sending the cohort came to.
struct Sent {
  uint64_t acked = 0;
  double seconds = 0;
  bool flushed = false;
  std::string first_error;
};

// Paces (--rate) and throttles (--max-lag) as it goes; a progress bar on a
// terminal.
std::optional<Sent> send_cohort(const SimulateFlags& f, const sim::Cohort& cohort,
                                const std::string& bootstrap) {
  std::atomic<uint64_t> acked{0}, failed{0};
  std::string first_error;
  auto producer = kafka::Producer::create({{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}},
                                          [&](const kafka::DeliveryReport& d) {
                                            if (d.ok)
                                              acked.fetch_add(1);
                                            else if (failed.fetch_add(1) == 0)
                                              first_error = d.error.message;
                                          });
  if (!producer) {
    std::cerr << "stagewise simulate: " << producer.error().message << "\n";
    return std::nullopt;
  }
  // Backpressure: the embedded cluster keeps about 5 MB per partition, so
  // never run further ahead of the processor than --max-lag events.
  std::unique_ptr<kafka::GroupLag> probe;
  if (auto p = kafka::GroupLag::create({{"bootstrap.servers", bootstrap}}, f.group); p.ok())
    probe = std::move(*p);
  ProgressBar bar({"events"}, !f.json);
  const Headers headers = {{"content-type", "application/cloudevents+json"}};
  const auto started = Clock::now();
  const size_t total = cohort.events.size();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - started).count(); };
  for (size_t i = 0; i < total; ++i) {
    if (f.rate > 0) {
      const auto due =
          started + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(i) / f.rate));
      while (Clock::now() < due) {
        (*producer)->poll(0);
        std::this_thread::sleep_until(std::min(due, Clock::now() + std::chrono::milliseconds(20)));
      }
    }
    if (probe && i % 1000 == 999) {
      const auto give_up = Clock::now() + std::chrono::minutes(10);
      for (;;) {
        auto lag = probe->lag("stagewise.events", 5000);
        if (!lag.ok() || *lag <= f.max_lag || Clock::now() > give_up) break;
        bar.update(i, total, "", "(waiting for the processor to catch up)");
        (*producer)->poll(100);
      }
    }
    const auto& ev = cohort.events[i];
    if (auto r = (*producer)->produce("stagewise.events", ev.key, ev.value, headers, i); !r) {
      bar.end(true);
      std::cerr << "stagewise simulate: " << r.error().message << "\n";
      return std::nullopt;
    }
    (*producer)->poll(0);
    bar.update(i + 1, total);
  }
  Sent out;
  out.flushed = (*producer)->flush(60000).ok();
  out.seconds = elapsed();
  out.acked = acked.load();
  out.first_error = first_error;
  bar.update(total, total);
  bar.end(true);
  return out;
}

}  // namespace

int simulate(const SimulateFlags& f) {
  workflow::Registry registry;
  sim::Cohort cohort;
  if (auto code = make_cohort(f, registry, cohort)) return *code;
  const workflow::Workflow* wf = registry.latest(f.program);
  if (f.dry_run) {
    print_summary(f, *wf, cohort, 0, 0, "");
    return 0;
  }
  std::string bootstrap = f.bootstrap;
  if (bootstrap.empty()) bootstrap = bootstrap_of(f.data_dir);
  if (bootstrap.empty()) {
    std::cerr << "stagewise simulate: no Kafka to send to: pass --bootstrap-servers HOSTS, or "
                 "--data-dir DIR of a running `stagewise serve`\n";
    return 1;
  }
  if (const size_t n = sign_system_events(cohort, f.data_dir); n > 0)
    std::cerr << "stagewise simulate: " << n
              << " lapsed deadlines cannot be signed (the server's internal key in --data-dir "
                 "is not readable here); the server's own timers fire them instead\n";
  const auto sent = send_cohort(f, cohort, bootstrap);
  if (!sent) return 1;
  print_summary(f, *wf, cohort, sent->acked, sent->seconds, bootstrap);
  if (f.rate > 0)
    std::cerr << "stagewise simulate: note: paced sending lets the server's timers fire deadlines "
                 "of stays whose next event was not sent yet (event times lie in the past); the "
                 "funnel can then differ from the expectation. Without --rate it matches.\n";
  const size_t total = cohort.events.size();
  if (!sent->flushed || sent->acked != total) {
    std::cerr << "stagewise simulate: " << (total - sent->acked) << " event(s) not acknowledged"
              << (sent->first_error.empty() ? "" : ": " + sent->first_error) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace stagewise::cli
