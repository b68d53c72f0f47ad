#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace stagewise::cli {

/// How a ProgressBar counts.
struct ProgressUnit {
  std::string name = "events";  ///< after the counts: "events", "MB", "applications"
  double scale = 1;             ///< counts are divided by this (1e6: bytes shown as MB)
  bool rate = true;             ///< show the rate per second
};

/// Progress of long work on one line of stderr, redrawn in place (`\r`),
/// only when stderr is a terminal: `label [#####.....] 1200/4000 events
/// 850/s note`. Redrawn at most every 100 ms, and always when done reaches
/// the total or the label changes. Not thread-safe: one thread draws.
class ProgressBar {
 public:
  /// `enabled` false (e.g. with --json) draws nothing, as without a terminal.
  explicit ProgressBar(ProgressUnit unit = {}, bool enabled = true);
  ~ProgressBar() { end(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// The bar; `total` 0 shows the count alone.
  void update(uint64_t done, uint64_t total, std::string_view label = "",
              std::string_view note = "");
  /// A step without a measurable total: a line of text.
  void text(std::string_view line);
  /// Clears the line, or ends it with a newline when `keep`.
  void end(bool keep = false);
  /// Whether it draws at all (stderr is a terminal and it is enabled).
  bool active() const { return active_; }

 private:
  void draw(const std::string& line);

  ProgressUnit unit_;
  bool active_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_{};
  std::string label_;
};

}  // namespace stagewise::cli
