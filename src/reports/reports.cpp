#include "reports/reports.h"

#include "workflow/graph.h"
#include "workflow/self_identification.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace stagewise::reports {
namespace {

using nlohmann::json;

constexpr const char* kAllSuppressed = "(all groups: too few applications)";

json nullable(bool shown, json value) {
  return shown ? std::move(value) : json();
}

template <class M>
auto get(const M& m, const std::string& k) -> typename M::mapped_type {
  const auto it = m.find(k);
  return it == m.end() ? typename M::mapped_type{} : it->second;
}

// Nearest-rank percentiles of durations, in seconds.
json distribution(std::vector<int64_t> ms) {
  if (ms.empty()) return {{"count", 0}, {"p50", nullptr}, {"p90", nullptr}, {"max", nullptr}};
  std::sort(ms.begin(), ms.end());
  auto rank = [&](double p) {
    const size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(ms.size())));
    return static_cast<double>(ms[std::max<size_t>(k, 1) - 1]) / 1000.0;
  };
  return {{"count", ms.size()},
          {"p50", rank(0.5)},
          {"p90", rank(0.9)},
          {"max", static_cast<double>(ms.back()) / 1000.0}};
}

// Which groups to hide: those under `min_cell`, and when that is exactly
// one, the smallest other (by n, then name) so that no total gives it away.
std::set<std::string> suppressed_groups(const std::map<std::string, uint64_t>& n,
                                        uint64_t min_cell) {
  std::set<std::string> out;
  for (const auto& [g, count] : n)
    if (count < min_cell) out.insert(g);
  if (out.size() == 1 && n.size() > 1) {
    const std::string* next = nullptr;
    for (const auto& [g, count] : n)
      if (!out.contains(g) && (next == nullptr || count < n.at(*next))) next = &g;
    out.insert(*next);
  }
  return out;
}

std::vector<std::string> groups_in_order(const std::map<std::string, uint64_t>& n) {
  std::vector<std::string> out;
  for (const auto& [g, count] : n) out.push_back(g);
  std::sort(out.begin(), out.end(), group_before);
  return out;
}

json stage_groups(const std::vector<std::string>& groups, const std::set<std::string>& hidden,
                  const Tally& t, const std::string& stage) {
  const auto reached = t.group_reached.find(stage);
  auto reached_of = [&](const std::string& g) {
    return reached == t.group_reached.end() ? uint64_t{0} : get(reached->second, g);
  };
  // The best rate as a fraction, so that the four-fifths test is exact: a
  // ratio of exactly 0.8 (3/5 against 3/4) is not flagged.
  uint64_t best_reached = 0, best_n = 1;
  for (const auto& g : groups)
    if (!hidden.contains(g) && reached_of(g) * best_n > best_reached * t.group_n.at(g))
      best_reached = reached_of(g), best_n = t.group_n.at(g);
  json out = json::array();
  for (const auto& g : groups) {
    const bool shown = !hidden.contains(g);
    const uint64_t r = reached_of(g), n = t.group_n.at(g);
    const double rate = static_cast<double>(r) / static_cast<double>(n);
    const bool rated = shown && best_reached > 0;
    const json ratio =
        rated ? json(rate * static_cast<double>(best_n) / static_cast<double>(best_reached))
              : json();
    const bool flag = rated && 5 * r * best_n < 4 * best_reached * n;
    out.push_back({{"group", g},
                   {"reached", nullable(shown, r)},
                   {"rate", nullable(shown, rate)},
                   {"impact_ratio", ratio},
                   {"flag", nullable(shown, flag)},
                   {"suppressed", !shown}});
  }
  return out;
}

// Groups as reported: when the applications counted are fewer than
// `min_cell` altogether, even which answers they gave would say too much
// (a narrow date range can hold one applicant): one suppressed row stands
// for all of them.
std::map<std::string, uint64_t> reportable(const std::map<std::string, uint64_t>& n,
                                           uint64_t min_cell) {
  uint64_t total = 0;
  for (const auto& [g, count] : n) total += count;
  if (total == 0 || total >= min_cell) return n;
  return {{kAllSuppressed, total}};
}

}  // namespace

bool group_before(const std::string& a, const std::string& b) {
  const bool ua = a == "unknown", ub = b == "unknown";
  return ua != ub ? ub : a < b;
}

void Tally::add(const Row& row, const workflow::Workflow& wf, const Query& q) {
  ++total;
  ++now[row.stage];
  const std::string group =
      q.attribute.empty() ? std::string()
                          : workflow::self_identified_group(row.self_identification, q.attribute);
  if (!q.attribute.empty()) ++group_n[group];
  for (const auto& s : row.stays) {
    ++reached[s.stage];
    if (!q.attribute.empty()) ++group_reached[s.stage][group];
    // A finished stay: one left, or an earlier one of the stage it is in.
    if (s.stage != row.stage || s.visits > 1) spent[s.stage].push_back(s.spent_ms);
  }
  const int64_t waited = std::max<int64_t>(0, q.now_ms - row.stage_entered_ms);
  const workflow::State* st = wf.state(row.stage);
  if (st != nullptr && !st->terminal) {
    waiting[row.stage].push_back(waited);
    if (st->deadline && waited > st->deadline->after_ms) ++overdue[row.stage];
  }
  ++hubs[row.hub.empty() ? "unknown" : row.hub][row.stage];
  if (!q.attribute.empty())
    for (const auto& [reviewer, score] : row.scores) {
      auto& cell = scores[reviewer][group];
      cell.first += score;
      ++cell.second;
    }
}

void Tally::merge(const Tally& o) {
  total += o.total;
  auto add_counts = [](auto& into, const auto& from) {
    for (const auto& [k, v] : from) into[k] += v;
  };
  add_counts(now, o.now);
  add_counts(reached, o.reached);
  add_counts(overdue, o.overdue);
  add_counts(group_n, o.group_n);
  for (const auto& [k, v] : o.spent) spent[k].insert(spent[k].end(), v.begin(), v.end());
  for (const auto& [k, v] : o.waiting) waiting[k].insert(waiting[k].end(), v.begin(), v.end());
  for (const auto& [k, v] : o.group_reached) add_counts(group_reached[k], v);
  for (const auto& [k, v] : o.hubs) add_counts(hubs[k], v);
  for (const auto& [reviewer, groups] : o.scores)
    for (const auto& [g, cell] : groups) {
      scores[reviewer][g].first += cell.first;
      scores[reviewer][g].second += cell.second;
    }
}

json to_json(const Tally& t) {
  json scores = json::object();
  for (const auto& [reviewer, groups] : t.scores)
    for (const auto& [g, cell] : groups) scores[reviewer][g] = {cell.first, cell.second};
  return {{"total", t.total},
          {"now", t.now},
          {"reached", t.reached},
          {"overdue", t.overdue},
          {"spent", t.spent},
          {"waiting", t.waiting},
          {"group_n", t.group_n},
          {"group_reached", t.group_reached},
          {"scores", std::move(scores)},
          {"hubs", t.hubs}};
}

Tally tally_from_json(const json& j) {
  Tally t;
  t.total = j.at("total").get<uint64_t>();
  j.at("now").get_to(t.now);
  j.at("reached").get_to(t.reached);
  j.at("overdue").get_to(t.overdue);
  j.at("spent").get_to(t.spent);
  j.at("waiting").get_to(t.waiting);
  j.at("group_n").get_to(t.group_n);
  j.at("group_reached").get_to(t.group_reached);
  j.at("hubs").get_to(t.hubs);
  for (const auto& [reviewer, groups] : j.at("scores").items())
    for (const auto& [g, cell] : groups.items())
      t.scores[reviewer][g] = {cell.at(0).get<double>(), cell.at(1).get<uint64_t>()};
  return t;
}

json funnel_report(const workflow::Workflow& wf, const Tally& t) {
  json stages = json::array();
  uint64_t active = 0, decided = 0, overdue = 0, previous = 0;
  bool first = true;
  for (const auto& name : workflow::flow_order(wf)) {
    const workflow::State& st = wf.states.at(name);
    const uint64_t now = get(t.now, name), reached = get(t.reached, name);
    (st.terminal ? decided : active) += now;
    overdue += get(t.overdue, name);
    json conversion;
    if (!st.terminal && !first && previous > 0)
      conversion = static_cast<double>(reached) / static_cast<double>(previous);
    stages.push_back({{"stage", name},
                      {"title", st.title.empty() ? name : st.title},
                      {"terminal", st.terminal},
                      {"now", now},
                      {"reached", reached},
                      {"conversion", conversion},
                      {"overall", t.total ? json(static_cast<double>(reached) / t.total) : json()},
                      {"overdue", get(t.overdue, name)}});
    if (!st.terminal) previous = reached, first = false;
  }
  return {{"program", wf.program}, {"total", t.total},   {"active", active},
          {"decided", decided},    {"overdue", overdue}, {"stages", std::move(stages)}};
}

json time_report(const workflow::Workflow& wf, const Tally& t, const Query& q) {
  json stages = json::array();
  for (const auto& name : workflow::flow_order(wf)) {
    const auto waiting = get(t.waiting, name);
    json w = distribution(waiting);
    w["over_threshold"] = std::count_if(waiting.begin(), waiting.end(),
                                        [&](int64_t ms) { return ms > q.threshold_ms; });
    stages.push_back({{"stage", name},
                      {"terminal", wf.states.at(name).terminal},
                      {"finished", distribution(get(t.spent, name))},
                      {"waiting", std::move(w)}});
  }
  return {{"program", wf.program},
          {"threshold_seconds", static_cast<double>(q.threshold_ms) / 1000.0},
          {"stages", std::move(stages)}};
}

json fairness_report(const workflow::Workflow& wf, const Tally& t, const Query& q) {
  Tally shown_tally;  // the groups as they may be reported
  const Tally* src = &t;
  if (const auto n = reportable(t.group_n, q.min_cell); n != t.group_n) {
    shown_tally.group_n = n;
    for (const auto& [stage, by_group] : t.group_reached)
      for (const auto& [g, r] : by_group) shown_tally.group_reached[stage][kAllSuppressed] += r;
    src = &shown_tally;
  }
  const auto hidden = suppressed_groups(src->group_n, q.min_cell);
  const auto groups = groups_in_order(src->group_n);
  json head = json::array();
  for (const auto& g : groups) {
    const bool shown = !hidden.contains(g);
    head.push_back(
        {{"group", g}, {"n", nullable(shown, src->group_n.at(g))}, {"suppressed", !shown}});
  }
  json stages = json::array();
  for (const auto& name : workflow::flow_order(wf))
    stages.push_back({{"stage", name}, {"groups", stage_groups(groups, hidden, *src, name)}});
  return {{"program", wf.program},
          {"attribute", q.attribute},
          {"min_cell", q.min_cell},
          {"groups", std::move(head)},
          {"stages", std::move(stages)}};
}

json reviewer_report(const workflow::Workflow& wf, const Tally& t, const Query& q) {
  json reviewers = json::array();
  for (const auto& [reviewer, cells] : t.scores) {
    double sum = 0;
    uint64_t n = 0;
    std::map<std::string, uint64_t> counts;
    for (const auto& [g, cell] : cells) {
      sum += cell.first;
      n += cell.second;
      counts[g] = cell.second;
    }
    const double mean = n ? sum / static_cast<double>(n) : 0;
    // Too few reviews altogether: not even which groups they were of.
    auto sums = cells;
    if (const auto shown_counts = reportable(counts, q.min_cell); shown_counts != counts) {
      counts = shown_counts;
      sums = {{kAllSuppressed, {sum, n}}};
    }
    const auto hidden = suppressed_groups(counts, q.min_cell);
    json groups = json::array();
    for (const auto& g : groups_in_order(counts)) {
      const bool shown = !hidden.contains(g);
      const double m = sums.at(g).first / static_cast<double>(sums.at(g).second);
      groups.push_back({{"group", g},
                        {"n", nullable(shown, counts[g])},
                        {"mean", nullable(shown, m)},
                        {"difference", nullable(shown, m - mean)},
                        {"suppressed", !shown}});
    }
    reviewers.push_back(
        {{"reviewer", reviewer}, {"n", n}, {"mean", mean}, {"groups", std::move(groups)}});
  }
  return {{"program", wf.program},
          {"attribute", q.attribute},
          {"min_cell", q.min_cell},
          {"reviewers", std::move(reviewers)}};
}

json hub_report(const workflow::Workflow& wf, const Tally& t) {
  const auto order = workflow::flow_order(wf);
  json hubs = json::array();
  for (const auto& [hub, by_stage] : t.hubs) {
    uint64_t apps = 0, active = 0, decided = 0;
    json stages = json::object(), outcomes = json::object();
    for (const auto& name : order) {
      const uint64_t n = get(by_stage, name);
      apps += n;
      const bool terminal = wf.states.at(name).terminal;
      (terminal ? decided : active) += n;
      (terminal ? outcomes : stages)[name] = n;
    }
    hubs.push_back({{"hub", hub},
                    {"applications", apps},
                    {"active", active},
                    {"decided", decided},
                    {"stages", std::move(stages)},
                    {"outcomes", std::move(outcomes)}});
  }
  return {{"program", wf.program}, {"hubs", std::move(hubs)}};
}

json finish(std::string_view kind, const workflow::Workflow& wf, const Tally& t, const Query& q) {
  if (kind == "funnel") return funnel_report(wf, t);
  if (kind == "time-in-stage") return time_report(wf, t, q);
  if (kind == "fairness") return fairness_report(wf, t, q);
  if (kind == "reviewers") return reviewer_report(wf, t, q);
  if (kind == "hubs") return hub_report(wf, t);
  return json();
}

bool needs_attribute(std::string_view kind) {
  return kind == "fairness" || kind == "reviewers";
}

}  // namespace stagewise::reports
