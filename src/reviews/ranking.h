#pragma once

// Calibrated ranking of applications from their reviews (DESIGN.md §12,
// `GET /v1/programs/{p}/ranking?stage=S`). Pure functions: no I/O, no
// clock, no shared state; safe to call from any number of threads at once.
//
// Method. A review's number is the weighted mean of its rubric scores
// (weighted_score). Reviewers differ in how harsh they are, so a raw 3 from
// one is not a raw 3 from another. Each review is therefore turned into a
// z-score against the reviewer who wrote it, using every review that
// reviewer wrote in the program (not only those in the stage being ranked):
//
//   z = (s - mu_r) / sigma_r      mu_r, sigma_r: the reviewer's mean and
//                                 POPULATION standard deviation
//
// A reviewer is standardised on its own only when it wrote at least
// `RankingOptions::min_reviews` reviews and sigma_r > 0. Otherwise its
// reviews are measured against the whole program instead:
//
//   z = (s - mu_all) / sigma_all  (0 when sigma_all = 0)
//
// because a mean and deviation over one or two reviews are noise (two
// reviews always standardise to exactly -1 and +1, whatever they were), and
// a reviewer who gives everyone the same score says nothing about how its
// applications compare with each other; all it tells us is where its score
// sits in the program, which is what the program-wide z keeps.
//
// An application's calibrated_z is the mean of its reviews' z; it is mapped
// back onto the scale as calibrated = mu_all + calibrated_z * sigma_all, so
// calibrated numbers read like scores ("a calibrated 3.8") and a program
// manager can set them beside raw means.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace stagewise::reviews {

/// One criterion of a review rubric (the stage's `review.rubric`; mirrors
/// workflow::Criterion so this module needs no engine types).
struct RubricCriterion {
  std::string name;
  double weight = 1;
  double min = 1;  ///< the criterion's scale is [min, max]
  double max = 5;
};

/// One review reduced to one number: the weighted mean of its rubric scores
/// on the rubric's scale (see weighted_score).
struct ReviewScore {
  std::string application;
  std::string reviewer;
  double score = 0;
};

/// Weighted mean of `scores` (a JSON object criterion -> number) over
/// `rubric`: sum(w_i * v_i) / sum(w_i).
///
/// Criteria on different scales are first mapped linearly onto the FIRST
/// criterion's scale, v = min_0 + (s - min_i) / (max_i - min_i) * (max_0 -
/// min_0), so the result is always on the first criterion's scale (for the
/// usual rubric, all on [1, 5], nothing moves). Scores outside a scale are
/// not clamped (the engine rejects them at submission). Members of `scores`
/// that are not criteria of the rubric are ignored.
///
/// nullopt when `scores` is not an object, a criterion is missing or its
/// value is not a finite number (a string "4" or a boolean is not a number),
/// the rubric is empty, a weight is negative or not finite, the total weight
/// is zero, or a criterion's scale is not a finite [min, max] with min < max.
/// Every criterion must be scored, even one of weight 0.
std::optional<double> weighted_score(const std::vector<RubricCriterion>& rubric,
                                     const nlohmann::json& scores);

struct RankingOptions {
  /// A reviewer with fewer reviews in the program is not standardised on
  /// its own; its reviews use the program's mean and sd (see the method).
  size_t min_reviews = 3;
  /// Flag an application when the range (max - min) of its raw scores is at
  /// least this fraction of the scale's width (scale_max - scale_min). The
  /// comparison allows 1e-9 of the width for binary rounding, so 3.0 and
  /// 4.6 on [1, 5] (a range of 1.6 in decimal, 1.5999999999999996 in
  /// binary) flag at 0.4. Nothing flags when the width is not positive.
  double disagreement = 0.4;
  double scale_min = 1, scale_max = 5;
};

struct RankedApplication {
  std::string application;
  size_t reviews = 0;                  ///< finite reviews of this application
  double raw_mean = 0;                 ///< mean of the review scores; 0 when none
  std::optional<double> calibrated_z;  ///< mean of the reviews' z; nullopt when no reviews
  /// calibrated_z mapped back onto the scale: program_mean + calibrated_z *
  /// program_sd; raw_mean when program_sd is 0; nullopt when no reviews.
  std::optional<double> calibrated;
  double spread = 0;  ///< population standard deviation of the raw scores
  double range = 0;   ///< max - min of the raw scores
  /// range >= options.disagreement * (scale_max - scale_min), and at least
  /// 2 reviews (one review cannot disagree with itself).
  bool disagreement = false;
  /// 1-based, by calibrated descending; ties (equal to 1e-9 in z units)
  /// by raw_mean descending, then application id ascending. Applications
  /// without reviews come after all others, by id.
  int rank = 0;
};

struct ReviewerStats {
  std::string reviewer;
  size_t count = 0;  ///< finite reviews in the program
  double mean = 0;
  double sd = 0;              ///< population standard deviation
  double leniency = 0;        ///< mean - program mean: > 0 lenient, < 0 harsh
  bool standardised = false;  ///< count >= min_reviews and sd > 0
};

struct Ranking {
  double program_mean = 0;                      ///< over every finite review in the program
  double program_sd = 0;                        ///< population sd over the same
  size_t reviews = 0;                           ///< finite reviews in the program
  std::vector<RankedApplication> applications;  ///< in rank order
  std::vector<ReviewerStats> reviewers;         ///< every reviewer of the program, by id
};

/// Ranks `applications` (the ones to rank, e.g. those in stage S) using
/// `all_reviews`, every review in the program, for each reviewer's and the
/// program's statistics. Reviews of applications not in `applications`
/// count for calibration but are not ranked; an id listed twice is ranked
/// once. Each entry of `all_reviews` is one review: pass one per
/// (application, reviewer), the latest if a reviewer revised it. Entries
/// with a non-finite score are ignored everywhere.
///
/// Deterministic: the result (bit for bit) does not depend on the order of
/// either input. Never throws except std::bad_alloc.
Ranking rank_applications(const std::vector<ReviewScore>& all_reviews,
                          const std::vector<std::string>& applications,
                          const RankingOptions& options = {});

}  // namespace stagewise::reviews
