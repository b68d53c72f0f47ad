#pragma once

#include "auth/principal.h"
#include "workflow/engine.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

namespace stagewise::auth {

/// What a principal may see of one application (DESIGN.md §11). Pure: the
/// same answer for the same principal, application and workflow.
enum class Scope {
  none,       ///< not its business: answered as if it did not exist (404)
  full,       ///< admin; program managers and services of the program
  hub,        ///< hub admin of the applicant's university: no reviews, scores or notes
  reviewer,   ///< an assigned reviewer: no notes, decisions or other reviewers' ids
  blind,      ///< an assigned reviewer where the review is blind: also no identity
  applicant,  ///< its own: stage, profile, documents, deadlines, offer; no reviews or notes
};

Scope scope_of(const Principal& p, const workflow::Application& app, const workflow::Workflow& wf);

/// The applicant's university as its profile states it (`university`, else
/// `institution`): the hub whose admins see the application. Empty when none.
std::string university_of(const workflow::Application& app);

/// The application view (api::application_view) cut down to `scope`.
/// `viewer` is the reviewer asking, for blind and reviewer scopes: other
/// reviewers' scores show only once its own review is in.
nlohmann::json redact_application(Scope scope, const nlohmann::json& view,
                                  const std::string& viewer);

/// The history view (api::history_view) cut down to `scope`: who was
/// authenticated, actors and data only for full scope.
nlohmann::json redact_history(Scope scope, const nlohmann::json& view);

/// Profile members that identify the applicant: hidden from blind reviewers.
bool identifies(const std::string& profile_field);

}  // namespace stagewise::auth
