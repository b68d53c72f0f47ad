#include "common/time.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace stagewise {
namespace {

// Howard Hinnant's days_from_civil.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at s[pos]; advances pos.
bool digits(std::string_view s, size_t& pos, size_t n, int64_t& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<int64_t> parse_rfc3339_ms(std::string_view s) {
  size_t p = 0;
  int64_t year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (!digits(s, p, 4, year) || !expect(s, p, '-') || !digits(s, p, 2, mon) || !expect(s, p, '-') ||
      !digits(s, p, 2, day))
    return std::nullopt;
  if (p >= s.size() || (s[p] != 'T' && s[p] != 't')) return std::nullopt;
  ++p;
  if (!digits(s, p, 2, hour) || !expect(s, p, ':') || !digits(s, p, 2, min) || !expect(s, p, ':') ||
      !digits(s, p, 2, sec))
    return std::nullopt;
  if (mon < 1 || mon > 12 || day < 1 ||
      day > static_cast<int64_t>(days_in_month(year, static_cast<unsigned>(mon))) || hour > 23 ||
      min > 59 || sec > 60)
    return std::nullopt;
  int64_t frac_ms = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    const size_t start = p;
    int64_t scale = 100;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      frac_ms += (s[p] - '0') * scale;
      scale /= 10;
      ++p;
    }
    if (p == start) return std::nullopt;
  }
  if (p >= s.size()) return std::nullopt;
  int64_t offset_min = 0;
  if (s[p] == 'Z' || s[p] == 'z') {
    ++p;
  } else if (s[p] == '+' || s[p] == '-') {
    const int sign = s[p] == '+' ? 1 : -1;
    ++p;
    int64_t oh = 0, om = 0;
    if (!digits(s, p, 2, oh) || !expect(s, p, ':') || !digits(s, p, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_min = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (p != s.size()) return std::nullopt;
  if (sec == 60) sec = 59;  // leap second: clamp, as most systems do
  const int64_t days =
      days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day));
  const int64_t secs = days * 86400 + hour * 3600 + min * 60 + sec - offset_min * 60;
  return secs * 1000 + frac_ms;
}

std::string format_rfc3339_ms(int64_t ms) {
  // RFC 3339 years are 0000-9999; beyond them (a corrupt or hostile
  // timestamp) the nearest representable instant is shown, and the
  // arithmetic below cannot overflow.
  constexpr int64_t kMin = -62'167'219'200'000, kMax = 253'402'300'799'999;
  ms = std::clamp(ms, kMin, kMax);
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const int64_t rem_ms = ms - secs * 1000;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const int64_t sod = secs - days * 86400;
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[80];
  if (rem_ms != 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                  static_cast<long long>(y), m, d, static_cast<long long>(sod / 3600),
                  static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60),
                  static_cast<long long>(rem_ms));
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                  static_cast<long long>(y), m, d, static_cast<long long>(sod / 3600),
                  static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60));
  }
  return buf;
}

std::optional<int64_t> parse_iso8601_duration_ms(std::string_view s) {
  if (s.size() < 2 || s[0] != 'P') return std::nullopt;
  size_t p = 1;
  bool in_time = false, any = false;
  double total_s = 0;
  char last_unit = 0;
  while (p < s.size()) {
    if (s[p] == 'T') {
      if (in_time) return std::nullopt;
      in_time = true;
      ++p;
      if (p == s.size()) return std::nullopt;
      continue;
    }
    const size_t start = p;
    while (p < s.size() && ((s[p] >= '0' && s[p] <= '9') || s[p] == '.')) ++p;
    if (p == start || p == s.size()) return std::nullopt;
    const std::string num(s.substr(start, p - start));
    if (num.find('.') != std::string::npos && (s[p] != 'S' || !in_time)) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size()) return std::nullopt;
    const char unit = s[p++];
    double mult = 0;
    if (!in_time && unit == 'W')
      mult = 7 * 86400.0;
    else if (!in_time && unit == 'D')
      mult = 86400.0;
    else if (in_time && unit == 'H')
      mult = 3600.0;
    else if (in_time && unit == 'M')
      mult = 60.0;
    else if (in_time && unit == 'S')
      mult = 1.0;
    else
      return std::nullopt;  // years, months, or a unit out of place
    // Units must come in order (W, D, then H, M, S).
    static constexpr std::string_view kOrder = "WDHMS";
    if (last_unit != 0 && kOrder.find(unit) <= kOrder.find(last_unit)) return std::nullopt;
    last_unit = unit;
    total_s += v * mult;
    any = true;
  }
  if (!any) return std::nullopt;
  // Past ~292 million years an int64 of milliseconds overflows: refused,
  // never converted (that would be undefined behaviour).
  if (!(total_s * 1000.0 < 9.0e18)) return std::nullopt;
  return static_cast<int64_t>(total_s * 1000.0 + 0.5);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace stagewise
