#pragma once

// `stagewise audit verify` (DESIGN.md §14): recomputes every hash the store
// keeps and names the first entry that does not match.

#include "common/result.h"
#include "store/store.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace stagewise::audit {

/// Where the store and its hashes disagree.
struct Finding {
  std::string application;  ///< empty for a problem of a round itself
  uint64_t sequence = 0;    ///< the history entry, 0 when none
  int32_t partition = -1;   ///< the round's partition, -1 when none
  uint64_t round = 0;
  std::string problem;
};

struct Report {
  uint64_t applications = 0;
  uint64_t entries = 0;
  uint64_t sealed = 0;
  uint64_t unsealed = 0;  ///< written before the audit existed: not covered
  uint64_t rounds = 0;
  uint64_t leaves = 0;
  /// The first problem of each broken application or partition, in the
  /// order found (at most Options::max_findings).
  std::vector<Finding> broken;
  bool ok() const { return broken.empty(); }
};

nlohmann::json to_json(const Report& r);
/// One line naming where and what, e.g. `application a-1, entry 3: ...`.
std::string describe(const Finding& f);

struct VerifyOptions {
  size_t max_findings = 100;
  /// Called now and then with the applications checked and their total.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

/// Checks the chains of `ids` (empty: every application the store serves)
/// and, for each sealed entry, that its round holds it. With every
/// application, also checks each partition's chain of rounds: every round's
/// root and digest, its link to the one before, that each of its leaves is
/// the stored entry, and that no sealed entry is missing from them.
Result<Report> verify(const store::Store& store, const std::vector<std::string>& ids,
                      const VerifyOptions& options = {});

}  // namespace stagewise::audit
