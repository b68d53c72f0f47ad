#include "workflow/engine.h"

#include "common/time.h"
#include "reviews/conflicts.h"
#include "workflow/self_identification.h"
#include "workflow/vocabulary.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <set>

namespace stagewise::workflow {
namespace {

using nlohmann::json;

Rejected reject(Reason r, std::string message) {
  return Rejected{r, std::move(message)};
}

bool has(const std::vector<std::string>& roles, const std::string& role) {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

bool role_allowed(const Transition& t, const std::string& role) {
  return has(t.allowed, role);
}

// Who may send `type` in `st`: the transitions' roles (their defaults when
// they name none) and, when the stage accepts the type, the accept's.
std::set<std::string> allowed_roles(const State& st, const std::string& type,
                                    const std::vector<const Transition*>& cands) {
  std::set<std::string> out;
  for (const auto* t : cands) out.insert(t->allowed.begin(), t->allowed.end());
  if (const auto it = st.accept_roles.find(type); it != st.accept_roles.end())
    out.insert(it->second.begin(), it->second.end());
  return out;
}

std::string joined(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "nobody" : out;
}

// The rules that hold whatever a workflow says (DESIGN.md §11): an
// applicant acts only on its own application; reviewers are assigned and
// recused only by program managers, services and the system.
std::optional<Rejected> actor_rules(const Application& app, const CloudEvent& e) {
  if (e.actorrole == "applicant") {
    const auto owner = app.facts.find("owner");
    if (owner != app.facts.end() && owner->is_string() && *owner != e.actorid)
      return Rejected{Reason::unauthorized, "applicant \"" + e.actorid +
                                                "\" may act only on its own application; \"" +
                                                app.id + "\" is another applicant's"};
  }
  if ((e.type == "reviewer.assigned" || e.type == "reviewer.recused") &&
      !may_assign_reviewers(e.actorrole) &&
      !(e.type == "reviewer.recused" && e.actorrole == "reviewer"))
    return Rejected{Reason::unauthorized,
                    "actorrole \"" + e.actorrole + "\" may not send " + e.type +
                        "; reviewers are assigned by program managers, services or the system"};
  return std::nullopt;
}

// application.updated may change the profile fields the guards read (the
// eligibility fields) only when sent by a program manager, or by the
// applicant while the application is in its initial stage.
std::optional<Rejected> eligibility_rule(const Workflow& wf, const Application& app,
                                         const CloudEvent& e) {
  if (e.type != "application.updated" || !e.data.is_object()) return std::nullopt;
  if (e.actorrole == "program_manager") return std::nullopt;
  if (e.actorrole == "applicant" && app.stage == wf.initial) return std::nullopt;
  const ContextNeeds& reads = wf.guard_reads;
  for (const auto& [field, value] : e.data.items()) {
    if (field == kSelfIdentification) continue;  // kept apart, never read by guards
    if (!reads.whole_profile && reads.profile_fields.count(field) == 0) continue;
    return Rejected{Reason::unauthorized,
                    "profile field \"" + field + "\" decides eligibility in " + wf.program +
                        "; only the applicant before screening (stage \"" + wf.initial +
                        "\") or a program manager may change it"};
  }
  return std::nullopt;
}

// The transitions that may fire for `type` in `stage` ("*" covers every
// non-terminal stage), in file order.
std::vector<const Transition*> candidates(const Workflow& wf, const State& st,
                                          const std::string& type) {
  std::vector<const Transition*> out;
  for (const auto& t : wf.transitions)
    if (t.on == type && (t.from == st.name || (t.from == "*" && !st.terminal))) out.push_back(&t);
  return out;
}

const std::string* string_field(const json& data, const char* key) {
  if (!data.is_object()) return nullptr;
  const auto it = data.find(key);
  if (it == data.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
    return nullptr;
  return &it->get_ref<const std::string&>();
}

// Whose application it is: the applicant who submitted it, or the one named
// in data.applicant when a program manager, a hub or a service submits it on
// someone's behalf (a nomination); empty: no applicant may act on it.
std::string owner_of(const CloudEvent& e) {
  if (e.actorrole == "applicant") return e.actorid;
  if (const std::string* named = string_field(e.data, "applicant")) return *named;
  return {};
}

json& array_fact(json& facts, const char* key) {
  json& a = facts[key];
  if (!a.is_array()) a = json::array();
  return a;
}

// Refuses one more item in a list fact that is full.
std::optional<Rejected> room_in(const json& list, const char* what, const CloudEvent& e,
                                const Limits& limits) {
  if (list.size() < limits.max_list_items) return std::nullopt;
  return Rejected{Reason::invalid_data,
                  e.type + ": application \"" + e.subject + "\" already has " +
                      std::to_string(list.size()) + " " + what +
                      ", the most one application may hold (processor.max_list_items)"};
}

// Checks a review's scores against the rubric; empty string when valid.
std::string check_scores(const ReviewSpec& spec, const json& scores) {
  if (!scores.is_object())
    return "review.submitted needs data.scores, an object of criterion to score";
  for (const auto& c : spec.rubric) {
    const auto it = scores.find(c.name);
    if (it == scores.end() || !it->is_number())
      return "review.submitted data.scores." + c.name + " is missing or not a number";
    const double v = it->get<double>();
    if (v < c.min || v > c.max)
      return "review.submitted data.scores." + c.name + " = " + it->dump() +
             " is outside the scale [" + json(c.min).dump() + ", " + json(c.max).dump() + "]";
  }
  for (const auto& [k, v] : scores.items()) {
    const bool known = std::any_of(spec.rubric.begin(), spec.rubric.end(),
                                   [&key = k](const Criterion& c) { return c.name == key; });
    if (!known) return "review.submitted data.scores." + k + " is not a criterion of the rubric";
  }
  return {};
}

// What one event records (DESIGN.md §6: the data effect comes before the
// transition), one function per kind; a rejection when the data does not
// fit the event type. `f` is the application's facts.
using Effect = std::optional<Rejected>;

// The profile fields of an event's data: everything but the answers kept
// apart (self_identification.h).
json profile_fields(const json& data) {
  if (!has_self_identification(data)) return data;
  json out = data;
  drop_self_identification(out);
  return out;
}

// Whether the answers kept, with `answers` merged in, stay within the
// limits (an application collects them over several updates).
std::optional<Rejected> answers_fit(const json& kept, const json& answers) {
  json merged = kept;
  merge_self_identification(merged, answers);
  if (auto bad = check_self_identification(merged); !bad.empty())
    return Rejected{Reason::invalid_data, bad + " (with the answers given before)"};
  return std::nullopt;
}

Effect record_profile(Application& app, const CloudEvent& e) {
  if (!e.data.is_object())
    return reject(Reason::invalid_data,
                  "application.updated needs data, an object of profile fields");
  if (has_self_identification(e.data))
    if (auto bad = answers_fit(app.self_identification, e.data[kSelfIdentification])) return bad;
  json& f = app.facts;
  if (!f["profile"].is_object()) f["profile"] = json::object();
  f["profile"].merge_patch(profile_fields(e.data));
  if (has_self_identification(e.data))
    merge_self_identification(app.self_identification, e.data[kSelfIdentification]);
  return std::nullopt;
}

Effect record_document(json& f, const CloudEvent& e, const Limits& limits) {
  const std::string* kind = string_field(e.data, "kind");
  if (kind == nullptr)
    return reject(Reason::invalid_data,
                  "application.document_added needs data.kind (e.g. \"transcript\", "
                  "\"recommendation_letter\", \"cv\")");
  json doc = {{"kind", *kind}, {"time", e.time}, {"event", e.id}};
  if (const std::string* name = string_field(e.data, "name")) doc["name"] = *name;
  if (const std::string* uri = string_field(e.data, "uri")) doc["uri"] = *uri;
  // A letter's author is checked for conflicts of interest (DESIGN.md §12).
  if (const std::string* author = string_field(e.data, "author")) {
    doc["author"] = *author;
  } else if (e.data.contains("author") && e.data["author"].is_object()) {
    json who = json::object();
    for (const char* key : {"name", "orcid"})
      if (const std::string* v = string_field(e.data["author"], key)) who[key] = *v;
    if (!who.empty()) doc["author"] = std::move(who);
  }
  json& documents = array_fact(f, "documents");
  if (auto full = room_in(documents, "documents", e, limits)) return full;
  documents.push_back(std::move(doc));
  return std::nullopt;
}

Effect record_erasure(json& f, const CloudEvent& e) {
  // Personal data goes; the record of where the application stood stays.
  f["profile"] = json::object();
  for (auto& doc : array_fact(f, "documents"))
    doc.erase("name"), doc.erase("uri"), doc.erase("author");
  f.erase("notes");
  // Free text written about the person: reviews' comments, the interview's,
  // the decision's and the withdrawal's reasons.
  static const char* const kFreeText[] = {"comment", "comments", "text",   "notes",
                                          "reason",  "feedback", "summary"};
  auto strip = [](json& o) {
    if (!o.is_object()) return;
    for (const char* k : kFreeText) o.erase(k);
  };
  for (auto& review : array_fact(f, "reviews")) strip(review);
  for (const char* k : {"interview", "decision", "withdrawal", "offer", "onboarding"})
    if (f.contains(k)) strip(f[k]);
  f["erased"] = {{"time", e.time}};
  return std::nullopt;
}

// Refuses a reviewer with a conflict of interest (DESIGN.md §12), computed
// from both profiles as of the event's time.
Effect check_conflicts(const Application& app, const std::string& reviewer, const CloudEvent& e,
                       const ReviewerDirectory* reviewers) {
  const json* profile = reviewers ? reviewers->profile(reviewer) : nullptr;
  static const json kNone = json::object();
  const auto found =
      reviews::find_conflicts(app.id, app.facts, reviewer, profile ? *profile : kNone, e.time_ms);
  if (found.empty()) return std::nullopt;
  std::string why;
  for (const auto& c : found) why += (why.empty() ? "" : "; ") + c.reason + ": " + c.evidence;
  return reject(Reason::conflict_of_interest, "reviewer \"" + reviewer +
                                                  "\" has a conflict of interest with \"" + app.id +
                                                  "\" (" + why + "); assign another reviewer");
}

// What an assignment records beside the reviewer's id: when, by whom, and
// the affinity an assignment run chose it with.
void record_assignment(json& f, const std::string& reviewer, const CloudEvent& e) {
  json entry = {{"time", e.time}, {"actorid", e.actorid}};
  if (e.data.contains("affinity") && e.data["affinity"].is_number())
    entry["affinity"] = e.data["affinity"];
  if (const std::string* run = string_field(e.data, "assignment")) entry["assignment"] = *run;
  json& all = f["assignments"];
  if (!all.is_object()) all = json::object();
  all[reviewer] = std::move(entry);
}

Effect record_reviewer(Application& app, const CloudEvent& e, const Limits& limits,
                       const ReviewerDirectory* reviewers) {
  json& f = app.facts;
  const std::string* reviewer = string_field(e.data, "reviewer");
  if (reviewer == nullptr)
    return reject(Reason::invalid_data, e.type + " needs data.reviewer, the reviewer's id");
  json& list = array_fact(f, "reviewers");
  const auto it = std::find(list.begin(), list.end(), *reviewer);
  if (e.type == "reviewer.assigned") {
    if (auto conflicted = check_conflicts(app, *reviewer, e, reviewers)) return conflicted;
    if (it != list.end()) return std::nullopt;
    if (auto full = room_in(list, "reviewers", e, limits)) return full;
    list.push_back(*reviewer);
    record_assignment(f, *reviewer, e);
    return std::nullopt;
  }
  if (e.actorrole == "reviewer" && *reviewer != e.actorid)
    return reject(Reason::unauthorized, "a reviewer recuses only itself");
  if (it != list.end()) list.erase(it);
  if (f.contains("assignments") && f["assignments"].is_object()) f["assignments"].erase(*reviewer);
  // A recused reviewer's scores no longer count, and its load is freed.
  json& reviews = array_fact(f, "reviews");
  reviews.erase(std::remove_if(reviews.begin(), reviews.end(),
                               [&](const json& r) { return r["reviewer"] == *reviewer; }),
                reviews.end());
  return std::nullopt;
}

// Who may review: the actor, as itself, and where anyone is assigned or the
// stage asks for reviewers, only when assigned.
Effect reviewer_rules(const Workflow& wf, const Application& app, const CloudEvent& e) {
  const std::string& reviewer = e.actorid;
  if (reviewer.empty())
    return reject(Reason::invalid_data, "review.submitted needs the actorid of the reviewer");
  if (const std::string* named = string_field(e.data, "reviewer"); named && *named != reviewer)
    return reject(Reason::unauthorized, "review.submitted by \"" + reviewer +
                                            "\" names reviewer \"" + *named +
                                            "\"; a reviewer files reviews only as itself");
  const json& f = app.facts;
  const json& assigned = f.contains("reviewers") ? f["reviewers"] : json::array();
  const State* here = wf.state(app.stage);
  const bool needs_assignment =
      !assigned.empty() || (here != nullptr && here->review && here->review->reviewers > 0);
  if (needs_assignment && std::find(assigned.begin(), assigned.end(), reviewer) == assigned.end())
    return reject(Reason::unauthorized, "reviewer \"" + reviewer +
                                            "\" is not assigned to this application; send "
                                            "reviewer.assigned first");
  return std::nullopt;
}

Effect record_review(const Workflow& wf, Application& app, const CloudEvent& e,
                     const Limits& limits) {
  if (auto bad = reviewer_rules(wf, app, e)) return bad;
  const json scores = e.data.is_object() ? e.data.value("scores", json()) : json();
  if (const ReviewSpec* spec = wf.review_spec(app.stage)) {
    if (auto msg = check_scores(*spec, scores); !msg.empty())
      return reject(Reason::invalid_data, msg);
  } else if (!scores.is_null() && !scores.is_object()) {
    return reject(Reason::invalid_data, "review.submitted data.scores must be an object");
  }
  json review = {{"reviewer", e.actorid}, {"time", e.time}, {"scores", scores}};
  if (const std::string* rec = string_field(e.data, "recommendation"))
    review["recommendation"] = *rec;
  json& reviews = array_fact(app.facts, "reviews");
  // A reviewer's later review replaces the earlier one.
  const auto old = std::find_if(reviews.begin(), reviews.end(),
                                [&](const json& r) { return r["reviewer"] == e.actorid; });
  if (old != reviews.end()) {
    *old = std::move(review);
    return std::nullopt;
  }
  if (auto full = room_in(reviews, "reviews", e, limits)) return full;
  reviews.push_back(std::move(review));
  return std::nullopt;
}

// Merged facts of one kind: the interview, the offer.
void merge_into(json& f, const char* key, const json& data) {
  json& fact = f[key];
  if (!fact.is_object()) fact = json::object();
  if (data.is_object()) fact.merge_patch(data);
}

// Lists of what was sent: reports and notes.
Effect append_item(json& f, const char* key, json item, const CloudEvent& e, const Limits& limits) {
  json& list = array_fact(f, key);
  if (auto full = room_in(list, key, e, limits)) return full;
  list.push_back(std::move(item));
  return std::nullopt;
}

Effect record_decision(json& f, const CloudEvent& e) {
  if (string_field(e.data, "outcome") == nullptr)
    return reject(Reason::invalid_data,
                  "decision.recorded needs data.outcome (e.g. \"advance\", \"reject\")");
  f["decision"] = e.data;
  f["decision"]["time"] = e.time;
  if (!e.actorid.empty()) f["decision"]["actorid"] = e.actorid;
  return std::nullopt;
}

Effect apply_data(const Workflow& wf, Application& app, const CloudEvent& e, const Limits& limits,
                  const ReviewerDirectory* reviewers) {
  json& f = app.facts;
  const json& d = e.data;
  const std::string& t = e.type;
  if (t == "application.updated") return record_profile(app, e);
  if (t == "application.document_added") return record_document(f, e, limits);
  if (t == "application.erased") {
    app.self_identification = json::object();
    return record_erasure(f, e);
  }
  if (t == "reviewer.assigned" || t == "reviewer.recused")
    return record_reviewer(app, e, limits, reviewers);
  if (t == "review.submitted") return record_review(wf, app, e, limits);
  if (t == "decision.recorded") return record_decision(f, e);
  if (t == "application.withdrawn") {
    f["withdrawal"] = {{"time", e.time}, {"reason", d.is_object() ? d.value("reason", "") : ""}};
  } else if (t == "interview.scheduled" || t == "interview.completed") {
    merge_into(f, "interview", d);
    f["interview"][t == "interview.scheduled" ? "scheduled_time" : "completed_time"] = e.time;
    if (t == "interview.completed") f["interview"]["completed"] = true;
  } else if (t == "offer.extended" || t == "offer.accepted" || t == "offer.declined") {
    merge_into(f, "offer", d);
    const std::string status = t.substr(6);  // extended / accepted / declined
    f["offer"]["status"] = status;
    f["offer"][status + "_time"] = e.time;
  } else if (t == "onboarding.completed") {
    f["onboarding"] = d.is_object() ? d : json::object();
    f["onboarding"]["time"] = e.time;
  } else if (t == "report.submitted") {
    json report = d.is_object() ? d : json::object();
    report["time"] = e.time;
    return append_item(f, "reports", std::move(report), e, limits);
  } else if (t == "note.added") {
    const std::string* text = string_field(d, "text");
    if (text == nullptr) return reject(Reason::invalid_data, "note.added needs data.text");
    return append_item(f, "notes", {{"time", e.time}, {"actorid", e.actorid}, {"text", *text}}, e,
                       limits);
  }
  return std::nullopt;
}

json documents_view(const json& facts) {
  json kinds = json::array();
  json by_kind = json::object();
  size_t count = 0;
  if (const auto it = facts.find("documents"); it != facts.end() && it->is_array()) {
    count = it->size();
    for (const auto& doc : *it) {
      const std::string& k = doc["kind"].get_ref<const std::string&>();
      if (!by_kind.contains(k)) kinds.push_back(k);
      by_kind[k] = by_kind.value(k, 0) + 1;
    }
  }
  return {{"count", count}, {"kinds", kinds}, {"by_kind", by_kind}};
}

const json& list_or_empty(const json& facts, const char* key) {
  static const json empty = json::array();
  const auto it = facts.find(key);
  return it != facts.end() && it->is_array() ? *it : empty;
}

json object_or_null(const json& facts, const char* key) {
  const auto it = facts.find(key);
  return it != facts.end() ? *it : json();
}

Notification notification(const Notify& n, const std::string& stage) {
  return Notification{n.recipient, n.template_name, stage};
}

// Entering `stage` at `entered_ms`: notifications and timers of the stay.
void enter(const Workflow& wf, const std::string& stage, int64_t entered_ms, Applied& out) {
  const State& st = wf.states.at(stage);
  const int64_t deadline = st.deadline ? entered_ms + st.deadline->after_ms : 0;
  for (const auto& n : st.on_enter) {
    out.notifications.push_back(notification(n, stage));
    out.notifications.back().due_ms = deadline;
  }
  out.reset_timers = true;
  if (const auto& r = wf.retention; r && (!r->from_terminal || st.terminal)) {
    Timer t;
    t.kind = Timer::Kind::retention;
    t.due_ms = (r->from_terminal ? entered_ms : out.next.created_ms) + r->erase_after_ms;
    t.stage = stage;
    t.stage_entered_ms = entered_ms;
    out.timers.push_back(t);
  }
  if (!st.deadline) return;
  Timer d;
  d.kind = Timer::Kind::deadline;
  d.due_ms = entered_ms + st.deadline->after_ms;
  d.stage = stage;
  d.stage_entered_ms = entered_ms;
  out.timers.push_back(d);
  for (size_t i = 0; i < st.deadline->reminders.size(); ++i) {
    const Reminder& r = st.deadline->reminders[i];
    Timer t;
    t.kind = Timer::Kind::reminder;
    t.index = static_cast<int>(i);
    t.due_ms = entered_ms + r.after_ms;
    t.stage = stage;
    t.stage_entered_ms = entered_ms;
    t.recipient = r.recipient;
    t.template_name = r.template_name;
    t.deadline_ms = deadline;
    out.timers.push_back(t);
  }
}

// The application leaves its stage for `to` at `at_ms`: the stay ends
// (its time is added to the stage's), and `to` is entered once more.
void record_stay(Application& app, const std::string& to, int64_t at_ms) {
  for (auto& s : app.stays)
    if (s.stage == app.stage) {
      s.spent_ms += std::max<int64_t>(0, at_ms - app.stage_entered_ms);
      break;
    }
  auto it = std::find_if(app.stays.begin(), app.stays.end(),
                         [&](const StageStay& s) { return s.stage == to; });
  if (it == app.stays.end()) it = app.stays.insert(app.stays.end(), StageStay{to, at_ms, 0, 0});
  ++it->visits;
}

// A timer's deadline event for a stay the application has already left.
std::optional<std::string> stale_deadline(const Application& app, const CloudEvent& e) {
  // Only the timers (actorrole system) speak for a stay; anyone else's
  // deadline event goes through the ordinary checks.
  if (e.type != "stage.deadline_passed" || e.actorrole != "system" || !e.data.is_object())
    return std::nullopt;
  const auto stage = e.data.find("stage");
  const auto entered = e.data.find("stage_entered_at");
  if (stage == e.data.end() || !stage->is_string()) return std::nullopt;
  const bool same_stay = *stage == app.stage &&
                         (entered == e.data.end() || !entered->is_string() ||
                          parse_rfc3339_ms(entered->get<std::string>()) == app.stage_entered_ms);
  if (same_stay) return std::nullopt;
  return "stale deadline of stage \"" + stage->get<std::string>() + "\": the application is in \"" +
         app.stage + "\" since " + format_rfc3339_ms(app.stage_entered_ms);
}

}  // namespace

namespace {
json stays_json(const std::vector<StageStay>& stays) {
  json out = json::array();
  for (const auto& s : stays)
    out.push_back({{"stage", s.stage},
                   {"first_ms", s.first_ms},
                   {"spent_ms", s.spent_ms},
                   {"visits", s.visits}});
  return out;
}
}  // namespace

json to_json(const Application& a) {
  return {{"id", a.id},
          {"program", a.program},
          {"workflow_version", a.workflow_version},
          {"stage", a.stage},
          {"stage_entered_at", format_rfc3339_ms(a.stage_entered_ms)},
          {"created_at", format_rfc3339_ms(a.created_ms)},
          {"updated_at", format_rfc3339_ms(a.updated_ms)},
          {"sequence", a.sequence},
          {"facts", a.facts},
          {"stays", stays_json(a.stays)},
          {"self_identification", a.self_identification}};
}

Application application_from_json(const json& j) {
  Application a;
  a.id = j.at("id").get<std::string>();
  a.program = j.at("program").get<std::string>();
  a.workflow_version = j.at("workflow_version").get<int>();
  a.stage = j.at("stage").get<std::string>();
  auto ms = [&](const char* key) {
    const auto v = parse_rfc3339_ms(j.at(key).get<std::string>());
    if (!v) throw std::invalid_argument(std::string("bad timestamp in ") + key);
    return *v;
  };
  a.stage_entered_ms = ms("stage_entered_at");
  a.created_ms = ms("created_at");
  a.updated_ms = ms("updated_at");
  a.sequence = j.at("sequence").get<uint64_t>();
  a.facts = j.at("facts");
  if (const auto it = j.find("stays"); it != j.end() && it->is_array())
    for (const auto& s : *it)
      a.stays.push_back({s.at("stage").get<std::string>(), s.at("first_ms").get<int64_t>(),
                         s.at("spent_ms").get<int64_t>(), s.at("visits").get<uint32_t>()});
  if (const auto it = j.find("self_identification"); it != j.end() && it->is_object())
    a.self_identification = *it;
  return a;
}

CloudEvent deadline_event(const Application& app, const Timer& timer, int64_t fired_ms) {
  CloudEvent e;
  e.id = "deadline/" + app.id + "/" + timer.stage + "/" + std::to_string(timer.stage_entered_ms);
  e.source = "stagewise.timers";
  e.type = "stage.deadline_passed";
  e.subject = app.id;
  e.time_ms = timer.due_ms;  // the event's time is the deadline, so a replay agrees
  e.time = format_rfc3339_ms(timer.due_ms);
  e.program = app.program;
  e.actorid = "stagewise-timers";
  e.actorrole = "system";
  e.data = {{"stage", timer.stage},
            {"stage_entered_at", format_rfc3339_ms(timer.stage_entered_ms)},
            {"due", format_rfc3339_ms(timer.due_ms)},
            {"fired_at", format_rfc3339_ms(fired_ms)}};
  return e;
}

CloudEvent retention_event(const Application& app, const Timer& timer, int64_t fired_ms) {
  CloudEvent e;
  e.id = "retention/" + app.id + "/" + std::to_string(timer.due_ms);
  e.source = "stagewise.timers";
  e.type = std::string(kErased);
  e.subject = app.id;
  e.time_ms = timer.due_ms;  // as for deadlines: a replay agrees
  e.time = format_rfc3339_ms(timer.due_ms);
  e.program = app.program;
  e.actorid = "stagewise-retention";
  e.actorrole = "system";
  e.data = {{"reason", "retention"},
            {"due", format_rfc3339_ms(timer.due_ms)},
            {"fired_at", format_rfc3339_ms(fired_ms)}};
  return e;
}

json review_aggregate(const Workflow& wf, const Application& app) {
  const json& reviews = list_or_empty(app.facts, "reviews");
  const ReviewSpec* spec = wf.review_spec(app.stage);
  json criteria = json::object();
  json recommendations = json::object();
  double sum_mean = 0, sum_total = 0;
  size_t scored = 0;
  std::map<std::string, std::pair<double, size_t>> per_criterion;
  for (const auto& r : reviews) {
    if (r.contains("recommendation")) {
      const std::string& rec = r["recommendation"].get_ref<const std::string&>();
      recommendations[rec] = recommendations.value(rec, 0) + 1;
    }
    const json& scores = r["scores"];
    if (!scores.is_object() || scores.empty()) continue;
    double total = 0, weights = 0;
    for (const auto& [name, v] : scores.items()) {
      if (!v.is_number()) continue;
      double w = 1;
      if (spec != nullptr)
        for (const auto& c : spec->rubric)
          if (c.name == name) w = c.weight;
      total += w * v.get<double>();
      weights += w;
      auto& [s, n] = per_criterion[name];
      s += v.get<double>();
      ++n;
    }
    if (weights <= 0) continue;
    sum_total += total;
    sum_mean += total / weights;
    ++scored;
  }
  for (const auto& [name, sn] : per_criterion) criteria[name] = sn.first / double(sn.second);
  json agg = {{"count", reviews.size()},
              {"scored", scored},
              {"mean", scored ? json(sum_mean / double(scored)) : json()},
              {"weighted_total", scored ? json(sum_total / double(scored)) : json()},
              {"criteria", criteria},
              {"recommendations", recommendations}};
  return agg;
}

namespace {

const json kEmptyObject = json::object();

// Of an object, only the fields a guard reads (a copy of the fields, not of
// a whole profile); never the self-identification, which no guard sees.
json picked(const json& value, const std::set<std::string>& fields) {
  if (!value.is_object()) return profile_fields(value);
  json out = json::object();
  for (const auto& name : fields)
    if (const auto it = value.find(name); it != value.end() && name != kSelfIdentification)
      out[name] = *it;
  return out;
}

}  // namespace

json guard_context(const Workflow& wf, const Application& app, const CloudEvent& event,
                   const ContextNeeds* needs) {
  const json& f = app.facts;
  auto want = [&](const std::set<std::string>& members, const char* key) {
    return needs == nullptr || needs->all || members.count(key) > 0;
  };
  const auto& app_needs = needs ? needs->application : std::set<std::string>{};
  json application = json::object();
  auto put = [&](const char* key, auto&& make) {
    if (want(app_needs, key)) application[key] = make();
  };
  put("id", [&] { return json(app.id); });
  put("program", [&] { return json(app.program); });
  put("workflow_version", [&] { return json(app.workflow_version); });
  put("stage", [&] { return json(app.stage); });
  put("stage_entered_at", [&] { return json(format_rfc3339_ms(app.stage_entered_ms)); });
  put("created_at", [&] { return json(format_rfc3339_ms(app.created_ms)); });
  put("profile", [&] {
    const json& profile = f.contains("profile") ? f["profile"] : kEmptyObject;
    return needs && !needs->whole_profile ? picked(profile, needs->profile_fields) : profile;
  });
  put("documents", [&] { return documents_view(f); });
  put("reviews", [&] { return review_aggregate(wf, app); });
  put("reviewers", [&] {
    const json& reviewers = list_or_empty(f, "reviewers");
    return json{{"count", reviewers.size()}, {"ids", reviewers}};
  });
  put("interview", [&] { return object_or_null(f, "interview"); });
  put("decision", [&] { return object_or_null(f, "decision"); });
  put("offer", [&] { return object_or_null(f, "offer"); });
  put("onboarding", [&] { return object_or_null(f, "onboarding"); });
  put("reports", [&] { return json{{"count", list_or_empty(f, "reports").size()}}; });
  put("notes", [&] { return json{{"count", list_or_empty(f, "notes").size()}}; });

  const auto& ev_needs = needs ? needs->event : std::set<std::string>{};
  json ev = json::object();
  auto put_ev = [&](const char* key, const auto& value) {
    if (want(ev_needs, key)) ev[key] = value;
  };
  put_ev("type", event.type);
  put_ev("time", event.time);
  put_ev("id", event.id);
  put_ev("actorid", event.actorid);
  put_ev("actorrole", event.actorrole);
  if (want(ev_needs, "data"))  // never the self-identification
    ev["data"] = needs && !needs->whole_event_data ? picked(event.data, needs->event_data_fields)
                                                   : profile_fields(event.data);
  return {{"application", std::move(application)}, {"event", std::move(ev)}};
}

namespace {

// application.submitted: the application, new in the initial stage.
Outcome create(const Workflow& wf, const CloudEvent& e) {
  if (e.type != kSubmitted)
    return reject(Reason::unknown_application,
                  "application \"" + e.subject +
                      "\" does not exist; its first event must be application.submitted");
  if (const auto roles = default_roles(kSubmitted); !has(roles, e.actorrole))
    return reject(Reason::unauthorized, "actorrole \"" + e.actorrole +
                                            "\" may not submit an application; allowed: " +
                                            joined({roles.begin(), roles.end()}));
  Application app;
  app.id = e.subject;
  app.program = wf.program;
  app.workflow_version = wf.version;
  app.stage = wf.initial;
  app.stage_entered_ms = app.created_ms = app.updated_ms = e.time_ms;
  app.sequence = 1;
  app.facts["profile"] = e.data.is_object() ? profile_fields(e.data) : json::object();
  app.facts["owner"] = owner_of(e);
  app.stays = {StageStay{wf.initial, e.time_ms, 0, 1}};
  if (has_self_identification(e.data)) {
    if (auto bad = check_self_identification(e.data[kSelfIdentification]); !bad.empty())
      return reject(Reason::invalid_data, bad);
    merge_self_identification(app.self_identification, e.data[kSelfIdentification]);
  }
  Applied out;
  out.next = std::move(app);
  out.to = wf.initial;
  out.moved = true;
  enter(wf, wf.initial, e.time_ms, out);
  return out;
}

// The application an event applies to; `taken` when the caller gave it up,
// so an accepted event changes it instead of a copy.
struct Source {
  const Application& app;
  Application* taken = nullptr;
};

// The outcome of an accepted event before its effects: the application one
// sequence further, in the stage it was in.
Applied started(const Source& current, const CloudEvent& e) {
  Applied out;
  out.from = current.app.stage;
  out.to = current.app.stage;
  if (current.taken != nullptr)
    out.next = std::move(*current.taken);
  else
    out.next = current.app;
  out.next.sequence += 1;
  out.next.updated_ms = e.time_ms;
  return out;
}

// Answers to self-identification alone: accepted in every stage, from the
// applicant who owns the application or the office acting for it, without
// the workflow naming them (DESIGN.md §13). Nothing else changes.
Outcome self_identified(const Source& current, const CloudEvent& e) {
  if (const auto roles = default_roles("application.updated"); !has(roles, e.actorrole))
    return reject(Reason::unauthorized, "actorrole \"" + e.actorrole +
                                            "\" may not send self-identification; allowed: " +
                                            joined({roles.begin(), roles.end()}));
  if (auto bad = actor_rules(current.app, e)) return *bad;
  if (auto bad = answers_fit(current.app.self_identification, e.data[kSelfIdentification]))
    return *bad;
  Applied out = started(current, e);
  merge_self_identification(out.next.self_identification, e.data[kSelfIdentification]);
  out.note = "self-identification recorded, kept apart from the profile";
  return out;
}

// An erasure request (DESIGN.md §14): accepted in every stage of every
// workflow without the workflow naming it, from the applicant who owns the
// application or the office. Personal data goes, the record of where the
// application stood stays; its timers go, and nothing is applied after it.
Outcome erased(const Source& current, const CloudEvent& e) {
  if (const auto roles = default_roles(kErased); !has(roles, e.actorrole))
    return reject(Reason::unauthorized, "actorrole \"" + e.actorrole + "\" may not send " +
                                            std::string(kErased) +
                                            "; allowed: " + joined({roles.begin(), roles.end()}));
  if (auto bad = actor_rules(current.app, e)) return *bad;
  Applied out = started(current, e);
  out.next.self_identification = json::object();
  record_erasure(out.next.facts, e);
  out.reset_timers = true;  // no reminder or deadline for a person erased
  out.note = "personal data erased; the stages and times stay";
  return out;
}

// A timer's deadline for a stay already left: recorded, nothing else.
Applied stale(const Source& current, const CloudEvent& e, std::string note) {
  Applied out = started(current, e);
  out.note = std::move(note);
  return out;
}

// Whether `e` may be applied in the application's stage at all: accepted
// there, by an actor allowed to send it, under the rules no workflow lifts.
std::optional<Rejected> admissible(const Workflow& wf, const Application& current, const State& st,
                                   const CloudEvent& e,
                                   const std::vector<const Transition*>& cands) {
  const bool listed = std::find(st.accepts.begin(), st.accepts.end(), e.type) != st.accepts.end();
  if (!listed && cands.empty())
    return reject(Reason::not_accepted_in_stage, e.type + " is not accepted in stage \"" +
                                                     current.stage + "\" of " + wf.program + " v" +
                                                     std::to_string(wf.version));
  // Every accepted event is checked, also one a stage merely accepts.
  if (const auto roles = allowed_roles(st, e.type, cands); roles.count(e.actorrole) == 0)
    return reject(Reason::unauthorized, "actorrole \"" + e.actorrole + "\" may not send " + e.type +
                                            " in stage \"" + current.stage +
                                            "\"; allowed: " + joined(roles));
  if (auto bad = actor_rules(current, e)) return bad;
  return eligibility_rule(wf, current, e);
}

// The first transition whose roles and guard admit the event moves the stage.
void transition(const Workflow& wf, const std::vector<const Transition*>& cands,
                const CloudEvent& e, const std::string& stage, Applied& out) {
  json context;  // built once, only when a guard needs it
  for (const Transition* t : cands) {
    if (!role_allowed(*t, e.actorrole)) continue;
    if (t->guard) {
      if (context.is_null()) context = guard_context(wf, out.next, e, &wf.guard_reads);
      if (!jsonlogic::truthy(t->guard->evaluate(context))) continue;
    }
    out.transition = t->index;
    if (t->to != stage) {
      out.moved = true;
      out.to = t->to;
      record_stay(out.next, t->to, e.time_ms);
      out.next.stage = t->to;
      out.next.stage_entered_ms = e.time_ms;
      enter(wf, t->to, e.time_ms, out);
    }
    return;
  }
}

Outcome apply_existing(const Workflow& wf, const Source& source, const CloudEvent& e,
                       const Limits& limits, const ReviewerDirectory* reviewers) {
  const Application& current = source.app;
  if (e.type == kSubmitted)
    return reject(Reason::application_exists,
                  "application \"" + e.subject +
                      "\" was already submitted; use application.updated to change it");
  if (!e.program.empty() && e.program != current.program)
    return reject(Reason::program_mismatch, "application \"" + e.subject + "\" belongs to \"" +
                                                current.program + "\", not \"" + e.program + "\"");
  if (is_erased(current))
    return reject(Reason::application_erased,
                  "application \"" + e.subject + "\" was erased on " +
                      current.facts["erased"].value("time", std::string("an earlier date")) +
                      ": nothing more is applied to it; a new application needs a new id");
  if (e.type == kErased) return erased(source, e);
  if (auto note = stale_deadline(current, e)) return stale(source, e, std::move(*note));
  if (e.type == "application.updated" && has_self_identification(e.data)) {
    if (auto bad = check_self_identification(e.data[kSelfIdentification]); !bad.empty())
      return reject(Reason::invalid_data, bad);
    if (e.data.size() == 1) return self_identified(source, e);
  }
  const State* st = wf.state(current.stage);
  if (st == nullptr)
    return reject(Reason::engine_error, "stage \"" + current.stage + "\" is not in " + wf.program +
                                            " v" + std::to_string(wf.version));
  const auto cands = candidates(wf, *st, e.type);
  if (auto bad = admissible(wf, current, *st, e, cands)) return *bad;
  Applied out = started(source, e);  // `current` is gone when it was given up
  if (auto bad = apply_data(wf, out.next, e, limits, reviewers)) return *bad;
  transition(wf, cands, e, *out.from, out);
  return out;
}

}  // namespace

namespace {

Rejected unknown_type(const CloudEvent& e) {
  return reject(Reason::unknown_type,
                "event type \"" + e.type + "\" is not in the stagewise vocabulary");
}

Outcome apply_to(const Workflow& wf, const Source* current, const CloudEvent& e,
                 const Limits& limits, const ReviewerDirectory* reviewers) {
  try {
    if (!is_known_event_type(e.type)) return unknown_type(e);
    return current == nullptr ? create(wf, e) : apply_existing(wf, *current, e, limits, reviewers);
  } catch (const std::exception& ex) {
    return reject(Reason::engine_error,
                  std::string("the engine failed on this event: ") + ex.what());
  }
}

// The workflow version an existing application follows; null when not loaded.
const Workflow* workflow_of(const Registry& registry, const Application& app) {
  return registry.find(app.program, app.workflow_version);
}

Rejected not_loaded(const Application& app) {
  return reject(Reason::unknown_program, "workflow " + app.program + " v" +
                                             std::to_string(app.workflow_version) +
                                             " of application \"" + app.id + "\" is not loaded");
}

}  // namespace

Outcome apply(const Workflow& wf, const Application* current, const CloudEvent& e,
              const Limits& limits, const ReviewerDirectory* reviewers) {
  if (current == nullptr) return apply_to(wf, nullptr, e, limits, reviewers);
  const Source source{*current};
  return apply_to(wf, &source, e, limits, reviewers);
}

Outcome apply(const Workflow& wf, Application&& current, const CloudEvent& e, const Limits& limits,
              const ReviewerDirectory* reviewers) {
  const Source source{current, &current};
  return apply_to(wf, &source, e, limits, reviewers);
}

Outcome apply(const Registry& registry, const Application* current, const CloudEvent& e,
              const Limits& limits, const ReviewerDirectory* reviewers) {
  if (!is_known_event_type(e.type)) return unknown_type(e);
  if (current == nullptr) {
    if (e.program.empty())
      return reject(e.type == kSubmitted ? Reason::missing_attribute : Reason::unknown_application,
                    e.type == kSubmitted
                        ? "application.submitted needs the \"program\" extension attribute"
                        : "application \"" + e.subject +
                              "\" does not exist; its first event must be application.submitted");
    const Workflow* wf = registry.latest(e.program);
    if (wf == nullptr)
      return reject(Reason::unknown_program,
                    "program \"" + e.program + "\" has no workflow loaded");
    return apply(*wf, nullptr, e, limits, reviewers);
  }
  const Workflow* wf = workflow_of(registry, *current);
  if (wf == nullptr) return not_loaded(*current);
  return apply(*wf, current, e, limits, reviewers);
}

Outcome apply(const Registry& registry, Application&& current, const CloudEvent& e,
              const Limits& limits, const ReviewerDirectory* reviewers) {
  if (!is_known_event_type(e.type)) return unknown_type(e);
  const Workflow* wf = workflow_of(registry, current);
  if (wf == nullptr) return not_loaded(current);
  return apply(*wf, std::move(current), e, limits, reviewers);
}

}  // namespace stagewise::workflow
