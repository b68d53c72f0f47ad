#pragma once

// Reviewer profiles and affinity scores: reference data about a reviewer,
// not about an application (DESIGN.md §12). Pure: the processor applies the
// events, the pool (pool.h) holds the result for every process to read.

#include "common/cloudevent.h"
#include "common/reasons.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace stagewise::reviews {

/// One reviewer as the pool keeps it.
struct ReviewerRecord {
  std::string id;
  uint64_t revision = 0;  ///< reference events applied to it; a newer copy has a larger one
  nlohmann::json profile = nlohmann::json::object();   ///< the merged profile
  nlohmann::json affinity = nlohmann::json::object();  ///< application id -> score in [0, 1]
  std::string updated;                                 ///< time of the last event
  std::string event;                                   ///< id of the last event
  std::string actorid;
  std::string actorrole;
  bool operator==(const ReviewerRecord&) const = default;
};

nlohmann::json to_json(const ReviewerRecord& r);
/// Inverse of to_json; nullopt when `j` is not a record.
std::optional<ReviewerRecord> reviewer_from_json(const nlohmann::json& j);

struct ProfileLimits {
  size_t max_list_items = 200;          ///< items in any list of the profile
  size_t max_profile_bytes = 64 << 10;  ///< the merged profile, encoded
  size_t max_affinity = 100'000;        ///< scores one reviewer holds
  /// All reviewers together, encoded: the pool every process holds in
  /// memory. A reference event that would grow it past this is refused.
  uint64_t max_pool_bytes = 64ull << 20;
};

/// A record's encoded size (its JSON text), as the pool counts it.
uint64_t encoded_size(const ReviewerRecord& r);

struct ReferenceRejected {
  Reason reason;
  std::string message;
};

/// Applies one `reviewer.profile_updated` (data merged into the profile as a
/// JSON merge patch: null removes a field) or `reviewer.affinity` (data
/// `{"scores": {application id: score in [0,1] or null to remove}}`) to
/// `current` (nullptr: a reviewer not seen before). Who may: program
/// managers, services and admins; a reviewer for its own profile, except
/// `programs` and `max_load` (a program manager's decision), and adding to
/// its `conflicts`, `employers`, `collaborators`, `advisors`, `advisees`
/// but never removing from them (the evidence of conflicts of interest).
/// Every field is checked; a rejection names it. Never throws.
std::variant<ReviewerRecord, ReferenceRejected> apply_reference(const ReviewerRecord* current,
                                                                const CloudEvent& e,
                                                                const ProfileLimits& limits = {});

/// Whether the reviewer serves in `program`'s pool (its `programs`).
bool serves(const nlohmann::json& profile, const std::string& program);
/// Its most assignments in `program`: `max_load` as a number (every
/// program) or an object of program -> number; nullopt when none is set
/// (no limit).
std::optional<int> max_load(const nlohmann::json& profile, const std::string& program);
/// The profile's `topics` (strings only).
std::vector<std::string> topics(const nlohmann::json& profile);

}  // namespace stagewise::reviews
