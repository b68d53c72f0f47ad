#include "reviews/profile.h"

#include "common/time.h"
#include "reviews/names.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace stagewise::reviews {
namespace {

using nlohmann::json;

ReferenceRejected invalid(std::string message) {
  return {Reason::invalid_data, std::move(message)};
}

bool digits(std::string_view s) {
  for (const char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return !s.empty();
}

int days_in(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// "YYYY", "YYYY-MM", "YYYY-MM-DD" or RFC 3339 (conflicts.h reads them), a
// day that exists.
bool valid_date(const std::string& s) {
  if (s.size() > 10) return parse_rfc3339_ms(s).has_value();
  if (s.size() < 4 || !digits(s.substr(0, 4))) return false;
  if (s.size() == 4) return true;
  if ((s.size() != 7 && s.size() != 10) || s[4] != '-' || !digits(s.substr(5, 2))) return false;
  const int year = std::stoi(s.substr(0, 4)), month = std::stoi(s.substr(5, 2));
  if (month < 1 || month > 12) return false;
  if (s.size() == 7) return true;
  if (s[7] != '-' || !digits(s.substr(8))) return false;
  const int day = std::stoi(s.substr(8));
  return day >= 1 && day <= days_in(year, month);
}

// Empty when `v` (at `field`) is a string of at most `max` bytes.
std::string check_string(const json& v, const std::string& field, size_t max = 300) {
  if (!v.is_string()) return field + " must be a string";
  if (v.get_ref<const std::string&>().size() > max)
    return field + " is longer than " + std::to_string(max) + " bytes";
  return {};
}

std::string check_list(const json& v, const std::string& field, const ProfileLimits& limits) {
  if (!v.is_array()) return field + " must be an array";
  if (v.size() > limits.max_list_items)
    return field + " has " + std::to_string(v.size()) + " items; at most " +
           std::to_string(limits.max_list_items) + " (processor.max_list_items)";
  return {};
}

// A person: a name or an ORCID, or {"name", "orcid"}.
std::string check_person(const json& p, const std::string& field) {
  if (p.is_string()) return check_string(p, field);
  if (!p.is_object()) return field + " must be a name, an ORCID or {\"name\", \"orcid\"}";
  if (!p.contains("name") && !p.contains("orcid")) return field + " needs a name or an orcid";
  if (p.contains("name"))
    if (auto bad = check_string(p["name"], field + ".name"); !bad.empty()) return bad;
  if (p.contains("orcid")) {
    if (auto bad = check_string(p["orcid"], field + ".orcid", 64); !bad.empty()) return bad;
    if (!orcid_of(p["orcid"].get<std::string>()))
      return field + ".orcid is not an ORCID (dddd-dddd-dddd-dddX)";
  }
  if (p.contains("institution"))
    if (auto bad = check_string(p["institution"], field + ".institution"); !bad.empty()) return bad;
  return {};
}

std::string check_date_field(const json& item, const char* key, const std::string& field) {
  if (!item.contains(key) || item[key].is_null()) return {};
  const std::string at = field + "." + key;
  if (!item[key].is_string() || !valid_date(item[key].get<std::string>()))
    return at + " must be null or a date (YYYY, YYYY-MM, YYYY-MM-DD or RFC 3339)";
  return {};
}

std::string check_people(const json& list, const std::string& field, const ProfileLimits& limits,
                         const char* date_key) {
  if (auto bad = check_list(list, field, limits); !bad.empty()) return bad;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = field + "[" + std::to_string(i) + "]";
    if (auto bad = check_person(list[i], at); !bad.empty()) return bad;
    if (date_key != nullptr && list[i].is_object())
      if (auto bad = check_date_field(list[i], date_key, at); !bad.empty()) return bad;
  }
  return {};
}

std::string check_employers(const json& list, const ProfileLimits& limits) {
  if (auto bad = check_list(list, "employers", limits); !bad.empty()) return bad;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = "employers[" + std::to_string(i) + "]";
    if (!list[i].is_object() || !list[i].contains("institution"))
      return at + " must be {\"institution\", \"until\"} (until null: current)";
    if (auto bad = check_string(list[i]["institution"], at + ".institution"); !bad.empty())
      return bad;
    if (auto bad = check_date_field(list[i], "until", at); !bad.empty()) return bad;
  }
  return {};
}

std::string check_strings(const json& list, const std::string& field, const ProfileLimits& limits) {
  if (auto bad = check_list(list, field, limits); !bad.empty()) return bad;
  for (size_t i = 0; i < list.size(); ++i)
    if (auto bad = check_string(list[i], field + "[" + std::to_string(i) + "]"); !bad.empty())
      return bad;
  return {};
}

bool load_value(const json& v) {
  return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= 100'000;
}

std::string check_max_load(const json& v) {
  if (load_value(v)) return {};
  if (!v.is_object())
    return "max_load must be a whole number (0..100000) or an object of program -> number";
  for (const auto& [program, n] : v.items())
    if (!load_value(n)) return "max_load." + program + " must be a whole number (0..100000)";
  return {};
}

// Every field stagewise reads, checked; others are kept as sent.
std::string check_profile(const json& p, const ProfileLimits& limits) {
  for (const char* key : {"name", "institution"})
    if (p.contains(key))
      if (auto bad = check_string(p[key], key); !bad.empty()) return bad;
  if (p.contains("orcid") && (!p["orcid"].is_string() || !orcid_of(p["orcid"].get<std::string>())))
    return "orcid is not an ORCID (dddd-dddd-dddd-dddX)";
  for (const char* key : {"programs", "topics", "conflicts"})
    if (p.contains(key))
      if (auto bad = check_strings(p[key], key, limits); !bad.empty()) return bad;
  if (p.contains("max_load"))
    if (auto bad = check_max_load(p["max_load"]); !bad.empty()) return bad;
  if (p.contains("employers"))
    if (auto bad = check_employers(p["employers"], limits); !bad.empty()) return bad;
  if (p.contains("collaborators"))
    if (auto bad = check_people(p["collaborators"], "collaborators", limits, "last"); !bad.empty())
      return bad;
  for (const char* key : {"advisors", "advisees"})
    if (p.contains(key))
      if (auto bad = check_people(p[key], key, limits, nullptr); !bad.empty()) return bad;
  if (const size_t n = p.dump().size(); n > limits.max_profile_bytes)
    return "the profile would be " + std::to_string(n) + " bytes; at most " +
           std::to_string(limits.max_profile_bytes);
  return {};
}

std::optional<ReferenceRejected> who_may(const CloudEvent& e) {
  const std::string& role = e.actorrole;
  if (role == "program_manager" || role == "service" || role == "admin") return std::nullopt;
  if (role == "reviewer" && e.type == "reviewer.profile_updated") {
    if (e.actorid != e.subject)
      return ReferenceRejected{Reason::unauthorized,
                               "a reviewer updates only its own profile (subject \"" + e.subject +
                                   "\" is not \"" + e.actorid + "\")"};
    for (const char* key : {"programs", "max_load"})
      if (e.data.is_object() && e.data.contains(key))
        return ReferenceRejected{Reason::unauthorized,
                                 std::string("a reviewer may not set its own ") + key +
                                     "; a program manager decides pools and loads"};
    return std::nullopt;
  }
  return ReferenceRejected{Reason::unauthorized,
                           "actorrole \"" + role + "\" may not send " + e.type +
                               "; program managers, services and admins may (and a reviewer "
                               "its own profile)"};
}

// A reviewer declares what may conflict (employers, collaborators, advisors,
// advisees, conflicts) and may add to it, never take from it: the evidence
// conflict checks rely on is removed by a program manager only.
std::optional<ReferenceRejected> only_additions(const json& before, const json& after) {
  for (const char* key : {"conflicts", "employers", "collaborators", "advisors", "advisees"}) {
    const auto was = before.find(key);
    if (was == before.end() || !was->is_array()) continue;
    const auto now = after.find(key);
    for (const auto& entry : *was)
      if (now == after.end() || !now->is_array() ||
          std::find(now->begin(), now->end(), entry) == now->end())
        return ReferenceRejected{Reason::unauthorized,
                                 std::string("a reviewer may add to its ") + key +
                                     ", not remove from them; a program manager may"};
  }
  return std::nullopt;
}

std::optional<ReferenceRejected> merge_scores(ReviewerRecord& r, const CloudEvent& e,
                                              const ProfileLimits& limits) {
  const json* scores =
      e.data.is_object() && e.data.contains("scores") ? &e.data["scores"] : nullptr;
  if (scores == nullptr || !scores->is_object())
    return invalid("reviewer.affinity needs data.scores, an object of application id -> score");
  if (scores->size() > limits.max_affinity)
    return invalid("reviewer.affinity data.scores has too many entries");
  for (const auto& [app, v] : scores->items()) {
    if (app.empty() || app.size() > 256)
      return invalid("reviewer.affinity data.scores has an empty or over-long application id");
    if (v.is_null()) {
      r.affinity.erase(app);
      continue;
    }
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 ||
        v.get<double>() > 1)
      return invalid("reviewer.affinity data.scores." + app + " must be a number in [0, 1]");
    r.affinity[app] = v.get<double>();
  }
  if (r.affinity.size() > limits.max_affinity)
    return invalid("reviewer \"" + e.subject + "\" would hold more than " +
                   std::to_string(limits.max_affinity) + " affinity scores");
  return std::nullopt;
}

}  // namespace

json to_json(const ReviewerRecord& r) {
  return {{"id", r.id},           {"revision", r.revision},
          {"profile", r.profile}, {"affinity", r.affinity},
          {"updated", r.updated}, {"event", r.event},
          {"actorid", r.actorid}, {"actorrole", r.actorrole}};
}

std::optional<ReviewerRecord> reviewer_from_json(const json& j) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string() || !j.contains("revision") ||
      !j["revision"].is_number_unsigned())
    return std::nullopt;
  ReviewerRecord r;
  r.id = j["id"].get<std::string>();
  r.revision = j["revision"].get<uint64_t>();
  if (j.contains("profile") && j["profile"].is_object()) r.profile = j["profile"];
  if (j.contains("affinity") && j["affinity"].is_object()) r.affinity = j["affinity"];
  r.updated = j.value("updated", "");
  r.event = j.value("event", "");
  r.actorid = j.value("actorid", "");
  r.actorrole = j.value("actorrole", "");
  return r;
}

std::variant<ReviewerRecord, ReferenceRejected> apply_reference(const ReviewerRecord* current,
                                                                const CloudEvent& e,
                                                                const ProfileLimits& limits) {
  try {
    if (auto no = who_may(e)) return *no;
    if (!e.data.is_object()) return invalid(e.type + " needs data, an object (DESIGN.md §12)");
    ReviewerRecord next = current ? *current : ReviewerRecord{};
    next.id = e.subject;
    if (e.type == "reviewer.profile_updated") {
      next.profile.merge_patch(e.data);
      if (auto bad = check_profile(next.profile, limits); !bad.empty())
        return invalid("reviewer.profile_updated for \"" + e.subject + "\": " + bad);
      if (e.actorrole == "reviewer")
        if (auto no = only_additions(current ? current->profile : json::object(), next.profile))
          return *no;
    } else if (e.type == "reviewer.affinity") {
      if (auto bad = merge_scores(next, e, limits)) return *bad;
    } else {
      return invalid("\"" + e.type + "\" is not reference data");
    }
    ++next.revision;
    next.updated = e.time;
    next.event = e.id;
    next.actorid = e.actorid;
    next.actorrole = e.actorrole;
    return next;
  } catch (const std::exception& ex) {
    return ReferenceRejected{Reason::engine_error, std::string("reference data: ") + ex.what()};
  }
}

uint64_t encoded_size(const ReviewerRecord& r) {
  return to_json(r).dump().size();
}

bool serves(const json& profile, const std::string& program) {
  const auto it = profile.find("programs");
  if (it == profile.end() || !it->is_array()) return false;
  for (const auto& p : *it)
    if (p.is_string() && p.get_ref<const std::string&>() == program) return true;
  return false;
}

std::optional<int> max_load(const json& profile, const std::string& program) {
  const auto it = profile.find("max_load");
  if (it == profile.end()) return std::nullopt;
  if (it->is_number_integer()) return static_cast<int>(it->get<int64_t>());
  if (it->is_object())
    if (const auto p = it->find(program); p != it->end() && p->is_number_integer())
      return static_cast<int>(p->get<int64_t>());
  return std::nullopt;
}

std::vector<std::string> topics(const json& profile) {
  std::vector<std::string> out;
  if (const auto it = profile.find("topics"); it != profile.end() && it->is_array())
    for (const auto& t : *it)
      if (t.is_string()) out.push_back(t.get<std::string>());
  return out;
}

}  // namespace stagewise::reviews
