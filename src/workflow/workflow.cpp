#include "workflow/workflow.h"

#include "common/cloudevent.h"
#include "common/json_limits.h"
#include "common/time.h"
#include "workflow/vocabulary.h"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

namespace stagewise::workflow {
namespace {

using nlohmann::json;

std::string escape_pointer(const std::string& key) {
  std::string out;
  for (const char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string ptr(const std::string& base, const std::string& key) {
  return base + "/" + escape_pointer(key);
}
std::string ptr(const std::string& base, size_t index) {
  return base + "/" + std::to_string(index);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

class Checker {
 public:
  Checker(std::string file, std::vector<Problem>& problems)
      : file_(std::move(file)), problems_(problems) {}

  void add(const std::string& pointer, std::string message) {
    problems_.push_back({file_, pointer.empty() ? "/" : pointer, std::move(message)});
    ++count_;
  }
  size_t count() const { return count_; }

  void known_fields(const json& obj, const std::string& at,
                    std::initializer_list<const char*> keys) {
    for (const auto& [k, v] : obj.items()) {
      if (std::none_of(keys.begin(), keys.end(),
                       [&key = k](const char* name) { return key == name; })) {
        std::vector<std::string> names(keys.begin(), keys.end());
        add(ptr(at, k), "unknown field \"" + k + "\"; expected one of: " + join(names));
      }
    }
  }

  std::optional<std::string> string_field(const json& obj, const std::string& at, const char* key,
                                          bool required) {
    const auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) add(at, std::string("missing required field \"") + key + "\"");
      return std::nullopt;
    }
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      add(ptr(at, key), std::string("\"") + key + "\" must be a non-empty string");
      return std::nullopt;
    }
    return it->get<std::string>();
  }

  std::vector<std::string> string_list(const json& obj, const std::string& at, const char* key) {
    std::vector<std::string> out;
    const auto it = obj.find(key);
    if (it == obj.end()) return out;
    if (!it->is_array()) {
      add(ptr(at, key), std::string("\"") + key + "\" must be an array of strings");
      return out;
    }
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string())
        add(ptr(ptr(at, key), i), "must be a string");
      else
        out.push_back((*it)[i].get<std::string>());
    }
    return out;
  }

  std::optional<int64_t> duration(const json& v, const std::string& at) {
    if (!v.is_string()) {
      add(at, "must be an ISO-8601 duration string such as \"P14D\" or \"PT36H\"");
      return std::nullopt;
    }
    const auto ms = parse_iso8601_duration_ms(v.get<std::string>());
    if (!ms || *ms <= 0) {
      add(at, "\"" + v.get<std::string>() +
                  "\" is not a positive ISO-8601 duration of weeks, days, hours, minutes or "
                  "seconds (e.g. \"P14D\", \"PT36H\"; years and months have no fixed length)");
      return std::nullopt;
    }
    return ms;
  }

 private:
  std::string file_;
  std::vector<Problem>& problems_;
  size_t count_ = 0;
};

// Roles named in a workflow must be roles (DESIGN.md §4).
void check_roles(Checker& ck, const std::vector<std::string>& roles, const std::string& at) {
  for (size_t i = 0; i < roles.size(); ++i)
    if (!is_known_role(roles[i]))
      ck.add(ptr(at, i), "unknown role \"" + roles[i] +
                             "\"; use applicant, reviewer, program_manager, hub_admin, admin, "
                             "service or system");
}

// `accepts`: event types, or {"type": T, "roles": [...]} to say who may
// send T in this state (default: the type's roles, vocabulary.h).
void parse_accepts(Checker& ck, const json& body, const std::string& at, State& st) {
  const auto it = body.find("accepts");
  if (it == body.end()) return;
  const std::string aat = ptr(at, "accepts");
  if (!it->is_array()) return ck.add(aat, "\"accepts\" must be an array of event types");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& entry = (*it)[i];
    const std::string eat = ptr(aat, i);
    std::string type;
    std::vector<std::string> roles;
    if (entry.is_string()) {
      type = entry.get<std::string>();
    } else if (entry.is_object()) {
      ck.known_fields(entry, eat, {"type", "roles"});
      if (auto t = ck.string_field(entry, eat, "type", true)) type = *t;
      roles = ck.string_list(entry, eat, "roles");
      check_roles(ck, roles, ptr(eat, "roles"));
    } else {
      ck.add(eat, "an accepted event is a type, or {\"type\": TYPE, \"roles\": [ROLE...]}");
      continue;
    }
    if (type.empty()) continue;
    if (!is_known_event_type(type)) {
      ck.add(eat, "unknown event type \"" + type + "\"; see DESIGN.md §4 for the vocabulary");
      continue;
    }
    if (type == kErased) {
      ck.add(eat, kErasedBuiltIn);
      continue;
    }
    st.accepts.push_back(type);
    st.accept_roles[type] = roles.empty() ? default_roles(type) : roles;
  }
}

void parse_state(Checker& ck, const std::string& name, const json& body, const std::string& at,
                 State& st) {
  st.name = name;
  if (!body.is_object()) {
    ck.add(at, "a state must be an object (use {} for a plain state)");
    return;
  }
  ck.known_fields(
      body, at, {"title", "description", "terminal", "accepts", "on_enter", "deadline", "review"});
  if (auto t = body.find("title"); t != body.end() && t->is_string())
    st.title = t->get<std::string>();
  if (auto t = body.find("terminal"); t != body.end()) {
    if (!t->is_boolean())
      ck.add(ptr(at, "terminal"), "\"terminal\" must be true or false");
    else
      st.terminal = t->get<bool>();
  }
  parse_accepts(ck, body, at, st);
  if (auto oe = body.find("on_enter"); oe != body.end()) {
    const std::string oat = ptr(at, "on_enter");
    if (!oe->is_array()) {
      ck.add(oat, "\"on_enter\" must be an array of {\"notify\": ROLE, \"template\": NAME}");
    } else {
      for (size_t i = 0; i < oe->size(); ++i) {
        const json& n = (*oe)[i];
        const std::string nat = ptr(oat, i);
        if (!n.is_object()) {
          ck.add(nat, "must be an object {\"notify\": ROLE, \"template\": NAME}");
          continue;
        }
        ck.known_fields(n, nat, {"notify", "template"});
        auto who = ck.string_field(n, nat, "notify", true);
        auto tpl = ck.string_field(n, nat, "template", true);
        if (who && !is_known_role(*who))
          ck.add(ptr(nat, "notify"),
                 "unknown recipient role \"" + *who +
                     "\"; use applicant, reviewer, program_manager, admin or system");
        if (who && tpl) st.on_enter.push_back({*who, *tpl});
      }
    }
  }
  if (auto dl = body.find("deadline"); dl != body.end()) {
    const std::string dat = ptr(at, "deadline");
    if (!dl->is_object()) {
      ck.add(dat, "\"deadline\" must be an object {\"after\": DURATION, \"reminders\": [...]}");
    } else {
      ck.known_fields(*dl, dat, {"after", "reminders"});
      Deadline d;
      if (auto a = dl->find("after"); a == dl->end()) {
        ck.add(dat, "missing required field \"after\"");
      } else if (auto ms = ck.duration(*a, ptr(dat, "after"))) {
        d.after = a->get<std::string>();
        d.after_ms = *ms;
      }
      if (auto r = dl->find("reminders"); r != dl->end()) {
        if (!r->is_array()) {
          ck.add(ptr(dat, "reminders"), "\"reminders\" must be an array of durations");
        } else {
          for (size_t i = 0; i < r->size(); ++i) {
            const std::string rat = ptr(ptr(dat, "reminders"), i);
            // A duration, or {"after": DURATION, "notify": ROLE, "template": NAME}.
            const json& item = (*r)[i];
            Reminder rem;
            rem.template_name = name + "_reminder";
            const json* after = &item;
            std::string after_at = rat;
            if (item.is_object()) {
              ck.known_fields(item, rat, {"after", "notify", "template"});
              if (!item.contains("after")) {
                ck.add(rat, "missing required field \"after\"");
                continue;
              }
              after = &item["after"];
              after_at = ptr(rat, "after");
              if (auto who = ck.string_field(item, rat, "notify", false)) {
                if (!is_known_role(*who))
                  ck.add(ptr(rat, "notify"), "unknown recipient role \"" + *who + "\"");
                rem.recipient = *who;
              }
              if (auto tpl = ck.string_field(item, rat, "template", false))
                rem.template_name = *tpl;
            }
            if (auto ms = ck.duration(*after, after_at)) {
              if (d.after_ms > 0 && *ms >= d.after_ms)
                ck.add(after_at, "a reminder must come before the deadline (" + d.after + ")");
              rem.after = after->get<std::string>();
              rem.after_ms = *ms;
              d.reminders.push_back(std::move(rem));
            }
          }
        }
      }
      st.deadline = d;
    }
  }
  if (auto rv = body.find("review"); rv != body.end()) {
    const std::string rat = ptr(at, "review");
    if (!rv->is_object()) {
      ck.add(rat, "\"review\" must be an object {\"reviewers\", \"blind\", \"rubric\"}");
      return;
    }
    ck.known_fields(*rv, rat, {"reviewers", "blind", "rubric"});
    ReviewSpec spec;
    if (auto n = rv->find("reviewers"); n != rv->end()) {
      if (!n->is_number_integer() || n->get<int>() < 1)
        ck.add(ptr(rat, "reviewers"), "\"reviewers\" must be a positive integer");
      else
        spec.reviewers = n->get<int>();
    }
    if (auto b = rv->find("blind"); b != rv->end()) {
      if (!b->is_boolean())
        ck.add(ptr(rat, "blind"), "\"blind\" must be true or false");
      else
        spec.blind = b->get<bool>();
    }
    if (auto rb = rv->find("rubric"); rb != rv->end()) {
      const std::string rbat = ptr(rat, "rubric");
      if (!rb->is_array() || rb->empty()) {
        ck.add(rbat, "\"rubric\" must be a non-empty array of criteria");
      } else {
        std::set<std::string> seen;
        for (size_t i = 0; i < rb->size(); ++i) {
          const json& c = (*rb)[i];
          const std::string cat = ptr(rbat, i);
          if (!c.is_object()) {
            ck.add(cat, "a criterion must be an object {\"criterion\", \"weight\", \"scale\"}");
            continue;
          }
          ck.known_fields(c, cat, {"criterion", "weight", "scale", "description"});
          Criterion cr;
          auto crit = ck.string_field(c, cat, "criterion", true);
          if (crit) {
            cr.name = *crit;
            if (!seen.insert(*crit).second)
              ck.add(ptr(cat, "criterion"), "criterion \"" + *crit + "\" is listed twice");
          }
          if (auto w = c.find("weight"); w != c.end()) {
            if (!w->is_number() || w->get<double>() <= 0)
              ck.add(ptr(cat, "weight"), "\"weight\" must be a positive number");
            else
              cr.weight = w->get<double>();
          }
          if (auto s = c.find("scale"); s != c.end()) {
            if (!s->is_array() || s->size() != 2 || !(*s)[0].is_number() || !(*s)[1].is_number() ||
                (*s)[0].get<double>() >= (*s)[1].get<double>())
              ck.add(ptr(cat, "scale"), "\"scale\" must be [MIN, MAX] with MIN < MAX");
            else {
              cr.min = (*s)[0].get<double>();
              cr.max = (*s)[1].get<double>();
            }
          }
          if (crit) spec.rubric.push_back(cr);
        }
      }
    }
    st.review = spec;
  }
}

void parse_transition(Checker& ck, const json& body, const std::string& at, size_t index,
                      const std::map<std::string, State>& states, Transition& t) {
  t.index = static_cast<int>(index);
  if (!body.is_object()) {
    ck.add(at, "a transition must be an object {\"from\", \"on\", \"to\", ...}");
    return;
  }
  ck.known_fields(body, at, {"from", "on", "to", "roles", "guard", "description"});
  if (auto f = ck.string_field(body, at, "from", true)) {
    t.from = *f;
    if (t.from != "*" && !states.count(t.from))
      ck.add(ptr(at, "from"), "unknown state \"" + t.from + "\" (use \"*\" for any stage)");
    else if (t.from != "*" && states.at(t.from).terminal)
      ck.add(ptr(at, "from"), "state \"" + t.from + "\" is terminal: nothing may leave it");
  }
  if (auto o = ck.string_field(body, at, "on", true)) {
    t.on = *o;
    if (!is_known_event_type(t.on))
      ck.add(ptr(at, "on"),
             "unknown event type \"" + t.on + "\"; see DESIGN.md §4 for the vocabulary");
    else if (t.on == kSubmitted)
      ck.add(ptr(at, "on"),
             "\"application.submitted\" creates the application in the initial state; it cannot "
             "drive a transition");
    else if (t.on == kErased)
      ck.add(ptr(at, "on"), kErasedBuiltIn);
  }
  if (auto to = ck.string_field(body, at, "to", true)) {
    t.to = *to;
    if (!states.count(t.to)) ck.add(ptr(at, "to"), "unknown state \"" + t.to + "\"");
  }
  t.roles = ck.string_list(body, at, "roles");
  check_roles(ck, t.roles, ptr(at, "roles"));
  t.allowed = t.roles.empty() ? default_roles(t.on) : t.roles;
  if (auto d = body.find("description"); d != body.end() && d->is_string())
    t.description = d->get<std::string>();
  if (auto g = body.find("guard"); g != body.end()) {
    t.guard_source = *g;
    std::vector<jsonlogic::CompileError> errors;
    auto rule = jsonlogic::compile(*g, errors, ptr(at, "guard"));
    for (const auto& e : errors) ck.add(e.pointer, "guard: " + e.message);
    if (rule && errors.empty()) t.guard = std::move(*rule);
  }
}

// Structural checks over the whole graph, once states and transitions parsed.
void check_graph(Checker& ck, const Workflow& wf) {
  if (!wf.states.count(wf.initial)) return;
  // Reachability from the initial state.
  std::set<std::string> seen{wf.initial};
  std::deque<std::string> todo{wf.initial};
  while (!todo.empty()) {
    const std::string s = todo.front();
    todo.pop_front();
    const State& st = wf.states.at(s);
    for (const auto& t : wf.transitions) {
      if (!wf.states.count(t.to)) continue;
      const bool from_here = t.from == s || (t.from == "*" && !st.terminal);
      if (from_here && seen.insert(t.to).second) todo.push_back(t.to);
    }
  }
  for (const auto& [name, st] : wf.states) {
    if (!seen.count(name))
      ck.add("/states/" + escape_pointer(name),
             "state \"" + name + "\" is unreachable from the initial state \"" + wf.initial + "\"");
    if (!st.terminal) {
      const bool way_out =
          std::any_of(wf.transitions.begin(), wf.transitions.end(),
                      // (clang before 16 cannot capture a structured binding by [&])
                      [&state = name](const Transition& t) {
                        return (t.from == state || t.from == "*") && t.to != state;
                      });
      if (!way_out)
        ck.add("/states/" + escape_pointer(name),
               "non-terminal state \"" + name +
                   "\" has no way out: add a transition from it or mark it \"terminal\": true");
    }
    if (st.terminal && st.deadline)
      ck.add("/states/" + escape_pointer(name) + "/deadline",
             "terminal state \"" + name + "\" cannot have a deadline: nothing can leave it");
  }
  // A transition shadowed by an earlier one with the same from/on that
  // always matches (no guard, and allows every role it allows) never fires.
  for (size_t j = 0; j < wf.transitions.size(); ++j) {
    const Transition& later = wf.transitions[j];
    for (size_t i = 0; i < j; ++i) {
      const Transition& earlier = wf.transitions[i];
      if (earlier.on != later.on || !earlier.guard_source.is_null()) continue;
      if (!(earlier.from == later.from || earlier.from == "*")) continue;
      const bool roles_cover =
          std::all_of(later.allowed.begin(), later.allowed.end(), [&](const std::string& r) {
            return std::find(earlier.allowed.begin(), earlier.allowed.end(), r) !=
                   earlier.allowed.end();
          });
      if (roles_cover) {
        ck.add("/transitions/" + std::to_string(j),
               "this transition can never fire: transition " + std::to_string(i) + " (from \"" +
                   earlier.from + "\" on \"" + earlier.on +
                   "\") comes first, has no guard and allows the same actors");
        break;
      }
    }
  }
}

// The graph checks need sound ends: a known initial state, every state an
// object with a valid "terminal", every transition's from/to known. Other
// problems (fields, durations, guards, event types, roles) do not stop them,
// so one run reports everything.
bool graph_is_sound(const json& doc, const Workflow& wf) {
  if (!wf.states.count(wf.initial)) return false;
  for (const auto& [name, body] : doc.at("states").items()) {
    if (!body.is_object()) return false;
    if (const auto t = body.find("terminal"); t != body.end() && !t->is_boolean()) return false;
  }
  const auto trans = doc.find("transitions");
  if (trans == doc.end() || !trans->is_array()) return false;
  for (const auto& t : wf.transitions) {
    if (!(*trans)[static_cast<size_t>(t.index)].is_object()) return false;
    if (!wf.states.count(t.to) || (t.from != "*" && !wf.states.count(t.from))) return false;
  }
  return true;
}

std::vector<std::string> flow_order(const Workflow& wf) {
  std::vector<std::string> order{wf.initial};
  std::set<std::string> seen{wf.initial};
  for (size_t i = 0; i < order.size(); ++i) {
    const State& st = wf.states.at(order[i]);
    for (const auto& t : wf.transitions) {
      const bool from_here = t.from == order[i] || (t.from == "*" && !st.terminal);
      if (from_here && seen.insert(t.to).second) order.push_back(t.to);
    }
  }
  for (const auto& [name, st] : wf.states)
    if (seen.insert(name).second) order.push_back(name);
  return order;
}

}  // namespace

std::string Problem::to_string() const {
  return file + ": " + pointer + ": " + message;
}

const State* Workflow::state(const std::string& name) const {
  const auto it = states.find(name);
  return it == states.end() ? nullptr : &it->second;
}

const ReviewSpec* Workflow::review_spec(const std::string& stage) const {
  if (const State* st = state(stage); st && st->review && !st->review->rubric.empty())
    return &*st->review;
  for (const auto& [name, st] : states)
    if (st.review && !st.review->rubric.empty()) return &*st.review;
  return nullptr;
}

// `retention`: {"erase_after": DURATION, "from": "terminal" | "submitted"}.
// Years and months are allowed here and count long (366 and 31 days), so
// data is never erased before the calendar date, at most a day or two after.
std::optional<Retention> parse_retention(Checker& ck, const json& doc) {
  const auto it = doc.find("retention");
  if (it == doc.end()) return std::nullopt;
  if (!it->is_object()) {
    ck.add("/retention",
           "\"retention\" must be {\"erase_after\": \"P2Y\", \"from\": \"terminal\"}");
    return std::nullopt;
  }
  ck.known_fields(*it, "/retention", {"erase_after", "from"});
  Retention r;
  const auto after = it->find("erase_after");
  if (after == it->end()) {
    ck.add("/retention", "missing required field \"erase_after\" (e.g. \"P2Y\")");
    return std::nullopt;
  }
  static const std::regex kLong(R"(P([1-9][0-9]{0,2})([YM]))");
  std::smatch m;
  const std::string text = after->is_string() ? after->get<std::string>() : "";
  const auto ms = parse_iso8601_duration_ms(text);
  if (std::regex_match(text, m, kLong))
    r.erase_after_ms = std::stoll(m[1]) * (m[2] == "Y" ? 366 : 31) * 86'400'000LL;
  else if (ms && *ms > 0)
    r.erase_after_ms = *ms;
  else
    ck.add("/retention/erase_after", "\"" + (after->is_string() ? text : after->dump()) +
                                         "\" is not a positive duration such as \"P2Y\", "
                                         "\"P18M\", \"P30D\" or \"PT12H\"");
  r.erase_after = text;
  const auto f = it->find("from");
  const std::string from = f == it->end()   ? "terminal"
                           : f->is_string() ? f->get<std::string>()
                                            : f->dump();
  if (from != "terminal" && from != "submitted")
    ck.add("/retention/from",
           "\"from\" must be \"terminal\" (when the application is decided, "
           "withdrawn or expired) or \"submitted\"");
  if (r.erase_after_ms <= 0 || (from != "terminal" && from != "submitted")) return std::nullopt;
  r.from_terminal = from == "terminal";
  return r;
}

std::optional<Workflow> parse_workflow(const json& doc, const std::string& file,
                                       std::vector<Problem>& problems) {
  Checker ck(file, problems);
  if (!doc.is_object()) {
    ck.add("", "a workflow must be a JSON object");
    return std::nullopt;
  }
  ck.known_fields(doc, "",
                  {"$schema", "program", "version", "title", "description", "initial", "states",
                   "transitions", "retention"});
  Workflow wf;
  wf.retention = parse_retention(ck, doc);
  wf.file = file;
  wf.source = doc;
  if (auto p = ck.string_field(doc, "", "program", true)) {
    wf.program = *p;
    const bool ok = std::all_of(wf.program.begin(), wf.program.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
    if (!ok) ck.add("/program", "\"program\" must use lowercase letters, digits, '-' and '_' only");
  }
  if (auto v = doc.find("version"); v == doc.end()) {
    ck.add("", "missing required field \"version\"");
  } else if (!v->is_number_integer() || v->get<int64_t>() < 1 ||
             v->get<int64_t>() > std::numeric_limits<int>::max()) {
    ck.add("/version", "\"version\" must be a positive integer");
  } else {
    wf.version = v->get<int>();
  }
  if (auto t = doc.find("title"); t != doc.end() && t->is_string())
    wf.title = t->get<std::string>();
  auto initial = ck.string_field(doc, "", "initial", true);

  const auto states = doc.find("states");
  if (states == doc.end() || !states->is_object() || states->empty()) {
    ck.add(states == doc.end() ? "" : "/states",
           "\"states\" must be a non-empty object of state name to state");
  } else {
    for (const auto& [name, body] : states->items()) {
      State st;
      parse_state(ck, name, body, ptr("/states", name), st);
      wf.states.emplace(name, std::move(st));
    }
  }
  if (initial) {
    wf.initial = *initial;
    if (!wf.states.empty() && !wf.states.count(wf.initial))
      ck.add("/initial", "initial state \"" + wf.initial + "\" is not one of the states");
  }

  const auto trans = doc.find("transitions");
  if (trans == doc.end() || !trans->is_array()) {
    ck.add(trans == doc.end() ? "" : "/transitions", "\"transitions\" must be an array");
  } else {
    for (size_t i = 0; i < trans->size(); ++i) {
      Transition t;
      parse_transition(ck, (*trans)[i], ptr("/transitions", i), i, wf.states, t);
      wf.transitions.push_back(std::move(t));
    }
  }
  if (graph_is_sound(doc, wf)) check_graph(ck, wf);
  if (ck.count() != 0) return std::nullopt;
  wf.state_order = flow_order(wf);
  std::vector<const json*> guards;
  for (const auto& t : wf.transitions)
    if (!t.guard_source.is_null()) guards.push_back(&t.guard_source);
  wf.guard_reads = context_needs(guards);
  return wf;
}

namespace {

void need_path(ContextNeeds& n, const std::string& path) {
  const auto dot = path.find('.');
  const std::string root = path.substr(0, dot);
  if (root != "application" && root != "event") {
    if (path.empty()) n.all = true;  // {"var": ""} is the whole context
    return;                          // any other root is null in the context, whatever is built
  }
  if (dot == std::string::npos) {
    n.all = true;
    return;
  }
  const auto end = path.find('.', dot + 1);
  auto& members = root == "application" ? n.application : n.event;
  const std::string member = path.substr(dot + 1, end == std::string::npos ? end : end - dot - 1);
  members.insert(member);
  const bool profile = root == "application" && member == "profile";
  if (!profile && !(root == "event" && member == "data")) return;
  if (end == std::string::npos) {
    (profile ? n.whole_profile : n.whole_event_data) = true;
    return;
  }
  const auto field_end = path.find('.', end + 1);
  (profile ? n.profile_fields : n.event_data_fields)
      .insert(
          path.substr(end + 1, field_end == std::string::npos ? field_end : field_end - end - 1));
}

void collect_needs(ContextNeeds& n, const json& rule) {
  if (n.all) return;
  if (rule.is_array()) {
    for (const auto& r : rule) collect_needs(n, r);
    return;
  }
  if (!rule.is_object() || rule.size() != 1) return;
  const auto member = rule.begin();
  const std::string& op = member.key();
  const json& args = member.value();
  if (op == "var") {
    const json& name = args.is_array() && !args.empty() ? args[0] : args;
    if (name.is_string())
      need_path(n, name.get<std::string>());
    else if (!name.is_number() && !name.is_null())
      n.all = true;  // a computed name
    if (args.is_array())
      for (size_t i = 1; i < args.size(); ++i) collect_needs(n, args[i]);
    return;
  }
  if (op == "missing" || op == "missing_some") {
    const json& names = op == "missing_some" && args.is_array() && args.size() > 1 ? args[1] : args;
    for (const auto& name : names.is_array() ? names : json::array({names})) {
      if (name.is_string())
        need_path(n, name.get<std::string>());
      else if (!name.is_number())
        n.all = true;
    }
    return;
  }
  collect_needs(n, args);
}

}  // namespace

ContextNeeds context_needs(const std::vector<const json*>& rules) {
  ContextNeeds n;
  for (const json* r : rules) collect_needs(n, *r);
  if (n.all) n.whole_profile = n.whole_event_data = true;
  return n;
}

std::optional<Workflow> load_workflow_file(const std::string& path,
                                           std::vector<Problem>& problems) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problems.push_back({path, "/", "cannot read the file"});
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  // Copying, dumping and destroying a tree recurse: a deep one must never be built.
  if (!json_depth_within(text, kMaxWorkflowDepth)) {
    problems.push_back({path, "/",
                        "the file nests objects and arrays more than " +
                            std::to_string(kMaxWorkflowDepth) + " deep; a guard may nest at most " +
                            std::to_string(jsonlogic::kMaxNesting) + " levels"});
    return std::nullopt;
  }
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // Turn the byte offset into a line and column a person can go to.
    size_t line = 1, col = 1;
    const size_t end = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    if (auto p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
    problems.push_back({path, "/",
                        "JSON syntax error at line " + std::to_string(line) + ", column " +
                            std::to_string(col) + ": " + what});
    return std::nullopt;
  }
  return parse_workflow(doc, path, problems);
}

Registry Registry::load(const std::vector<std::string>& paths, std::vector<Problem>& problems) {
  namespace fs = std::filesystem;
  Registry reg;
  for (const auto& p : paths) {
    std::error_code ec;
    std::vector<std::string> files;
    if (fs::is_directory(p, ec)) {
      for (const auto& entry : fs::directory_iterator(p, ec))
        if (entry.is_regular_file() && entry.path().extension() == ".json")
          files.push_back(entry.path().string());
      std::sort(files.begin(), files.end());
      if (files.empty()) problems.push_back({p, "/", "the folder has no workflow (*.json) files"});
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      problems.push_back({p, "/", "no such file or folder"});
    }
    for (const auto& f : files)
      if (auto wf = load_workflow_file(f, problems)) reg.add(std::move(*wf), problems);
  }
  return reg;
}

void Registry::add(Workflow wf, std::vector<Problem>& problems) {
  auto& versions = by_program_[wf.program];
  if (auto it = versions.find(wf.version); it != versions.end()) {
    problems.push_back({wf.file, "/version",
                        "program \"" + wf.program + "\" version " + std::to_string(wf.version) +
                            " is already defined in " + it->second->file});
    return;
  }
  const int v = wf.version;
  versions.emplace(v, std::make_shared<const Workflow>(std::move(wf)));
}

const Workflow* Registry::find(const std::string& program, int version) const {
  const auto p = by_program_.find(program);
  if (p == by_program_.end()) return nullptr;
  const auto v = p->second.find(version);
  return v == p->second.end() ? nullptr : v->second.get();
}

const Workflow* Registry::latest(const std::string& program) const {
  const auto p = by_program_.find(program);
  if (p == by_program_.end() || p->second.empty()) return nullptr;
  return p->second.rbegin()->second.get();
}

std::vector<const Workflow*> Registry::all() const {
  std::vector<const Workflow*> out;
  for (const auto& [program, versions] : by_program_)
    for (const auto& [v, wf] : versions) out.push_back(wf.get());
  return out;
}

}  // namespace stagewise::workflow
