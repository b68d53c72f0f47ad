// The histogram behind the latency metrics: buckets as Prometheus reads
// them, clocks that disagree, and many threads at once.
#include "common/histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <thread>
#include <vector>

namespace stagewise::metrics {
namespace {

TEST(Histogram, BucketsAreCumulativeWithTheirBoundsAsPrometheusPrintsThem) {
  Histogram h({0.0005, 0.25, 1, 2.5, 86400});
  for (const double v : {0.0001, 0.0005, 0.2, 0.9, 2.5, 3.0, 100000.0}) h.observe(v);
  std::ostringstream o;
  write_histogram(o, "x_seconds", "route=\"/a\"", h);
  const std::string text = o.str();
  const std::string buckets =
      "x_seconds_bucket{route=\"/a\",le=\"0.0005\"} 2\n"
      "x_seconds_bucket{route=\"/a\",le=\"0.25\"} 3\n"
      "x_seconds_bucket{route=\"/a\",le=\"1\"} 4\n"
      "x_seconds_bucket{route=\"/a\",le=\"2.5\"} 5\n"
      "x_seconds_bucket{route=\"/a\",le=\"86400\"} 6\n"
      "x_seconds_bucket{route=\"/a\",le=\"+Inf\"} 7\n"
      "x_seconds_sum{route=\"/a\"} ";
  EXPECT_EQ(text.substr(0, buckets.size()), buckets);
  EXPECT_TRUE(text.ends_with("\nx_seconds_count{route=\"/a\"} 7\n")) << text;
  EXPECT_NEAR(h.snapshot().sum, 100006.6006, 1e-6);
}

TEST(Histogram, WithoutLabels) {
  Histogram h({1});
  h.observe(2);
  std::ostringstream o;
  write_histogram(o, "y", "", h);
  EXPECT_EQ(o.str(), "y_bucket{le=\"1\"} 0\ny_bucket{le=\"+Inf\"} 1\ny_sum 2\ny_count 1\n");
}

// A back-dated event or a sender's clock ahead of ours: counted as 0, never
// a negative sum.
TEST(Histogram, NegativeAndNotANumberCountAsZero) {
  Histogram h({0.01, 1});
  h.observe(-3600);
  h.observe(std::numeric_limits<double>::quiet_NaN());
  h.observe(0.5);
  const auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 3, 3}));
  EXPECT_EQ(s.count(), 3u);
  EXPECT_DOUBLE_EQ(s.sum, 0.5);
}

TEST(Histogram, ManyThreadsLoseNoObservation) {
  Histogram h({0.001, 0.01, 0.1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 20000; ++i) h.observe(0.0001 * ((i + t) % 1000));
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.snapshot().count(), 80000u);
}

TEST(Exposition, LabelValuesAndNumbers) {
  EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(0.0005), "0.0005");
  EXPECT_EQ(format_value(604800), "604800");
  EXPECT_EQ(format_value(9.8053e-05), "9.8053e-05");
  EXPECT_EQ(format_value(1e21), "1e+21");
}

}  // namespace
}  // namespace stagewise::metrics
