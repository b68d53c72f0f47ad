// The program office's reports (DESIGN.md §13) over a program-sized store:
// N applications (default 100,000) of the summer internship, each having
// walked a random path of its workflow with a stay in each stage, three in
// four with self-identification answers, some with review scores, are
// written to a fresh RocksDB store. Then:
//   - load: Book::refresh reads them all into rows (the first report after a
//     start pays it);
//   - each report (fairness by gender, funnel, time in stage, hubs,
//     reviewers) as a request makes it: refresh (nothing to load), tally
//     every row, finish; --runs times, median and max.
// Prints one JSON line (with --json; indented otherwise).
#include "reports/book.h"
#include "reports/reports.h"
#include "store/store.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace stagewise::bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Args {
  int applications = 100'000;
  int runs = 7;
  bool json = false;
};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// A random walk from the initial stage along the transitions, up to a
// terminal stage or a random stop.
std::vector<std::string> walk(const workflow::Workflow& wf, std::mt19937& rng) {
  std::vector<std::string> path = {wf.initial};
  std::uniform_real_distribution<double> u(0, 1);
  while (path.size() < 12 && u(rng) < 0.8) {
    std::vector<std::string> next;
    for (const auto& t : wf.transitions)
      if (t.from == path.back() && t.to != path.back()) next.push_back(t.to);
    if (next.empty()) break;
    path.push_back(next[rng() % next.size()]);
    if (wf.states.at(path.back()).terminal) break;
  }
  return path;
}

workflow::Application application(const workflow::Workflow& wf, int n, int64_t t0,
                                  std::mt19937& rng) {
  static const char* const kGenders[] = {"woman", "man", "nonbinary", "decline to state"};
  static const char* const kHubs[] = {"Northern Tech", "Lakeside College", "Harbor City University",
                                      "Partner University"};
  workflow::Application a;
  a.id = "app-" + std::to_string(n);
  a.program = wf.program;
  a.workflow_version = wf.version;
  a.created_ms = t0 + (rng() % (30 * 86'400)) * 1000LL;
  int64_t t = a.created_ms;
  for (const auto& stage : walk(wf, rng)) {
    if (!a.stays.empty()) a.stays.back().spent_ms = t - a.stays.back().first_ms;
    a.stays.push_back({stage, t, 0, 1});
    t += (3600 + rng() % (14 * 86'400)) * 1000LL;
  }
  a.stage = a.stays.back().stage;
  a.stage_entered_ms = a.updated_ms = a.stays.back().first_ms;
  a.sequence = a.stays.size() + 2;
  a.facts = {
      {"profile", {{"name", "Applicant " + std::to_string(n)}, {"university", kHubs[rng() % 4]}}}};
  if (rng() % 4 != 0) a.self_identification = {{"gender", kGenders[rng() % 4]}};
  if (rng() % 3 == 0)
    a.facts["reviews"] = {{{"reviewer", "rev-" + std::to_string(rng() % 150)},
                           {"scores", {{"merit", 1 + rng() % 5}, {"fit", 1 + rng() % 5}}}}};
  return a;
}

json timing(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {{"median_ms", ms[ms.size() / 2]}, {"max_ms", ms.back()}, {"runs", ms.size()}};
}

json run(const Args& args) {
  std::vector<workflow::Problem> problems;
  const auto registry =
      workflow::Registry::load({std::string(STAGEWISE_SOURCE_DIR) + "/workflows"}, problems);
  const workflow::Workflow& wf = *registry.latest("summer-research-internship");
  const auto dir = std::filesystem::temp_directory_path() /
                   ("stagewise-report-bench-" + std::to_string(::getpid()));
  store::Store::Options so;
  so.sync = false;
  auto st = store::Store::open(dir.string(), so);
  if (!st) throw std::runtime_error(st.error().message);
  std::mt19937 rng(42);
  const int64_t t0 = 1'780'000'000'000;
  for (int n = 0; n < args.applications;) {
    auto batch = (*st)->batch();
    for (int k = 0; k < 1000 && n < args.applications; ++k, ++n)
      batch.put_application(application(wf, n, t0, rng), "");
    if (auto r = (*st)->commit(batch, false); !r) throw std::runtime_error(r.error().message);
  }
  reports::Book book;
  const auto load_start = Clock::now();
  if (auto r = book.refresh(**st, registry); !r) throw std::runtime_error(r.error().message);
  json out = {{"applications", args.applications}, {"load_ms", ms_since(load_start)}};
  for (const char* kind : {"fairness", "funnel", "time-in-stage", "hubs", "reviewers"}) {
    reports::Query q;
    q.attribute = "gender";
    q.now_ms = t0 + 60LL * 86'400'000;
    std::vector<double> ms;
    json report;
    for (int i = 0; i < args.runs; ++i) {
      const auto start = Clock::now();
      (void)book.refresh(**st, registry);
      reports::Tally t;
      book.each(wf.program, [&](const reports::Row& row) {
        if (q.filter.admits(row)) t.add(row, wf, q);
      });
      report = reports::finish(kind, wf, t, q);
      ms.push_back(ms_since(start));
    }
    out[kind] = timing(ms);
  }
  st->reset();
  std::filesystem::remove_all(dir);
  return out;
}

}  // namespace
}  // namespace stagewise::bench

int main(int argc, char** argv) {
  stagewise::bench::Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      args.json = true;
    } else if (a == "--applications" && i + 1 < argc) {
      args.applications = std::stoi(argv[++i]);
    } else if (a == "--runs" && i + 1 < argc) {
      args.runs = std::max(1, std::stoi(argv[++i]));
    } else {
      std::cerr << "usage: report_bench [--applications N] [--runs N] [--json]\n";
      return 2;
    }
  }
  const auto out = stagewise::bench::run(args);
  std::cout << (args.json ? out.dump() : out.dump(2)) << "\n";
  return 0;
}
