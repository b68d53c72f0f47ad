#include "auth/scope.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace stagewise::auth {
namespace {

using nlohmann::json;

bool contains(const json& list, const std::string& value) {
  return list.is_array() && std::find(list.begin(), list.end(), value) != list.end();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool blind_review(const workflow::Workflow& wf) {
  return std::any_of(wf.states.begin(), wf.states.end(),
                     [](const auto& s) { return s.second.review && s.second.review->blind; });
}

json pick(const json& view, std::initializer_list<const char*> keys) {
  json out = json::object();
  for (const char* k : keys)
    if (const auto it = view.find(k); it != view.end()) out[k] = *it;
  return out;
}

// A reviewer's reviews: its own whole; the others' scores only once its own
// is in, and never who wrote them.
json reviews_for(const json& reviews, const std::string& viewer) {
  json out = json::array();
  if (!reviews.is_array()) return out;
  const bool own_in = std::any_of(reviews.begin(), reviews.end(),
                                  [&](const json& r) { return r.value("reviewer", "") == viewer; });
  for (const auto& r : reviews) {
    if (r.value("reviewer", "") == viewer) {
      out.push_back(r);
    } else if (own_in) {
      json other = r;
      other.erase("reviewer");
      out.push_back(std::move(other));
    }
  }
  return out;
}

// The profile without what identifies the applicant, at any depth (a
// nested contact.email or references[].name goes too).
json without_identity(const json& value, int depth = 0) {
  if (depth > 64) return json();
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : value.items())
      if (!identifies(k)) out[k] = without_identity(v, depth + 1);
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& v : value) out.push_back(without_identity(v, depth + 1));
    return out;
  }
  return value;
}

// What the office keeps apart from everyone else: self-identification
// (demographics) never leaves the profile for hubs or reviewers.
json without_self_identification(json profile) {
  if (profile.is_object()) profile.erase("self_identification");
  return profile;
}

// An interview as others than the office see it: when, not what was said.
json interview_times(const json& interview) {
  return pick(interview, {"scheduled_time", "completed_time", "at", "completed"});
}

json documents_without_names(const json& docs) {
  json out = json::array();
  if (!docs.is_array()) return out;
  for (const auto& d : docs) out.push_back(pick(d, {"kind", "time"}));
  return out;
}

}  // namespace

std::string university_of(const workflow::Application& app) {
  const auto p = app.facts.find("profile");
  if (p == app.facts.end() || !p->is_object()) return {};
  for (const char* key : {"university", "institution"})
    if (const auto it = p->find(key); it != p->end() && it->is_string()) return *it;
  return {};
}

bool identifies(const std::string& field) {
  static constexpr std::array<const char*, 12> kParts = {
      "name",        "email", "mail",      "phone", "address", "university",
      "institution", "orcid", "nominator", "advis", "team",    "self_identification"};
  const std::string f = lower(field);
  return std::any_of(kParts.begin(), kParts.end(),
                     [&](const char* part) { return f.find(part) != std::string::npos; }) ||
         f == "collaborators" || f == "conflicts" || f == "birth_date" || f == "gender" ||
         f == "photo";
}

Scope scope_of(const Principal& p, const workflow::Application& app, const workflow::Workflow& wf) {
  if (p.role == Role::admin) return Scope::full;
  if (!p.may_program(app.program)) return Scope::none;
  switch (p.role) {
    case Role::program_manager:
    case Role::service:
      return Scope::full;
    case Role::hub_admin: {
      const std::string u = university_of(app);
      return !u.empty() && lower(u) == lower(p.university) ? Scope::hub : Scope::none;
    }
    case Role::reviewer:
      if (!contains(app.facts.value("reviewers", json::array()), p.sub)) return Scope::none;
      return blind_review(wf) ? Scope::blind : Scope::reviewer;
    case Role::applicant: {
      const bool own = app.facts.value("owner", "") == p.sub && !p.sub.empty();
      return own || p.owns(app.id) ? Scope::applicant : Scope::none;
    }
    default:
      return Scope::none;
  }
}

json redact_application(Scope scope, const json& v, const std::string& viewer) {
  static const std::initializer_list<const char*> kHead = {
      "id",         "program",    "workflow_version", "stage",    "stage_entered_at",
      "created_at", "updated_at", "sequence",         "deadlines"};
  switch (scope) {
    case Scope::none:
      return json();
    case Scope::full:
      return v;
    case Scope::hub: {
      json out = v;
      for (const char* k :
           {"reviews", "reviewers", "assignments", "notes", "self_identification", "decision"})
        out.erase(k);
      if (out.contains("profile")) out["profile"] = without_self_identification(out["profile"]);
      if (out.contains("interview")) out["interview"] = interview_times(out["interview"]);
      return out;
    }
    case Scope::applicant: {
      json out = pick(v, kHead);
      out.update(pick(v, {"profile", "documents", "offer", "interview", "withdrawal", "reports"}));
      if (out.contains("interview")) out["interview"] = interview_times(out["interview"]);
      return out;
    }
    case Scope::reviewer:
    case Scope::blind: {
      json out = pick(v, kHead);
      out.update(pick(v, {"profile", "documents", "interview"}));
      out["reviews"] = reviews_for(v.value("reviews", json::array()), viewer);
      if (out.contains("profile")) out["profile"] = without_self_identification(out["profile"]);
      if (out.contains("interview")) out["interview"] = interview_times(out["interview"]);
      if (scope == Scope::blind) {
        out["profile"] = without_identity(out.value("profile", json::object()));
        out["documents"] = documents_without_names(out.value("documents", json::array()));
        out.erase("interview");
      }
      return out;
    }
  }
  return json();
}

json redact_history(Scope scope, const json& view) {
  if (scope == Scope::full) return view;
  static const std::array<const char*, 4> kPanelOnly = {"review.submitted", "reviewer.assigned",
                                                        "reviewer.recused", "note.added"};
  json events = json::array();
  for (const auto& e : view.value("events", json::array())) {
    const std::string type = e.value("type", "");
    const bool panel = std::find(kPanelOnly.begin(), kPanelOnly.end(), type) != kPanelOnly.end();
    if (scope == Scope::applicant && panel) continue;
    json out = pick(e, {"sequence", "type", "time", "from", "to"});
    if (scope == Scope::hub) out.update(pick(e, {"actorrole"}));
    events.push_back(std::move(out));
  }
  return {{"events", std::move(events)}};
}

}  // namespace stagewise::auth
