#pragma once

// Internal to sim/: what the cohort generator reads out of a workflow's
// guards, and its random numbers.
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace stagewise::sim {

/// SplitMix64 with hand-written distributions: unlike std::*_distribution
/// the sequence is the same with every standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// In [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return uniform() < p; }
  /// In [0, n); n > 0.
  size_t index(size_t n) { return static_cast<size_t>(next() % n); }
  /// About N(0, 1) (Irwin–Hall: arithmetic only, so portable to the bit).
  double normal() {
    double s = 0;
    for (int i = 0; i < 12; ++i) s += uniform();
    return s - 6;
  }

 private:
  uint64_t s_;
};

/// A seed for one stream of a generator seeded with `seed`.
inline uint64_t mix(uint64_t seed, uint64_t stream) {
  Rng r(seed * 0x2545f4914f6cdd1dULL ^ (stream + 0x632be59bd9b4e019ULL));
  r.next();
  return r.next();
}

/// One comparison a guard makes of a variable with a literal: "==", "!=",
/// "<", "<=", ">", ">=", "in" (the variable is one of the literal array),
/// "has" (the literal is in the variable's array), "truthy", "falsy".
struct Constraint {
  std::string op;
  nlohmann::json literal;
};

using Constraints = std::vector<Constraint>;

/// What one transition's guard asks for, read from the guard's top-level
/// conjunction (anything under "or", "!", "if" only gives hints).
struct TransitionModel {
  const workflow::Transition* t = nullptr;
  /// event.data.FIELD → constraints, to build a trigger that passes.
  std::map<std::string, Constraints> event_data;
  /// Document kinds and how many of each the guard counts.
  std::vector<std::pair<std::string, int>> documents;
  /// Kinds the guard names elsewhere (under "or", ...): sent when the
  /// required ones alone do not let the transition through.
  std::vector<std::string> optional_documents;
  /// Reviews the guard counts (reviews.count / reviews.scored), 0 when none.
  int reviews = 0;
  /// The guard reads application.reviews.* at all.
  bool uses_reviews = false;
  /// offer.extended / offer.accepted / offer.declined the guard needs to
  /// have happened, in that order.
  std::vector<std::string> offer_steps;
};

/// A workflow, read for the generator.
struct ProgramModel {
  const workflow::Workflow* wf = nullptr;
  std::vector<TransitionModel> transitions;  ///< in file order
  /// application.profile.FIELD → constraints from any guard.
  std::map<std::string, Constraints> profile;
  /// Recommendation values guards count, the favourable one first.
  std::vector<std::string> recommendations;
};

ProgramModel build_model(const workflow::Workflow& wf);

/// A value of `field` meeting every constraint (null when none can be made).
nlohmann::json satisfying_value(const Constraints& cs, const std::string& field, Rng& rng);
/// A value breaking the first constraint that can be broken (null when none).
nlohmann::json violating_value(const Constraints& cs, Rng& rng);

}  // namespace stagewise::sim
