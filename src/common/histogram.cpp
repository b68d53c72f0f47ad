#include "common/histogram.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace stagewise::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double value) noexcept {
  if (!(value > 0)) value = 0;  // negative or NaN
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[static_cast<size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Plain decimals where they are short, as the Go client prints bounds
  // ("0.0005", "86400"): `le` values are matched as text in queries.
  const double mag = std::abs(value);
  const auto fmt = value == 0 || (mag >= 1e-4 && mag < 1e21) ? std::chars_format::fixed
                                                             : std::chars_format::scientific;
  std::array<char, 64> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), value, fmt);
  return std::string(buf.data(), r.ptr);
}

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void write_family(std::ostream& o, std::string_view name, std::string_view type,
                  std::string_view help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void write_histogram(std::ostream& o, std::string_view name, std::string_view labels,
                     const Histogram& h) {
  const auto s = h.snapshot();
  const std::string sep = labels.empty() ? "" : ",";
  const auto& bounds = h.bounds();
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    const std::string le = i < bounds.size() ? format_value(bounds[i]) : "+Inf";
    o << name << "_bucket{" << labels << sep << "le=\"" << le << "\"} " << s.cumulative[i] << '\n';
  }
  const std::string braced = labels.empty() ? "" : "{" + std::string(labels) + "}";
  o << name << "_sum" << braced << ' ' << format_value(s.sum) << '\n'
    << name << "_count" << braced << ' ' << s.count() << '\n';
}

}  // namespace stagewise::metrics
