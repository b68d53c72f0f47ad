// The reviewer-assignment solver against independent optima: brute force on
// tiny instances, LEMON CapacityScaling and a hand-written augmenting-path max
// flow on medium ones; plus infeasibility reasons, determinism, overrides.
#include "reviews/assignment.h"

#include <gtest/gtest.h>
#include <lemon/capacity_scaling.h>
#include <lemon/smart_graph.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace stagewise::reviews {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- instances --------------------------------------------------------------

struct Shape {
  int papers = 4, reviewers = 5, reviews = 2;
  int vocabulary = 6;
  int min_capacity = 0, max_capacity = 3;
  double conflict_rate = 0.15, assigned_rate = 0.05, override_rate = 0.4;
};

std::vector<std::string> random_topics(std::mt19937& rng, int vocabulary) {
  std::uniform_int_distribution<int> count(1, 3), topic(0, vocabulary - 1);
  std::vector<std::string> out;
  for (int i = count(rng); i > 0; --i) out.push_back("t" + std::to_string(topic(rng)));
  return out;
}

AssignmentProblem random_problem(std::mt19937& rng, const Shape& s) {
  AssignmentProblem pr;
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int> capacity(s.min_capacity, s.max_capacity);
  for (int r = 0; r < s.reviewers; ++r) {
    pr.reviewers.push_back(
        {"r" + std::to_string(r), random_topics(rng, s.vocabulary), capacity(rng)});
  }
  for (int p = 0; p < s.papers; ++p) {
    Paper paper{"p" + std::to_string(p),
                u(rng) < 0.8 ? s.reviews : 1,
                random_topics(rng, s.vocabulary),
                {}};
    for (int r = 0; r < s.reviewers; ++r) {
      const std::string rid = "r" + std::to_string(r);
      if (u(rng) < s.assigned_rate) paper.assigned.push_back(rid);
      if (u(rng) < s.conflict_rate) pr.conflicts.insert({paper.id, rid});
      // Quantised to 1e-3 so that max-sum and max-min optima tie often.
      if (u(rng) < s.override_rate) pr.affinity[{paper.id, rid}] = std::round(u(rng) * 1e3) / 1e3;
    }
    pr.papers.push_back(paper);
  }
  return pr;
}

// The problem as the tests see it, computed without the solver.
struct View {
  std::vector<const Paper*> papers;  // missing > 0
  std::vector<std::vector<int>> eligible;
  std::vector<std::vector<double>> affinity;  // [paper][reviewer], -1 when not eligible
  std::vector<int> capacity;
};

View view_of(const AssignmentProblem& pr) {
  View v;
  for (const auto& r : pr.reviewers) v.capacity.push_back(std::max(r.capacity, 0));
  for (const auto& p : pr.papers) {
    if (p.missing <= 0) continue;
    v.papers.push_back(&p);
    v.eligible.emplace_back();
    v.affinity.emplace_back(pr.reviewers.size(), -1.0);
    for (size_t r = 0; r < pr.reviewers.size(); ++r) {
      const auto& rev = pr.reviewers[r];
      const std::pair<std::string, std::string> key{p.id, rev.id};
      const bool on = std::find(p.assigned.begin(), p.assigned.end(), rev.id) != p.assigned.end();
      if (on || pr.conflicts.contains(key) || rev.capacity <= 0) continue;
      v.eligible.back().push_back(static_cast<int>(r));
      auto o = pr.affinity.find(key);
      v.affinity.back()[r] = o != pr.affinity.end() ? o->second : jaccard(p.topics, rev.topics);
    }
  }
  return v;
}

// Every hard constraint of the contract, and the reported figures.
void expect_valid(const AssignmentProblem& pr, const AssignmentResult& res) {
  ASSERT_TRUE(res.feasible);
  EXPECT_TRUE(res.uncovered.empty());
  EXPECT_TRUE(std::is_sorted(res.pairs.begin(), res.pairs.end(), [](const Pair& a, const Pair& b) {
    return std::tie(a.paper, a.reviewer) < std::tie(b.paper, b.reviewer);
  }));
  std::map<std::string, int> load, got;
  std::set<std::pair<std::string, std::string>> seen;
  double total = 0, weakest = kInf;
  for (const auto& pair : res.pairs) {
    EXPECT_FALSE(pr.conflicts.contains({pair.paper, pair.reviewer})) << pair.paper << pair.reviewer;
    EXPECT_TRUE(seen.insert({pair.paper, pair.reviewer}).second) << "twice: " << pair.paper;
    ++load[pair.reviewer], ++got[pair.paper];
    total += pair.affinity, weakest = std::min(weakest, pair.affinity);
  }
  for (const auto& r : pr.reviewers) EXPECT_LE(load[r.id], std::max(r.capacity, 0)) << r.id;
  const View v = view_of(pr);
  for (size_t p = 0; p < v.papers.size(); ++p) {
    const Paper& paper = *v.papers[p];
    EXPECT_EQ(got[paper.id], paper.missing) << paper.id;
    for (const auto& r : paper.assigned) EXPECT_FALSE(seen.contains({paper.id, r})) << paper.id;
  }
  for (const auto& pair : res.pairs) {
    const auto p = std::find_if(v.papers.begin(), v.papers.end(),
                                [&](const Paper* x) { return x->id == pair.paper; });
    ASSERT_NE(p, v.papers.end());
    const auto r = std::stoi(pair.reviewer.substr(1));
    EXPECT_DOUBLE_EQ(pair.affinity, v.affinity[p - v.papers.begin()][r]);
  }
  EXPECT_NEAR(res.total_affinity, total, 1e-9);
  if (!res.pairs.empty()) {
    EXPECT_DOUBLE_EQ(res.min_pair_affinity, weakest);
  }
  EXPECT_EQ(res.papers, static_cast<int>(v.papers.size()));
}

// ---- brute force --------------------------------------------------------------

struct Optima {
  bool feasible = false;
  double max_sum = -kInf;           // best total, unconstrained
  double max_min = -kInf;           // best weakest pair
  double total_at_max_min = -kInf;  // best total among those with the best weakest pair
};

Optima brute_force(const View& v) {
  std::vector<std::pair<double, double>> all;  // (weakest, total) of each complete assignment
  std::vector<int> left = v.capacity;
  std::function<void(size_t, size_t, int, double, double)> go = [&](size_t p, size_t from, int need,
                                                                    double weakest, double total) {
    if (p == v.papers.size()) return all.push_back({weakest, total});
    if (need == 0)
      return go(p + 1, 0, p + 1 < v.papers.size() ? v.papers[p + 1]->missing : 0, weakest, total);
    for (size_t i = from; i < v.eligible[p].size(); ++i) {
      const int r = v.eligible[p][i];
      if (left[r] == 0) continue;
      --left[r];
      const double a = v.affinity[p][r];
      go(p, i + 1, need - 1, std::min(weakest, a), total + a);
      ++left[r];
    }
  };
  go(0, 0, v.papers.empty() ? 0 : v.papers[0]->missing, kInf, 0);
  Optima o;
  o.feasible = !all.empty();
  for (const auto& [w, t] : all)
    o.max_sum = std::max(o.max_sum, t), o.max_min = std::max(o.max_min, w);
  for (const auto& [w, t] : all) {
    if (w == o.max_min) o.total_at_max_min = std::max(o.total_at_max_min, t);
  }
  return o;
}

// ---- independent methods for medium instances ---------------------------------

// Whether the edges with affinity >= tau admit a complete assignment:
// augmenting paths (DFS) on a capacity matrix, written here, not LEMON.
bool complete_with(const View& v, double tau) {
  const int n = static_cast<int>(v.papers.size()), m = static_cast<int>(v.capacity.size());
  const int s = n + m, t = s + 1;
  std::vector<std::vector<int>> c(t + 1, std::vector<int>(t + 1, 0));
  int demand = 0;
  for (int p = 0; p < n; ++p) {
    c[s][p] = v.papers[p]->missing, demand += c[s][p];
    for (int r : v.eligible[p]) c[p][n + r] = v.affinity[p][r] >= tau ? 1 : 0;
  }
  for (int r = 0; r < m; ++r) c[n + r][t] = v.capacity[r];
  std::vector<bool> seen;
  std::function<bool(int)> augment = [&](int x) {
    if (x == t) return true;
    seen[x] = true;
    for (int y = 0; y <= t; ++y) {
      if (c[x][y] > 0 && !seen[y] && augment(y)) return --c[x][y], ++c[y][x], true;
    }
    return false;
  };
  int flow = 0;
  for (seen.assign(t + 1, false); augment(s); seen.assign(t + 1, false)) ++flow;
  return flow == demand;
}

struct MaxSum {
  double total = -kInf;
  double weakest = kInf;
};

// The best total over the edges with affinity >= tau, by LEMON's
// CapacityScaling: successive shortest paths, a different min-cost-flow
// algorithm from the solver's NetworkSimplex. (CostScaling would be the other
// choice, but LEMON 1.3.1's static_graph.h it includes does not compile as
// C++20: std::allocator::construct is gone.)
MaxSum max_sum(const View& v, double tau) {
  using G = lemon::SmartDigraph;
  G g;
  G::ArcMap<int> cap(g);
  G::ArcMap<long long> cost(g, 0);
  const G::Node s = g.addNode(), t = g.addNode();
  std::vector<G::Node> rn;
  for (int c : v.capacity) rn.push_back(g.addNode()), cap[g.addArc(rn.back(), t)] = c;
  std::vector<std::tuple<G::Arc, double>> edges;
  int demand = 0;
  for (size_t p = 0; p < v.papers.size(); ++p) {
    const G::Node pn = g.addNode();
    cap[g.addArc(s, pn)] = v.papers[p]->missing, demand += v.papers[p]->missing;
    for (int r : v.eligible[p]) {
      const double a = v.affinity[p][r];
      if (a < tau) continue;
      const G::Arc arc = g.addArc(pn, rn[r]);
      cap[arc] = 1, cost[arc] = -std::llround(a * 1e6);
      edges.emplace_back(arc, a);
    }
  }
  lemon::CapacityScaling<G, int, long long> cs(g);
  cs.upperMap(cap).costMap(cost).stSupply(s, t, demand);
  MaxSum out;
  if (cs.run() != decltype(cs)::OPTIMAL) return out;
  out.total = 0;
  for (const auto& [arc, a] : edges) {
    if (cs.flow(arc) == 1) out.total += a, out.weakest = std::min(out.weakest, a);
  }
  return out;
}

// ---- randomised against the optima ---------------------------------------------

TEST(AssignmentTest, TinyInstancesMatchBruteForce) {
  int feasible = 0, binding = 0;
  for (unsigned seed = 1; seed <= 400; ++seed) {
    std::mt19937 rng(seed);
    const AssignmentProblem pr = random_problem(rng, Shape{});
    const AssignmentResult res = solve_assignment(pr);
    const Optima best = brute_force(view_of(pr));
    ASSERT_EQ(res.feasible, best.feasible) << "seed " << seed;
    if (!best.feasible) {
      EXPECT_TRUE(res.pairs.empty()) << "seed " << seed;
      EXPECT_FALSE(res.uncovered.empty()) << "seed " << seed;
      for (const auto& u : res.uncovered) {
        EXPECT_TRUE(u.reason == "pool_too_small" || u.reason == "conflicts" || u.reason == "loads")
            << u.reason;
      }
      continue;
    }
    ++feasible;
    expect_valid(pr, res);
    // τ is the best achievable weakest pair, and the total the best at τ.
    EXPECT_DOUBLE_EQ(res.min_pair_affinity, best.max_min) << "seed " << seed;
    EXPECT_NEAR(res.total_affinity, best.total_at_max_min, 1e-5) << "seed " << seed;
    if (best.total_at_max_min >= best.max_sum - 1e-9) {
      EXPECT_GE(res.total_affinity, 0.99 * best.max_sum) << "seed " << seed;
    } else {
      ++binding;
    }
  }
  EXPECT_GT(feasible, 100);  // the seeds exercise both outcomes
  EXPECT_GT(binding, 10);    // and fairness that costs total affinity
}

TEST(AssignmentTest, MediumInstancesMatchCapacityScalingAndFlow) {
  const Shape medium{30, 12, 2, 10, 4, 8, 0.1, 0.03, 0.5};
  int binding = 0, unbound = 0;
  for (unsigned seed = 1; seed <= 60; ++seed) {
    std::mt19937 rng(seed);
    const AssignmentProblem pr = random_problem(rng, medium);
    const View v = view_of(pr);
    const AssignmentResult res = solve_assignment(pr);
    ASSERT_EQ(res.feasible, complete_with(v, -kInf)) << "seed " << seed;
    if (!res.feasible) continue;
    expect_valid(pr, res);
    const double tau = res.min_pair_affinity;
    EXPECT_TRUE(complete_with(v, tau)) << "seed " << seed;
    EXPECT_FALSE(complete_with(v, std::nextafter(tau, kInf))) << "seed " << seed << ": τ not max";
    const MaxSum unconstrained = max_sum(v, -kInf), at_tau = max_sum(v, tau);
    EXPECT_NEAR(res.total_affinity, at_tau.total, 1e-4) << "seed " << seed;
    EXPECT_LE(res.total_affinity, unconstrained.total + 1e-4) << "seed " << seed;
    EXPECT_GE(res.min_pair_affinity, unconstrained.weakest) << "seed " << seed;
    if (unconstrained.weakest >= tau) {
      ++unbound;  // fairness does not bind: the max-sum optimum itself qualifies
      EXPECT_GE(res.total_affinity, 0.99 * unconstrained.total) << "seed " << seed;
    } else {
      ++binding;
    }
  }
  EXPECT_GT(unbound, 5);  // both regimes, as measured: 41 and 19 of 60
  EXPECT_GT(binding, 5);
}

TEST(AssignmentTest, ShuffledInputGivesIdenticalPairs) {
  const Shape ties{30, 12, 2, 5, 4, 8, 0.1, 0.03, 0.0};  // small vocabulary: many ties
  for (unsigned seed = 1; seed <= 25; ++seed) {
    std::mt19937 rng(seed);
    AssignmentProblem pr = random_problem(rng, ties);
    const AssignmentResult first = solve_assignment(pr);
    std::shuffle(pr.papers.begin(), pr.papers.end(), rng);
    std::shuffle(pr.reviewers.begin(), pr.reviewers.end(), rng);
    for (auto& p : pr.papers) {
      std::shuffle(p.topics.begin(), p.topics.end(), rng);
      std::shuffle(p.assigned.begin(), p.assigned.end(), rng);
    }
    for (auto& r : pr.reviewers) std::shuffle(r.topics.begin(), r.topics.end(), rng);
    const AssignmentResult again = solve_assignment(pr);
    EXPECT_EQ(first.feasible, again.feasible) << "seed " << seed;
    EXPECT_EQ(first.pairs, again.pairs) << "seed " << seed;
    EXPECT_EQ(first.total_affinity, again.total_affinity) << "seed " << seed;
    EXPECT_EQ(first.uncovered.size(), again.uncovered.size()) << "seed " << seed;
  }
}

// ---- hand-built cases ------------------------------------------------------------

PoolReviewer reviewer(std::string id, std::vector<std::string> topics, int capacity = 5) {
  return {std::move(id), std::move(topics), capacity};
}

TEST(AssignmentTest, FairnessFirstThenTotal) {
  // Max-sum would give x-a (1.0) + y-b (0.0) = 1.0; the fair answer lifts y.
  AssignmentProblem pr;
  pr.papers = {{"x", 1, {}, {}}, {"y", 1, {}, {}}};
  pr.reviewers = {reviewer("a", {}, 1), reviewer("b", {}, 1)};
  pr.affinity = {{{"x", "a"}, 1.0}, {{"x", "b"}, 0.3}, {{"y", "a"}, 0.5}, {{"y", "b"}, 0.0}};
  const AssignmentResult res = solve_assignment(pr);
  ASSERT_TRUE(res.feasible);
  EXPECT_EQ(res.pairs, (std::vector<Pair>{{"x", "b", 0.3}, {"y", "a", 0.5}}));
  EXPECT_DOUBLE_EQ(res.min_pair_affinity, 0.3);
  EXPECT_DOUBLE_EQ(res.total_affinity, 0.8);
  EXPECT_DOUBLE_EQ(res.worst_paper_mean, 0.3);
  EXPECT_DOUBLE_EQ(res.mean_affinity, 0.4);
  EXPECT_EQ(res.reviewers_used, 2);
}

TEST(AssignmentTest, JaccardAffinityThroughTheSolver) {
  AssignmentProblem pr;
  pr.papers = {{"x", 1, {"ml", "nlp"}, {}}, {"y", 1, {"bio"}, {}}};
  pr.reviewers = {reviewer("a", {"ML", " nlp "}, 1), reviewer("b", {"bio", "nlp"}, 1)};
  const AssignmentResult res = solve_assignment(pr);
  ASSERT_TRUE(res.feasible);
  EXPECT_EQ(res.pairs, (std::vector<Pair>{{"x", "a", 1.0}, {"y", "b", 0.5}}));
  EXPECT_DOUBLE_EQ(res.worst_paper_mean, 0.5);
}

TEST(AssignmentTest, OverridesTakePrecedenceOverJaccard) {
  AssignmentProblem pr;
  pr.papers = {{"x", 1, {"ml"}, {}}};
  pr.reviewers = {reviewer("a", {"ml"}), reviewer("b", {"bio"})};
  EXPECT_EQ(solve_assignment(pr).pairs, (std::vector<Pair>{{"x", "a", 1.0}}));
  pr.affinity = {{{"x", "b"}, 0.9}, {{"x", "a"}, 0.2}, {{"ghost", "a"}, 1.0}};
  EXPECT_EQ(solve_assignment(pr).pairs, (std::vector<Pair>{{"x", "b", 0.9}}));
  pr.affinity = {{{"x", "a"}, 0.0}};  // an override of 0 still replaces Jaccard's 1
  EXPECT_EQ(solve_assignment(pr).pairs, (std::vector<Pair>{{"x", "a", 0.0}}));
}

TEST(AssignmentTest, TiesGoToLowerReviewerIds) {
  AssignmentProblem pr;
  pr.papers = {{"x", 2, {"ml"}, {}}};
  pr.reviewers = {reviewer("d", {"ml"}), reviewer("b", {"ml"}), reviewer("c", {"ml"}),
                  reviewer("a", {"bio"})};
  EXPECT_EQ(solve_assignment(pr).pairs, (std::vector<Pair>{{"x", "b", 1.0}, {"x", "c", 1.0}}));
}

TEST(AssignmentTest, AssignedConflictedAndFullReviewersAreNeverChosen) {
  AssignmentProblem pr;
  pr.papers = {{"x", 1, {"ml"}, {"a"}}, {"done", 0, {"ml"}, {}}};
  pr.reviewers = {reviewer("a", {"ml"}), reviewer("b", {"ml"}), reviewer("c", {"ml"}, 0),
                  reviewer("d", {"bio"})};
  pr.conflicts = {{"x", "b"}};
  const AssignmentResult res = solve_assignment(pr);
  ASSERT_TRUE(res.feasible);
  EXPECT_EQ(res.pairs, (std::vector<Pair>{{"x", "d", 0.0}}));
  EXPECT_EQ(res.papers, 1);  // "done" needs nobody
}

TEST(AssignmentTest, NothingToDoIsFeasibleAndEmpty) {
  AssignmentProblem pr;
  pr.papers = {{"x", 0, {}, {}}, {"y", -2, {}, {}}};
  const AssignmentResult res = solve_assignment(pr);
  EXPECT_TRUE(res.feasible);
  EXPECT_TRUE(res.pairs.empty());
  EXPECT_EQ(res.papers, 0);
  EXPECT_EQ(res.min_pair_affinity, 0);
}

// ---- infeasible ----------------------------------------------------------------

const Uncovered* find(const AssignmentResult& res, const std::string& paper) {
  for (const auto& u : res.uncovered) {
    if (u.paper == paper) return &u;
  }
  return nullptr;
}

TEST(AssignmentTest, InfeasibleReasonsAndNothingPartial) {
  AssignmentProblem pr;
  pr.reviewers = {reviewer("a", {}), reviewer("b", {}), reviewer("c", {}), reviewer("d", {}, 0)};
  pr.papers = {{"small", 5, {}, {}},           // 4 in the pool
               {"small2", 3, {}, {"a", "b"}},  // 2 left besides those on it
               {"conf", 3, {}, {}},            // conflicts leave 2 of 4
               {"full", 4, {}, {}},            // d has no load left: 3 eligible
               {"fine", 1, {}, {}}};           // could be served alone
  pr.conflicts = {{"conf", "a"}, {"conf", "b"}};
  const AssignmentResult res = solve_assignment(pr);
  EXPECT_FALSE(res.feasible);
  EXPECT_TRUE(res.pairs.empty());
  ASSERT_NE(find(res, "small"), nullptr);
  EXPECT_EQ(find(res, "small")->reason, "pool_too_small");
  EXPECT_EQ(find(res, "small")->missing, 5);
  EXPECT_EQ(find(res, "small")->eligible, 3);
  ASSERT_NE(find(res, "small2"), nullptr);
  EXPECT_EQ(find(res, "small2")->reason, "pool_too_small");
  ASSERT_NE(find(res, "conf"), nullptr);
  EXPECT_EQ(find(res, "conf")->reason, "conflicts");
  EXPECT_EQ(find(res, "conf")->eligible, 1);
  ASSERT_NE(find(res, "full"), nullptr);
  EXPECT_EQ(find(res, "full")->reason, "loads");
  EXPECT_EQ(find(res, "full")->eligible, 3);
  for (const auto& u : res.uncovered) EXPECT_FALSE(u.message.empty()) << u.paper;
  EXPECT_NE(find(res, "conf")->message.find("conflicts of interest leave 2"), std::string::npos)
      << find(res, "conf")->message;
}

TEST(AssignmentTest, ContendedLoadsAreReportedAsLoads) {
  // x and y need 2 each from a and b (load 1 each); z has its own reviewer.
  AssignmentProblem pr;
  pr.reviewers = {reviewer("a", {}, 1), reviewer("b", {}, 1), reviewer("z", {}, 1)};
  pr.papers = {{"x", 2, {}, {}}, {"y", 2, {}, {}}, {"z", 1, {}, {}}};
  pr.conflicts = {{"x", "z"}, {"y", "z"}};
  const AssignmentResult res = solve_assignment(pr);
  EXPECT_FALSE(res.feasible);
  EXPECT_TRUE(res.pairs.empty());
  EXPECT_EQ(find(res, "z"), nullptr);  // every maximum assignment completes z
  ASSERT_FALSE(res.uncovered.empty());
  int short_by = 0;
  for (const auto& u : res.uncovered) {
    EXPECT_EQ(u.reason, "loads") << u.paper;
    EXPECT_EQ(u.eligible, 2) << u.paper;
    EXPECT_NE(u.message.find("other applications"), std::string::npos) << u.message;
    short_by += u.missing;
  }
  EXPECT_GE(short_by, 2);
}

TEST(AssignmentTest, TotalLoadShortIsLoads) {
  AssignmentProblem pr;
  pr.reviewers = {reviewer("a", {}, 1), reviewer("b", {}, 1), reviewer("c", {}, 1)};
  pr.papers = {{"x", 2, {}, {}}, {"y", 2, {}, {}}};
  const AssignmentResult res = solve_assignment(pr);
  EXPECT_FALSE(res.feasible);
  EXPECT_TRUE(res.pairs.empty());
  ASSERT_EQ(res.uncovered.size(), 1u);  // a maximum assignment completes one of them
  EXPECT_EQ(res.uncovered[0].reason, "loads");
  EXPECT_NE(res.uncovered[0].message.find("3 reviews of load left for 4"), std::string::npos)
      << res.uncovered[0].message;
}

// ---- input errors ----------------------------------------------------------------

TEST(AssignmentTest, RejectsBadInput) {
  AssignmentProblem dup;
  dup.papers = {{"x", 1, {}, {}}, {"x", 1, {}, {}}};
  dup.reviewers = {reviewer("a", {})};
  EXPECT_THROW(solve_assignment(dup), std::invalid_argument);
  AssignmentProblem dup_r;
  dup_r.reviewers = {reviewer("a", {}), reviewer("a", {})};
  EXPECT_THROW(solve_assignment(dup_r), std::invalid_argument);
  AssignmentProblem range;
  range.papers = {{"x", 1, {}, {}}};
  range.reviewers = {reviewer("a", {})};
  range.affinity = {{{"x", "a"}, 1.5}};
  EXPECT_THROW(solve_assignment(range), std::invalid_argument);
  range.affinity = {{{"x", "a"}, std::nan("")}};
  EXPECT_THROW(solve_assignment(range), std::invalid_argument);
}

TEST(AssignmentTest, RefusesProblemsAboveTheEdgeBound) {
  AssignmentProblem big;
  for (int p = 0; p < 2600; ++p) big.papers.push_back({"p" + std::to_string(p), 1, {}, {}});
  for (int r = 0; r < 2000; ++r) big.reviewers.push_back(reviewer("r" + std::to_string(r), {}, 2));
  try {
    (void)solve_assignment(big);
    FAIL() << "5.2 M eligible pairs accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("5000000"), std::string::npos) << e.what();
  }
}

// ---- Jaccard ---------------------------------------------------------------------

TEST(JaccardTest, Basics) {
  EXPECT_DOUBLE_EQ(jaccard({"a", "b"}, {"b", "c"}), 1.0 / 3);
  EXPECT_DOUBLE_EQ(jaccard({"a"}, {"a"}), 1.0);
  EXPECT_DOUBLE_EQ(jaccard({"a"}, {"b"}), 0.0);
  EXPECT_DOUBLE_EQ(jaccard({}, {}), 0.0);
  EXPECT_DOUBLE_EQ(jaccard({"a"}, {}), 0.0);
}

TEST(JaccardTest, CaseTrimDuplicatesAndBlanks) {
  EXPECT_DOUBLE_EQ(jaccard({" Machine Learning", "NLP", "nlp"}, {"machine learning\t", "nlp"}),
                   1.0);
  EXPECT_DOUBLE_EQ(jaccard({"a", "a", "a", "b"}, {"a"}), 0.5);
  EXPECT_DOUBLE_EQ(jaccard({"a", "  ", ""}, {"a"}), 1.0);
  EXPECT_DOUBLE_EQ(jaccard({" "}, {""}), 0.0);
  EXPECT_DOUBLE_EQ(jaccard({"machine-learning"}, {"machine learning"}), 0.0);
}

}  // namespace
}  // namespace stagewise::reviews
