#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

/// The pieces of the Prometheus text exposition format (version 0.0.4)
/// that more than one component writes: histograms, label values, numbers.
namespace stagewise::metrics {

/// A Prometheus histogram with fixed buckets.
///
/// Thread safety: observe() from any number of threads at once, lock-free
/// (one relaxed atomic add per bucket, count and sum); snapshot() from any
/// thread. A snapshot taken during observations may have a sum a few
/// observations apart from its buckets; its count is always its +Inf bucket.
class Histogram {
 public:
  /// `bounds`: the buckets' upper bounds, ascending and finite; +Inf is
  /// implied.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  /// Counts `value` in the first bucket whose bound is >= it. Negative
  /// values (a clock behind another) and NaN count as 0.
  void observe(double value) noexcept;

  struct Snapshot {
    std::vector<uint64_t> cumulative;  ///< per bound, then +Inf (= the count)
    double sum = 0;
    uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), +Inf last
  std::atomic<double> sum_{0};
};

/// `value` as Prometheus reads it: the shortest exact form, "+Inf", "NaN".
std::string format_value(double value);

/// `value` escaped for a label: backslash, double quote and newline.
std::string escape_label(std::string_view value);

/// `# HELP` and `# TYPE` lines of a family.
void write_family(std::ostream& o, std::string_view name, std::string_view type,
                  std::string_view help);

/// The samples of one histogram series: `name_bucket{labels,le=...}`,
/// `name_sum{labels}`, `name_count{labels}`. `labels` is empty or
/// `a="x",b="y"` (escaped).
void write_histogram(std::ostream& o, std::string_view name, std::string_view labels,
                     const Histogram& h);

}  // namespace stagewise::metrics
