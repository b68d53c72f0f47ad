#include "reviews/ranking.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

namespace stagewise::reviews {
namespace {

// Calibrated z-scores (and raw means) closer than this are a tie: sums of
// the same z-scores in another grouping differ in the last bits, and such
// noise must not decide a rank ahead of the documented tie-breaks.
constexpr double kTie = 1e-9;
// Slack on the disagreement threshold, as a fraction of the scale's width.
constexpr double kRangeSlack = 1e-9;

struct Moments {
  double mean = 0;
  double sd = 0;  // population
};

// Two-pass mean and population sd. Equal values give sd exactly 0 (and the
// value itself as mean), so a constant reviewer is never "standardised" by
// rounding noise such as 3 x 0.1 summing to 0.30000000000000004.
Moments moments(const std::vector<double>& values) {
  if (values.empty()) return {};
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  if (*lo == *hi) return {*lo, 0};
  const auto n = static_cast<double>(values.size());
  double sum = 0;
  for (double v : values) sum += v;
  const double mean = sum / n;
  double squares = 0;
  for (double v : values) squares += (v - mean) * (v - mean);
  return {mean, std::sqrt(squares / n)};
}

// The finite reviews in one canonical order, so that every sum below adds
// the same numbers in the same order whatever order the caller used.
std::vector<ReviewScore> canonical(const std::vector<ReviewScore>& all) {
  std::vector<ReviewScore> out;
  out.reserve(all.size());
  for (const auto& r : all)
    if (std::isfinite(r.score)) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const ReviewScore& a, const ReviewScore& b) {
    return std::tie(a.application, a.reviewer, a.score) <
           std::tie(b.application, b.reviewer, b.score);
  });
  return out;
}

std::map<std::string, ReviewerStats> reviewer_stats(const std::vector<ReviewScore>& reviews,
                                                    const Moments& program,
                                                    const RankingOptions& options) {
  std::map<std::string, std::vector<double>> scores;
  for (const auto& r : reviews) scores[r.reviewer].push_back(r.score);
  std::map<std::string, ReviewerStats> out;
  for (const auto& [reviewer, values] : scores) {
    const Moments m = moments(values);
    ReviewerStats& s = out[reviewer];
    s.reviewer = reviewer;
    s.count = values.size();
    s.mean = m.mean;
    s.sd = m.sd;
    s.leniency = m.mean - program.mean;
    s.standardised = s.count >= options.min_reviews && m.sd > 0;
  }
  return out;
}

double z_score(double score, const ReviewerStats& reviewer, const Moments& program) {
  if (reviewer.standardised) return (score - reviewer.mean) / reviewer.sd;
  if (program.sd > 0) return (score - program.mean) / program.sd;
  return 0;
}

bool disagrees(double range, size_t reviews, const RankingOptions& options) {
  const double width = options.scale_max - options.scale_min;
  if (reviews < 2 || !(width > 0) || !std::isfinite(width)) return false;
  return range >= options.disagreement * width - kRangeSlack * width;
}

struct Scores {
  std::vector<double> raw;
  std::vector<double> z;
};

RankedApplication summarise(const std::string& id, const Scores& s, const Moments& program,
                            const RankingOptions& options) {
  RankedApplication a;
  a.application = id;
  a.reviews = s.raw.size();
  if (s.raw.empty()) return a;
  const Moments raw = moments(s.raw);
  const auto [lo, hi] = std::minmax_element(s.raw.begin(), s.raw.end());
  a.raw_mean = raw.mean;
  a.spread = raw.sd;
  a.range = *hi - *lo;
  a.disagreement = disagrees(a.range, a.reviews, options);
  double z = 0;
  for (double v : s.z) z += v;
  a.calibrated_z = z / static_cast<double>(s.z.size());
  a.calibrated = program.sd > 0 ? program.mean + *a.calibrated_z * program.sd : a.raw_mean;
  return a;
}

// A total order for sorting: values within kTie share a key; NaN (only
// reachable through absurd inputs such as overflowing scores) sorts last.
double tie_key(double v) {
  if (std::isnan(v)) return -std::numeric_limits<double>::infinity();
  return std::round(v / kTie);
}

bool ranks_before(const RankedApplication& a, const RankedApplication& b) {
  const bool ra = a.calibrated_z.has_value(), rb = b.calibrated_z.has_value();
  if (ra != rb) return ra;
  if (ra) {
    const double za = tie_key(*a.calibrated_z), zb = tie_key(*b.calibrated_z);
    if (za != zb) return za > zb;
    const double ma = tie_key(a.raw_mean), mb = tie_key(b.raw_mean);
    if (ma != mb) return ma > mb;
  }
  return a.application < b.application;
}

}  // namespace

std::optional<double> weighted_score(const std::vector<RubricCriterion>& rubric,
                                     const nlohmann::json& scores) {
  if (rubric.empty() || !scores.is_object()) return std::nullopt;
  const double lo0 = rubric.front().min, hi0 = rubric.front().max;
  double weighted = 0, total = 0;
  for (const auto& c : rubric) {
    if (!std::isfinite(c.weight) || c.weight < 0) return std::nullopt;
    if (!std::isfinite(c.min) || !std::isfinite(c.max) || !(c.min < c.max)) return std::nullopt;
    const auto it = scores.find(c.name);
    if (it == scores.end() || !it->is_number()) return std::nullopt;
    const double s = it->get<double>();
    if (!std::isfinite(s)) return std::nullopt;
    const double mapped = lo0 + (s - c.min) / (c.max - c.min) * (hi0 - lo0);
    weighted += c.weight * mapped;
    total += c.weight;
  }
  if (!(total > 0)) return std::nullopt;
  return weighted / total;
}

Ranking rank_applications(const std::vector<ReviewScore>& all_reviews,
                          const std::vector<std::string>& applications,
                          const RankingOptions& options) {
  const std::vector<ReviewScore> reviews = canonical(all_reviews);
  std::vector<double> all_scores;
  all_scores.reserve(reviews.size());
  for (const auto& r : reviews) all_scores.push_back(r.score);
  const Moments program = moments(all_scores);
  const auto stats = reviewer_stats(reviews, program, options);

  std::map<std::string, Scores> ranked;  // also dedupes and orders the ids
  for (const auto& id : applications) ranked[id];
  for (const auto& r : reviews) {
    const auto it = ranked.find(r.application);
    if (it == ranked.end()) continue;
    it->second.raw.push_back(r.score);
    it->second.z.push_back(z_score(r.score, stats.at(r.reviewer), program));
  }

  Ranking out;
  out.program_mean = program.mean;
  out.program_sd = program.sd;
  out.reviews = reviews.size();
  out.applications.reserve(ranked.size());
  for (const auto& [id, s] : ranked) out.applications.push_back(summarise(id, s, program, options));
  std::sort(out.applications.begin(), out.applications.end(), ranks_before);
  for (size_t i = 0; i < out.applications.size(); ++i)
    out.applications[i].rank = static_cast<int>(i + 1);
  out.reviewers.reserve(stats.size());
  for (const auto& [id, s] : stats) out.reviewers.push_back(s);
  return out;
}

}  // namespace stagewise::reviews
