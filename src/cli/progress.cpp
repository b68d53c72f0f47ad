#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace stagewise::cli {

using Clock = std::chrono::steady_clock;

ProgressBar::ProgressBar(ProgressUnit unit, bool enabled)
    : unit_(std::move(unit)),
      active_(enabled && ::isatty(STDERR_FILENO) == 1),
      started_(Clock::now()) {}

void ProgressBar::update(uint64_t done, uint64_t total, std::string_view label,
                         std::string_view note) {
  if (!active_) return;
  const auto now = Clock::now();
  if (done < total && label == label_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  label_ = label;
  constexpr uint64_t kWidth = 30;
  const uint64_t filled = total == 0 ? 0 : kWidth * std::min(done, total) / total;
  std::string line(label);
  if (!line.empty()) line += " ";
  if (total > 0) line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
  char counts[96];
  const double d = static_cast<double>(done) / unit_.scale;
  const double t = static_cast<double>(total) / unit_.scale;
  const int decimals = unit_.scale == 1 ? 0 : 1;
  if (total > 0)
    std::snprintf(counts, sizeof counts, "%.*f/%.*f %s", decimals, d, decimals, t,
                  unit_.name.c_str());
  else
    std::snprintf(counts, sizeof counts, "%.*f %s", decimals, d, unit_.name.c_str());
  line += counts;
  const double seconds = std::chrono::duration<double>(now - started_).count();
  if (unit_.rate && seconds > 0) {
    char rate[48];
    std::snprintf(rate, sizeof rate, "  %.0f/s", static_cast<double>(done) / seconds);
    line += rate;
  }
  if (!note.empty()) line += "  " + std::string(note);
  draw(line);
}

void ProgressBar::text(std::string_view line) {
  if (active_) draw(std::string(line));
}

void ProgressBar::draw(const std::string& line) {
  // \033[K clears what a longer line before left behind.
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::end(bool keep) {
  if (!drawn_) return;
  std::fputs(keep ? "\n" : "\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace stagewise::cli
