// Property test of the engine: thousands of seeded random event sequences
// through every program in workflows/. Event types come from the vocabulary
// (biased towards what the current stage accepts and what moves it on), roles
// from the transitions (and sometimes anyone), data from each program's own
// guards and rubrics (outcomes, document kinds, report fields, profile fields,
// scores around a per-application quality, timer data naming current or left
// stays), with a share of bad data, unknown types and wrong programs mixed in.
// Half of the sequences are cooperative: each step tries up to three random
// events on the (pure) engine and keeps the first that does not end the
// application, so that walks reach deep stages; the run prints how many
// stages and transitions of each program the walks covered.
//
// Properties: apply never throws and never fails internally (engine_error);
// the stage is always a declared state; the sequence grows by one per applied
// event; a terminal stage is never left; a move follows a transition of the
// application's own workflow that names the event and admits the actor;
// replaying the same events gives an identical Application.
//
// STAGEWISE_PROPERTY_SEED=N reruns with another seed; a failure prints the
// seed, the program and the events of the failing sequence.
#include "common/cloudevent.h"
#include "common/time.h"
#include "workflow/engine.h"
#include "workflow/vocabulary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace stagewise::workflow {
namespace {

// Outcomes of one event applied to a copy and to an application given up.
void expect_same_outcome(const Outcome& copied, const Outcome& taken) {
  ASSERT_EQ(copied.index(), taken.index());
  if (const auto* r = std::get_if<Rejected>(&copied)) {
    EXPECT_EQ(r->reason, std::get<Rejected>(taken).reason);
    EXPECT_EQ(r->message, std::get<Rejected>(taken).message);
    return;
  }
  const auto& a = std::get<Applied>(copied);
  const auto& b = std::get<Applied>(taken);
  EXPECT_TRUE(a.next == b.next) << to_json(a.next).dump() << "\n" << to_json(b.next).dump();
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.moved, b.moved);
  EXPECT_EQ(a.transition, b.transition);
  EXPECT_EQ(a.notifications.size(), b.notifications.size());
  EXPECT_EQ(a.timers.size(), b.timers.size());
  EXPECT_EQ(a.reset_timers, b.reset_timers);
  EXPECT_EQ(a.note, b.note);
}

using nlohmann::json;

const std::string kRoot = STAGEWISE_SOURCE_DIR;

constexpr int kSequencesPerProgram = 400;
constexpr int kMaxEventsPerSequence = 30;
const std::vector<std::string> kRoles = {"applicant", "reviewer", "program_manager", "admin",
                                         "system"};
const std::vector<std::string> kReviewers = {"rev-1", "rev-2", "rev-3", "rev-4", "rev-9"};

// What random data is drawn from, gathered from one workflow.
struct Pool {
  std::vector<std::string> strings;       ///< string literals of the guards: outcomes, kinds, ...
  std::vector<double> numbers;            ///< numeric literals of the guards
  std::vector<std::string> profile_keys;  ///< application.profile.KEY read by guards
  std::vector<std::string> data_keys;     ///< event.data.KEY read by guards
  std::vector<std::vector<Criterion>> rubrics;
  /// Per guard variable ("event.data.outcome", "application.documents.kinds",
  /// ...): the literals guards compare it with, and their neighbours.
  std::map<std::string, std::vector<json>> hints;
  std::vector<std::string> vars;  ///< every variable read
  /// Per stage: the string literals and event.data keys of the guards of the
  /// transitions that leave it, so that events often carry what could move it.
  std::map<std::string, Pool> stages;
};

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

// The first path segment after prefix, or "" when path does not start with it.
std::string key_after(const std::string& path, const std::string& prefix) {
  if (path.rfind(prefix, 0) != 0) return "";
  const std::string rest = path.substr(prefix.size());
  return rest.substr(0, rest.find('.'));
}

std::string var_name(const json& rule) {
  if (!rule.is_object() || rule.size() != 1 || !rule.contains("var")) return "";
  const json& args = rule["var"];
  const json& name = args.is_array() && !args.empty() ? args[0] : args;
  return name.is_string() ? name.get<std::string>() : "";
}

void hint(Pool& pool, const std::string& var, const json& value) {
  auto& v = pool.hints[var];
  if (std::find(v.begin(), v.end(), value) == v.end()) v.push_back(value);
}

// Gathers, from the guard `rule`, the variables it reads and the literals it
// compares them with ({"==": [{"var": X}, L]}, {"in": [L, {"var": X}]}, ...).
void collect(const json& rule, Pool& pool) {
  if (rule.is_object()) {
    for (const auto& [op, args] : rule.items()) {
      if (op == "var") {
        const std::string name = var_name(rule);
        add_unique(pool.vars, name);
        add_unique(pool.profile_keys, key_after(name, "application.profile."));
        add_unique(pool.data_keys, key_after(name, "event.data."));
        const std::string kind = key_after(name, "application.documents.by_kind.");
        if (!kind.empty()) hint(pool, "application.documents.kinds", kind);
        continue;
      }
      if (args.is_array()) {
        std::vector<std::string> vars;
        std::vector<json> literals;
        for (const auto& a : args) {
          if (const std::string v = var_name(a); !v.empty()) vars.push_back(v);
          if (a.is_primitive()) literals.push_back(a);
          if (a.is_array())
            for (const auto& x : a)
              if (x.is_primitive()) literals.push_back(x);
        }
        for (const auto& v : vars) {
          if (op == "!!") hint(pool, v, "yes");
          for (const auto& l : literals) {
            hint(pool, v, l);
            if (l.is_number()) {
              hint(pool, v, l.get<double>() + 1);
              hint(pool, v, l.get<double>() - 1);
            }
          }
        }
      }
      collect(args, pool);
    }
  } else if (rule.is_array()) {
    for (const auto& a : rule) collect(a, pool);
  } else if (rule.is_string()) {
    add_unique(pool.strings, rule.get<std::string>());
  } else if (rule.is_number()) {
    pool.numbers.push_back(rule.get<double>());
  }
}

Pool make_pool(const Workflow& wf) {
  Pool pool;
  for (const auto& t : wf.transitions) collect(t.guard_source, pool);
  for (const auto& [name, st] : wf.states) {
    // Guards of transitions that go on (to a non-terminal stage) are
    // gathered first and twice, so that walks more often get somewhere.
    Pool& sp = pool.stages[name];
    for (const bool onward : {true, false})
      for (const auto& t : wf.transitions)
        if ((t.from == name || (t.from == "*" && !st.terminal)) &&
            onward != wf.states.at(t.to).terminal)
          collect(t.guard_source, sp);
    Pool onward_only;
    for (const auto& t : wf.transitions)
      if ((t.from == name || (t.from == "*" && !st.terminal)) && !wf.states.at(t.to).terminal)
        collect(t.guard_source, onward_only);
    for (const auto& [var, values] : onward_only.hints)
      for (const auto& v : values) sp.hints[var].push_back(v);
  }
  for (const auto& s : {"cv", "transcript", "recommendation_letter", "accept", "reject"})
    add_unique(pool.strings, s);
  pool.numbers.push_back(0);
  pool.numbers.push_back(1);
  for (const auto& [name, st] : wf.states)
    if (st.review && !st.review->rubric.empty()) pool.rubrics.push_back(st.review->rubric);
  return pool;
}

class Generator {
 public:
  Generator(const Registry& reg, const Workflow& wf, uint64_t seed)
      : reg_(reg), wf_(wf), pool_(make_pool(wf)), rng_(seed) {
    // The event types whose data a transition's guard reads: sending them
    // is how an application gets to satisfy it.
    static const std::vector<std::pair<std::string, std::vector<std::string>>> kFeeds = {
        {"application.documents.", {"application.document_added"}},
        {"application.reviews.", {"review.submitted"}},
        {"application.reviewers.", {"reviewer.assigned"}},
        {"application.offer.", {"offer.extended", "offer.accepted"}},
        {"application.reports.", {"report.submitted"}},
        {"application.profile.", {"application.updated"}},
        {"application.interview", {"interview.scheduled", "interview.completed"}},
        {"application.decision", {"decision.recorded"}},
        {"application.onboarding", {"onboarding.completed"}},
    };
    for (const auto& [name, st] : wf.states) states_.push_back(name);
    for (const auto& t : wf.transitions) {
      Pool& tp = transitions_[t.index];
      collect(t.guard_source, tp);
      for (const auto& v : tp.vars)
        for (const auto& [prefix, types] : kFeeds)
          if (v.rfind(prefix, 0) == 0)
            for (const auto& type : types) add_unique(feeds_[t.index], type);
    }
  }

  // Starts sequence n: application "app-N", a fresh clock, a new quality.
  void start(int n) {
    subject_ = "app-" + std::to_string(n);
    index_ = 0;
    time_ms_ =
        *parse_rfc3339_ms("2026-01-05T08:00:00Z") + static_cast<int64_t>(below(1000)) * 60000;
    quality_ = double(below(101)) / 100;
    cooperative_ = chance(0.5);
  }

  // Whether the sequence goes on: it rarely does for long once terminal.
  bool more(const Application* app) {
    const State* st = app != nullptr ? wf_.state(app->stage) : nullptr;
    return st == nullptr || !st->terminal || chance(0.3);
  }

  // The next event for the application as it stands (nullptr: not created),
  // and for a cooperative sequence the outcome it had: such a sequence tries
  // up to three random events on the (pure) engine and keeps the first that
  // is applied without ending the application (mostly), so that its walks get
  // deep into the workflow.
  std::pair<CloudEvent, std::optional<Outcome>> next(const Application* app) {
    if (!chance(0.02)) time_ms_ += (1 + static_cast<int64_t>(below(72))) * 3600 * 1000;
    const int i = index_++;
    if (!cooperative_ || app == nullptr) return {event(app, subject_, i, time_ms_), std::nullopt};
    std::optional<std::pair<CloudEvent, std::optional<Outcome>>> first;
    for (int k = 0; k < 3; ++k) {
      CloudEvent e = event(app, subject_, i, time_ms_);
      Outcome o = apply(reg_, app, e);
      if (const auto* a = std::get_if<Applied>(&o)) {
        const State* to = wf_.state(a->next.stage);
        if (to != nullptr && (!to->terminal || !a->moved || chance(0.2)))
          return {std::move(e), std::move(o)};
      }
      if (!first) first.emplace(std::move(e), std::move(o));
    }
    return std::move(*first);
  }

 private:
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }
  bool chance(double p) { return static_cast<double>(rng_() % 1000000) < p * 1000000.0; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

  // A string literal, most often one that matters in the current stage.
  const std::string& str() {
    if (stage_ != nullptr && !stage_->strings.empty() && chance(0.75)) return pick(stage_->strings);
    return pick(pool_.strings);
  }

  // A value for the guard variable `path`: mostly one that the guard of the
  // transition aimed at, else of the stage, else of any guard compares it with.
  json hinted(const std::string& path) {
    for (const Pool* p : {aim_, stage_, static_cast<const Pool*>(&pool_)}) {
      if (p == nullptr) continue;
      const auto it = p->hints.find(path);
      if (it != p->hints.end() && !it->second.empty() && chance(0.8)) return pick(it->second);
    }
    return value();
  }

  std::string hinted_string(const std::string& path) {
    const json v = hinted(path);
    return v.is_string() ? v.get<std::string>() : str();
  }

  json value() {
    switch (below(6)) {
      case 0:
      case 1:
        return str();
      case 2:
        return pool_.numbers.empty() ? json(1) : json(pick(pool_.numbers) + double(below(3)) - 1);
      case 3:
        return static_cast<int>(below(6));
      case 4:
        return chance(0.7);
      default:
        return chance(0.5) ? json() : json("free text");
    }
  }

  void random_data_keys(json& d, double p) {
    if (aim_ != nullptr)
      for (const auto& k : aim_->data_keys)
        if (chance(0.9)) d[k] = hinted("event.data." + k);
    if (stage_ != nullptr)
      for (const auto& k : stage_->data_keys)
        if (!d.contains(k) && chance(p)) d[k] = hinted("event.data." + k);
    for (const auto& k : pool_.data_keys)
      if (!d.contains(k) && chance(p / 3)) d[k] = hinted("event.data." + k);
  }

  json scores() {
    json s = json::object();
    if (pool_.rubrics.empty()) return s;
    const auto& rubric = pick(pool_.rubrics);
    for (const auto& c : rubric) {
      if (chance(0.01)) continue;  // a missing criterion
      // Around the application's quality, in half steps.
      const double at = std::clamp(quality_ + (double(below(41)) - 20) / 100, 0.0, 1.0);
      double v = c.min + std::round((c.max - c.min) * at * 2) / 2;
      if (chance(0.01)) v = c.max + 1;  // off the scale
      s[c.name] = v;
    }
    if (chance(0.02)) s["charisma"] = 3;
    return s;
  }

  json profile() {
    json p = {{"name", "Applicant"}};
    for (const auto& k : pool_.profile_keys)
      if (chance(0.9)) p[k] = hinted("application.profile." + k);
    if (chance(0.5)) p["conflicts"] = json::array({"rev-9"});
    return p;
  }

  static std::vector<std::string> strings_in(const json& facts, const char* key,
                                             const char* field = nullptr) {
    std::vector<std::string> out;
    if (const auto it = facts.find(key); it != facts.end() && it->is_array())
      for (const auto& x : *it) {
        const json v = field != nullptr && x.is_object() ? x.value(field, json()) : x;
        if (v.is_string()) out.push_back(v.get<std::string>());
      }
    return out;
  }

  // A document kind: mostly one a guard wants and the application lacks.
  std::string document_kind(const Application* app) {
    const std::vector<std::string> have =
        app != nullptr ? strings_in(app->facts, "documents", "kind") : std::vector<std::string>{};
    for (const Pool* p : {aim_, stage_}) {
      if (p == nullptr || !chance(0.85)) continue;
      std::vector<std::string> missing;
      for (const char* var : {"application.documents.kinds", "event.data.kind"}) {
        const auto it = p->hints.find(var);
        if (it == p->hints.end()) continue;
        for (const auto& k : it->second)
          if (k.is_string() && std::find(have.begin(), have.end(), k) == have.end())
            missing.push_back(k.get<std::string>());
      }
      if (!missing.empty() && chance(0.8)) return pick(missing);
    }
    return hinted_string("application.documents.kinds");
  }

  json data(const std::string& type, const Application* app) {
    json d = json::object();
    if (type == "application.submitted") return chance(0.03) ? json("not an object") : profile();
    if (type == "application.updated") {
      if (chance(0.05)) return json::array();
      for (const auto& k : pool_.profile_keys)
        if (chance(0.3)) d[k] = hinted("application.profile." + k);
      return d;
    }
    if (type == "application.document_added") {
      if (!chance(0.04)) d["kind"] = document_kind(app);
      if (chance(0.5)) d["name"] = "file.pdf";
    } else if (type == "application.withdrawn") {
      if (chance(0.5)) d["reason"] = "changed plans";
    } else if (type == "reviewer.assigned" || type == "reviewer.recused") {
      // Mostly a new reviewer to assign, an assigned one to recuse.
      const auto assigned =
          app != nullptr ? strings_in(app->facts, "reviewers") : std::vector<std::string>{};
      std::vector<std::string> choice;
      for (const auto& r : kReviewers)
        if ((std::find(assigned.begin(), assigned.end(), r) == assigned.end()) ==
            (type == "reviewer.assigned"))
          choice.push_back(r);
      if (!chance(0.04))
        d["reviewer"] = !choice.empty() && chance(0.9) ? pick(choice) : pick(kReviewers);
    } else if (type == "review.submitted") {
      if (!chance(0.03)) d["scores"] = scores();
      if (chance(0.8)) d["recommendation"] = chance(quality_) ? std::string("accept") : str();
      if (chance(0.05)) d["reviewer"] = pick(kReviewers);
    } else if (type == "decision.recorded") {
      if (!chance(0.04)) d["outcome"] = hinted_string("event.data.outcome");
      random_data_keys(d, 0.5);
    } else if (type == "note.added") {
      if (!chance(0.04)) d["text"] = "a note";
    } else if (type == "stage.deadline_passed") {
      // As a timer sends it: naming the stay it was set for, mostly the
      // current one, sometimes one the application has left.
      if (app == nullptr || chance(0.5)) return chance(0.8) ? json() : json::object();
      const bool stale = chance(0.3);
      d["stage"] = stale && chance(0.5) ? pick(states_) : app->stage;
      d["stage_entered_at"] = format_rfc3339_ms(app->stage_entered_ms - (stale ? 3600000 : 0));
    } else if (type == "application.erased") {
      return chance(0.9) ? json() : json::object();
    } else {
      random_data_keys(d, 0.6);
    }
    return d;
  }

  static bool leaves(const Transition& t, const State& st) {
    return t.from == st.name || (t.from == "*" && !st.terminal);
  }

  // Event types a stage does something with: its transitions and accepts.
  const std::vector<std::string>& useful_types(const State& st) {
    auto [it, fresh] = useful_.try_emplace(st.name);
    if (fresh) {
      it->second = st.accepts;
      for (const auto& t : wf_.transitions)
        if (leaves(t, st)) add_unique(it->second, t.on);
    }
    return it->second;
  }

  std::string any_role() {
    if (chance(0.05)) return chance(0.5) ? "" : "sponsor";
    return pick(kRoles);
  }

  CloudEvent event(const Application* app, const std::string& subject, int i, int64_t t) {
    static const std::vector<std::string> kAll(std::begin(kEventTypes), std::end(kEventTypes));
    const State* st = app != nullptr ? wf_.state(app->stage) : nullptr;
    stage_ = st != nullptr ? &pool_.stages.at(st->name) : nullptr;
    aim_ = nullptr;
    std::string type;
    const Transition* target = nullptr;
    if (app == nullptr) {
      type = chance(0.95) ? std::string(kSubmitted) : pick(kAll);
    } else if (chance(0.02)) {
      type = chance(0.5) ? "application.teleported" : std::string(kSubmitted);
    } else if (st != nullptr && chance(cooperative_ ? 0.8 : 0.3)) {
      // Aim at a transition that moves on (rarely to a terminal stage): send
      // its event, or one whose data its guard reads.
      std::vector<const Transition*> onward;
      for (const auto& tr : wf_.transitions)
        if (leaves(tr, *st) && tr.to != st->name && tr.on != "stage.deadline_passed" &&
            tr.on != "application.withdrawn" && (!wf_.states.at(tr.to).terminal || chance(0.1)))
          onward.push_back(&tr);
      const auto& useful = useful_types(*st);
      if (!onward.empty()) {
        target = pick(onward);
        std::vector<std::string> feed;
        for (const auto& f : feeds_[target->index])
          if (std::find(useful.begin(), useful.end(), f) != useful.end()) feed.push_back(f);
        type = feed.empty() || chance(0.4) ? target->on : pick(feed);
      } else {
        type = useful.empty() ? pick(kAll) : pick(useful);
      }
    } else if (st != nullptr && chance(0.6)) {
      // Withdrawals and deadlines end most walks: keep them rare.
      auto useful = useful_types(*st);
      const bool rare = chance(0.04);
      std::erase_if(useful, [&](const std::string& u) {
        return (u == "application.withdrawn" || u == "stage.deadline_passed") != rare;
      });
      type = useful.empty() ? pick(kAll) : pick(useful);
    } else {
      type = pick(kAll);
    }
    // Reviews count only from assigned reviewers: mostly assign some first.
    if (type == "review.submitted" && app != nullptr && st != nullptr &&
        strings_in(app->facts, "reviewers").size() < 3 && chance(0.7) &&
        std::count(useful_types(*st).begin(), useful_types(*st).end(), "reviewer.assigned") > 0)
      type = "reviewer.assigned";
    // Mostly aim at one transition that could take this event onwards (to a
    // non-terminal stage, else anywhere): its roles and its guard's data.
    std::string role;
    if (st != nullptr && chance(0.85)) {
      std::vector<const Transition*> onward, any;
      for (const auto& tr : wf_.transitions) {
        if (tr.on != type || !leaves(tr, *st)) continue;
        any.push_back(&tr);
        if (!wf_.states.at(tr.to).terminal) onward.push_back(&tr);
      }
      const auto& from = !onward.empty() && chance(0.8) ? onward : any;
      if (!from.empty()) {
        const Transition* tr = pick(from);
        aim_ = &transitions_.at(tr->index);
        if (!tr->allowed.empty()) role = pick(tr->allowed);
      }
    }
    if (target != nullptr) {
      aim_ = &transitions_.at(target->index);
      if (type == target->on) role = target->allowed.empty() ? "" : pick(target->allowed);
    }
    if (type == kSubmitted && chance(0.95)) role = "applicant";  // mostly their own
    // An event the stage merely accepts: mostly one of those it accepts from.
    if (role.empty() && st != nullptr && chance(0.85))
      if (const auto it = st->accept_roles.find(type); it != st->accept_roles.end())
        role = pick(it->second);
    CloudEvent e;
    e.id = subject + "-" + std::to_string(i);
    e.source = "property";
    e.type = type;
    e.subject = subject;
    e.time_ms = t;
    e.time = format_rfc3339_ms(t);
    e.program = chance(0.02) ? (chance(0.5) ? "no-such-program" : "summer-research-internship")
                : (app != nullptr && chance(0.3)) ? ""
                                                  : wf_.program;
    e.actorrole = role.empty() || chance(0.1) ? any_role() : role;
    const std::vector<std::string> assigned =
        app != nullptr ? strings_in(app->facts, "reviewers") : std::vector<std::string>{};
    // A reviewer is mostly one who is assigned (any, when none is) and has
    // not reviewed yet.
    std::vector<std::string> pending = assigned.empty() ? kReviewers : assigned;
    if (app != nullptr) {
      const auto reviewed = strings_in(app->facts, "reviews", "reviewer");
      std::erase_if(pending, [&](const std::string& r) {
        return std::find(reviewed.begin(), reviewed.end(), r) != reviewed.end();
      });
    }
    const std::string owner = app != nullptr ? app->facts.value("owner", "") : "";
    if (e.actorrole == "applicant" && (app == nullptr || (!owner.empty() && chance(0.95))))
      e.actorid = app == nullptr ? "owner-of-" + subject : owner;  // mostly its own
    else if (e.actorrole != "reviewer")
      e.actorid = "user-" + std::to_string(below(3));
    else if (!pending.empty() && chance(0.8))
      e.actorid = pick(pending);
    else
      e.actorid = !assigned.empty() && chance(0.8) ? pick(assigned) : pick(kReviewers);
    e.data = data(type, app);
    return e;
  }

  const Registry& reg_;
  const Workflow& wf_;
  Pool pool_;
  std::vector<std::string> states_;                         ///< every state name
  std::map<std::string, std::vector<std::string>> useful_;  ///< useful_types() by stage
  std::map<int, Pool> transitions_;                ///< what each transition's guard looks at
  std::map<int, std::vector<std::string>> feeds_;  ///< event types feeding each guard
  std::mt19937_64 rng_;
  const Pool* stage_ = nullptr;  ///< the current stage's pool while making an event
  const Pool* aim_ = nullptr;    ///< the pool of the transition the event aims at
  std::string subject_;
  int index_ = 0;
  int64_t time_ms_ = 0;
  double quality_ = 0.5;  ///< 0..1: how reviewers of this sequence's application score it
  bool cooperative_ = false;
};

struct Totals {
  size_t sequences = 0, events = 0, applied = 0, rejected = 0, moves = 0;
};

bool role_allowed(const Transition& t, const std::string& role) {
  return std::find(t.allowed.begin(), t.allowed.end(), role) != t.allowed.end();
}

// Drives one sequence from scratch. With a generator, makes up to `length`
// events as it goes (appending them to `events`) and checks every property;
// without, replays `events`. Returns the final application and one line per
// event (its outcome).
std::pair<std::optional<Application>, std::vector<std::string>> drive(
    const Registry& reg, Generator* gen, size_t length, std::vector<CloudEvent>& events,
    Totals* totals, std::set<std::string>* visited) {
  const bool check = gen != nullptr;
  std::optional<Application> app;
  std::vector<std::string> outcomes;
  for (size_t i = 0; check ? i < length && gen->more(app ? &*app : nullptr) : i < events.size();
       ++i) {
    std::optional<Outcome> tried;  // a cooperative generator's outcome for the event
    if (check) {
      auto [made, outcome] = gen->next(app ? &*app : nullptr);
      events.push_back(std::move(made));
      tried = std::move(outcome);
    }
    const CloudEvent& e = events[i];
    SCOPED_TRACE("event " + std::to_string(i) + " (" + e.type + ")");
    std::optional<Application> prev = std::move(app);
    app.reset();
    Outcome out;
    try {
      out = tried ? std::move(*tried) : apply(reg, prev ? &*prev : nullptr, e);
    } catch (const std::exception& ex) {
      ADD_FAILURE() << "apply threw: " << ex.what();
      return {prev, outcomes};
    } catch (...) {
      ADD_FAILURE() << "apply threw";
      return {prev, outcomes};
    }
    // The processor gives the engine its own copy to change in place: the
    // outcome must be the one a copy gives.
    if (check && prev) expect_same_outcome(out, apply(reg, Application(*prev), e));
    if (const auto* r = std::get_if<Rejected>(&out)) {
      outcomes.push_back("rejected " + std::string(reason_code(r->reason)));
      if (totals != nullptr) ++totals->rejected;
      if (check) {
        EXPECT_NE(r->reason, Reason::engine_error) << r->message;
        EXPECT_FALSE(r->message.empty());
      }
      app = std::move(prev);
      continue;
    }
    Applied& a = std::get<Applied>(out);
    app = std::move(a.next);
    const Application& next = *app;
    outcomes.push_back("applied " + a.to + " " + std::to_string(a.transition));
    if (totals != nullptr) {
      ++totals->applied;
      if (a.moved && prev) ++totals->moves;
    }
    if (!check) continue;
    const Workflow* wf = reg.find(next.program, next.workflow_version);
    if (wf == nullptr || wf->state(next.stage) == nullptr) {
      ADD_FAILURE() << "undeclared stage " << next.stage << " (or unloaded workflow)";
      return {app, outcomes};
    }
    // The engine builds only the context members the guards read; every
    // guard must decide as it would on the whole context.
    {
      const json full = guard_context(*wf, next, e);
      const json partial = guard_context(*wf, next, e, &wf->guard_reads);
      for (const auto& t : wf->transitions) {
        if (!t.guard) continue;
        EXPECT_EQ(t.guard->evaluate(partial), t.guard->evaluate(full))
            << wf->program << " transition " << t.index << " guard " << t.guard_source.dump();
      }
    }
    if (visited != nullptr) {
      visited->insert(next.program + "/" + next.stage);
      if (a.transition >= 0) visited->insert(next.program + "#" + std::to_string(a.transition));
    }
    EXPECT_EQ(a.to, next.stage);
    EXPECT_EQ(next.updated_ms, e.time_ms);
    if (!prev) {
      EXPECT_EQ(e.type, kSubmitted);
      EXPECT_FALSE(a.from.has_value());
      EXPECT_EQ(next.sequence, 1u);
      EXPECT_EQ(next.stage, wf->initial);
      EXPECT_EQ(next.workflow_version, reg.latest(e.program)->version);
      EXPECT_EQ(a.notifications.size(), wf->state(wf->initial)->on_enter.size());
      continue;
    }
    EXPECT_NE(e.type, kSubmitted);
    EXPECT_FALSE(prev->facts.contains("erased")) << "an event applied after the erasure";
    if (e.type == "application.erased") {
      EXPECT_TRUE(next.facts["profile"].empty() && next.self_identification.empty() &&
                  !next.facts.contains("notes"))
          << "personal data survived the erasure";
    }
    if (e.actorrole == "applicant" && a.note.empty()) {
      EXPECT_EQ(prev->facts.value("owner", ""), e.actorid)
          << "an applicant acted on another applicant's application";
    }
    EXPECT_EQ(a.from.value_or("(none)"), prev->stage);
    EXPECT_EQ(next.sequence, prev->sequence + 1) << "the sequence grows by one per event";
    EXPECT_EQ(next.id, prev->id);
    EXPECT_EQ(next.program, prev->program);
    EXPECT_EQ(next.workflow_version, prev->workflow_version);
    EXPECT_EQ(next.created_ms, prev->created_ms);
    const State& before = *wf->state(prev->stage);
    if (before.terminal) {
      EXPECT_EQ(next.stage, prev->stage) << "left the terminal stage " << prev->stage;
      EXPECT_FALSE(a.moved);
      // It records only what it accepts (a stale timer is a no-op), and the
      // built-in erasure (DESIGN.md §14).
      EXPECT_TRUE(std::find(before.accepts.begin(), before.accepts.end(), e.type) !=
                      before.accepts.end() ||
                  next.facts == prev->facts || e.type == "application.erased")
          << "a terminal stage recorded an event it does not accept";
    }
    EXPECT_EQ(a.moved, next.stage != prev->stage);
    if (a.transition >= 0) {
      if (static_cast<size_t>(a.transition) >= wf->transitions.size()) {
        ADD_FAILURE() << "transition index " << a.transition << " out of range";
        return {app, outcomes};
      }
      const Transition& t = wf->transitions[static_cast<size_t>(a.transition)];
      EXPECT_EQ(t.on, e.type);
      EXPECT_TRUE(t.from == prev->stage || (t.from == "*" && !before.terminal));
      EXPECT_TRUE(role_allowed(t, e.actorrole)) << "role " << e.actorrole;
      EXPECT_EQ(t.to, next.stage);
    } else {
      EXPECT_FALSE(a.moved);
    }
    if (a.moved) {
      EXPECT_EQ(next.stage_entered_ms, e.time_ms);
      EXPECT_EQ(a.notifications.size(), wf->state(next.stage)->on_enter.size());
      for (const auto& n : a.notifications) EXPECT_EQ(n.stage, next.stage);
    } else {
      EXPECT_EQ(next.stage_entered_ms, prev->stage_entered_ms);
      EXPECT_TRUE(a.notifications.empty());
    }
  }
  return {app, outcomes};
}

uint64_t seed_from_env() {
  if (const char* s = std::getenv("STAGEWISE_PROPERTY_SEED")) return std::strtoull(s, nullptr, 10);
  return 20260302;
}

TEST(EngineProperty, RandomSequencesKeepTheInvariants) {
  std::vector<Problem> problems;
  const auto reg = Registry::load({kRoot + "/workflows"}, problems);
  ASSERT_TRUE(problems.empty());
  ASSERT_FALSE(reg.empty());
  const uint64_t seed = seed_from_env();
  const auto started = std::chrono::steady_clock::now();
  Totals totals;
  size_t programs = 0;
  std::vector<std::pair<const Workflow*, size_t>> coverage;
  for (const Workflow* wf : reg.all()) {
    ++programs;
    Generator gen(reg, *wf, seed ^ std::hash<std::string>{}(wf->program));
    std::mt19937_64 lengths(seed + programs);
    std::set<std::string> visited;
    for (int n = 0; n < kSequencesPerProgram; ++n) {
      const size_t length = 1 + static_cast<size_t>(lengths() % kMaxEventsPerSequence);
      SCOPED_TRACE("seed " + std::to_string(seed) + ", program " + wf->program + ", sequence " +
                   std::to_string(n));
      std::vector<CloudEvent> events;
      gen.start(n);
      const auto first = drive(reg, &gen, length, events, &totals, &visited);
      const auto again = drive(reg, nullptr, 0, events, nullptr, nullptr);
      EXPECT_EQ(first.second, again.second) << "replay gave other outcomes";
      EXPECT_EQ(first.first, again.first) << "replay gave another application";
      if (first.first) {
        // What the store keeps comes back identical.
        EXPECT_EQ(application_from_json(to_json(*first.first)), *first.first);
      }
      ++totals.sequences;
      totals.events += events.size();
      if (::testing::Test::HasFailure()) {
        json dump = json::array();
        for (const auto& e : events) dump.push_back(to_json(e));
        ADD_FAILURE() << "failing sequence:\n" << dump.dump(1);
        return;
      }
    }
    std::string missed, unfired;
    for (const auto& [name, st] : wf->states)
      if (!visited.count(wf->program + "/" + name)) missed += " " + name;
    for (const auto& t : wf->transitions)
      if (!visited.count(wf->program + "#" + std::to_string(t.index)))
        unfired += " " + std::to_string(t.index);
    const auto count = [](const std::string& list) {
      return static_cast<size_t>(std::count(list.begin(), list.end(), ' '));
    };
    const size_t reached = wf->states.size() - count(missed);
    std::cout << "[ property ] " << wf->program << " v" << wf->version << ": " << reached << "/"
              << wf->states.size() << " stages visited"
              << (missed.empty() ? "" : " (not:" + missed + ")") << ", "
              << wf->transitions.size() - count(unfired) << "/" << wf->transitions.size()
              << " transitions fired" << (unfired.empty() ? "" : " (not:" + unfired + ")") << "\n";
    coverage.emplace_back(wf, reached);
  }
  // The generator must reach well into every workflow to mean anything.
  for (const auto& [wf, n] : coverage) EXPECT_GE(n * 4, wf->states.size() * 3) << wf->program;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  std::cout << "[ property ] seed " << seed << ": " << totals.sequences << " sequences, "
            << totals.events << " events (" << totals.applied << " applied, " << totals.rejected
            << " rejected, " << totals.moves << " stage moves) over " << programs
            << " programs, each replayed, in " << ms << " ms\n";
  EXPECT_GE(totals.sequences, 1000u);
  EXPECT_GT(totals.moves, totals.sequences);
}

}  // namespace
}  // namespace stagewise::workflow
