// Reviewer assignment (DESIGN.md §12, `stagewise assign`): how long the
// LEMON solver takes on a program-sized instance. A seeded generator builds
// N applications each missing K reviews, a pool of M reviewers with ~30 %
// slack over the needed load, topics from a vocabulary of 40 (3–6 each) and
// ~2 % random conflicts; solve_assignment runs --runs times. Before it, the
// conflict check an assignment makes for every application and pool
// reviewer (`find_conflicts`, on profiles with institutions, collaborators,
// advisors and letters like real ones) is timed once over all the pairs.
// Prints one JSON line (with --json; indented otherwise).
#include "reviews/assignment.h"
#include "reviews/conflicts.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace stagewise::bench {
namespace {

struct Args {
  int papers = 1000;
  int reviewers = 150;
  int reviews = 3;
  int runs = 5;
  bool json = false;
};

std::vector<std::string> topics(std::mt19937& rng) {
  constexpr int kVocabulary = 40;
  std::uniform_int_distribution<int> count(3, 6), topic(0, kVocabulary - 1);
  std::vector<std::string> out;
  for (int i = count(rng); i > 0; --i) out.push_back("topic-" + std::to_string(topic(rng)));
  return out;
}

reviews::AssignmentProblem generate(const Args& a) {
  std::mt19937 rng(20260601);
  reviews::AssignmentProblem pr;
  const double load = static_cast<double>(a.papers) * a.reviews / a.reviewers * 1.3;
  const int capacity = std::max(1, static_cast<int>(std::ceil(load)));
  for (int r = 0; r < a.reviewers; ++r) {
    pr.reviewers.push_back({"rev-" + std::to_string(r), topics(rng), capacity});
  }
  std::bernoulli_distribution conflict(0.02);
  for (int p = 0; p < a.papers; ++p) {
    const std::string id = "app-" + std::to_string(p);
    pr.papers.push_back({id, a.reviews, topics(rng), {}});
    for (int r = 0; r < a.reviewers; ++r) {
      if (conflict(rng)) pr.conflicts.insert({id, "rev-" + std::to_string(r)});
    }
  }
  return pr;
}

double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

std::string person(std::mt19937& rng) {
  static const char* const kFirst[] = {"Ana",   "José",  "Li",  "Søren",
                                       "Amara", "Kenji", "Zoë", "Ravi"};
  static const char* const kLast[] = {"Gómez",  "Chen",  "Okafor",   "Müller",   "Nakamura",
                                      "Dubois", "Patel", "Ångström", "Kowalski", "Silva"};
  std::uniform_int_distribution<int> f(0, 7), l(0, 9), n(0, 99);
  return std::string(kFirst[f(rng)]) + " " + kLast[l(rng)] + " " + std::to_string(n(rng));
}

std::string institution(std::mt19937& rng) {
  std::uniform_int_distribution<int> i(0, 59);
  return "Université " + std::to_string(i(rng));
}

nlohmann::json people(std::mt19937& rng, int n, bool dated) {
  nlohmann::json out = nlohmann::json::array();
  for (int i = 0; i < n; ++i) {
    nlohmann::json p = {{"name", person(rng)}, {"institution", institution(rng)}};
    if (dated) p["last"] = "202" + std::to_string(rng() % 6) + "-0" + std::to_string(1 + rng() % 9);
    out.push_back(std::move(p));
  }
  return out;
}

// Times find_conflicts over every (application, reviewer) pair; returns
// {milliseconds, conflicts found}.
std::pair<double, size_t> time_conflicts(const Args& a) {
  std::mt19937 rng(7);
  std::vector<nlohmann::json> facts, profiles;
  for (int p = 0; p < a.papers; ++p)
    facts.push_back({{"profile",
                      {{"name", person(rng)},
                       {"institution", institution(rng)},
                       {"collaborators", people(rng, 5, true)},
                       {"advisors", {person(rng)}}}},
                     {"documents",
                      {{{"kind", "recommendation_letter"}, {"author", person(rng)}},
                       {{"kind", "recommendation_letter"}, {"author", person(rng)}}}}});
  for (int r = 0; r < a.reviewers; ++r)
    profiles.push_back({{"name", person(rng)},
                        {"institution", institution(rng)},
                        {"employers", {{{"institution", institution(rng)}, {"until", "2025-06"}}}},
                        {"collaborators", people(rng, 10, true)},
                        {"advisees", people(rng, 3, false)},
                        {"conflicts", {person(rng)}}});
  const int64_t now = 1'780'000'000'000;  // 2026-05
  size_t found = 0;
  // As an assignment does: each side prepared once, then every pair compared.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<reviews::PreparedReviewer> pool;
  for (int r = 0; r < a.reviewers; ++r)
    pool.push_back(reviews::prepare_reviewer("rev-" + std::to_string(r), profiles[r]));
  for (int p = 0; p < a.papers; ++p) {
    const auto side = reviews::prepare_application("app-" + std::to_string(p), facts[p]);
    for (const auto& r : pool) found += reviews::find_conflicts(side, r, now).size();
  }
  const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - t0;
  return {took.count(), found};
}

int run(const Args& a) {
  const auto [conflicts_ms, conflicts_found] = time_conflicts(a);
  const reviews::AssignmentProblem pr = generate(a);
  std::vector<double> ms;
  reviews::AssignmentResult res;
  for (int i = 0; i < a.runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    res = reviews::solve_assignment(pr);
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - t0;
    ms.push_back(took.count());
  }
  if (!res.feasible) throw std::runtime_error("generated instance is infeasible");
  std::sort(ms.begin(), ms.end());
  const size_t eligible = static_cast<size_t>(a.papers) * a.reviewers - pr.conflicts.size();
  nlohmann::json out = {{"papers", a.papers},
                        {"reviewers", a.reviewers},
                        {"reviews_per_paper", a.reviews},
                        {"edges", eligible},
                        {"runs", a.runs},
                        {"median_ms", round_to(ms[ms.size() / 2], 1)},
                        {"min_ms", round_to(ms.front(), 1)},
                        {"max_ms", round_to(ms.back(), 1)},
                        {"total_affinity", round_to(res.total_affinity, 4)},
                        {"min_pair_affinity", round_to(res.min_pair_affinity, 4)},
                        {"worst_paper_mean", round_to(res.worst_paper_mean, 4)},
                        {"conflict_checks", static_cast<int64_t>(a.papers) * a.reviewers},
                        {"conflicts_ms", round_to(conflicts_ms, 1)},
                        {"conflicts_found", conflicts_found},
                        {"conflicts_and_solve_ms", round_to(conflicts_ms + ms[ms.size() / 2], 1)}};
  std::cout << (a.json ? out.dump() : out.dump(2)) << std::endl;
  return 0;
}

}  // namespace
}  // namespace stagewise::bench

int main(int argc, char** argv) {
  stagewise::bench::Args a;
  const auto positive = [&](int& i) {
    const int v = std::stoi(argv[++i]);
    if (v <= 0) throw std::invalid_argument(std::string(argv[i - 1]) + " must be positive");
    return v;
  };
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--json") {
        a.json = true;
      } else if (arg == "--papers" && i + 1 < argc) {
        a.papers = positive(i);
      } else if (arg == "--reviewers" && i + 1 < argc) {
        a.reviewers = positive(i);
      } else if (arg == "--reviews" && i + 1 < argc) {
        a.reviews = positive(i);
      } else if (arg == "--runs" && i + 1 < argc) {
        a.runs = positive(i);
      } else if (arg == "--help" || arg == "-h") {
        std::cout << "stagewise_assign_bench [--papers N] [--reviewers N] [--reviews N] "
                     "[--runs N] [--json]\n";
        return 0;
      } else {
        std::cerr << "unknown argument " << arg << " (see --help)\n";
        return 2;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "stagewise_assign_bench: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    return stagewise::bench::run(a);
  } catch (const std::exception& e) {
    std::cerr << "stagewise_assign_bench: " << e.what() << "\n";
    return 1;
  }
}
