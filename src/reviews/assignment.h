#pragma once

// Reviewer assignment (DESIGN.md §12): which reviewers of a program's pool
// complete the applications in review that are short of the stage's reviewer
// count. A pure function of its input, solved with LEMON's max-flow and
// min-cost-flow algorithms; it knows no log, store or HTTP.
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace stagewise::reviews {

/// An application that needs reviewers.
struct Paper {
  std::string id;
  int missing = 0;                    ///< reviewers still to find; <= 0: ignored
  std::vector<std::string> topics;    ///< for the Jaccard affinity
  std::vector<std::string> assigned;  ///< reviewers already on it: never chosen again
};

/// A reviewer of the program's pool.
struct PoolReviewer {
  std::string id;
  std::vector<std::string> topics;
  int capacity = 0;  ///< max_load minus its current load; <= 0: takes none
};

struct AssignmentProblem {
  std::vector<Paper> papers;
  std::vector<PoolReviewer> reviewers;
  /// (paper id, reviewer id): never assigned.
  std::set<std::pair<std::string, std::string>> conflicts;
  /// (paper id, reviewer id) -> a precomputed score in [0, 1] that replaces
  /// the Jaccard affinity of that pair (`reviewer.affinity`, OpenReview-style
  /// imports). Pairs naming an unknown paper or reviewer are ignored.
  std::map<std::pair<std::string, std::string>, double> affinity;
};

/// One new reviewer on one application.
struct Pair {
  std::string paper;
  std::string reviewer;
  double affinity = 0;

  bool operator==(const Pair&) const = default;
};

/// Why an application cannot get its reviewers.
struct Uncovered {
  std::string paper;
  int missing = 0;   ///< reviewers it needs (Paper::missing)
  int eligible = 0;  ///< pool reviewers neither conflicted, already on it, nor out of load
  /// "pool_too_small": the pool, less the reviewers already on it, is smaller
  ///   than `missing`;
  /// "conflicts": conflicts of interest leave fewer than `missing`;
  /// "loads": the reviewers left have no load left (capacity <= 0), or enough
  ///   are eligible but their remaining loads go to other applications (the
  ///   pool's total remaining load is short, or contended).
  std::string reason;
  std::string message;  ///< one sentence for the program manager, with the counts
};

struct AssignmentResult {
  /// false: `pairs` is empty (nothing partial is ever proposed) and
  /// `uncovered` says which applications cannot be completed and why.
  bool feasible = false;
  std::vector<Pair> pairs;           ///< sorted by paper id, then reviewer id
  std::vector<Uncovered> uncovered;  ///< sorted by paper id
  double total_affinity = 0;
  double min_pair_affinity = 0;  ///< the weakest new pair: the fairness level reached
  double worst_paper_mean = 0;   ///< the lowest mean affinity of an application's new reviewers
  double mean_affinity = 0;      ///< over the new pairs
  int papers = 0;                ///< applications that needed reviewers (missing > 0)
  int reviewers_used = 0;        ///< distinct reviewers in `pairs`
};

/// Upper bound on the eligible (paper, reviewer) pairs of one problem; larger
/// problems are refused before any solving (see solve_assignment). Measured
/// near it (10,000 applications × 500 reviewers, 4.9 M pairs, Jaccard
/// affinities): 8 s and 270 MB on one core; many distinct override values
/// add binary-search steps. Beyond it, assign in batches.
inline constexpr std::size_t kMaxAssignmentEdges = 5'000'000;

/// Jaccard similarity |A ∩ B| / |A ∪ B| of two topic lists. Topics compare
/// after trimming ASCII white space and ASCII case folding; duplicates and
/// blank topics are ignored. 0 when both lists are empty.
double jaccard(const std::vector<std::string>& a, const std::vector<std::string>& b);

/// Chooses, for every application with `missing > 0`, exactly `missing` new
/// reviewers such that no pair is conflicted, no reviewer is chosen twice for
/// one application nor chosen when already on it, and no reviewer gets more
/// than its `capacity` — fairness first, then total affinity.
///
/// Method (papers and reviewers are first sorted by id, so the graph and the
/// answer do not depend on the order of the input):
///  1. Eligible edges (p, r): r not conflicted with p, not already on p,
///     capacity > 0. Affinity: the `affinity` override of (p, r) when
///     present, else jaccard(p.topics, r.topics).
///  2. Feasibility: a maximum flow (LEMON Preflow; source→paper capacity
///     `missing`, paper→reviewer capacity 1, reviewer→sink capacity
///     `capacity`) must carry Σ missing. If not, the result is infeasible
///     and `uncovered` lists every application with fewer eligible reviewers
///     than it needs, plus every application that this (deterministic)
///     maximum flow leaves short, with its reason.
///  3. Fairness: the largest threshold τ among the distinct edge affinities
///     such that the edges with affinity >= τ still admit a complete
///     assignment (binary search, one maximum flow per step). τ is the best
///     possible weakest pair: no complete assignment has a weakest pair
///     above it (exact).
///  4. Total: a minimum-cost flow (LEMON NetworkSimplex, integral costs
///     -round(affinity · 1e6)) on the edges with affinity >= τ maximises the
///     total affinity among the assignments whose weakest pair is >= τ.
///     Min-cost flow has an integral optimum, hence a 0/1 assignment.
///  5. Ties between assignments of equal total (at the 1e-6 resolution) go
///     to lower reviewer ids (the least sum of the chosen reviewers' ranks in
///     id order): a tie-break term whose sum over a whole assignment stays
///     below one unit of that resolution, so it never overrides an affinity
///     difference. It is dropped when it would not fit a 64-bit cost with a
///     wide margin (Σ missing × reviewers × (applications + reviewers) >
///     10^11, e.g. 10,000 applications × 500 reviewers × 3); the canonical
///     order and LEMON's deterministic pivoting then decide among ties.
///
/// Guarantee: when feasible, `min_pair_affinity` is the maximum over all
/// complete assignments of their weakest pair, and `total_affinity` is the
/// maximum total among those reaching it, up to the 1e-6 quantisation of
/// each pair's affinity. The same problem, in any order of papers, reviewers,
/// topics or assigned lists, gives the same pairs.
///
/// Throws std::invalid_argument (message names the offender) on duplicate
/// paper or reviewer ids, an override outside [0, 1] (or NaN), or more than
/// kMaxAssignmentEdges eligible pairs. Pure and reentrant: concurrent calls
/// are safe.
AssignmentResult solve_assignment(const AssignmentProblem& problem);

}  // namespace stagewise::reviews
