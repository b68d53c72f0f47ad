#include "replay/compare.h"

#include "common/time.h"

#include <algorithm>
#include <set>
#include <vector>

namespace stagewise::replay {
namespace {

using nlohmann::json;

json timer_json(const store::TimerRecord& t) {
  using Kind = workflow::Timer::Kind;
  const Kind k = t.timer.kind;
  return {{"kind", k == Kind::deadline   ? "deadline"
                   : k == Kind::reminder ? "reminder"
                                         : "retention"},
          {"index", t.timer.index},
          {"due", format_rfc3339_ms(t.timer.due_ms)},
          {"stage", t.timer.stage},
          {"stage_entered_at", format_rfc3339_ms(t.timer.stage_entered_ms)},
          {"recipient", t.timer.recipient},
          {"template", t.timer.template_name},
          {"deadline", t.timer.deadline_ms}};
}

json history_json(const std::vector<store::HistoryEntry>& entries) {
  json out = json::array();
  for (const auto& h : entries) {
    json j = store::to_json(h);
    j.erase("input");  // where it was read: another broker's offsets in a replay
    out.push_back(std::move(j));
  }
  return out;
}

using Pointer = json::json_pointer;

std::optional<Pointer> differ(const json& a, const json& b, const Pointer& path, int depth) {
  if (a.type() != b.type() || depth <= 0 || !a.is_structured())
    return a == b ? std::nullopt : std::optional<Pointer>(path);
  if (a.is_array()) {
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i)
      if (auto d = differ(a[i], b[i], path / i, depth - 1)) return d;
    if (a.size() != b.size()) return path / n;
    return std::nullopt;
  }
  std::set<std::string> keys;
  for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
  for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
  for (const auto& k : keys) {
    const auto ia = a.find(k), ib = b.find(k);
    if (ia == a.end() || ib == b.end()) return path / k;
    if (auto d = differ(*ia, *ib, path / k, depth - 1)) return d;
  }
  return std::nullopt;
}

// The value at `path` (a pointer without its leading slash), null when absent.
json value_at(const json& doc, const std::string& path) {
  try {
    return path.empty() ? doc : doc.at(Pointer("/" + path));
  } catch (const json::exception&) {
    return nullptr;
  }
}

Result<std::vector<std::string>> ids_of(const store::Store& s) {
  std::vector<std::string> ids;
  auto r = s.each_application(-1, [&](workflow::Application&& a) { ids.push_back(a.id); });
  if (!r) return r.error();
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Replay timers the original fired (and so no longer holds) are left out.
void drop_fired(json& replay_timers, const json& store_timers, int64_t fired_before_ms) {
  json kept = json::array();
  for (auto& t : replay_timers) {
    const auto due = parse_rfc3339_ms(t["due"].get<std::string>());
    const bool held = std::find(store_timers.begin(), store_timers.end(), t) != store_timers.end();
    if (held || !due || *due >= fired_before_ms) kept.push_back(std::move(t));
  }
  replay_timers = std::move(kept);
}

}  // namespace

std::optional<std::string> first_difference(const json& a, const json& b, int max_depth) {
  const auto at = differ(a, b, Pointer(), max_depth);
  if (!at) return std::nullopt;
  return at->to_string().substr(at->empty() ? 0 : 1);  // RFC 6901, without the leading slash
}

Result<json> comparable_application(const store::Store& store, const std::string& id) {
  auto app = store.application(id);
  if (!app) return app.error();
  auto timers = store.timers_of(id);
  if (!timers) return timers.error();
  auto history = store.history(id);
  if (!history) return history.error();
  json j = workflow::to_json(*app);  // without the audit's head
  j["timers"] = json::array();
  for (const auto& t : *timers) j["timers"].push_back(timer_json(t));
  j["history"] = history_json(*history);
  return j;
}

namespace {

// One application in both stores; false when they differ.
Result<bool> compare_one(const store::Store& replay, const store::Store& store,
                         const std::string& id, const CompareOptions& o, Comparison& out) {
  auto a = comparable_application(replay, id);
  if (!a) return a.error();
  auto b = comparable_application(store, id);
  if (!b) return b.error();
  drop_fired((*a)["timers"], (*b)["timers"], o.fired_before_ms);
  out.history_entries += (*b)["history"].size();
  const auto path = first_difference(*a, *b, o.max_depth);
  if (!path) return true;
  if (!out.first)
    out.first =
        Difference{Difference::Kind::differs, id, *path, value_at(*a, *path), value_at(*b, *path)};
  return false;
}

}  // namespace

Result<Comparison> compare(const store::Store& replay, const store::Store& store,
                           const CompareOptions& o) {
  auto ra = ids_of(replay);
  if (!ra) return ra.error();
  auto sa = ids_of(store);
  if (!sa) return sa.error();
  std::vector<std::string> all;
  std::set_union(ra->begin(), ra->end(), sa->begin(), sa->end(), std::back_inserter(all));
  Comparison out;
  out.applications = all.size();
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string& id = all[i];
    const bool in_replay = std::binary_search(ra->begin(), ra->end(), id);
    const bool in_store = std::binary_search(sa->begin(), sa->end(), id);
    bool same = in_replay && in_store;
    if (same) {
      auto r = compare_one(replay, store, id, o, out);
      if (!r) return make_error(r.error().code, "application " + id + ": " + r.error().message);
      same = *r;
    } else if (!out.first) {
      out.first =
          Difference{in_replay ? Difference::Kind::only_in_replay : Difference::Kind::only_in_store,
                     id, "", nullptr, nullptr};
    }
    if (!same) ++out.differing;
    if (o.progress && (i % 256 == 255 || i + 1 == all.size())) o.progress(i + 1, all.size());
  }
  return out;
}

}  // namespace stagewise::replay
