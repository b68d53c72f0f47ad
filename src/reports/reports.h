#pragma once

// The program office's reports (DESIGN.md §13), computed from rows
// (row.h): the funnel, time in stage, fairness by stage with the
// four-fifths rule, reviewers' scores by group, and the hubs.
//
// Each report is made in two steps so that several processes can answer
// together (DESIGN.md §9): every process tallies the rows of its own
// partitions (a Tally, mergeable, sent as JSON between processes), then the
// one asked merges the tallies and finishes the report. Suppression and
// rates are applied only to the merged tally, so no process's part reveals
// what the whole would hide.

#include "reports/row.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace stagewise::reports {

/// What a report is asked: which applications (filter), which attribute of
/// the self-identification (fairness), the smallest group shown, and the
/// waiting time worth flagging.
struct Query {
  Filter filter;
  std::string attribute;
  uint64_t min_cell = 5;
  int64_t threshold_ms = 30LL * 24 * 3600 * 1000;
  int64_t now_ms = 0;
};

/// The counts every report is finished from. Sums of counts and lists of
/// durations, so tallies of disjoint sets of applications merge exactly.
struct Tally {
  uint64_t total = 0;
  std::map<std::string, uint64_t> now;      ///< stage -> applications in it now
  std::map<std::string, uint64_t> reached;  ///< stage -> applications that ever entered it
  std::map<std::string, uint64_t> overdue;  ///< stage -> in it past its deadline
  /// stage -> milliseconds of each finished stay / of each stay in progress
  std::map<std::string, std::vector<int64_t>> spent, waiting;
  /// group (of Query::attribute) -> applications; -> stage -> reached
  std::map<std::string, uint64_t> group_n;
  std::map<std::string, std::map<std::string, uint64_t>> group_reached;
  /// reviewer -> group -> (sum of scores, reviews)
  std::map<std::string, std::map<std::string, std::pair<double, uint64_t>>> scores;
  /// hub -> stage -> applications in it now
  std::map<std::string, std::map<std::string, uint64_t>> hubs;

  /// Adds one application (the caller checked the filter).
  void add(const Row& row, const workflow::Workflow& wf, const Query& q);
  void merge(const Tally& other);
};

nlohmann::json to_json(const Tally& t);
/// Inverse of to_json; throws nlohmann::json::exception on a malformed part.
Tally tally_from_json(const nlohmann::json& j);

/// {"program","total","active","decided","overdue","stages":[{"stage",
/// "title","terminal","now","reached","conversion","overall","overdue"}]}:
/// stages in flow order (workflow::flow_order); conversion = reached / the
/// previous open stage's reached (null for the first and for terminal
/// stages), overall = reached / total.
nlohmann::json funnel_report(const workflow::Workflow& wf, const Tally& t);

/// {"program","threshold_seconds","stages":[{"stage","terminal","finished":
/// {"count","p50","p90","max"},"waiting":{"count","p50","p90","max",
/// "over_threshold"}}]}, in seconds (nearest-rank percentiles; null when
/// there are none).
nlohmann::json time_report(const workflow::Workflow& wf, const Tally& t, const Query& q);

/// The fairness table of DESIGN.md §13 (see the shape): per stage in
/// flow order and per group, reached, rate = reached / n, impact_ratio =
/// rate / the highest unsuppressed rate, flag when below 0.8. A group with
/// n < min_cell is suppressed, and when only one is, the next smallest too
/// (else the total would give it away); suppressed values are null.
nlohmann::json fairness_report(const workflow::Workflow& wf, const Tally& t, const Query& q);

/// Per reviewer: reviews and mean score, and per group the same with the
/// difference from the reviewer's own mean; the same suppression per
/// reviewer.
nlohmann::json reviewer_report(const workflow::Workflow& wf, const Tally& t, const Query& q);

/// Per hub: applications, active, decided, applications now per stage and
/// outcomes (terminal stages).
nlohmann::json hub_report(const workflow::Workflow& wf, const Tally& t);

/// The report named `kind`: funnel, time-in-stage, fairness, reviewers or
/// hubs; null for any other name.
nlohmann::json finish(std::string_view kind, const workflow::Workflow& wf, const Tally& t,
                      const Query& q);
/// Whether report `kind` reads Query::attribute (fairness, reviewers).
bool needs_attribute(std::string_view kind);

/// Groups are shown in this order: by name, "unknown" last.
bool group_before(const std::string& a, const std::string& b);

}  // namespace stagewise::reports
