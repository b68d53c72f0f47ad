#pragma once

#include "reviews/pool.h"
#include "store/store.h"
#include "workflow/workflow.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

namespace stagewise::processor {

struct ConflictWatchStats {
  /// Assigned reviewers who conflict with their application now (this
  /// process's applications in non-terminal stages), as of the last check.
  std::atomic<uint64_t> flagged{0};
  /// Such conflicts found after the assignment (a profile changed since).
  std::atomic<uint64_t> found{0};
  std::atomic<uint64_t> checks{0};
};

/// Looks for conflicts of interest that came up after a reviewer was
/// assigned (DESIGN.md §12): the engine refuses a conflicted assignment, but
/// a profile updated later (the reviewer's or the applicant's) can make an
/// assignment conflicted. Rechecks every assigned reviewer of this process's
/// applications in non-terminal stages when the reviewer pool changed or poke()
/// says an assigned application's profile did, at most once per `interval`.
/// The application view shows the same conflicts (`conflicts_flagged`).
///
/// Cost: one read of every application in a non-terminal stage per check.
/// Thread safety: poke() and stats() from any thread.
class ConflictWatch {
 public:
  ConflictWatch(const workflow::Registry& registry, const store::Store& store,
                const reviews::ReviewerPool& pool, std::chrono::milliseconds interval);
  ~ConflictWatch();
  ConflictWatch(const ConflictWatch&) = delete;
  ConflictWatch& operator=(const ConflictWatch&) = delete;

  void start();
  void stop();
  /// An assigned application's profile changed: check again.
  void poke();
  /// Checks now, on the caller's thread (tests).
  void check();
  const ConflictWatchStats& stats() const { return stats_; }

 private:
  void run();

  const workflow::Registry& registry_;
  const store::Store& store_;
  const reviews::ReviewerPool& pool_;
  const std::chrono::milliseconds interval_;
  ConflictWatchStats stats_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool poked_ = true;  // the first check runs at start
  uint64_t pool_version_ = 0;
  std::mutex check_mu_;
  std::set<std::pair<std::string, std::string>> flagged_;  // (application, reviewer)
  std::thread thread_;
};

}  // namespace stagewise::processor
