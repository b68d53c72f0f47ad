#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

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
/// Built in (DESIGN.md §14): accepted in every stage of every workflow.
inline constexpr std::string_view kErased = "application.erased";
inline constexpr const char* kErasedBuiltIn =
    "\"application.erased\" is built in: every stage of every workflow accepts it from the "
    "applicant who owns the application, program managers, admins and the workflow's "
    "\"retention\" timer, and it moves no application (DESIGN.md §14); remove it here";

/// Reference data (DESIGN.md §4, §12): about a reviewer, not an
/// application (`subject` = the reviewer id). No workflow names them; the
/// processor keeps them in the reviewer pool every process reads.
inline constexpr std::string_view kReferenceTypes[] = {"reviewer.profile_updated",
                                                       "reviewer.affinity"};

inline bool is_reference_type(std::string_view t) {
  for (const auto k : kReferenceTypes)
    if (k == t) return true;
  return false;
}

/// Who may send an event type where a workflow does not say (a transition
/// without `roles`, an `accepts` entry without `roles`): DESIGN.md §11's
/// rules as defaults. `service` is an automated system acting in its own
/// name (a review tool assigning, HR onboarding); `system` is stagewise's
/// own timers.
struct DefaultRoles {
  std::string_view type;
  std::string_view roles;  ///< separated by spaces
};
inline constexpr DefaultRoles kDefaultRoles[] = {
    {"application.submitted", "applicant program_manager hub_admin service"},
    {"application.updated", "applicant program_manager hub_admin service"},
    {"application.document_added", "applicant program_manager hub_admin service"},
    {"application.withdrawn", "applicant program_manager"},
    {"application.erased", "applicant program_manager admin system"},
    {"reviewer.assigned", "program_manager service system"},
    {"reviewer.recused", "program_manager service system reviewer"},
    {"review.submitted", "reviewer"},
    {"interview.scheduled", "program_manager reviewer service"},
    {"interview.completed", "program_manager reviewer service"},
    {"decision.recorded", "program_manager"},
    {"offer.extended", "program_manager"},
    {"offer.accepted", "applicant"},
    {"offer.declined", "applicant"},
    {"onboarding.completed", "program_manager service system"},
    {"report.submitted", "applicant program_manager"},
    {"stage.deadline_passed", "system"},
    {"note.added", "program_manager reviewer hub_admin admin"},
};

inline std::vector<std::string> default_roles(std::string_view type) {
  std::vector<std::string> out;
  for (const auto& d : kDefaultRoles) {
    if (d.type != type) continue;
    for (size_t at = 0; at < d.roles.size();) {
      const size_t end = std::min(d.roles.find(' ', at), d.roles.size());
      out.emplace_back(d.roles.substr(at, end - at));
      at = end + 1;
    }
  }
  return out;
}

/// Only these may assign or recuse reviewers, whatever a workflow says.
inline bool may_assign_reviewers(std::string_view role) {
  return role == "program_manager" || role == "service" || role == "system";
}

}  // namespace stagewise::workflow
