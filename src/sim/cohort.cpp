#include "sim/cohort.h"

#include "common/cloudevent.h"
#include "common/time.h"
#include "sim/detail/model.h"
#include "workflow/engine.h"
#include "workflow/vocabulary.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

namespace stagewise::sim {
namespace {

using nlohmann::json;
using workflow::Application;
using workflow::State;
using workflow::Transition;
using workflow::Workflow;

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
/// Deadlines due this long after the horizon lapse in the cohort too.
constexpr int64_t kLapseGrace = kHour;
constexpr const char* kSource = "stagewise-sim";
constexpr const char* kDeadline = "stage.deadline_passed";
constexpr int kMaxStays = 40;
constexpr int kMaxEvents = 150;

const char* const kGiven[] = {"Amara", "Bo",    "Chen",   "Dalia", "Emeka", "Farah", "Gabriel",
                              "Hana",  "Ines",  "Jamal",  "Kiri",  "Luz",   "Malik", "Nadia",
                              "Oren",  "Priya", "Quinn",  "Rosa",  "Sione", "Tariq", "Uma",
                              "Vera",  "Wen",   "Ximena", "Yusuf", "Zanele"};
const char* const kFamily[] = {"Okafor",    "Nguyen", "Haddad", "Morales", "Tanaka",  "Mensah",
                               "Kowalski",  "Begay",  "Ortiz",  "Rahman",  "Silva",   "Achebe",
                               "Lindqvist", "Park",   "Quispe", "Dube",    "Ivanova", "Castillo"};
const char* const kUniversities[] = {"Coastal State University",
                                     "Northern Tech",
                                     "Partner University",
                                     "Lakeside College",
                                     "Riverside University",
                                     "Mountain State University",
                                     "Capital Institute of Technology",
                                     "Southern A&M University",
                                     "Valley Community College",
                                     "Harbor City University"};
const char* const kNotes[] = {"called the applicant",    "file checked",
                              "asked for clarification", "strong references",
                              "follow up next week",     "discussed in meeting"};
const char* const kWithdrawReasons[] = {"accepted another offer", "personal reasons",
                                        "timing does not work", "changed plans"};

template <size_t N>
const char* pick(Rng& rng, const char* const (&list)[N]) {
  return list[rng.index(N)];
}

const char* const kGenders[] = {"woman", "woman", "man", "man", "nonbinary", "decline to state"};
const char* const kFirstGeneration[] = {"yes", "no", "no", "decline to state"};

// Voluntary self-identification (DESIGN.md §13), drawn from the applicant's
// id alone so that the rest of a seeded cohort stays as it was; about one in
// eight gives none.
json self_identification(const std::string& id) {
  uint64_t seed = 0xcbf29ce484222325ULL;  // FNV-1a: the same on every platform
  for (const unsigned char c : id) seed = (seed ^ c) * 0x100000001b3ULL;
  Rng rng(seed);
  if (rng.chance(0.125)) return nullptr;
  json answers = {{"gender", pick(rng, kGenders)}};
  if (rng.chance(0.8)) answers["first_generation"] = pick(rng, kFirstGeneration);
  return answers;
}

std::string pad(uint64_t n, int width) {
  std::string s = std::to_string(n);
  if (static_cast<int>(s.size()) < width) s.insert(0, static_cast<size_t>(width) - s.size(), '0');
  return s;
}

// The role an event type is naturally sent by.
std::string natural_role(const std::string& type) {
  if (type.rfind("application.", 0) == 0 || type == "offer.accepted" || type == "offer.declined" ||
      type == "report.submitted")
    return "applicant";
  if (type == "review.submitted") return "reviewer";
  if (type == kDeadline) return "system";
  return "program_manager";
}

bool role_allowed(const Transition& t, const std::string& role) {
  return t.roles.empty() || std::find(t.roles.begin(), t.roles.end(), role) != t.roles.end();
}

bool applies_from(const Transition& t, const State& st) {
  return t.from == st.name || (t.from == "*" && !st.terminal);
}

// A reviewer of the cohort: how lenient they score.
struct Reviewer {
  std::string id;
  double leniency = 0;
};

// What the walk of one application produced: its good events in order, the
// state after each, and the bad events placed between them.
struct Step {
  CloudEvent event;
  Application after;
};

struct Placed {
  int64_t time = 0;
  SimEvent event;
};

class Walk {
 public:
  Walk(const workflow::Registry& registry, const ProgramModel& model, const CohortOptions& o,
       const std::vector<Reviewer>& reviewers, uint64_t index, int width)
      : registry_(registry),
        model_(model),
        wf_(*model.wf),
        o_(o),
        reviewers_(reviewers),
        rng_(mix(o.seed, index)) {
    id_ = id_prefix(o.program) + "-" + std::to_string(o.seed) + "-" + pad(index + 1, width);
    horizon_ = o.start_ms + o.span_ms;
    quality_ = rng_.normal();
  }

  void run();
  /// Good and bad events of this application, in time order.
  std::vector<Placed> events();
  const std::optional<Application>& state() const { return app_; }

 private:
  enum class Fate { exit, lapse, withdraw, park };
  struct Option {
    Fate fate = Fate::park;
    const TransitionModel* target = nullptr;
    double weight = 0;
  };

  bool stay();
  bool execute(std::vector<CloudEvent>& plan, bool& moved);
  bool lapse_now(int64_t due);
  std::optional<int64_t> pending_deadline() const;
  std::vector<CloudEvent> prepare(const TransitionModel& tm, std::optional<CloudEvent>& trigger,
                                  bool generous = false);
  bool feasible(const TransitionModel& tm, const std::vector<CloudEvent>& prep,
                const CloudEvent& trigger) const;
  void schedule(std::vector<CloudEvent>& plan, int64_t from, int64_t until);
  CloudEvent event(const std::string& type, const std::string& role, json data);
  std::string actor(const std::string& role);
  json profile();
  json review_data(const std::string& reviewer);
  bool accepts(const std::string& type, const std::string& role) const;
  std::string role_here(const std::string& type) const;
  bool emit(const CloudEvent& e, bool* moved = nullptr);
  std::optional<SimEvent> bad_event(const Application* state, int64_t time);

  const workflow::Registry& registry_;
  const ProgramModel& model_;
  const Workflow& wf_;
  const CohortOptions& o_;
  const std::vector<Reviewer>& reviewers_;
  Rng rng_;
  std::string id_;
  int64_t horizon_ = 0;
  double quality_ = 0;
  std::optional<Application> app_;
  std::vector<Step> steps_;
  int64_t spent_stay_ = -1;  // entry time of the stay whose deadline fired without a move
  int next_event_ = 1;
  int next_bad_ = 1;
  int next_doc_ = 1;
};

std::string Walk::actor(const std::string& role) {
  if (role == "applicant") return "applicant-" + id_;
  if (role == "program_manager") return "pm-" + std::to_string(1 + rng_.index(3));
  if (role == "system") return kSource;
  if (role == "admin") return "admin-1";
  return "rev-0";
}

CloudEvent Walk::event(const std::string& type, const std::string& role, json data) {
  CloudEvent e;
  e.source = kSource;
  e.type = type;
  e.subject = id_;
  e.program = wf_.program;
  e.actorrole = role;
  e.actorid = role == "reviewer" && data.is_object() && data.contains("reviewer")
                  ? data["reviewer"].get<std::string>()
                  : actor(role);
  e.data = std::move(data);
  return e;
}

json Walk::profile() {
  json p = {{"name", std::string(pick(rng_, kGiven)) + " " + pick(rng_, kFamily)},
            {"university", pick(rng_, kUniversities)},
            {"email", "applicant-" + id_ + "@example.edu"}};
  for (const auto& [field, cs] : model_.profile) {
    const bool satisfy = rng_.chance(0.8);
    json v = satisfy ? satisfying_value(cs, field, rng_) : violating_value(cs, rng_);
    if (v.is_null()) v = satisfying_value(cs, field, rng_);
    if (!v.is_null()) p[field] = std::move(v);
  }
  if (!reviewers_.empty() && rng_.chance(0.1))
    p["conflicts"] = json::array({reviewers_[rng_.index(reviewers_.size())].id});
  if (auto answers = self_identification(id_); !answers.is_null())
    p["self_identification"] = std::move(answers);
  return p;
}

json Walk::review_data(const std::string& reviewer) {
  double leniency = 0;
  for (const auto& r : reviewers_)
    if (r.id == reviewer) leniency = r.leniency;
  json scores = json::object();
  double total = 0, weights = 0, mid_all = 0;
  if (const auto* spec = wf_.review_spec(app_->stage)) {
    for (const auto& c : spec->rubric) {
      const double mid = (c.min + c.max) / 2, half = (c.max - c.min) / 2;
      // Reviewers score a little above the middle of the scale.
      const double z = 0.3 + 0.6 * quality_ + leniency + 0.35 * rng_.normal();
      double s = mid + z * half * 0.6;
      s = std::clamp(static_cast<double>(static_cast<int64_t>(s + (s >= 0 ? 0.5 : -0.5))), c.min,
                     c.max);
      scores[c.name] = static_cast<int64_t>(s);
      total += c.weight * s;
      weights += c.weight;
      mid_all += c.weight * (mid + 0.2 * half);
    }
  }
  json d = {{"reviewer", reviewer}, {"scores", scores}};
  if (!model_.recommendations.empty()) {
    const bool positive = weights > 0 ? total >= mid_all : rng_.chance(0.5);
    d["recommendation"] = positive ? model_.recommendations.front() : model_.recommendations.back();
  }
  return d;
}

bool Walk::accepts(const std::string& type, const std::string& role) const {
  const State* st = wf_.state(app_->stage);
  if (st == nullptr || st->terminal) return false;
  if (std::find(st->accepts.begin(), st->accepts.end(), type) != st->accepts.end()) return true;
  for (const auto& t : wf_.transitions)
    if (t.on == type && applies_from(t, *st) && role_allowed(t, role)) return true;
  return false;
}

// The role to send `type` with in the current stage: the natural one when
// it is admitted, else the first a transition naming the type admits.
std::string Walk::role_here(const std::string& type) const {
  const std::string natural = natural_role(type);
  if (accepts(type, natural)) return natural;
  const State* st = wf_.state(app_->stage);
  for (const auto& t : wf_.transitions)
    if (st && t.on == type && applies_from(t, *st) && !t.roles.empty()) return t.roles.front();
  return natural;
}

bool Walk::emit(const CloudEvent& planned, bool* moved) {
  CloudEvent e = planned;
  if (e.id.empty()) e.id = id_ + "-e" + std::to_string(next_event_);
  auto out = workflow::apply(registry_, app_ ? &*app_ : nullptr, e);
  auto* applied = std::get_if<workflow::Applied>(&out);
  if (applied == nullptr) return false;
  if (moved) *moved = applied->moved;
  if (e.type == kDeadline && !applied->moved) spent_stay_ = app_->stage_entered_ms;
  if (planned.id.empty()) ++next_event_;
  app_ = std::move(applied->next);
  steps_.push_back({std::move(e), *app_});
  return true;
}

std::optional<int64_t> Walk::pending_deadline() const {
  const State* st = wf_.state(app_->stage);
  if (st == nullptr || st->terminal || !st->deadline) return std::nullopt;
  if (spent_stay_ == app_->stage_entered_ms) return std::nullopt;
  return app_->stage_entered_ms + st->deadline->after_ms;
}

// Lets the current stay's deadline lapse: the event the server's timer fires.
bool Walk::lapse_now(int64_t due) {
  workflow::Timer timer;
  timer.kind = workflow::Timer::Kind::deadline;
  timer.due_ms = due;
  timer.stage = app_->stage;
  timer.stage_entered_ms = app_->stage_entered_ms;
  const CloudEvent e = workflow::deadline_event(*app_, timer, due);
  if (emit(e)) return true;
  // Not accepted here: the server's timer meets the same refusal; nothing moves.
  spent_stay_ = app_->stage_entered_ms;
  return false;
}

void Walk::run() {
  // Submissions cluster towards the end of the call window.
  const int64_t window = o_.span_ms * 3 / 5;
  const double u = rng_.chance(0.4) ? 0.8 + 0.2 * rng_.uniform() : rng_.uniform();
  const int64_t t0 =
      (o_.start_ms + static_cast<int64_t>(u * static_cast<double>(window))) / kSecond * kSecond;
  CloudEvent submit = event(std::string(workflow::kSubmitted), "applicant", profile());
  submit.time_ms = std::max(t0, o_.start_ms);
  submit.time = format_rfc3339_ms(submit.time_ms);
  if (!emit(submit)) return;
  for (int stays = 0; stays < kMaxStays && static_cast<int>(steps_.size()) < kMaxEvents; ++stays) {
    const State* st = wf_.state(app_->stage);
    if (st == nullptr || st->terminal) break;
    if (!stay()) break;
  }
  // Parked where the horizon found it: a deadline due by then (or within the
  // grace after it) fires on the server, so it fires here too.
  for (int guard = 0; guard < 64; ++guard) {
    const auto due = pending_deadline();
    if (!due || *due > horizon_ + kLapseGrace || *due <= steps_.back().event.time_ms) break;
    if (!lapse_now(*due)) break;
  }
}

// One attempt at leaving the current stage. False when the walk ends here.
bool Walk::stay() {
  const State& st = *wf_.state(app_->stage);
  const int64_t now = steps_.back().event.time_ms;
  const auto deadline = pending_deadline();

  std::vector<Option> options;
  bool lapse_possible = false;
  std::set<std::string> fact_decided;  // trigger types whose outcome the facts decide
  for (const auto& tm : model_.transitions) {
    const Transition& t = *tm.t;
    if (!applies_from(t, st)) continue;
    if (t.on == kDeadline) {
      lapse_possible = true;
      continue;
    }
    if (t.on == "application.withdrawn") {
      options.push_back({Fate::withdraw, &tm, 0.03});
      continue;
    }
    if (t.to == st.name || t.on == workflow::kSubmitted) continue;
    if (t.on == "review.submitted") {
      if (!fact_decided.insert(t.on).second) continue;
      options.push_back({Fate::exit, &tm, 1.0});
      continue;
    }
    const State* to = wf_.state(t.to);
    const double q = quality_;
    const double w = to && to->terminal ? 0.25 * (q < 0 ? 1 - q : 1 / (1 + q)) : 1.0;
    options.push_back({Fate::exit, &tm, w});
  }
  if (std::find(st.accepts.begin(), st.accepts.end(), kDeadline) != st.accepts.end())
    lapse_possible = true;
  if (deadline && lapse_possible) options.push_back({Fate::lapse, nullptr, 0.1});
  if (!deadline) options.push_back({Fate::park, nullptr, 0.04});

  // No room left before the deadline: it lapses.
  if (deadline && *deadline - now < 2 * kMinute) {
    if (*deadline > horizon_ + kLapseGrace) return false;
    lapse_now(*deadline);
    return true;
  }

  for (int attempt = 0; attempt < 6 && !options.empty(); ++attempt) {
    double total = 0;
    for (const auto& op : options) total += op.weight;
    double r = rng_.uniform() * total;
    size_t k = 0;
    while (k + 1 < options.size() && r >= options[k].weight) r -= options[k++].weight;
    const Option op = options[k];

    const int64_t until =
        deadline
            ? now + static_cast<int64_t>(static_cast<double>(*deadline - now) *
                                         (0.15 + 0.77 * rng_.uniform()))
            : now + 4 * kHour + static_cast<int64_t>(rng_.uniform() * rng_.uniform() * 20.0 * kDay);

    if (op.fate == Fate::exit) {
      std::optional<CloudEvent> trigger;
      auto plan = prepare(*op.target, trigger);
      if (!trigger) {
        options.erase(options.begin() + static_cast<long>(k));
        continue;
      }
      // A person's choice must be one the workflow lets through; the
      // reviews' verdict is whatever the scores say.
      const bool chosen = op.target->t->on != "review.submitted";
      if (chosen && !op.target->optional_documents.empty() &&
          !feasible(*op.target, plan, *trigger)) {
        trigger.reset();
        plan = prepare(*op.target, trigger, /*generous=*/true);
      }
      if (chosen && (!trigger || !feasible(*op.target, plan, *trigger))) {
        // What it needs (reviews, documents) may still come, and show why not.
        if (!plan.empty() && rng_.chance(0.5)) {
          schedule(plan, now, until);
          bool moved = false;
          return execute(plan, moved);
        }
        options.erase(options.begin() + static_cast<long>(k));
        continue;
      }
      plan.push_back(std::move(*trigger));
      schedule(plan, now, until);
      bool moved = false;
      return execute(plan, moved);
    }
    if (op.fate == Fate::lapse || op.fate == Fate::withdraw) {
      // Part of what an exit needs arrives; the rest late or never.
      std::vector<CloudEvent> plan;
      std::vector<const Option*> exits;
      for (const auto& o : options)
        if (o.fate == Fate::exit) exits.push_back(&o);
      if (!exits.empty()) {
        std::optional<CloudEvent> trigger;
        plan = prepare(*exits[rng_.index(exits.size())]->target, trigger);
        plan.resize(rng_.index(plan.size() + 1));
      }
      const int64_t end = op.fate == Fate::lapse ? *deadline : until;
      if (op.fate == Fate::withdraw)
        plan.push_back(event("application.withdrawn", "applicant",
                             {{"reason", pick(rng_, kWithdrawReasons)}}));
      schedule(plan, now, op.fate == Fate::lapse ? end - kMinute : end);
      bool moved = false;
      if (!execute(plan, moved)) return false;
      if (moved || op.fate == Fate::withdraw) return true;
      if (end > horizon_ + kLapseGrace) return false;
      lapse_now(end);
      return true;
    }
    // Park: the application waits here (a decision nobody takes yet).
    return false;
  }
  return false;
}

// Applies the plan until the stage moves. False when the horizon stops the
// walk (after letting a deadline due by then lapse).
bool Walk::execute(std::vector<CloudEvent>& plan, bool& moved) {
  for (auto& e : plan) {
    if (e.time_ms > horizon_) {
      const auto due = pending_deadline();
      if (due && *due <= horizon_ + kLapseGrace && *due > steps_.back().event.time_ms) {
        lapse_now(*due);
        return true;
      }
      return false;
    }
    if (const auto due = pending_deadline(); due && e.time_ms >= *due) {
      lapse_now(*due);
      return true;
    }
    bool m = false;
    if (!emit(e, &m)) continue;
    if (m) {
      moved = true;
      return true;
    }
  }
  return true;
}

// Spreads the plan's events over (from, until], in order, whole seconds,
// strictly increasing.
void Walk::schedule(std::vector<CloudEvent>& plan, int64_t from, int64_t until) {
  if (plan.empty()) return;
  std::vector<int64_t> times;
  for (size_t i = 0; i + 1 < plan.size(); ++i)
    times.push_back(from +
                    static_cast<int64_t>(rng_.uniform() * static_cast<double>(until - from)));
  std::sort(times.begin(), times.end());
  times.push_back(until);
  int64_t last = from;
  for (size_t i = 0; i < plan.size(); ++i) {
    int64_t t = times[i] / kSecond * kSecond;
    if (t <= last) t = (last / kSecond + 1) * kSecond;
    plan[i].time_ms = t;
    plan[i].time = format_rfc3339_ms(t);
    last = t;
  }
}

bool Walk::feasible(const TransitionModel& tm, const std::vector<CloudEvent>& prep,
                    const CloudEvent& trigger) const {
  Application a = *app_;
  auto step = [&](const CloudEvent& e) -> std::optional<workflow::Applied> {
    auto out = workflow::apply(registry_, &a, e);
    auto* applied = std::get_if<workflow::Applied>(&out);
    if (applied == nullptr) return std::nullopt;
    a = applied->next;
    return std::move(*applied);
  };
  for (const auto& e : prep) {
    auto r = step(e);
    if (r && r->moved) return false;  // something else moves first
  }
  auto r = step(trigger);
  return r && r->moved && r->to == tm.t->to;
}

// The events that make `tm`'s guard hold (documents, reviewer assignments,
// reviews, offer steps, an interview) plus some noise; `trigger` is the
// event that should then move the stage.
std::vector<CloudEvent> Walk::prepare(const TransitionModel& tm, std::optional<CloudEvent>& trigger,
                                      bool generous) {
  const Transition& t = *tm.t;
  const json& f = app_->facts;
  std::vector<CloudEvent> plan;
  auto doc = [&](const std::string& kind) {
    return event("application.document_added", role_here("application.document_added"),
                 {{"kind", kind},
                  {"name", kind + ".pdf"},
                  {"uri", "https://docs.example.org/" + id_ + "/" + std::to_string(next_doc_++) +
                              "-" + kind + ".pdf"}});
  };

  // Offer and interview steps that come first.
  for (const auto& step : tm.offer_steps) {
    if (step == t.on) continue;
    const std::string status = step.substr(6);
    const bool done =
        f.contains("offer") && f["offer"].is_object() && f["offer"].contains(status + "_time");
    if (!done && accepts(step, role_here(step))) plan.push_back(event(step, role_here(step), {}));
  }
  if (t.on == "interview.completed" && !f.contains("interview") &&
      accepts("interview.scheduled", role_here("interview.scheduled")))
    plan.push_back(event("interview.scheduled", role_here("interview.scheduled"),
                         {{"with", "host supervisor"}}));

  // Documents the guard counts.
  std::optional<std::string> trigger_kind;
  if (t.on == "application.document_added") {
    if (auto it = tm.event_data.find("kind"); it != tm.event_data.end()) {
      const json k = satisfying_value(it->second, "kind", rng_);
      if (k.is_string()) trigger_kind = k.get<std::string>();
    }
  }
  if (accepts("application.document_added", role_here("application.document_added"))) {
    for (const auto& [kind, need] : tm.documents) {
      int have = 0;
      if (f.contains("documents"))
        for (const auto& d : f["documents"])
          if (d.value("kind", "") == kind) ++have;
      if (trigger_kind && *trigger_kind == kind) ++have;
      for (int i = have; i < need; ++i) plan.push_back(doc(kind));
    }
    for (const auto& kind : generous ? tm.optional_documents : std::vector<std::string>{}) {
      bool have = trigger_kind && *trigger_kind == kind;
      if (f.contains("documents"))
        for (const auto& d : f["documents"]) have = have || d.value("kind", "") == kind;
      if (!have) plan.push_back(doc(kind));
    }
  }

  // Reviews: assign the panel, then each reviewer scores.
  const workflow::ReviewSpec* spec = wf_.review_spec(app_->stage);
  const bool wants_reviews = tm.uses_reviews || t.on == "review.submitted" || tm.reviews > 0;
  if (wants_reviews && accepts("review.submitted", "reviewer")) {
    const State* st = wf_.state(app_->stage);
    int need = std::max(tm.reviews, 1);
    if (st && st->review)
      need = std::max(need, st->review->reviewers);
    else if (spec && tm.reviews == 0)
      need = std::max(need, spec->reviewers);
    std::vector<std::string> assigned;
    if (f.contains("reviewers"))
      for (const auto& r : f["reviewers"]) assigned.push_back(r.get<std::string>());
    std::set<std::string> reviewed;
    if (f.contains("reviews"))
      for (const auto& r : f["reviews"]) reviewed.insert(r.value("reviewer", ""));
    std::set<std::string> conflicts;
    if (f.contains("profile") && f["profile"].contains("conflicts"))
      for (const auto& c : f["profile"]["conflicts"])
        if (c.is_string()) conflicts.insert(c.get<std::string>());
    const std::string assign_role = role_here("reviewer.assigned");
    if (accepts("reviewer.assigned", assign_role) && !reviewers_.empty()) {
      int tries = 0;
      while (static_cast<int>(assigned.size()) < need && tries++ < 50) {
        const std::string& r = reviewers_[rng_.index(reviewers_.size())].id;
        if (conflicts.count(r) || std::find(assigned.begin(), assigned.end(), r) != assigned.end())
          continue;
        assigned.push_back(r);
        plan.push_back(event("reviewer.assigned", assign_role, {{"reviewer", r}}));
        // Now and then a reviewer recuses and is replaced.
        if (rng_.chance(0.03) && accepts("reviewer.recused", role_here("reviewer.recused"))) {
          plan.push_back(
              event("reviewer.recused", role_here("reviewer.recused"), {{"reviewer", r}}));
          assigned.pop_back();
        }
      }
    }
    int reviews = static_cast<int>(reviewed.size());
    std::vector<CloudEvent> scoring;
    for (const auto& r : assigned) {
      if (reviews >= need) break;
      if (reviewed.count(r)) continue;
      ++reviews;
      scoring.push_back(event("review.submitted", "reviewer", review_data(r)));
    }
    // No panel assigned (the stage does not assign one): anyone may review.
    if (assigned.empty() && !reviewers_.empty()) {
      for (int tries = 0; reviews < need && tries < 50; ++tries) {
        const std::string& r = reviewers_[rng_.index(reviewers_.size())].id;
        if (reviewed.count(r) || conflicts.count(r)) continue;
        reviewed.insert(r);
        ++reviews;
        scoring.push_back(event("review.submitted", "reviewer", review_data(r)));
      }
    }
    for (auto& e : scoring) plan.push_back(std::move(e));
  }

  // Noise: notes and profile updates.
  if (accepts("note.added", role_here("note.added")) && rng_.chance(0.12)) {
    auto note = event("note.added", role_here("note.added"), {{"text", pick(rng_, kNotes)}});
    plan.insert(plan.begin() + static_cast<long>(rng_.index(plan.size() + 1)), std::move(note));
  }
  if (accepts("application.updated", role_here("application.updated")) && rng_.chance(0.08)) {
    auto upd = event("application.updated", role_here("application.updated"),
                     {{"phone", "+1-555-01" + pad(rng_.index(100), 2)}});
    plan.insert(plan.begin() + static_cast<long>(rng_.index(plan.size() + 1)), std::move(upd));
  }

  // The trigger.
  if (t.on == "review.submitted") {
    for (auto it = plan.rbegin(); it != plan.rend(); ++it) {
      if (it->type != "review.submitted") continue;
      trigger = std::move(*it);
      plan.erase(std::next(it).base());
      return plan;
    }
    return plan;  // no review to give: no trigger
  }
  if (t.on == "application.document_added" && !trigger_kind) {
    // The last missing document moves the stage.
    for (auto it = plan.rbegin(); it != plan.rend(); ++it) {
      if (it->type != t.on) continue;
      trigger = std::move(*it);
      plan.erase(std::next(it).base());
      return plan;
    }
    trigger_kind = "supporting_document";
  }
  json data = json::object();
  if (t.on == "application.document_added") {
    data = doc(*trigger_kind).data;
  } else if (t.on == "decision.recorded") {
    data["outcome"] = "recorded";
  } else if (t.on == "application.withdrawn") {
    data["reason"] = pick(rng_, kWithdrawReasons);
  } else if (t.on == "interview.completed") {
    data["rating"] = std::clamp<int64_t>(3 + static_cast<int64_t>(quality_ * 1.2), 1, 5);
  } else if (t.on == "offer.extended") {
    data["terms"] = "standard";
  } else if (t.on == "note.added") {
    data["text"] = pick(rng_, kNotes);
  } else if (t.on == "reviewer.assigned" || t.on == "reviewer.recused") {
    data["reviewer"] = reviewers_.empty() ? "rev-1" : reviewers_[rng_.index(reviewers_.size())].id;
  }
  for (const auto& [field, cs] : tm.event_data) {
    if (field == "year") {
      // Yearly reports count up.
      const size_t reports = f.contains("reports") ? f["reports"].size() : 0;
      data[field] = reports + 1;
      continue;
    }
    json v = satisfying_value(cs, field, rng_);
    if (!v.is_null()) data[field] = std::move(v);
  }
  std::string role = natural_role(t.on);
  if (!role_allowed(t, role)) {
    role = t.roles.front();
    for (const auto& r : t.roles)
      if (r != "system") {
        role = r;
        break;
      }
  }
  trigger = event(t.on, role, std::move(data));
  return plan;
}

// A bad event at `time` given the application's state then (null before it
// was submitted), checked to be refused by the decoder or the engine.
std::optional<SimEvent> Walk::bad_event(const Application* state, int64_t time) {
  const std::string bid = id_ + "-b" + std::to_string(next_bad_++);
  CloudEvent e;
  e.id = bid;
  e.source = kSource;
  e.subject = id_;
  e.program = wf_.program;
  e.time_ms = time;
  e.time = format_rfc3339_ms(time);
  e.type = "note.added";
  e.actorrole = "program_manager";
  e.actorid = "pm-1";
  e.data = {{"text", "late note"}};

  enum Kind {
    malformed,
    missing,
    invalid,
    unknown_type,
    unknown_app,
    exists,
    not_accepted,
    unauthorized,
    invalid_data,
    conflict
  };
  std::vector<std::pair<Kind, double>> kinds = {
      {malformed, 1.0}, {missing, 1.0}, {invalid, 0.7}, {unknown_type, 0.4}};
  if (state == nullptr) {
    kinds.push_back({unknown_app, 2.5});
  } else {
    kinds.push_back({exists, 0.4});
    kinds.push_back({not_accepted, 2.0});
    kinds.push_back({unauthorized, 1.0});
    kinds.push_back({invalid_data, 0.8});
    if (state->facts.contains("profile") && state->facts["profile"].contains("conflicts"))
      kinds.push_back({conflict, 1.0});
  }
  double total = 0;
  for (const auto& k : kinds) total += k.second;
  double r = rng_.uniform() * total;
  size_t k = 0;
  while (k + 1 < kinds.size() && r >= kinds[k].second) r -= kinds[k++].second;

  const State* st = state ? wf_.state(state->stage) : nullptr;
  auto types_here = [&](bool accepted) {
    std::vector<std::string> out;
    for (const auto type : workflow::kEventTypes) {
      const std::string ty(type);
      if (ty == workflow::kSubmitted || ty == kDeadline || ty == "application.erased") continue;
      bool named = st && !st->terminal &&
                   std::find(st->accepts.begin(), st->accepts.end(), ty) != st->accepts.end();
      for (const auto& t : wf_.transitions)
        if (st && t.on == ty && applies_from(t, *st)) named = true;
      if (named == accepted) out.push_back(ty);
    }
    return out;
  };

  std::string value;
  switch (kinds[k].first) {
    case malformed: {
      const std::string whole = to_json(e).dump();
      const int variant = static_cast<int>(rng_.index(3));
      value = variant == 0   ? whole.substr(0, 1 + rng_.index(whole.size() - 1))
              : variant == 1 ? "this is not a CloudEvent (" + bid + ")"
                             : "[" + whole + "]";
      break;
    }
    case missing: {
      json j = to_json(e);
      const char* const attrs[] = {"specversion", "id", "source", "type", "subject", "time"};
      j.erase(attrs[rng_.index(6)]);
      value = j.dump();
      break;
    }
    case invalid: {
      json j = to_json(e);
      const int variant = static_cast<int>(rng_.index(3));
      if (variant == 0) j["time"] = "next Tuesday";
      if (variant == 1) j["actorrole"] = "intern";
      if (variant == 2) j["specversion"] = "0.3";
      value = j.dump();
      break;
    }
    case unknown_type:
      e.type = "application.teleported";
      break;
    case unknown_app: {
      // Out of order: the documents arrive before the application.
      e.type = "application.document_added";
      e.actorrole = "applicant";
      e.actorid = "applicant-" + id_;
      e.data = {{"kind", "cv"}};
      break;
    }
    case exists:
      e.type = std::string(workflow::kSubmitted);
      e.actorrole = "applicant";
      e.actorid = "applicant-" + id_;
      e.data = {{"name", "Duplicate Submission"}};
      break;
    case not_accepted: {
      const auto types = types_here(false);
      if (types.empty()) return std::nullopt;
      e.type = types[rng_.index(types.size())];
      e.actorrole = natural_role(e.type);
      e.actorid = e.actorrole == "reviewer" ? "rev-1" : actor(e.actorrole);
      if (e.type == "application.document_added")
        e.data = {{"kind", "transcript"}};  // late
      else if (e.type == "decision.recorded")
        e.data = {{"outcome", "reject"}};
      else if (e.type.rfind("reviewer.", 0) == 0)
        e.data = {{"reviewer", "rev-1"}};
      else
        e.data = json::object();
      break;
    }
    case unauthorized: {
      // A transition's event from a role it does not admit.
      std::vector<const Transition*> guarded;
      for (const auto& t : wf_.transitions)
        if (st && applies_from(t, *st) && !t.roles.empty() && t.on != kDeadline &&
            std::find(st->accepts.begin(), st->accepts.end(), t.on) == st->accepts.end())
          guarded.push_back(&t);
      if (guarded.empty()) return std::nullopt;
      const Transition& t = *guarded[rng_.index(guarded.size())];
      std::vector<std::string> others;
      for (const auto* role : {"applicant", "reviewer", "program_manager", "admin"})
        if (!role_allowed(t, role)) others.push_back(role);
      if (others.empty()) return std::nullopt;
      e.type = t.on;
      e.actorrole = others[rng_.index(others.size())];
      e.actorid = e.actorrole == "reviewer" ? "rev-1" : actor(e.actorrole);
      e.data = e.type == "decision.recorded" ? json{{"outcome", "reject"}} : json::object();
      break;
    }
    case invalid_data: {
      const auto types = types_here(true);
      std::vector<std::string> usable;
      for (const auto& ty : types)
        if (ty == "application.document_added" || ty == "note.added" || ty == "decision.recorded" ||
            ty == "reviewer.assigned")
          usable.push_back(ty);
      if (usable.empty()) return std::nullopt;
      e.type = usable[rng_.index(usable.size())];
      e.actorrole = natural_role(e.type);
      e.actorid = actor(e.actorrole);
      e.data = {{"comment", "required field missing"}};
      break;
    }
    case conflict:
      e.type = "reviewer.assigned";
      e.actorrole = "program_manager";
      e.data = {{"reviewer", state->facts["profile"]["conflicts"][0]}};
      break;
  }
  if (value.empty()) {
    value = to_json(e).dump();
    // Only keep it when the pipeline must refuse it.
    auto decoded = decode_structured(value);
    if (auto* ev = std::get_if<CloudEvent>(&decoded)) {
      auto out = workflow::apply(registry_, state, *ev);
      if (!std::holds_alternative<workflow::Rejected>(out)) return std::nullopt;
    }
  }
  return SimEvent{id_, std::move(value), true};
}

std::vector<Placed> Walk::events() {
  std::vector<Placed> out;
  const size_t good = steps_.size();
  // Bad events: in expectation bad / (good + bad) = bad_fraction.
  std::vector<std::vector<Placed>> before(good + 1);
  if (o_.bad_fraction > 0 && good > 0) {
    const double expected = o_.bad_fraction / (1 - o_.bad_fraction) * static_cast<double>(good);
    uint64_t n = static_cast<uint64_t>(expected);
    if (rng_.chance(expected - static_cast<double>(n))) ++n;
    const int64_t last = steps_.back().event.time_ms;
    const size_t slots = last + kMinute < horizon_ ? good + 1 : good;
    for (uint64_t i = 0; i < n; ++i) {
      for (int tries = 0; tries < 8; ++tries) {
        const size_t slot = rng_.index(slots);
        const int64_t lo =
            slot == 0 ? steps_[0].event.time_ms - kHour : steps_[slot - 1].event.time_ms;
        const int64_t hi =
            slot == good ? std::min(horizon_, last + 3 * kDay) : steps_[slot].event.time_ms;
        if (hi - lo < 2) continue;
        const int64_t t =
            lo + 1 + static_cast<int64_t>(rng_.index(static_cast<size_t>(hi - lo - 1)));
        const Application* st = slot == 0 ? nullptr : &steps_[slot - 1].after;
        auto bad = bad_event(st, t);
        if (!bad) continue;
        before[slot].push_back({t, std::move(*bad)});
        break;
      }
    }
    for (auto& v : before)
      std::sort(v.begin(), v.end(),
                [](const Placed& a, const Placed& b) { return a.time < b.time; });
  }
  for (size_t i = 0; i <= good; ++i) {
    for (auto& b : before[i]) out.push_back(std::move(b));
    if (i < good) {
      const CloudEvent& e = steps_[i].event;
      out.push_back({e.time_ms, SimEvent{id_, to_json(e).dump(), false}});
    }
  }
  return out;
}

std::vector<Reviewer> make_reviewers(const CohortOptions& o) {
  Rng rng(mix(o.seed, 0xfeedfacecafeULL));
  const int n = std::clamp(o.applicants / 4, 6, 400);
  std::vector<Reviewer> out;
  for (int i = 1; i <= n; ++i) out.push_back({"rev-" + std::to_string(i), 0.35 * rng.normal()});
  return out;
}

}  // namespace

std::string id_prefix(const std::string& program) {
  std::string out;
  bool start = true;
  for (const char c : program) {
    if (c == '-' || c == '_' || c == ' ') {
      start = true;
      continue;
    }
    if (start && std::isalnum(static_cast<unsigned char>(c)))
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    start = false;
  }
  if (out.size() < 2) out = program.substr(0, std::min<size_t>(3, program.size()));
  return out.empty() ? "app" : out;
}

Cohort generate(const workflow::Registry& registry, const CohortOptions& options) {
  const Workflow* wf = registry.latest(options.program);
  if (wf == nullptr) {
    std::string known;
    for (const auto* w : registry.all())
      if (known.find(w->program) == std::string::npos)
        known += (known.empty() ? "" : ", ") + w->program;
    throw std::invalid_argument("unknown program \"" + options.program +
                                "\"; the workflows loaded are: " + known);
  }
  if (options.applicants < 0)
    throw std::invalid_argument("applicants must be 0 or more, got " +
                                std::to_string(options.applicants));
  if (!(options.bad_fraction >= 0 && options.bad_fraction < 1))
    throw std::invalid_argument("bad_fraction must be in [0, 1), got " +
                                std::to_string(options.bad_fraction));
  if (options.span_ms < kDay) throw std::invalid_argument("span_ms must be at least one day");

  const ProgramModel model = build_model(*wf);
  const auto reviewers = make_reviewers(options);
  const int width = std::max<int>(4, static_cast<int>(std::to_string(options.applicants).size()));

  struct Keyed {
    int64_t time;
    uint32_t app;
    uint32_t seq;
    SimEvent event;
  };
  std::vector<Keyed> all;
  Cohort c;
  for (const auto& [name, st] : wf->states) c.per_stage[name] = 0;
  for (int i = 0; i < options.applicants; ++i) {
    Walk walk(registry, model, options, reviewers, static_cast<uint64_t>(i), width);
    walk.run();
    if (!walk.state()) continue;
    c.expected_stage[walk.state()->id] = walk.state()->stage;
    ++c.per_stage[walk.state()->stage];
    uint32_t seq = 0;
    for (auto& p : walk.events())
      all.push_back({p.time, static_cast<uint32_t>(i), seq++, std::move(p.event)});
  }
  std::sort(all.begin(), all.end(), [](const Keyed& a, const Keyed& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.app != b.app) return a.app < b.app;
    return a.seq < b.seq;
  });
  c.events.reserve(all.size());
  for (auto& k : all) {
    if (k.event.bad) ++c.bad_events;
    c.events.push_back(std::move(k.event));
  }
  if (!all.empty()) {
    c.first_ms = all.front().time;
    c.last_ms = all.back().time;
  }
  return c;
}

}  // namespace stagewise::sim
