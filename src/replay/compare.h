#pragma once

// `stagewise replay --verify` (DESIGN.md §5.4): is the replayed store the
// original, application by application?
#include "common/result.h"
#include "store/store.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace stagewise::replay {

/// Where two stores first disagree about an application.
struct Difference {
  enum class Kind { differs, only_in_replay, only_in_store };
  Kind kind = Kind::differs;
  std::string application;
  /// For `differs`: the field, as a JSON pointer without the leading slash
  /// into the application's comparable form (comparable_application):
  /// "stage", "facts/reviews/0/score", "history/3/type", "timers/0/due".
  std::string path;
  /// The values at `path` (null where absent). They may be personal data:
  /// show them only when asked to.
  nlohmann::json replay, store;
};

struct CompareOptions {
  /// The replay runs without timers: the original's fired reminders (and
  /// deadlines whose event changed nothing) are gone from its store but
  /// pending in the replay. A replay timer due before this time (ms) that
  /// the original does not hold is taken as fired there, not as a
  /// difference; `verify` passes the time it runs.
  int64_t fired_before_ms = 0;
  /// Called now and then with the applications compared so far and their total.
  std::function<void(uint64_t done, uint64_t total)> progress;
  int max_depth = 64;  ///< deeper values are compared whole
};

struct Comparison {
  uint64_t applications = 0;     ///< in either store
  uint64_t history_entries = 0;  ///< of the applications in both
  uint64_t differing = 0;        ///< applications that differ or are in one store only
  std::optional<Difference> first;
  bool equal() const { return differing == 0; }
};

/// What --verify compares of an application: what the store API returns
/// decoded, as a read shows it (workflow::to_json: stage, times, sequence,
/// facts with documents, reviews, profile and the erased mark, stays,
/// self-identification), plus "timers" (the pending ones) and "history"
/// (store::to_json of each entry: sequence, id, source, type, time, actor,
/// principal, stages, transition, note, data). Never compared: the audit's
/// head and each entry's chain and round, and where an entry was read
/// (topic, partition, offset): a replay reads another broker's log, and
/// ciphertexts and chains differ between stores by design.
Result<nlohmann::json> comparable_application(const store::Store& store, const std::string& id);

/// The first path at which `a` and `b` differ, in key order for objects and
/// index order for arrays; nullopt when equal.
std::optional<std::string> first_difference(const nlohmann::json& a, const nlohmann::json& b,
                                            int max_depth = 64);

/// Compares every application of `replay` with `store`, in id order, and
/// keeps the first difference. Reads only: both may be open read-only (the
/// store also while serve runs on it).
Result<Comparison> compare(const store::Store& replay, const store::Store& store,
                           const CompareOptions& options = {});

}  // namespace stagewise::replay
