#pragma once

// What a Batch holds until Store::commit resolves it. Internal to src/store/.

#include "common/partition.h"
#include "store/detail/data_keys.h"
#include "store/store.h"

#include <rocksdb/write_batch.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace stagewise::store {

struct Batch::Pending {
  rocksdb::WriteBatch wb;
  std::vector<rocksdb::ColumnFamilyHandle*> cf;
  std::string scratch;                   // encoding buffer, reused
  std::vector<OutboxRecord> outbox;      // numbered at commit, in commit order
  std::vector<std::string> seen;         // dedupe keys, numbered at commit
  std::vector<std::string> intake_done;  // intake keys, resolved at commit
  // Timer changes, resolved at commit: cancelled applications (their
  // committed timers go) and timers added after any cancel in this batch.
  std::set<std::string> timer_cancels;
  std::map<std::string, std::vector<TimerRecord>> timer_adds;
  std::vector<DeadLetter> dead_letters;  // numbered at commit
  std::set<std::string> erased;          // applications whose dead letters lose their originals
  std::vector<std::string> withheld;     // dead letters that lost theirs: shredded after commit
  struct Park {
    uint64_t seq;
    std::string reason;
    int64_t time_ms;
  };
  std::vector<Park> parks;  // resolved at commit

  // The audit: history entries sealed in their chains, written at commit
  // under the round number the commit assigns; the partition count when
  // the batch was made.
  std::vector<SealedEntry> sealed;
  int32_t audit_n = 0;

  // Personal data at rest (data_keys.h): the store's keys when it seals;
  // data keys made in this batch (written wrapped in `wb`) and destroyed.
  const detail::DataKeys* keys = nullptr;
  std::map<std::string, std::string> made_keys;
  std::set<std::string> destroyed_keys;

  // Mirroring (Store::mirror_to), fixed when the batch is made: the
  // partition count and the input topic; then what the batch changes per
  // partition, turned into Bundles at commit.
  int32_t mirror_n = 0;
  std::string input_topic;
  std::map<int32_t, std::vector<ChangelogEntry>> mirror;
  std::map<std::string, int32_t> timer_apps;  // applications whose timers change
  std::vector<TimerRecord> timer_deletes;
  std::map<int32_t, int64_t> positions;  // of the input topic

  int32_t mirror_partition(const std::string& application) {
    return partition_of(application, mirror_n);
  }
  void clear() {
    wb.Clear();
    outbox.clear();
    seen.clear();
    intake_done.clear();
    timer_cancels.clear();
    timer_adds.clear();
    dead_letters.clear();
    erased.clear();
    withheld.clear();
    parks.clear();
    sealed.clear();
    made_keys.clear();
    destroyed_keys.clear();
    mirror.clear();
    timer_apps.clear();
    timer_deletes.clear();
    positions.clear();
  }
};

}  // namespace stagewise::store
