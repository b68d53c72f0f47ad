#include "reviews/assignment.h"

#include <lemon/network_simplex.h>
#include <lemon/preflow.h>
#include <lemon/smart_graph.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace stagewise::reviews {
namespace {

// Affinities are compared at this resolution by the min-cost flow.
constexpr double kScale = 1e6;
// Largest |cost| × (nodes + 1) the tie-break may produce: far below the
// 2^62 NetworkSimplex keeps for its artificial arcs.
constexpr long double kCostBudget = 1e17L;

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string fold(std::string_view s) {
  std::string out(trim(s));
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Topics as small integers, so that the affinity of a pair is a merge of
// two short sorted vectors rather than string work.
class TopicIndex {
 public:
  std::vector<int> set_of(const std::vector<std::string>& topics) {
    std::vector<int> out;
    out.reserve(topics.size());
    for (const auto& t : topics) {
      std::string key = fold(t);
      if (key.empty()) continue;
      auto [it, _] = ids_.try_emplace(std::move(key), static_cast<int>(ids_.size()));
      out.push_back(it->second);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  std::unordered_map<std::string, int> ids_;
};

double jaccard_sets(const std::vector<int>& a, const std::vector<int>& b) {
  if (a.empty() && b.empty()) return 0;
  size_t i = 0, j = 0, common = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      ++common, ++i, ++j;
    }
  }
  const size_t all = a.size() + b.size() - common;
  return static_cast<double>(common) / static_cast<double>(all);
}

struct Edge {
  int paper = 0;
  int reviewer = 0;
  double affinity = 0;
};

// The problem in canonical form: papers that need reviewers and all pool
// reviewers sorted by id, eligible edges by paper then reviewer.
struct Instance {
  std::vector<const Paper*> papers;
  std::vector<const PoolReviewer*> reviewers;
  std::vector<Edge> edges;
  std::vector<int> pool_free;     // per paper: pool reviewers not already on it
  std::vector<int> unconflicted;  // ... nor conflicted with it
  std::vector<int> eligible;      // ... and with load left
  int64_t demand = 0;             // Σ missing
  int64_t load = 0;               // Σ positive capacities
};

template <class T>
std::vector<const T*> sorted_by_id(const std::vector<T>& items, const char* what) {
  std::vector<const T*> out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(&item);
  std::sort(out.begin(), out.end(), [](const T* a, const T* b) { return a->id < b->id; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i]->id == out[i - 1]->id) {
      throw std::invalid_argument(std::string("assignment: duplicate ") + what + " id '" +
                                  out[i]->id + "'");
    }
  }
  return out;
}

using IdIndex = std::unordered_map<std::string_view, int>;

IdIndex index_of(const auto& sorted) {
  IdIndex out;
  out.reserve(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) out.emplace(sorted[i]->id, static_cast<int>(i));
  return out;
}

// Per paper: the pool reviewers it must not get, and the affinity overrides.
struct PaperLists {
  std::vector<std::vector<int>> assigned;
  std::vector<std::vector<int>> conflicted;
  std::vector<std::vector<std::pair<int, double>>> overrides;
};

PaperLists paper_lists(const AssignmentProblem& problem, const Instance& in, const IdIndex& pid,
                       const IdIndex& rid) {
  PaperLists l;
  l.assigned.resize(in.papers.size());
  l.conflicted.resize(in.papers.size());
  l.overrides.resize(in.papers.size());
  for (size_t p = 0; p < in.papers.size(); ++p) {
    for (const auto& r : in.papers[p]->assigned) {
      if (auto it = rid.find(r); it != rid.end()) l.assigned[p].push_back(it->second);
    }
  }
  for (const auto& [paper, reviewer] : problem.conflicts) {
    auto p = pid.find(paper);
    auto r = rid.find(reviewer);
    if (p != pid.end() && r != rid.end()) l.conflicted[p->second].push_back(r->second);
  }
  for (const auto& [key, value] : problem.affinity) {
    if (!(value >= 0 && value <= 1)) {
      throw std::invalid_argument("assignment: affinity of paper '" + key.first +
                                  "' and reviewer '" + key.second + "' is " +
                                  std::to_string(value) + ", outside [0, 1]");
    }
    auto p = pid.find(key.first);
    auto r = rid.find(key.second);
    if (p != pid.end() && r != rid.end()) l.overrides[p->second].emplace_back(r->second, value);
  }
  for (auto& o : l.overrides) std::sort(o.begin(), o.end());
  return l;
}

// Refuses a problem whose eligible edges would exceed the bound, before the
// pairs are enumerated when even the exclusions cannot bring it under.
void check_size(const AssignmentProblem& problem, const Instance& in) {
  int64_t with_load = 0;
  for (const auto* r : in.reviewers) with_load += r->capacity > 0 ? 1 : 0;
  int64_t excluded = static_cast<int64_t>(problem.conflicts.size());
  for (const auto* p : in.papers) excluded += static_cast<int64_t>(p->assigned.size());
  const auto candidates = static_cast<int64_t>(in.papers.size()) * with_load;
  if (candidates - excluded > static_cast<int64_t>(kMaxAssignmentEdges)) {
    throw std::invalid_argument(
        "assignment: " + std::to_string(in.papers.size()) + " applications × " +
        std::to_string(with_load) + " reviewers with load left exceed the bound of " +
        std::to_string(kMaxAssignmentEdges) + " eligible pairs; assign in smaller batches");
  }
}

// The eligible edges of paper p, counting its pool, free and eligible reviewers.
void add_edges(Instance& in, const PaperLists& l, int p, const std::vector<std::vector<int>>& pt,
               const std::vector<std::vector<int>>& rt, std::vector<int>& stamp) {
  const int on = 2 * p + 1, conflicted = 2 * p + 2;  // stamps never reset between papers
  int already = 0, blocked = 0;
  for (int r : l.assigned[p]) {
    if (stamp[r] != on) ++already;
    stamp[r] = on;
  }
  for (int r : l.conflicted[p]) {
    if (stamp[r] != on && stamp[r] != conflicted) ++blocked, stamp[r] = conflicted;
  }
  const auto& over = l.overrides[p];
  size_t o = 0;
  int eligible = 0;
  for (int r = 0; r < static_cast<int>(in.reviewers.size()); ++r) {
    if (stamp[r] == on || stamp[r] == conflicted || in.reviewers[r]->capacity <= 0) continue;
    while (o < over.size() && over[o].first < r) ++o;
    const double a =
        o < over.size() && over[o].first == r ? over[o].second : jaccard_sets(pt[p], rt[r]);
    in.edges.push_back({p, r, a});
    ++eligible;
    if (in.edges.size() > kMaxAssignmentEdges) {
      throw std::invalid_argument("assignment: more than " + std::to_string(kMaxAssignmentEdges) +
                                  " eligible pairs; assign in smaller batches");
    }
  }
  in.pool_free[p] = static_cast<int>(in.reviewers.size()) - already;
  in.unconflicted[p] = in.pool_free[p] - blocked;
  in.eligible[p] = eligible;
}

Instance canonical(const AssignmentProblem& problem) {
  Instance in;
  auto all_papers = sorted_by_id(problem.papers, "paper");
  in.reviewers = sorted_by_id(problem.reviewers, "reviewer");
  for (const auto* p : all_papers) {
    if (p->missing > 0) in.papers.push_back(p), in.demand += p->missing;
  }
  for (const auto* r : in.reviewers) in.load += std::max(r->capacity, 0);
  check_size(problem, in);
  const PaperLists lists = paper_lists(problem, in, index_of(in.papers), index_of(in.reviewers));
  TopicIndex topics;
  std::vector<std::vector<int>> pt, rt;
  for (const auto* p : in.papers) pt.push_back(topics.set_of(p->topics));
  for (const auto* r : in.reviewers) rt.push_back(topics.set_of(r->topics));
  const size_t n = in.papers.size();
  in.pool_free.resize(n), in.unconflicted.resize(n), in.eligible.resize(n);
  std::vector<int> stamp(in.reviewers.size(), 0);
  for (size_t p = 0; p < n; ++p) add_edges(in, lists, static_cast<int>(p), pt, rt, stamp);
  return in;
}

using Graph = lemon::SmartDigraph;

// source → paper (its missing count, at most its eligible reviewers),
// paper → reviewer (1, one arc per eligible edge with affinity >= floor; the
// others have no arc), reviewer → sink (load).
struct FlowNet {
  Graph g;
  Graph::Node source, sink;
  std::vector<Graph::Arc> paper_arcs, edge_arcs;
  Graph::ArcMap<int> cap{g};
  int demand = 0;  // what the source arcs can carry

  explicit FlowNet(const Instance& in, double floor = -std::numeric_limits<double>::infinity()) {
    source = g.addNode();
    sink = g.addNode();
    std::vector<Graph::Node> papers, reviewers;
    for (size_t p = 0; p < in.papers.size(); ++p) {
      papers.push_back(g.addNode());
      paper_arcs.push_back(g.addArc(source, papers.back()));
      cap[paper_arcs.back()] = std::min(in.papers[p]->missing, in.eligible[p]);
      demand += cap[paper_arcs.back()];
    }
    for (const auto* r : in.reviewers) {
      reviewers.push_back(g.addNode());
      const Graph::Arc a = g.addArc(reviewers.back(), sink);
      cap[a] = std::clamp(r->capacity, 0, static_cast<int>(in.papers.size()));
    }
    edge_arcs.assign(in.edges.size(), lemon::INVALID);
    for (size_t i = 0; i < in.edges.size(); ++i) {
      const Edge& e = in.edges[i];
      if (e.affinity < floor) continue;
      edge_arcs[i] = g.addArc(papers[e.paper], reviewers[e.reviewer]);
      cap[edge_arcs[i]] = 1;
    }
  }
  FlowNet(const FlowNet&) = delete;
  FlowNet& operator=(const FlowNet&) = delete;

  // Opens the edges with affinity >= tau, closes the others.
  void open_from(const Instance& in, double tau) {
    for (size_t i = 0; i < edge_arcs.size(); ++i) {
      if (edge_arcs[i] != lemon::INVALID) cap[edge_arcs[i]] = in.edges[i].affinity >= tau;
    }
  }
};

using MaxFlow = lemon::Preflow<Graph, Graph::ArcMap<int>>;

bool complete_from(FlowNet& net, const Instance& in, double tau) {
  net.open_from(in, tau);
  MaxFlow mf(net.g, net.cap, net.source, net.sink);
  mf.runMinCut();  // the flow value is exact after the first phase
  return mf.flowValue() == net.demand;
}

// Step 3: the largest distinct affinity τ that still admits a complete
// assignment. τ can be no higher than any paper's missing-th best edge.
double bottleneck(FlowNet& net, const Instance& in) {
  std::vector<double> values;
  values.reserve(in.edges.size());
  for (const auto& e : in.edges) values.push_back(e.affinity);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  double upper = values.empty() ? 0 : values.back();
  for (size_t i = 0, p = 0; p < in.papers.size(); ++p) {
    std::vector<double> own;
    for (; i < in.edges.size() && in.edges[i].paper == static_cast<int>(p); ++i) {
      own.push_back(in.edges[i].affinity);
    }
    const auto k = static_cast<size_t>(in.papers[p]->missing);
    std::nth_element(own.begin(), own.begin() + static_cast<std::ptrdiff_t>(k - 1), own.end(),
                     std::greater<>());
    upper = std::min(upper, own[k - 1]);
  }
  // values[lo] admits a complete assignment (values[0]: all edges), values[hi] does not.
  size_t lo = 0;
  size_t hi =
      static_cast<size_t>(std::upper_bound(values.begin(), values.end(), upper) - values.begin());
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    (complete_from(net, in, values[mid]) ? lo : hi) = mid;
  }
  return values.empty() ? 0 : values[lo];
}

// Step 4: maximum total affinity over the edges of `net` (built with the
// edges >= τ only: the pivot search never scans the closed ones), ties to
// lower reviewer ids when the tie-break fits the cost type.
std::vector<bool> max_total(FlowNet& net, const Instance& in) {
  const auto reviewers = static_cast<int64_t>(in.reviewers.size());
  int64_t unit = net.demand * reviewers + 1;  // > any assignment's tie-break sum
  const long double nodes = static_cast<long double>(lemon::countNodes(net.g)) + 1;
  if (kScale * static_cast<long double>(unit) * nodes > kCostBudget) unit = 1;
  Graph::ArcMap<int64_t> cost(net.g, 0);
  for (size_t i = 0; i < in.edges.size(); ++i) {
    if (net.edge_arcs[i] == lemon::INVALID) continue;
    const auto q = static_cast<int64_t>(std::llround(in.edges[i].affinity * kScale));
    cost[net.edge_arcs[i]] = -q * unit + (unit > 1 ? in.edges[i].reviewer : 0);
  }
  lemon::NetworkSimplex<Graph, int, int64_t> mcf(net.g);
  mcf.upperMap(net.cap).costMap(cost).stSupply(net.source, net.sink, net.demand);
  if (mcf.run() != decltype(mcf)::OPTIMAL) {
    throw std::logic_error("assignment: min-cost flow found no optimum on a feasible network");
  }
  std::vector<bool> chosen(in.edges.size());
  for (size_t i = 0; i < in.edges.size(); ++i) {
    chosen[i] = net.edge_arcs[i] != lemon::INVALID && mcf.flow(net.edge_arcs[i]) == 1;
  }
  return chosen;
}

Uncovered explain(const Instance& in, size_t p, int got) {
  const Paper& paper = *in.papers[p];
  Uncovered u{paper.id, paper.missing, in.eligible[p], "", ""};
  const std::string need =
      "needs " + std::to_string(paper.missing) + " more reviewer" + (paper.missing == 1 ? "" : "s");
  if (in.pool_free[p] < paper.missing) {
    u.reason = "pool_too_small";
    u.message = need + " but the pool has only " + std::to_string(in.pool_free[p]) +
                " besides those already on it";
  } else if (in.unconflicted[p] < paper.missing) {
    u.reason = "conflicts";
    u.message = need + "; conflicts of interest leave " + std::to_string(in.unconflicted[p]) +
                " of the pool's " + std::to_string(in.pool_free[p]);
  } else if (in.eligible[p] < paper.missing) {
    u.reason = "loads";
    u.message = need + "; only " + std::to_string(in.eligible[p]) + " of the " +
                std::to_string(in.unconflicted[p]) + " reviewers without a conflict have load left";
  } else {
    u.reason = "loads";
    u.message = need + " and " + std::to_string(in.eligible[p]) +
                " are eligible, but their remaining loads go to other applications: a maximum "
                "assignment gives it " +
                std::to_string(got) + " (the pool has " + std::to_string(in.load) +
                " reviews of load left for " + std::to_string(in.demand) + " missing)";
  }
  return u;
}

std::vector<Uncovered> uncovered(FlowNet& net, const Instance& in) {
  net.open_from(in, -std::numeric_limits<double>::infinity());
  MaxFlow mf(net.g, net.cap, net.source, net.sink);
  mf.run();
  std::vector<Uncovered> out;
  for (size_t p = 0; p < in.papers.size(); ++p) {
    const int got = mf.flow(net.paper_arcs[p]);
    if (got < in.papers[p]->missing) out.push_back(explain(in, p, got));
  }
  return out;
}

AssignmentResult summarise(const Instance& in, const std::vector<bool>& chosen) {
  AssignmentResult res;
  res.feasible = true;
  res.papers = static_cast<int>(in.papers.size());
  std::vector<bool> used(in.reviewers.size());
  std::vector<double> paper_sum(in.papers.size());
  res.min_pair_affinity = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < in.edges.size(); ++i) {
    if (!chosen[i]) continue;
    const Edge& e = in.edges[i];
    res.pairs.push_back({in.papers[e.paper]->id, in.reviewers[e.reviewer]->id, e.affinity});
    res.total_affinity += e.affinity;
    res.min_pair_affinity = std::min(res.min_pair_affinity, e.affinity);
    paper_sum[e.paper] += e.affinity;
    res.reviewers_used += used[e.reviewer] ? 0 : 1;
    used[e.reviewer] = true;
  }
  if (res.pairs.empty()) {
    res.min_pair_affinity = 0;
    return res;
  }
  res.worst_paper_mean = std::numeric_limits<double>::infinity();
  for (size_t p = 0; p < in.papers.size(); ++p) {
    res.worst_paper_mean = std::min(res.worst_paper_mean, paper_sum[p] / in.papers[p]->missing);
  }
  res.mean_affinity = res.total_affinity / static_cast<double>(res.pairs.size());
  return res;
}

}  // namespace

double jaccard(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  TopicIndex topics;
  const auto sa = topics.set_of(a);
  return jaccard_sets(sa, topics.set_of(b));
}

AssignmentResult solve_assignment(const AssignmentProblem& problem) {
  const Instance in = canonical(problem);
  double tau = 0;
  {
    FlowNet net(in);
    bool enough = true;
    for (size_t p = 0; p < in.papers.size(); ++p) enough &= in.eligible[p] >= in.papers[p]->missing;
    if (!enough || !complete_from(net, in, -std::numeric_limits<double>::infinity())) {
      AssignmentResult res;
      res.papers = static_cast<int>(in.papers.size());
      res.uncovered = uncovered(net, in);
      return res;
    }
    tau = bottleneck(net, in);
  }
  FlowNet fair(in, tau);
  return summarise(in, max_total(fair, in));
}

}  // namespace stagewise::reviews
