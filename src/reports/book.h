#pragma once

// The reports' copy of the applications this process serves (DESIGN.md
// §13): one Row per application, in memory, so that a report over 100,000
// applications reads rows, not RocksDB. Loaded from the store partition by
// partition when first needed (and again when a partition changed hands),
// and kept current by the processor after each commit.

#include "common/result.h"
#include "reports/row.h"
#include "store/store.h"
#include "workflow/workflow.h"

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace stagewise::reports {

/// Thread safety: every member may be called from any thread.
class Book {
 public:
  /// Keeps `row` unless the copy held is newer (a larger sequence).
  void put(Row row, const store::Store& store);
  /// Calls `each` on every row of `program`, under a shared lock (writers
  /// wait meanwhile: keep it short).
  void each(const std::string& program, const std::function<void(const Row&)>& each) const;
  /// Brings the book level with what `store` serves: loads the partitions it
  /// serves that were never loaded or changed hands since (their lineage's
  /// epoch moved), forgets the rows of the ones it does not serve. Loading
  /// reads every application of the partition once (the first report after
  /// a start pays it; docs/reports.md gives the figures).
  Result<void> refresh(const store::Store& store, const workflow::Registry& registry);
  size_t size() const;

 private:
  struct Held {
    Row row;
    int32_t partition = -1;  ///< -1: the store serves every partition
  };
  static int32_t partition_key(const store::Store& store, const std::string& id);
  void keep(Row&& row, int32_t partition);
  Result<void> load(const store::Store& store, const workflow::Registry& registry,
                    int32_t partition);
  void forget(int32_t partition);
  void forget_unless(const std::map<int32_t, uint64_t>& want);

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::unordered_map<std::string, Held>> programs_;
  std::mutex refresh_mu_;
  std::map<int32_t, uint64_t> loaded_;  ///< partition -> its lineage epoch when loaded
};

/// The stays of an application stored before stays were recorded, read
/// from its history (each event that moved it, with the event's time).
std::vector<workflow::StageStay> stays_from_history(
    const std::vector<store::HistoryEntry>& history);

}  // namespace stagewise::reports
