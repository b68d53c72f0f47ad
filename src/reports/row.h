#pragma once

// What the reports read of one application (DESIGN.md §13): a small copy of
// its state, kept in memory per process (book.h) so that a report over a
// program's applications never decodes their facts.

#include "workflow/engine.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace stagewise::reports {

struct Row {
  std::string id;
  std::string program;
  int workflow_version = 0;
  uint64_t sequence = 0;  ///< a copy with a larger one is newer
  int64_t submitted_ms = 0;
  std::string cycle;  ///< the profile's `cycle`, else the year of submission
  std::string hub;    ///< the university the profile states (auth::university_of)
  std::string stage;
  int64_t stage_entered_ms = 0;
  std::vector<workflow::StageStay> stays;
  nlohmann::json self_identification = nlohmann::json::object();
  /// One number per review: its rubric's weighted mean (reviews/ranking.h).
  std::vector<std::pair<std::string, double>> scores;
};

/// The row of `app`; `wf` (its workflow version, may be null) gives the
/// rubric review scores are read with. An application stored before stays
/// were recorded has none: its current stage stands for them.
Row make_row(const workflow::Application& app, const workflow::Workflow* wf);

/// Which applications a report covers: submitted within [from, to), of one
/// cycle, of one hub (case-insensitive); unset parts admit every one.
struct Filter {
  std::optional<int64_t> from_ms, to_ms;
  std::string cycle;
  std::string hub;
  bool admits(const Row& row) const;
};

/// A day (2026-03-01) or an RFC 3339 time, as a bound of Filter: a day that
/// ends a range (`end`) includes that day. nullopt when it is neither.
std::optional<int64_t> parse_bound(const std::string& text, bool end);

}  // namespace stagewise::reports
