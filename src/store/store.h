#pragma once

#include "audit/chain.h"
#include "common/cloudevent.h"
#include "common/result.h"
#include "workflow/engine.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
class CompactionFilter;
}  // namespace rocksdb

namespace stagewise::store {

namespace detail {
class DataKeys;
}

/// One applied event in an application's history: what happened and why the
/// stage moved (or did not).
struct HistoryEntry {
  uint64_t sequence = 0;
  std::string id;  ///< the input event's id
  std::string source;
  std::string type;
  std::string time;
  std::string actorid;
  std::string actorrole;
  /// Who was authenticated (DESIGN.md §11): the token's sub and role for
  /// events from the HTTP intake (a service's, when a service acted as
  /// `actorrole`), stagewise's own for its timers; empty for events a Kafka
  /// producer sent (trusted by its `source`).
  std::string authsub;
  std::string authrole;
  std::optional<std::string> from;  ///< nullopt when the event created the application
  std::string to;
  int transition = -1;  ///< index of the transition that fired, -1 when none
  std::string note;     ///< why nothing moved, when that needs saying (stale deadline)
  nlohmann::json data;  ///< the event's data as received
  std::string topic;    ///< where it was read (empty for events not from Kafka)
  int32_t partition = -1;
  int64_t offset = -1;
  /// Set when read back (DESIGN.md §14): the audit round that sealed the
  /// entry and its chain hash; 0 and empty for entries from before the audit.
  uint64_t round = 0;
  std::string chain;
};

nlohmann::json to_json(const HistoryEntry& h);

/// A history entry sealed into its application's hash chain (Batch::seal),
/// ready to be added.
struct SealedEntry {
  std::string application;
  uint64_t sequence = 0;
  std::string chain;  ///< its chain hash: the application's new head
  std::string body;   ///< the encoded entry, which the chain hash covers
};

/// A history entry as stored, for the audit's checks: the bytes its chain
/// hash covers, and what sealed it.
struct StoredEntry {
  uint64_t sequence = 0;
  bool sealed = false;   ///< false: written before the audit existed
  bool readable = true;  ///< false: the value is not a history entry at all
  uint64_t round = 0;
  std::string chain;
  std::string body;
};

/// A message waiting to be published. Written in the same batch as the
/// state change that produced it; removed once the broker acknowledged it.
struct OutboxRecord {
  uint64_t seq = 0;  ///< assigned by Batch::add_outbox
  std::string topic;
  std::string key;
  std::string value;
  Headers headers;
  int32_t partition = -1;  ///< -1: the key picks it
  /// A changelog Bundle (changelog.h) the relay sends as one message per
  /// entry, then the marker, to `partition`.
  bool bundle = false;
};

/// A rejected input as kept in the store (GET /v1/deadletters/{id}): the
/// dead-letter event carries only an excerpt of the original, the store the
/// whole of it (up to Store::Options::deadletter_keep_bytes), so nothing is
/// lost even when the original is too large to publish again.
struct DeadLetter {
  uint64_t seq = 0;  ///< assigned at commit; the oldest go past the retention
  std::string id;    ///< deadletter/TOPIC/PARTITION/OFFSET, as published
  std::string reason;
  std::string message;
  std::string event_id;  ///< when it could be read
  std::string subject;   ///< the application, when it could be read
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t time_ms = 0;  ///< when it was rejected
  uint64_t length = 0;  ///< bytes of the original value
  std::string sha256;   ///< of the original value
  std::string key;
  Headers headers;
  bool kept = false;     ///< `original` holds the whole value
  std::string original;  ///< the value, when kept
};

/// An outbox record the broker refused for good (too large, invalid): set
/// aside, counted and kept here, so that it never blocks the records after
/// it (GET /v1/outbox/parked).
struct ParkedRecord {
  uint64_t seq = 0;  ///< its outbox seq
  OutboxRecord record;
  std::string reason;
  int64_t time_ms = 0;
};

/// An event accepted over HTTP: durable here from the 202 until the
/// processor has applied or rejected it (DESIGN.md §5.6).
struct IntakeRecord {
  uint64_t seq = 0;  ///< assigned by Store::intake_put
  std::string source;
  std::string id;
  std::string key;          ///< Kafka key (the application id)
  std::string value;        ///< the event, structured mode
  int64_t accepted_ms = 0;  ///< when the 202 was given: the timestamp it is produced with
};

/// A pending timer of an application, as stored: due time, the input
/// partition whose owner fires it, and what it is for.
struct TimerRecord {
  std::string application;
  std::string program;
  int32_t partition = 0;
  workflow::Timer timer;
};

/// Where the processor resumes one input partition.
struct InputPosition {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;
  bool operator==(const InputPosition&) const = default;
};

/// One key of a partition's state as mirrored.
struct ChangelogEntry {
  std::string key;
  std::optional<std::string> value;  ///< nullopt: deleted (a tombstone)
  bool operator==(const ChangelogEntry&) const = default;
};

/// Closes a round in the changelog: the state up to this marker is the
/// state its writer had committed with `next_offset` as the next input.
struct RoundMarker {
  std::string owner;         ///< the writing store's id
  uint64_t epoch = 0;        ///< grows each time the partition changes hands
  uint64_t round = 0;        ///< rounds mirrored within the epoch
  int64_t next_offset = -1;  ///< input offset to go on from; -1: none yet
  bool operator==(const RoundMarker&) const = default;
};

/// What one outbox record of the changelog carries: the messages of a round
/// of one partition (or a part of a re-seeding snapshot, without marker).
struct Bundle {
  int32_t partition = 0;
  uint64_t epoch = 0;
  std::vector<ChangelogEntry> entries;
  std::optional<RoundMarker> marker;
};

/// Where this process's copy of a partition stands: the epoch it owns it
/// in, the last round it committed (and mirrored, or will), the input
/// offset that round ended at.
struct Lineage {
  bool known = false;
  uint64_t epoch = 0;
  uint64_t round = 0;
  int64_t next_offset = -1;
  bool operator==(const Lineage&) const = default;
};

/// A set of writes committed atomically by Store::commit. Not thread-safe;
/// one batch belongs to one thread.
class Batch {
 public:
  Batch();
  ~Batch();
  Batch(Batch&&) noexcept;
  Batch& operator=(Batch&&) noexcept;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  /// Writes the application; `old_stage` (empty for a new application)
  /// is removed from the stage index and the new stage added. Returns its
  /// size as encode_application() counts it, or 0 (and writes nothing) when
  /// that is larger than `max_bytes`.
  size_t put_application(const workflow::Application& app, const std::string& old_stage,
                         size_t max_bytes = SIZE_MAX);
  /// put_application() in two steps, for a writer that changes an
  /// application several times in one batch and writes it once: encodes
  /// `app` into `out` and returns its size as `max_bytes` counts it (the
  /// encoding plus the seal's overhead; compression may store it smaller);
  /// put_encoded() then writes that encoding (sealing it in place) and
  /// moves the stage index from `old_stage`.
  size_t encode_application(const workflow::Application& app, std::string& out) const;
  void put_encoded(const workflow::Application& app, std::string& encoded,
                   const std::string& old_stage);
  /// The application an encode_application() encoding holds; false when
  /// `encoded` is not one.
  bool decode_application(std::string_view encoded, workflow::Application& out) const;
  /// Seals `entry` into the application's hash chain after `head` (its
  /// current head, empty when it has none); `head` becomes the entry's chain
  /// hash. Writes nothing: add_history does, and the commit puts it in the
  /// round it seals.
  SealedEntry seal(const std::string& application_id, const HistoryEntry& entry, std::string& head);
  void add_history(SealedEntry&& sealed);
  /// seal() and add_history() in one.
  void add_history(const std::string& application_id, const HistoryEntry& entry,
                   std::string& head) {
    add_history(seal(application_id, entry, head));
  }
  /// Records (source, id) as applied; Store::seen answers true from then on.
  void mark_seen(const std::string& source, const std::string& id);
  void set_input_position(const InputPosition& pos);
  void set_meta(const std::string& key, const std::string& value);
  /// Queues a message for the relay; its seq is assigned at commit.
  void add_outbox(OutboxRecord record);
  void delete_outbox(uint64_t seq);
  /// Removes outbox records first..last (inclusive) with one range delete.
  void delete_outbox_range(uint64_t first, uint64_t last);
  /// Drops every timer of the application, committed or added earlier in
  /// this batch (it left the stage they were for).
  void cancel_timers(const std::string& application);
  void add_timer(const TimerRecord& timer);
  /// Removes one fired timer.
  void delete_timer(const TimerRecord& timer);
  /// Writes reviewer `id`'s reference record (DESIGN.md §12; `value` is
  /// its JSON text, with a `revision`), mirrored to the changelog of the
  /// reviewer id's partition like an application.
  void put_reviewer(const std::string& id, const std::string& value);
  /// Marks an accepted intake event as processed (applied or rejected);
  /// nothing happens when it did not come through the intake.
  void intake_done(const std::string& source, const std::string& id);
  /// Keeps a rejected input (its seq is assigned at commit).
  void add_dead_letter(DeadLetter dead_letter);
  /// Drops the original bytes (and headers) of every kept dead letter of
  /// `application`, committed or in this batch: it was erased (DESIGN.md §14).
  void drop_dead_letter_originals(const std::string& application);
  /// Moves outbox record `seq` aside for good (resolved at commit; nothing
  /// happens when it is gone already).
  void park_outbox(uint64_t seq, const std::string& reason, int64_t time_ms);

  size_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  /// Forgets every write not yet committed (a round voided by a revoke).
  void clear();

 private:
  friend class Store;
  // Personal data at rest (sealing.cpp): the application's data key, made
  // when it has none; an erased application's key is destroyed.
  std::string data_key(const std::string& application_id);
  void seal_application(const workflow::Application& app, std::string& encoded);
  void destroy_data_key(const std::string& application_id);
  void forget_made_keys();
  struct Pending;
  std::unique_ptr<Pending> p_;
  size_t count_ = 0;
};

/// The only code that touches RocksDB (DESIGN.md §7). Column families:
/// applications, history, stage_index, outbox, dedupe, meta.
///
/// Thread safety: reads may run from any thread concurrently with one
/// writer; commit() is called by one thread at a time (the processor).
class Store {
 public:
  struct Options {
    bool sync = true;  ///< fsync the WAL on every commit
    bool read_only = false;
    uint64_t dedupe_retention = 1'000'000;    ///< (source, id) pairs remembered
    uint64_t deadletter_retention = 100'000;  ///< dead letters kept
    /// Bytes of committed outbox records held for the relay in memory;
    /// past it the relay reads them back from RocksDB.
    uint64_t outbox_tail_bytes = 64 << 20;
    /// The key-encryption key (privacy::kek_from_secret of the data dir's
    /// auth/data.secret): applications and their history's event data are
    /// then stored sealed under per-application data keys wrapped by it
    /// (DESIGN.md §14, docs/audit.md). Empty: written in clear, and sealed
    /// values cannot be read (an error says which key file is missing).
    std::string kek{};
  };

  /// Opens (creating when missing, unless read_only) the store in `dir`.
  static Result<std::unique_ptr<Store>> open(const std::string& dir, const Options& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// The application, or an error with code not_found.
  Result<workflow::Application> application(const std::string& id) const;
  /// The application's history, oldest first (empty when unknown).
  Result<std::vector<HistoryEntry>> history(const std::string& id) const;
  /// Application ids in one stage of a program, in id order, after `after`.
  Result<std::vector<std::string>> list_stage(const std::string& program, const std::string& stage,
                                              size_t limit, const std::string& after = "") const;
  /// Number of applications per stage of a program.
  Result<std::map<std::string, uint64_t>> stage_counts(const std::string& program) const;
  /// Every application of input partition `partition` (-1: every one this
  /// process serves), in id order; one that cannot be decoded is an error.
  Result<void> each_application(int32_t partition,
                                const std::function<void(workflow::Application&&)>& each) const;
  /// Whether (source, id) was applied (within the retention).
  Result<bool> seen(const std::string& source, const std::string& id) const;
  /// Every stored input position.
  Result<std::vector<InputPosition>> input_positions() const;
  Result<std::string> meta(const std::string& key) const;
  /// Up to `max` outbox records with seq > `after`, oldest first.
  Result<std::vector<OutboxRecord>> outbox(size_t max, uint64_t after = 0) const;
  /// The outbox records committed since the last call, in seq order, up to
  /// `max` (the relay's fast path: no read back from RocksDB). Kept from the
  /// first call on, for one reader. Returns false when some were dropped
  /// because the reader fell too far behind: read them with outbox() then.
  bool take_committed_outbox(size_t max, std::vector<OutboxRecord>& out);

  /// A dead letter kept in the store, not_found when unknown or past the
  /// retention.
  Result<DeadLetter> dead_letter(const std::string& id) const;
  /// Kept dead letters, newest first, with seq < `before` (0: from the newest).
  Result<std::vector<DeadLetter>> dead_letters(size_t max, uint64_t before = 0) const;
  /// Parked outbox records, oldest first, with seq > `after`.
  Result<std::vector<ParkedRecord>> parked(size_t max, uint64_t after = 0) const;
  /// Number of parked outbox records (exact; kept in memory).
  uint64_t parked_count() const { return parked_count_.load(); }

  /// Timers of `partition` due at or before `until_ms`, soonest first.
  Result<std::vector<TimerRecord>> due_timers(int32_t partition, int64_t until_ms,
                                              size_t max) const;
  /// Due time of the soonest timer of `partition`, not_found when none.
  Result<int64_t> next_due(int32_t partition) const;
  /// Pending timers of one application, soonest first.
  Result<std::vector<TimerRecord>> timers_of(const std::string& application) const;
  /// Pending timers of every partition due before `until_ms` (for listings;
  /// scans that window).
  Result<std::vector<TimerRecord>> timers_due_before(int64_t until_ms, size_t max) const;
  /// Approximate number of pending timers (RocksDB's estimate).
  uint64_t timers_pending_estimate() const;

  /// Writes accepted events durably (fsync, whatever Options::sync says);
  /// assigns their seq. An event (source, id) already pending, or repeated
  /// in `records`, keeps its one record and seq: a retry never orphans one.
  Result<void> intake_put(std::vector<IntakeRecord>& records);
  /// Up to `max` intake records with seq > `after`, oldest first.
  Result<std::vector<IntakeRecord>> intake_pending(size_t max, uint64_t after = 0) const;
  /// Intake records not yet processed (kept in memory; exact).
  uint64_t intake_count() const { return intake_count_.load(); }

  /// The seq of the newest committed outbox record (0: none yet).
  uint64_t last_outbox_seq() {
    std::lock_guard lock(commit_mu_);
    return next_outbox_seq_ - 1;
  }
  /// Starts a batch whose outbox records get sequence numbers from this store.
  Batch batch();
  /// Writes the batch atomically (and durably when Options::sync, unless
  /// `sync` is false). Thread-safe.
  Result<void> commit(Batch& batch, bool sync = true);

  /// Compacts every column family now (RocksDB does it on its own as data
  /// grows); dedupe ids out of the retention are dropped on the way.
  Result<void> compact();

  /// Approximate size of the data on disk, in bytes.
  uint64_t disk_bytes() const;

  // ---- Reference data (DESIGN.md §12): every reviewer, in every process ----
  // Not partitioned: each store keeps a copy of every reviewer (its own
  // commits, and what the reviewers topic brings); a copy with a larger
  // `revision` replaces an older one, never the reverse.
  /// Reviewer `id`'s record (JSON text), not_found when none is stored.
  Result<std::string> reviewer(const std::string& id) const;
  /// Every stored reviewer record, in id order.
  Result<void> reviewers(
      const std::function<void(const std::string& id, std::string&& value)>& each) const;
  /// Stores a copy read from the reviewers topic when it is newer than the
  /// one stored (durably, whatever Options::sync says); true when kept.
  Result<bool> keep_reviewer(const std::string& id, const std::string& value);

  // ---- Partitions and the changelog (DESIGN.md §9, docs/scale-out.md) ----

  /// The input topic's partition count: applications live in
  /// partition_of(id, n). 0 (the default) until set.
  void set_partitions(int32_t n) { partitions_ = n; }
  int32_t partitions() const { return partitions_.load(); }
  /// From now on every commit that changes a partition's state (its
  /// applications, history, timers, or `input_topic` position) also queues
  /// that change for `changelog_topic`: one Bundle outbox record per
  /// partition and commit, after the commit's other records, closed by a
  /// RoundMarker. Call before the batches to mirror are made.
  void mirror_to(const std::string& changelog_topic, const std::string& input_topic);
  bool mirroring() const { return !changelog_topic_.empty(); }
  /// This store's id (made at its creation, kept): the owner in markers.
  const std::string& id() const { return id_; }
  /// Where this copy of `partition` stands (known false when never owned).
  Lineage lineage(int32_t partition) const;
  /// The partitions this process serves and applies now. Reads of an
  /// application of any other partition answer `unavailable` (a stale copy
  /// is never served). Until the first call every application is served.
  void set_owned(const std::vector<int32_t>& partitions);
  bool owns(std::string_view application_id) const;
  /// True until set_owned is first called: this process serves everything.
  bool serves_every_partition() const { return !owned_set_.load(); }
  bool owns_partition(int32_t partition) const;
  std::vector<int32_t> owned() const;
  /// Whether anything of `partition` is stored: an application, a timer or
  /// an input position of the input topic.
  Result<bool> holds(int32_t partition, const std::string& input_topic) const;
  /// Deletes this copy of `partition`: its applications, their history and
  /// stage index entries, timers, input position and lineage.
  Result<void> drop_partition(int32_t partition, const std::string& input_topic);
  /// Writes changelog entries of `partition` read back from the topic, in
  /// their order (a restore); dedupe ids are rebuilt from history entries.
  Result<void> restore_entries(const std::vector<ChangelogEntry>& entries);
  /// Ends a restore: `partition`'s lineage and its input position become
  /// those of `lineage`, durably.
  Result<void> set_lineage(int32_t partition, const std::string& input_topic,
                           const Lineage& lineage);
  /// The whole state of `partition` as changelog entries, in key order (a
  /// snapshot re-seeds the changelog with it).
  Result<void> scan_partition(int32_t partition,
                              const std::function<void(ChangelogEntry&&)>& each) const;
  /// Queues `entries` (a snapshot of `partition`, in parts of at most
  /// `part_bytes`) for the changelog under a new epoch, closed by a marker,
  /// and makes that the partition's lineage; atomically.
  Result<void> reseed(int32_t partition, const std::string& input_topic,
                      std::vector<ChangelogEntry> entries, uint64_t epoch, int64_t next_offset,
                      size_t part_bytes = 1 << 20);

  // ---- The audit (DESIGN.md §14, src/audit/, docs/audit.md) ----
  // Every commit that adds history seals it, per partition, in an
  // audit::Round whose digest chains to the partition's previous one.

  /// The stored history values of `id`, in sequence order.
  Result<void> stored_history(const std::string& id,
                              const std::function<void(StoredEntry&&)>& each) const;
  /// One stored history value; not_found when there is none.
  Result<StoredEntry> stored_entry(const std::string& id, uint64_t sequence) const;
  /// The rounds of `partition` numbered above `after`, in order, up to `max`.
  Result<void> audit_rounds(int32_t partition, uint64_t after, size_t max,
                            const std::function<void(audit::Round&&)>& each) const;
  /// Round `number` of `partition`; not_found when there is none.
  Result<audit::Round> audit_round(int32_t partition, uint64_t number) const;
  /// The latest round of every partition this process serves that has one,
  /// in partition order.
  Result<std::vector<audit::Round>> audit_tips() const;
  /// Every partition with audit rounds stored, served or not.
  Result<std::vector<int32_t>> audit_partitions() const;
  /// From now on each round's seal is also published to `topic` (one
  /// message per partition and round, keyed by the partition).
  void publish_audit_to(const std::string& topic) { audit_topic_ = topic; }

  // ---- Backups (issue 15; checkpoint.cpp) ----
  /// Writes a consistent copy of the whole store into `dir`, which must not
  /// exist (its parent must), with RocksDB's Checkpoint: table files are
  /// hard-linked when `dir` is on the same file system, copied otherwise,
  /// and the write-ahead log is copied, so the copy holds every commit
  /// finished before the call and none begun after it (state, history,
  /// offsets: each commit is one atomic batch). Safe while another thread
  /// commits. Not on a read-only store. Returns the copy's sequence number.
  Result<uint64_t> checkpoint(const std::string& dir) const;

  /// Tests: the `n`-th commit from now fails with an I/O error, as a full or
  /// failing disk would make it.
  void fail_commit_after(int n) { fail_commits_ = n; }

 private:
  Store() = default;
  Result<void> open_dedupe();
  Result<void> open_partitions();
  void forget_applied(rocksdb::WriteBatch& wb, const std::string& id) const;
  Result<std::vector<HistoryEntry>> read_history(const std::string& id) const;  // any partition
  // Keys a restore writes (changelog "k/ID"), read before the store's own.
  using RestoredKeys = std::map<std::string, std::optional<std::string>>;
  /// An application as stored (sealed, current or legacy encoding).
  Result<workflow::Application> read_application(std::string_view bytes, const std::string& id,
                                                 const RestoredKeys* restoring = nullptr) const;
  /// Opens a history entry's sealed data in place; "erased" when its key is gone.
  Result<void> open_history_data(const std::string& id, HistoryEntry& h,
                                 const std::string& sealed_data,
                                 std::optional<std::optional<std::string>>& key) const;
  Result<void> open_keys();
  Result<void> restore_data_key(rocksdb::WriteBatch& wb, const std::string& id,
                                const std::optional<std::string>& value);
  /// After a commit that destroyed data keys or withheld dead letters'
  /// originals: the old bytes leave the disk (memtables flushed, so the log
  /// that held them is dropped; the keys column family and those dead
  /// letters' keys compacted).
  void shred(const std::vector<std::string>& dead_letter_keys);
  Result<void> restore_application(rocksdb::WriteBatch& wb, const std::string& id,
                                   const std::optional<std::string>& value,
                                   const RestoredKeys& keys);
  Result<void> restore_history(rocksdb::WriteBatch& wb, const std::string& id, uint64_t seq,
                               const std::optional<std::string>& value);
  Result<void> restore_reviewer(rocksdb::WriteBatch& wb, const std::string& id,
                                const std::optional<std::string>& value);
  Result<void> restore_timers(rocksdb::WriteBatch& wb, const std::string& id,
                              const std::optional<std::string>& value);
  Result<void> restore_audit(rocksdb::WriteBatch& wb, const std::string& key,
                             const std::optional<std::string>& value,
                             std::map<int32_t, uint64_t>& restored);
  Result<void> open_audit();
  Result<void> write_audit(Batch& batch, std::map<int32_t, audit::Round>& sealed);
  Result<std::optional<audit::Round>> audit_tip(int32_t partition) const;
  Error not_owned(std::string_view application_id) const;
  void set_dedupe_floor();
  Result<void> open_dead_letters();
  void set_deadletter_floor();
  void write_seen(Batch& batch);
  uint64_t resolve_intake(Batch& batch);
  void write_timers(Batch& batch);
  void write_dead_letters(Batch& batch);
  void withhold_originals(Batch& batch);
  uint64_t resolve_parks(Batch& batch);
  void write_outbox(Batch& batch);
  void hand_to_tail(std::vector<OutboxRecord>& records);
  Result<void> write_mirror(Batch& batch, std::map<int32_t, Lineage>& next);
  Result<std::string> final_timers(Batch& batch, const std::string& application) const;
  bool owns_locked(int32_t partition) const;

  std::mutex commit_mu_;
  /// Dedupe seqs below this are out of the retention (read by the
  /// compaction filter on RocksDB's threads, so declared before db_).
  std::atomic<uint64_t> dedupe_floor_{1};
  std::unique_ptr<rocksdb::CompactionFilter> dedupe_filter_;
  std::atomic<uint64_t> deadletter_floor_{1};  // likewise, for kept dead letters
  std::unique_ptr<rocksdb::CompactionFilter> deadletter_filter_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cf_;  // owned; destroyed before db_
  Options options_;
  uint64_t next_outbox_seq_ = 1;  // under commit_mu_
  std::mutex tail_mu_;
  bool tail_enabled_ = false;
  bool tail_overflowed_ = false;
  std::deque<OutboxRecord> tail_;     // committed, not yet taken
  uint64_t tail_bytes_ = 0;           // of the records in tail_
  uint64_t next_dedupe_seq_ = 1;      // under commit_mu_
  uint64_t next_deadletter_seq_ = 1;  // under commit_mu_
  std::atomic<uint64_t> parked_count_{0};
  std::atomic<int> fail_commits_{0};

  std::string id_;
  std::atomic<int32_t> partitions_{0};
  std::string changelog_topic_, input_topic_;  // set once, before mirroring batches
  mutable std::shared_mutex owned_mu_;
  std::atomic<bool> owned_set_{false};
  std::set<int32_t> owned_;
  mutable std::mutex lineage_mu_;
  std::map<int32_t, Lineage> lineage_;  // written under commit_mu_ too

  std::string audit_topic_;              // set once, before batches are made
  std::atomic<uint64_t> next_round_{1};  // audit round of the next batch
  std::map<int32_t, std::pair<uint64_t, std::string>> audit_tips_;  // number, digest; commit_mu_

  std::atomic<uint64_t> next_intake_seq_{1};
  std::atomic<uint64_t> intake_count_{0};

  std::unique_ptr<detail::DataKeys> keys_;  // never null once open
};

}  // namespace stagewise::store
