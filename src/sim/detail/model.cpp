#include "sim/detail/model.h"

#include <algorithm>
#include <optional>

namespace stagewise::sim {
namespace {

using nlohmann::json;

std::optional<std::string> var_path(const json& j) {
  if (!j.is_object() || j.size() != 1) return std::nullopt;
  const auto it = j.find("var");
  if (it == j.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array() && !it->empty() && (*it)[0].is_string()) return (*it)[0].get<std::string>();
  return std::nullopt;
}

bool is_literal(const json& j) {
  return j.is_string() || j.is_number() || j.is_boolean();
}

std::string flip(const std::string& op) {
  if (op == "<") return ">";
  if (op == ">") return "<";
  if (op == "<=") return ">=";
  if (op == ">=") return "<=";
  return op;
}

struct Found {
  std::string path;
  Constraint c;
  bool conjunctive = false;
};

// Every comparison of a variable with a literal in the guard.
void visit(const json& g, bool conjunctive, std::vector<Found>& out) {
  if (g.is_array()) {
    for (const auto& x : g) visit(x, false, out);
    return;
  }
  if (!g.is_object() || g.size() != 1) return;
  const std::string op = g.begin().key();
  if (op == "var") return;
  const json& raw = g.begin().value();
  const json args = raw.is_array() ? raw : json::array({raw});
  if (op == "and") {
    for (const auto& x : args) visit(x, conjunctive, out);
    return;
  }
  static const char* const kCompare[] = {"==", "===", "!=", "!==", "<", "<=", ">", ">="};
  const bool compare =
      std::any_of(std::begin(kCompare), std::end(kCompare), [&](const char* c) { return op == c; });
  if (compare && args.size() == 2) {
    std::string o = op == "===" ? "==" : op == "!==" ? "!=" : op;
    if (auto l = var_path(args[0]); l && is_literal(args[1]))
      out.push_back({*l, {o, args[1]}, conjunctive});
    else if (auto r = var_path(args[1]); r && is_literal(args[0]))
      out.push_back({*r, {flip(o), args[0]}, conjunctive});
  } else if (op == "in" && args.size() == 2) {
    if (auto l = var_path(args[0]); l && args[1].is_array())
      out.push_back({*l, {"in", args[1]}, conjunctive});
    else if (auto r = var_path(args[1]); r && is_literal(args[0]))
      out.push_back({*r, {"has", args[0]}, conjunctive});
  } else if ((op == "!!" || op == "!") && args.size() == 1) {
    if (auto p = var_path(args[0]))
      out.push_back({*p, {op == "!!" ? "truthy" : "falsy", {}}, conjunctive});
  }
  for (const auto& x : args) visit(x, false, out);
}

// The first path segment after `prefix`, or "" when `path` does not start with it.
std::string segment_after(const std::string& path, const std::string& prefix) {
  if (path.rfind(prefix, 0) != 0) return "";
  const std::string rest = path.substr(prefix.size());
  return rest.substr(0, rest.find('.'));
}

int count_needed(const Constraint& c) {
  if (!c.literal.is_number()) return 0;
  const double n = c.literal.get<double>();
  if (c.op == ">=" || c.op == "==") return static_cast<int>(n + 0.999);
  if (c.op == ">") return static_cast<int>(n) + 1;
  return 0;
}

bool truthy(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string() || v.is_array()) return !v.empty();
  return true;
}

bool meets(const Constraint& c, const json& v) {
  const json& l = c.literal;
  if (c.op == "==") return v == l;
  if (c.op == "!=") return v != l;
  if (c.op == "in") return l.is_array() && std::find(l.begin(), l.end(), v) != l.end();
  if (c.op == "has") return v.is_array() && std::find(v.begin(), v.end(), l) != v.end();
  if (c.op == "truthy") return truthy(v);
  if (c.op == "falsy") return !truthy(v);
  if (!v.is_number() || !l.is_number()) return false;
  const double a = v.get<double>(), b = l.get<double>();
  if (c.op == "<") return a < b;
  if (c.op == "<=") return a <= b;
  if (c.op == ">") return a > b;
  if (c.op == ">=") return a >= b;
  return false;
}

json number_like(const json& literal, double v) {
  if (literal.is_number_integer() || literal.is_number_unsigned())
    return static_cast<int64_t>(v >= 0 ? v + 0.5 : v - 0.5);
  return v;
}

// A value meeting one constraint, with some spread for numbers.
json satisfy_one(const Constraint& c, const std::string& field, Rng& rng) {
  const json& l = c.literal;
  if (c.op == "==") return l;
  if (c.op == "in") return l.empty() ? json() : l[rng.index(l.size())];
  if (c.op == "has") return json::array({l});
  if (c.op == "truthy") return field + "-" + std::to_string(1 + rng.index(40));
  if (c.op == "falsy") return json();
  if (c.op == "!=") {
    if (l.is_boolean()) return !l.get<bool>();
    if (l.is_number()) return number_like(l, l.get<double>() + 1);
    return "other";
  }
  if (!l.is_number()) return json();
  const double n = l.get<double>();
  const double spread = static_cast<double>(rng.index(3));
  if (c.op == ">=") return number_like(l, n + spread);
  if (c.op == ">") return number_like(l, n + 1 + spread);
  if (c.op == "<=") return number_like(l, std::max(0.0, n - spread));
  if (c.op == "<") return number_like(l, n - 1 - spread);
  return json();
}

}  // namespace

json satisfying_value(const Constraints& cs, const std::string& field, Rng& rng) {
  if (cs.empty()) return json();
  const size_t start = rng.index(cs.size());
  for (size_t i = 0; i < cs.size(); ++i) {
    json v = satisfy_one(cs[(start + i) % cs.size()], field, rng);
    if (v.is_null()) continue;
    if (std::all_of(cs.begin(), cs.end(), [&](const Constraint& c) { return meets(c, v); }))
      return v;
  }
  return satisfy_one(cs[start], field, rng);
}

json violating_value(const Constraints& cs, Rng& rng) {
  for (const auto& c : cs) {
    const json& l = c.literal;
    if (c.op == "==") {
      if (l.is_boolean()) return !l.get<bool>();
      if (l.is_number()) return number_like(l, l.get<double>() + 1);
      return "other";
    }
    if (c.op == "in") return "other";
    if (c.op == "!=") return l;
    if (!l.is_number()) continue;
    const double n = l.get<double>();
    const double spread = static_cast<double>(rng.index(2));
    if (c.op == ">=") return number_like(l, n - 1 - spread);
    if (c.op == ">") return number_like(l, n - spread);
    if (c.op == "<=") return number_like(l, n + 1 + spread);
    if (c.op == "<") return number_like(l, n + spread);
  }
  return json();
}

ProgramModel build_model(const workflow::Workflow& wf) {
  ProgramModel m;
  m.wf = &wf;
  std::vector<std::string> recs;
  for (const auto& t : wf.transitions) {
    TransitionModel tm;
    tm.t = &t;
    std::vector<Found> found;
    if (!t.guard_source.is_null()) visit(t.guard_source, true, found);
    std::vector<std::string> offer;
    for (const auto& f : found) {
      if (auto field = segment_after(f.path, "application.profile."); !field.empty()) {
        m.profile[field].push_back(f.c);
        continue;
      }
      if (auto rec = segment_after(f.path, "application.reviews.recommendations.");
          !rec.empty() && std::find(recs.begin(), recs.end(), rec) == recs.end())
        recs.push_back(rec);
      if (!f.conjunctive) {
        if (f.path == "application.documents.kinds" && f.c.op == "has" && f.c.literal.is_string())
          tm.optional_documents.push_back(f.c.literal.get<std::string>());
        continue;
      }
      if (auto field = segment_after(f.path, "event.data."); !field.empty()) {
        tm.event_data[field].push_back(f.c);
      } else if (f.path == "application.documents.kinds" && f.c.op == "has" &&
                 f.c.literal.is_string()) {
        tm.documents.emplace_back(f.c.literal.get<std::string>(), 1);
      } else if (auto kind = segment_after(f.path, "application.documents.by_kind.");
                 !kind.empty()) {
        if (const int n = count_needed(f.c); n > 0) tm.documents.emplace_back(kind, n);
      } else if (f.path == "application.reviews.count" || f.path == "application.reviews.scored") {
        tm.reviews = std::max(tm.reviews, count_needed(f.c));
      } else if (f.path == "application.offer.status" && f.c.op == "==" &&
                 f.c.literal.is_string()) {
        offer.push_back("offer." + f.c.literal.get<std::string>());
      } else if (auto what = segment_after(f.path, "application.offer.");
                 what.size() > 5 && what.ends_with("_time") && f.c.op == "truthy") {
        offer.push_back("offer." + what.substr(0, what.size() - 5));
      }
      if (f.path.rfind("application.reviews.", 0) == 0) tm.uses_reviews = true;
    }
    // Merge document needs per kind (the largest count wins).
    std::vector<std::pair<std::string, int>> docs;
    for (const auto& [kind, n] : tm.documents) {
      auto it = std::find_if(docs.begin(), docs.end(),
                             [&k = kind](const auto& d) { return d.first == k; });
      if (it == docs.end())
        docs.emplace_back(kind, n);
      else
        it->second = std::max(it->second, n);
    }
    tm.documents = std::move(docs);
    for (const char* step : {"offer.extended", "offer.accepted", "offer.declined"}) {
      const bool wanted = std::find(offer.begin(), offer.end(), step) != offer.end() ||
                          (std::string(step) == "offer.extended" && !offer.empty());
      if (wanted) tm.offer_steps.push_back(step);
    }
    m.transitions.push_back(std::move(tm));
  }
  if (std::find(recs.begin(), recs.end(), "accept") == recs.end())
    recs.insert(recs.begin(), "accept");
  std::stable_partition(recs.begin(), recs.end(),
                        [](const std::string& r) { return r == "accept"; });
  if (std::find(recs.begin(), recs.end(), "reject") == recs.end()) recs.push_back("reject");
  m.recommendations = std::move(recs);
  return m;
}

}  // namespace stagewise::sim
