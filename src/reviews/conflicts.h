#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Computed conflicts of interest between a reviewer and an application
// (DESIGN.md §12), NSF-style. Pure: no clock, no I/O; the engine passes the
// event's time. Thread-safe (no shared mutable state).
//
// Checking many pairs (an assignment checks every application against every
// pool reviewer): prepare each side once with prepare_application() and
// prepare_reviewer(), then call find_conflicts() on the prepared pair.
namespace stagewise::reviews {

/// One conflict of interest, as shown to program managers.
struct Conflict {
  std::string reviewer;  ///< the reviewer id
  /// One of conflict_reasons(): same_institution, recent_employer,
  /// recent_collaborator, advisor, advisee, letter_writer,
  /// declared_by_reviewer, declared_by_applicant.
  std::string reason;
  /// One sentence for a program manager: which field on which side matched
  /// what (and whether by ORCID or by name), with the date and the window
  /// where a rule is dated. Valid UTF-8, under 300 bytes, each quoted value
  /// cut at 80 bytes. Contains names and institutions: not for applicants.
  std::string evidence;
  bool operator==(const Conflict&) const = default;
};

/// Window of `recent_employer`: `until` on or after now minus this many
/// calendar months.
inline constexpr int kEmployerWindowMonths = 12;
/// Window of `recent_collaborator`, on `last`.
inline constexpr int kCollaboratorWindowMonths = 48;
/// Entries of any input array beyond this many are ignored (bounds the work).
inline constexpr std::size_t kMaxListEntries = 1000;

/// Every conflict between reviewer `reviewer_id` (profile `reviewer_profile`:
/// the data of its latest `reviewer.profile_updated`) and application
/// `application_id` (`application_facts`: {"profile": {...}, "documents":
/// [...]}), in the order of conflict_reasons(), at most one per reason and
/// matched person (or institution). Empty when there is none.
///
/// Rules:
///  - same_institution: the reviewer's `institution`, or an employer whose
///    `until` is null or absent, is the applicant's `institution` or
///    `university` or a `team` member's `institution`.
///  - recent_employer: an employer whose `until` is a string dated on or after
///    now minus kEmployerWindowMonths (a future date counts; so does a string
///    that is not a date: conservative, and the evidence says so) is one of
///    those institutions.
///  - recent_collaborator: the reviewer's `collaborators` list the applicant
///    or a team member, or the applicant's `collaborators` list the reviewer,
///    with `last` on or after now minus kCollaboratorWindowMonths (absent,
///    future or not a date: counts as recent).
///  - advisor: the reviewer's `advisees` list the applicant or a team member,
///    or the applicant's `advisors` list the reviewer. advisee: the reviewer's
///    `advisors` list the applicant or a team member, or the applicant's
///    `advisees` list the reviewer. No date.
///  - letter_writer: a document of kind recommendation_letter (or letter,
///    reference_letter) has the reviewer as `author`.
///  - declared_by_reviewer: the reviewer's `conflicts` hold `application_id`
///    or name the applicant or a team member. declared_by_applicant: the
///    applicant's `conflicts` hold `reviewer_id` or name the reviewer.
///
/// Dates: "YYYY", "YYYY-MM", "YYYY-MM-DD" stand for the END of that period
/// (UTC), else RFC 3339. Calendar months: 2026-03-31 minus 1 month is
/// 2026-02-28 at the same time of day.
///
/// Persons (a string that is a name or an ORCID iD, or {"name","orcid"}) match
/// by ORCID when both have one, names then ignored; else by fold_name() when
/// both have a non-empty name. Institutions match by fold_name(). Ids match
/// exactly. The applicant is `profile.name` + `profile.orcid`; the reviewer is
/// `reviewer_profile.name` + `.orcid`.
///
/// Robustness: any field may be missing or of another type; a wrong type is
/// treated as absent (an employer's non-string `until` thus means current).
/// Never throws (except std::bad_alloc).
///
/// Prepares both sides on every call: to check one side against many, use
/// the prepared overload below.
std::vector<Conflict> find_conflicts(const std::string& application_id,
                                     const nlohmann::json& application_facts,
                                     const std::string& reviewer_id,
                                     const nlohmann::json& reviewer_profile, int64_t now_ms);

namespace detail {
struct ApplicationData;
struct ReviewerData;
}  // namespace detail

class PreparedReviewer;

/// One application's side of find_conflicts(), derived once from its facts:
/// its parties (the applicant and the team members) with folded names,
/// ORCIDs and institutions; its collaborators (`last` parsed), advisors,
/// advisees, letters' authors and declared conflicts. Immutable; copies share
/// the data, so copying is cheap and any number of threads may use one at once.
class PreparedApplication {
 public:
  /// The application id it was prepared with.
  const std::string& id() const;

 private:
  explicit PreparedApplication(std::shared_ptr<const detail::ApplicationData> data);
  std::shared_ptr<const detail::ApplicationData> data_;  // never null

  friend PreparedApplication prepare_application(const std::string&, const nlohmann::json&);
  friend std::vector<Conflict> find_conflicts(const PreparedApplication&, const PreparedReviewer&,
                                              int64_t);
};

/// One reviewer's side of find_conflicts(), derived once from its profile: the
/// reviewer as a person, current institutions, past employers (`until`
/// parsed), collaborators (`last` parsed), advisors, advisees and declared
/// conflicts. Immutable; cheap to copy; thread-safe to share, as above.
class PreparedReviewer {
 public:
  /// The reviewer id it was prepared with.
  const std::string& id() const;

 private:
  explicit PreparedReviewer(std::shared_ptr<const detail::ReviewerData> data);
  std::shared_ptr<const detail::ReviewerData> data_;  // never null

  friend PreparedReviewer prepare_reviewer(const std::string&, const nlohmann::json&);
  friend std::vector<Conflict> find_conflicts(const PreparedApplication&, const PreparedReviewer&,
                                              int64_t);
};

/// `application_facts` of application `application_id` (as for the JSON
/// find_conflicts()), read once. Keeps no reference to the JSON, and depends
/// on no time: valid for any `now_ms`. Never throws (except std::bad_alloc).
PreparedApplication prepare_application(const std::string& application_id,
                                        const nlohmann::json& application_facts);

/// `reviewer_profile` of reviewer `reviewer_id` (as for the JSON
/// find_conflicts()), read once; as prepare_application(). Never throws
/// (except std::bad_alloc).
PreparedReviewer prepare_reviewer(const std::string& reviewer_id,
                                  const nlohmann::json& reviewer_profile);

/// Exactly what the JSON find_conflicts() returns for the JSON the two sides
/// were prepared from: the same conflicts, in the same order, with the same
/// evidence. Allocates only for the conflicts it finds. Thread-safe. Never
/// throws (except std::bad_alloc).
std::vector<Conflict> find_conflicts(const PreparedApplication& application,
                                     const PreparedReviewer& reviewer, int64_t now_ms);

/// The reason codes in rule order, for documentation and metrics labels.
std::span<const std::string_view> conflict_reasons();

}  // namespace stagewise::reviews
