// The calibrated ranking (reviews/ranking.h) against z-scores computed by
// hand. Every expected number below is derived in the comment beside it.
#include "reviews/ranking.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

namespace stagewise::reviews {
namespace {

using nlohmann::json;
constexpr double kEps = 1e-9;

// The program most tests use: a harsh reviewer H (2-3), a lenient one L
// (4-5) and a moderate one M, over five applications.
//
//   H: a1=3 a3=2 a4=3 a5=2   mu_H = 10/4 = 2.5  sd_H = sqrt(4 * 0.5^2 / 4) = 0.5
//   L: a2=4 a3=5 a4=4 a5=5   mu_L = 18/4 = 4.5  sd_L = 0.5
//   M: a2=4 a3=4 a4=2 a5=2   mu_M = 12/4 = 3    sd_M = sqrt(4 * 1^2 / 4) = 1
//
//   program: 12 scores, sum 40, mu = 10/3; sum of squares 26 + 82 + 40 = 148,
//   var = 148/12 - (10/3)^2 = 111/9 - 100/9 = 11/9, sd = sqrt(11)/3.
std::vector<ReviewScore> program() {
  return {{"a1", "H", 3}, {"a3", "H", 2}, {"a4", "H", 3}, {"a5", "H", 2},
          {"a2", "L", 4}, {"a3", "L", 5}, {"a4", "L", 4}, {"a5", "L", 5},
          {"a2", "M", 4}, {"a3", "M", 4}, {"a4", "M", 2}, {"a5", "M", 2}};
}
const std::vector<std::string> kApps = {"a1", "a2", "a3", "a4", "a5"};

class RankingTest : public ::testing::Test {
 protected:
  static const RankedApplication& app(const Ranking& r, const std::string& id) {
    const auto it = std::find_if(r.applications.begin(), r.applications.end(),
                                 [&](const RankedApplication& a) { return a.application == id; });
    if (it == r.applications.end()) throw std::runtime_error("no application " + id);
    return *it;
  }
  static const ReviewerStats& reviewer(const Ranking& r, const std::string& id) {
    const auto it = std::find_if(r.reviewers.begin(), r.reviewers.end(),
                                 [&](const ReviewerStats& s) { return s.reviewer == id; });
    if (it == r.reviewers.end()) throw std::runtime_error("no reviewer " + id);
    return *it;
  }
  static std::vector<std::string> order(const Ranking& r) {
    std::vector<std::string> ids;
    for (const auto& a : r.applications) ids.push_back(a.application);
    return ids;
  }
  // Bit-for-bit equality of two rankings (EXPECT_EQ on doubles is exact).
  static void expect_same(const Ranking& x, const Ranking& y) {
    EXPECT_EQ(x.program_mean, y.program_mean);
    EXPECT_EQ(x.program_sd, y.program_sd);
    EXPECT_EQ(x.reviews, y.reviews);
    ASSERT_EQ(x.applications.size(), y.applications.size());
    for (size_t i = 0; i < x.applications.size(); ++i) {
      const auto &a = x.applications[i], &b = y.applications[i];
      EXPECT_EQ(a.application, b.application);
      EXPECT_EQ(a.reviews, b.reviews);
      EXPECT_EQ(a.raw_mean, b.raw_mean);
      EXPECT_EQ(a.calibrated_z, b.calibrated_z);
      EXPECT_EQ(a.calibrated, b.calibrated);
      EXPECT_EQ(a.spread, b.spread);
      EXPECT_EQ(a.range, b.range);
      EXPECT_EQ(a.disagreement, b.disagreement);
      EXPECT_EQ(a.rank, b.rank);
    }
    ASSERT_EQ(x.reviewers.size(), y.reviewers.size());
    for (size_t i = 0; i < x.reviewers.size(); ++i) {
      const auto &a = x.reviewers[i], &b = y.reviewers[i];
      EXPECT_EQ(a.reviewer, b.reviewer);
      EXPECT_EQ(a.count, b.count);
      EXPECT_EQ(a.mean, b.mean);
      EXPECT_EQ(a.sd, b.sd);
      EXPECT_EQ(a.leniency, b.leniency);
      EXPECT_EQ(a.standardised, b.standardised);
    }
  }
};

TEST_F(RankingTest, ProgramStatisticsAndEveryApplicationByHand) {
  const Ranking r = rank_applications(program(), kApps);
  const double sd = std::sqrt(11.0) / 3;  // 1.1055415967851332
  EXPECT_NEAR(r.program_mean, 10.0 / 3, kEps);
  EXPECT_NEAR(r.program_sd, sd, kEps);
  EXPECT_EQ(r.reviews, 12u);

  // z = (s - mu_r) / sd_r: H's 3 -> +1, H's 2 -> -1; L's 4 -> -1, L's 5 -> +1;
  // M's 4 -> +1, M's 2 -> -1.
  struct Row {
    std::string id;
    size_t reviews;
    double raw, z, spread, range;
    bool disagreement;
  };
  const std::vector<Row> rows = {
      // a1: H3 (+1)                 raw 3, z 1, a single review: no spread
      {"a1", 1, 3, 1, 0, 0, false},
      // a2: L4 (-1) M4 (+1)         raw 4, z 0
      {"a2", 2, 4, 0, 0, 0, false},
      // a3: H2 (-1) L5 (+1) M4 (+1)  raw 11/3, z 1/3; deviations -5/3, 4/3, 1/3:
      //     var (25 + 16 + 1)/9/3 = 14/9, range 5 - 2 = 3 >= 0.4 * 4
      {"a3", 3, 11.0 / 3, 1.0 / 3, std::sqrt(14.0) / 3, 3, true},
      // a4: H3 (+1) L4 (-1) M2 (-1)  raw 3, z -1/3; var (0 + 1 + 1)/3, range 2
      {"a4", 3, 3, -1.0 / 3, std::sqrt(2.0 / 3), 2, true},
      // a5: H2 (-1) L5 (+1) M2 (-1)  raw 3, z -1/3; var (1 + 4 + 1)/3 = 2, range 3
      {"a5", 3, 3, -1.0 / 3, std::sqrt(2.0), 3, true},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.id);
    const auto& a = app(r, row.id);
    EXPECT_EQ(a.reviews, row.reviews);
    EXPECT_NEAR(a.raw_mean, row.raw, kEps);
    ASSERT_TRUE(a.calibrated_z.has_value());
    EXPECT_NEAR(*a.calibrated_z, row.z, kEps);
    ASSERT_TRUE(a.calibrated.has_value());
    EXPECT_NEAR(*a.calibrated, 10.0 / 3 + row.z * sd, kEps);  // mu + z * sd
    EXPECT_NEAR(a.spread, row.spread, kEps);
    EXPECT_NEAR(a.range, row.range, kEps);
    EXPECT_EQ(a.disagreement, row.disagreement);
  }
  // By z: 1 (a1), 1/3 (a3), 0 (a2), -1/3 (a4, a5: same raw 3, so by id).
  EXPECT_EQ(order(r), (std::vector<std::string>{"a1", "a3", "a2", "a4", "a5"}));
  for (size_t i = 0; i < r.applications.size(); ++i)
    EXPECT_EQ(r.applications[i].rank, static_cast<int>(i + 1));
}

TEST_F(RankingTest, ReviewerStatistics) {
  const Ranking r = rank_applications(program(), kApps);
  ASSERT_EQ(r.reviewers.size(), 3u);
  EXPECT_EQ(r.reviewers[0].reviewer, "H");  // by id
  EXPECT_EQ(r.reviewers[1].reviewer, "L");
  EXPECT_EQ(r.reviewers[2].reviewer, "M");
  // leniency = mu_r - 10/3: H 5/2 - 10/3 = -5/6, L 9/2 - 10/3 = 7/6, M 3 - 10/3 = -1/3.
  struct Row {
    std::string id;
    double mean, sd, leniency;
  };
  for (const auto& row : std::vector<Row>{
           {"H", 2.5, 0.5, -5.0 / 6}, {"L", 4.5, 0.5, 7.0 / 6}, {"M", 3, 1, -1.0 / 3}}) {
    SCOPED_TRACE(row.id);
    const auto& s = reviewer(r, row.id);
    EXPECT_EQ(s.count, 4u);
    EXPECT_NEAR(s.mean, row.mean, kEps);
    EXPECT_NEAR(s.sd, row.sd, kEps);
    EXPECT_NEAR(s.leniency, row.leniency, kEps);
    EXPECT_TRUE(s.standardised);
  }
  // Four reviews are not enough when the program asks for five.
  RankingOptions strict;
  strict.min_reviews = 5;
  for (const auto& s : rank_applications(program(), kApps, strict).reviewers)
    EXPECT_FALSE(s.standardised) << s.reviewer;
}

TEST_F(RankingTest, HarshThreeOutranksLenientFour) {
  // H: h=3 p=2 q=3 r=2 -> mu 2.5, sd 0.5; its 3 is z = +1.
  // L: l=4 p=5 q=4 r=5 -> mu 4.5, sd 0.5; its 4 is z = -1.
  // program: sum 28, mu 3.5; squares 26 + 82 = 108, var 108/8 - 3.5^2 = 1.25.
  const std::vector<ReviewScore> reviews = {{"h", "H", 3}, {"p", "H", 2}, {"q", "H", 3},
                                            {"r", "H", 2}, {"l", "L", 4}, {"p", "L", 5},
                                            {"q", "L", 4}, {"r", "L", 5}};
  const Ranking r = rank_applications(reviews, {"h", "l"});
  const auto &h = app(r, "h"), &l = app(r, "l");
  EXPECT_LT(h.raw_mean, l.raw_mean);                          // raw: the lenient 4 wins
  EXPECT_EQ(order(r), (std::vector<std::string>{"h", "l"}));  // calibrated: the harsh 3 wins
  EXPECT_NEAR(*h.calibrated_z, 1, kEps);
  EXPECT_NEAR(*l.calibrated_z, -1, kEps);
  EXPECT_NEAR(*h.calibrated, 3.5 + std::sqrt(1.25), kEps);  // 4.618...
  EXPECT_NEAR(*l.calibrated, 3.5 - std::sqrt(1.25), kEps);  // 2.381...
}

TEST_F(RankingTest, ReviewerBelowMinReviewsUsesProgramStatistics) {
  // A: q1=2 q2=2 q3=3 q4=3 -> mu 2.5, sd 0.5 (standardised).
  // B: q1=5 q2=3           -> own mu 4, sd 1, but only 2 reviews.
  // program {2,2,3,3,5,3}: sum 18, mu 3; squares 60, var 60/6 - 9 = 1, sd 1.
  const std::vector<ReviewScore> reviews = {{"q1", "A", 2}, {"q2", "A", 2}, {"q3", "A", 3},
                                            {"q4", "A", 3}, {"q1", "B", 5}, {"q2", "B", 3}};
  const std::vector<std::string> apps = {"q1", "q2", "q3", "q4"};
  const Ranking r = rank_applications(reviews, apps);
  const auto& b = reviewer(r, "B");
  EXPECT_EQ(b.count, 2u);
  EXPECT_NEAR(b.mean, 4, kEps);
  EXPECT_NEAR(b.sd, 1, kEps);
  EXPECT_NEAR(b.leniency, 1, kEps);
  EXPECT_FALSE(b.standardised);
  // B's 5 -> (5 - 3)/1 = 2, B's 3 -> 0 (program stats).
  EXPECT_NEAR(*app(r, "q1").calibrated_z, (-1 + 2) / 2.0, kEps);  // 0.5
  EXPECT_NEAR(*app(r, "q1").calibrated, 3 + 0.5 * 1, kEps);
  EXPECT_NEAR(*app(r, "q2").calibrated_z, (-1 + 0) / 2.0, kEps);  // -0.5
  EXPECT_NEAR(*app(r, "q3").calibrated_z, 1, kEps);
  EXPECT_EQ(order(r), (std::vector<std::string>{"q3", "q4", "q1", "q2"}));

  // With min_reviews 2, B is standardised on its own: 5 -> +1, 3 -> -1.
  RankingOptions lax;
  lax.min_reviews = 2;
  const Ranking own = rank_applications(reviews, apps, lax);
  EXPECT_TRUE(reviewer(own, "B").standardised);
  EXPECT_NEAR(*app(own, "q1").calibrated_z, (-1 + 1) / 2.0, kEps);  // 0
  EXPECT_NEAR(*app(own, "q2").calibrated_z, (-1 - 1) / 2.0, kEps);  // -1
  EXPECT_NEAR(*app(own, "q2").calibrated, 3 - 1.0, kEps);
}

TEST_F(RankingTest, ConstantReviewerUsesProgramStatistics) {
  // A: c1=1 c2=1 c3=5 c4=5 -> mu 3, sd 2.   C: 4 on all four -> sd 0.
  // program {1,1,5,5,4,4,4,4}: sum 28, mu 3.5; squares 52 + 64 = 116,
  // var 116/8 - 12.25 = 2.25, sd 1.5. C's 4 -> (4 - 3.5)/1.5 = 1/3.
  const std::vector<ReviewScore> reviews = {{"c1", "A", 1}, {"c2", "A", 1}, {"c3", "A", 5},
                                            {"c4", "A", 5}, {"c1", "C", 4}, {"c2", "C", 4},
                                            {"c3", "C", 4}, {"c4", "C", 4}};
  const Ranking r = rank_applications(reviews, {"c1", "c2", "c3", "c4"});
  const auto& c = reviewer(r, "C");
  EXPECT_EQ(c.count, 4u);
  EXPECT_EQ(c.sd, 0);
  EXPECT_FALSE(c.standardised);
  EXPECT_NEAR(r.program_sd, 1.5, kEps);
  // c1: A1 -> (1 - 3)/2 = -1, C -> 1/3: z = (-1 + 1/3)/2 = -1/3, 3.5 - 1.5/3 = 3.
  EXPECT_NEAR(*app(r, "c1").calibrated_z, -1.0 / 3, kEps);
  EXPECT_NEAR(*app(r, "c1").calibrated, 3, kEps);
  // c3: A5 -> +1, C -> 1/3: z = (4/3)/2 = 2/3, 3.5 + 1.5 * 2/3 = 4.5.
  EXPECT_NEAR(*app(r, "c3").calibrated_z, 2.0 / 3, kEps);
  EXPECT_NEAR(*app(r, "c3").calibrated, 4.5, kEps);

  // A constant reviewer whose scores do not sum exactly in binary
  // (3 x 0.1 = 0.30000000000000004) still has sd exactly 0.
  const Ranking tenths =
      rank_applications({{"x", "T", 0.1}, {"y", "T", 0.1}, {"z", "T", 0.1}, {"x", "U", 3}}, {"x"});
  EXPECT_EQ(reviewer(tenths, "T").sd, 0);
  EXPECT_FALSE(reviewer(tenths, "T").standardised);
}

TEST_F(RankingTest, EveryoneGivesTheSameScore) {
  // sd_all = 0: every z is 0 and calibrated is the raw mean.
  const Ranking r =
      rank_applications({{"b", "R", 4}, {"a", "R", 4}, {"a", "S", 4}, {"b", "S", 4}}, {"b", "a"});
  EXPECT_EQ(r.program_sd, 0);
  EXPECT_EQ(order(r), (std::vector<std::string>{"a", "b"}));
  for (const auto& a : r.applications) {
    EXPECT_EQ(*a.calibrated_z, 0);
    EXPECT_EQ(*a.calibrated, 4);
  }
}

TEST_F(RankingTest, DisagreementAtTheBoundary) {
  // Scale [1, 5]: width 4, threshold 0.4 * 4 = 1.6.
  const std::vector<ReviewScore> reviews = {
      {"d1", "R", 1.0}, {"d1", "S", 2.6},   // range 1.6: flags
      {"d2", "R", 3.0}, {"d2", "S", 4.6},   // 1.6 in decimal, 1.5999999999999996 in binary: flags
      {"d3", "R", 1.0}, {"d3", "S", 2.5},   // 1.5: does not
      {"d4", "R", 3.0}, {"d4", "S", 4.59},  // 1.59: does not
      {"d5", "R", 1.0},                     // one review: never
  };
  const std::vector<std::string> apps = {"d1", "d2", "d3", "d4", "d5"};
  const Ranking r = rank_applications(reviews, apps);
  EXPECT_TRUE(app(r, "d1").disagreement);
  EXPECT_TRUE(app(r, "d2").disagreement);
  EXPECT_FALSE(app(r, "d3").disagreement);
  EXPECT_FALSE(app(r, "d4").disagreement);
  EXPECT_FALSE(app(r, "d5").disagreement);

  // Fraction 0: any two reviews flag, even in full agreement; one never does.
  RankingOptions any;
  any.disagreement = 0;
  const Ranking all = rank_applications(reviews, apps, any);
  for (const auto& id : {"d1", "d2", "d3", "d4"}) EXPECT_TRUE(app(all, id).disagreement) << id;
  EXPECT_FALSE(app(all, "d5").disagreement);

  // The scale comes from the options: [0, 10] at 0.25 -> threshold 2.5.
  RankingOptions tens;
  tens.scale_min = 0;
  tens.scale_max = 10;
  tens.disagreement = 0.25;
  const Ranking t = rank_applications(
      {{"e1", "R", 2}, {"e1", "S", 4.5}, {"e2", "R", 2}, {"e2", "S", 4.4}}, {"e1", "e2"}, tens);
  EXPECT_TRUE(app(t, "e1").disagreement);
  EXPECT_FALSE(app(t, "e2").disagreement);
}

TEST_F(RankingTest, TiesByRawMeanThenId) {
  // H: a1=2 a2=3 a3=2 a4=3 -> mu 2.5, sd 0.5: 2 -> -1, 3 -> +1.
  // L: b1=4 b2=5 b3=4 b4=5 -> mu 4.5, sd 0.5: 4 -> -1, 5 -> +1.
  // z +1: b2, b4 (raw 5) before a2, a4 (raw 3) although "a" < "b"; then z -1
  // the same way. Equal z and raw: by id.
  const std::vector<ReviewScore> reviews = {{"a1", "H", 2}, {"a2", "H", 3}, {"a3", "H", 2},
                                            {"a4", "H", 3}, {"b1", "L", 4}, {"b2", "L", 5},
                                            {"b3", "L", 4}, {"b4", "L", 5}};
  const Ranking r = rank_applications(reviews, {"a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4"});
  EXPECT_EQ(order(r), (std::vector<std::string>{"b2", "b4", "a2", "a4", "b1", "b3", "a1", "a3"}));
  EXPECT_EQ(*app(r, "a2").calibrated, *app(r, "b2").calibrated);
}

TEST_F(RankingTest, TiesSurviveRoundingNoise) {
  // S is R shifted by 0.1, so y's 3.8 from S is exactly as good as x's 3.7
  // from R: the same z = (3.7 - 9.2/3)/sd_R in exact arithmetic. In binary,
  // x's z comes out 0.6547832409557992 and y's 0.6547832409557988; that noise
  // must not beat the tie-break on raw mean (3.8 > 3.7).
  const std::vector<ReviewScore> reviews = {{"f1", "R", 1.7}, {"f2", "R", 3.8}, {"x", "R", 3.7},
                                            {"g1", "S", 1.8}, {"g2", "S", 3.9}, {"y", "S", 3.8}};
  const Ranking r = rank_applications(reviews, {"x", "y"});
  EXPECT_NEAR(*app(r, "x").calibrated_z, *app(r, "y").calibrated_z, kEps);
  EXPECT_EQ(order(r), (std::vector<std::string>{"y", "x"}));
}

TEST_F(RankingTest, ApplicationsWithoutReviewsRankLast) {
  const Ranking r = rank_applications(program(), {"z9", "a5", "a4", "a3", "a2", "a1", "a0", "a1"});
  EXPECT_EQ(order(r), (std::vector<std::string>{"a1", "a3", "a2", "a4", "a5", "a0", "z9"}));
  for (const auto& id : {"a0", "z9"}) {
    const auto& a = app(r, id);
    EXPECT_EQ(a.reviews, 0u);
    EXPECT_FALSE(a.calibrated_z.has_value());
    EXPECT_FALSE(a.calibrated.has_value());
    EXPECT_EQ(a.raw_mean, 0);
    EXPECT_FALSE(a.disagreement);
  }
  EXPECT_EQ(app(r, "a0").rank, 6);
  EXPECT_EQ(app(r, "z9").rank, 7);
}

TEST_F(RankingTest, ReviewsOfUnrankedApplicationsStillCalibrate) {
  // Ranking only a1 and a2, H's reviews of a3..a5 still make its 3 a +1.
  const Ranking r = rank_applications(program(), {"a1", "a2"});
  EXPECT_EQ(order(r), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_NEAR(*app(r, "a1").calibrated_z, 1, kEps);
  EXPECT_NEAR(*app(r, "a2").calibrated_z, 0, kEps);
  EXPECT_EQ(r.reviews, 12u);
  EXPECT_NEAR(r.program_mean, 10.0 / 3, kEps);
  EXPECT_EQ(reviewer(r, "H").count, 4u);

  // Without them each reviewer has 1 review and falls back: program {3,4,4},
  // mu 11/3, var 41/3 - 121/9 = 2/9, sd sqrt(2)/3. a1: (3 - 11/3)/(sqrt(2)/3)
  // = -sqrt(2); a2: both 4s -> (1/3)/(sqrt(2)/3) = 1/sqrt(2). The order flips.
  const Ranking alone =
      rank_applications({{"a1", "H", 3}, {"a2", "L", 4}, {"a2", "M", 4}}, {"a1", "a2"});
  EXPECT_EQ(order(alone), (std::vector<std::string>{"a2", "a1"}));
  EXPECT_NEAR(*app(alone, "a1").calibrated_z, -std::sqrt(2.0), kEps);
  EXPECT_NEAR(*app(alone, "a2").calibrated_z, 1 / std::sqrt(2.0), kEps);
}

TEST_F(RankingTest, NonFiniteScoresAreIgnored) {
  auto reviews = program();
  reviews.push_back({"a1", "X", std::numeric_limits<double>::quiet_NaN()});
  reviews.push_back({"a2", "L", std::numeric_limits<double>::infinity()});
  reviews.push_back({"a3", "M", -std::numeric_limits<double>::infinity()});
  const Ranking r = rank_applications(reviews, kApps);
  expect_same(r, rank_applications(program(), kApps));
  EXPECT_EQ(r.reviews, 12u);
  EXPECT_EQ(app(r, "a1").reviews, 1u);
  EXPECT_EQ(r.reviewers.size(), 3u);  // X wrote nothing usable
}

TEST_F(RankingTest, DeterministicUnderShuffledInput) {
  // Scores with many binary digits, so that a different summation order
  // would show in the last bits.
  std::mt19937 gen(20240611);
  std::uniform_real_distribution<double> score(1, 5);
  std::vector<ReviewScore> reviews;
  std::vector<std::string> apps;
  for (int a = 0; a < 15; ++a) {
    apps.push_back("app-" + std::to_string(a));
    for (int k = 0; k < 3; ++k)
      reviews.push_back({apps.back(), "rev-" + std::to_string((a + k * 2) % 6), score(gen)});
  }
  reviews.push_back({"unranked", "rev-1", score(gen)});
  const Ranking first = rank_applications(reviews, apps);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(reviews.begin(), reviews.end(), gen);
    std::shuffle(apps.begin(), apps.end(), gen);
    expect_same(first, rank_applications(reviews, apps));
  }
}

TEST(WeightedScore, WeightsTheCriteria) {
  const std::vector<RubricCriterion> rubric = {{"research_potential", 2, 1, 5},
                                               {"motivation", 1, 1, 5}};
  // (2 * 4 + 1 * 3) / (2 + 1) = 11/3
  EXPECT_NEAR(*weighted_score(rubric, json{{"research_potential", 4}, {"motivation", 3}}), 11.0 / 3,
              kEps);
  // members that are not criteria do not count
  EXPECT_NEAR(*weighted_score(rubric, json{{"research_potential", 4}, {"motivation", 3}, {"x", 1}}),
              11.0 / 3, kEps);
  // (2 * 4.5 + 1 * 2) / 3 = 11/3 as well, from floating scores
  EXPECT_NEAR(*weighted_score(rubric, json{{"research_potential", 4.5}, {"motivation", 2.0}}),
              11.0 / 3, kEps);
}

TEST(WeightedScore, NulloptWhenItCannotBeComputed) {
  const std::vector<RubricCriterion> rubric = {{"research_potential", 2, 1, 5},
                                               {"motivation", 1, 1, 5}};
  EXPECT_FALSE(weighted_score(rubric, json{{"research_potential", 4}}));
  EXPECT_FALSE(weighted_score(rubric, json{{"research_potential", 4}, {"motivation", "3"}}));
  EXPECT_FALSE(weighted_score(rubric, json{{"research_potential", 4}, {"motivation", true}}));
  EXPECT_FALSE(weighted_score(rubric, json{{"research_potential", 4}, {"motivation", nullptr}}));
  EXPECT_FALSE(weighted_score(
      rubric,
      json{{"research_potential", 4}, {"motivation", std::numeric_limits<double>::quiet_NaN()}}));
  EXPECT_FALSE(weighted_score(rubric, json::array({4, 3})));
  EXPECT_FALSE(weighted_score(rubric, json()));
  EXPECT_FALSE(weighted_score({}, json{{"motivation", 3}}));
  EXPECT_FALSE(weighted_score({{"a", 0, 1, 5}, {"b", 0, 1, 5}}, json{{"a", 3}, {"b", 4}}));
  EXPECT_FALSE(weighted_score({{"a", -1, 1, 5}, {"b", 2, 1, 5}}, json{{"a", 3}, {"b", 4}}));
  EXPECT_FALSE(weighted_score({{"a", 1, 5, 5}}, json{{"a", 5}}));  // empty scale
}

TEST(WeightedScore, MapsOtherScalesOntoTheFirst) {
  // b on [0, 10] -> [1, 5]: 1 + (5 - 0)/10 * 4 = 3; (1 * 5 + 3 * 3)/4 = 3.5
  EXPECT_NEAR(*weighted_score({{"a", 1, 1, 5}, {"b", 3, 0, 10}}, json{{"a", 5}, {"b", 5}}), 3.5,
              kEps);
  // The result is on the first criterion's scale: y on [1, 5] -> [0, 100]:
  // 0 + (5 - 1)/4 * 100 = 100; (50 + 100)/2 = 75
  EXPECT_NEAR(*weighted_score({{"x", 1, 0, 100}, {"y", 1, 1, 5}}, json{{"x", 50}, {"y", 5}}), 75,
              kEps);
  // A zero weight still needs its score, and contributes nothing: 4
  EXPECT_NEAR(*weighted_score({{"a", 1, 1, 5}, {"b", 0, 0, 10}}, json{{"a", 4}, {"b", 10}}), 4,
              kEps);
}

}  // namespace
}  // namespace stagewise::reviews
