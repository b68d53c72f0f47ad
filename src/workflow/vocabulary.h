#pragma once

#include <string_view>

namespace stagewise::workflow {

/// The input event types of DESIGN.md §4. A workflow may only name these.
inline constexpr std::string_view kEventTypes[] = {
    "application.submitted", "application.updated",   "application.document_added",
    "application.withdrawn", "application.erased",    "reviewer.assigned",
    "reviewer.recused",      "review.submitted",      "interview.scheduled",
    "interview.completed",   "decision.recorded",     "offer.extended",
    "offer.accepted",        "offer.declined",        "onboarding.completed",
    "report.submitted",      "stage.deadline_passed", "note.added",
};

inline bool is_known_event_type(std::string_view t) {
  for (const auto k : kEventTypes)
    if (k == t) return true;
  return false;
}

inline constexpr std::string_view kSubmitted = "application.submitted";

}  // namespace stagewise::workflow
