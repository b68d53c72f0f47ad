#include "reports/row.h"

#include "auth/scope.h"
#include "common/time.h"
#include "reviews/ranking.h"

#include <algorithm>
#include <cctype>

namespace stagewise::reports {
namespace {

using nlohmann::json;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The rubric reviews of this workflow are scored on: its first review
// stage's (as the ranking reads them).
std::vector<reviews::RubricCriterion> rubric_of(const workflow::Workflow* wf) {
  std::vector<reviews::RubricCriterion> out;
  if (wf == nullptr) return out;
  for (const auto& name : wf->state_order) {
    const auto& st = wf->states.at(name);
    if (!st.review) continue;
    for (const auto& c : st.review->rubric) out.push_back({c.name, c.weight, c.min, c.max});
    break;
  }
  return out;
}

// A review's one number: the rubric's weighted mean, else the mean of its
// numeric scores; nullopt when it has none.
std::optional<double> score_of(const std::vector<reviews::RubricCriterion>& rubric,
                               const json& scores) {
  if (!rubric.empty())
    if (auto s = reviews::weighted_score(rubric, scores)) return s;
  if (!scores.is_object()) return std::nullopt;
  double sum = 0;
  int n = 0;
  for (const auto& [k, v] : scores.items())
    if (v.is_number()) sum += v.get<double>(), ++n;
  if (n == 0) return std::nullopt;
  return sum / n;
}

std::string cycle_of(const workflow::Application& app) {
  if (const auto p = app.facts.find("profile"); p != app.facts.end() && p->is_object())
    if (const auto c = p->find("cycle"); c != p->end()) {
      if (c->is_string()) return c->get<std::string>();
      if (c->is_number_integer()) return c->dump();
    }
  return format_rfc3339_ms(app.created_ms).substr(0, 4);
}

}  // namespace

Row make_row(const workflow::Application& app, const workflow::Workflow* wf) {
  Row r;
  r.id = app.id;
  r.program = app.program;
  r.workflow_version = app.workflow_version;
  r.sequence = app.sequence;
  r.submitted_ms = app.created_ms;
  r.cycle = cycle_of(app);
  r.hub = auth::university_of(app);
  r.stage = app.stage;
  r.stage_entered_ms = app.stage_entered_ms;
  r.stays = app.stays;
  if (r.stays.empty()) r.stays.push_back({app.stage, app.stage_entered_ms, 0, 1});
  r.self_identification = app.self_identification;
  if (const auto rv = app.facts.find("reviews"); rv != app.facts.end() && rv->is_array()) {
    const auto rubric = rubric_of(wf);
    for (const auto& review : *rv) {
      const auto s = score_of(rubric, review.value("scores", json()));
      if (s && std::isfinite(*s)) r.scores.emplace_back(review.value("reviewer", ""), *s);
    }
  }
  return r;
}

std::optional<int64_t> parse_bound(const std::string& text, bool end) {
  if (text.size() == 10) {
    const auto t = parse_rfc3339_ms(text + "T00:00:00Z");
    if (t && end) return *t + 24LL * 3600 * 1000;
    return t;
  }
  return parse_rfc3339_ms(text);
}

bool Filter::admits(const Row& row) const {
  if (from_ms && row.submitted_ms < *from_ms) return false;
  if (to_ms && row.submitted_ms >= *to_ms) return false;
  if (!cycle.empty() && row.cycle != cycle) return false;
  return hub.empty() || lower(row.hub) == lower(hub);
}

}  // namespace stagewise::reports
