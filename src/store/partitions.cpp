// Store: what belongs to one input partition, and the changelog that
// mirrors it (DESIGN.md §9, docs/scale-out.md).
#include "common/partition.h"
#include "store/changelog.h"
#include "store/codec.h"
#include "store/detail/keys.h"
#include "store/detail/pending.h"
#include "store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <map>
#include <random>

namespace stagewise::store {
using namespace detail;  // NOLINT: the key layout is this file's vocabulary

namespace {

// Deletes and restores go in pieces of this many keys, each one write.
constexpr size_t kPieceKeys = 10'000;

std::string random_id() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(gen()),
                static_cast<unsigned long long>(gen()));
  return hex;
}

std::string history_end(const std::string& id) {
  std::string k = id;
  k.push_back('\1');
  return k;
}

}  // namespace

Result<void> Store::open_partitions() {
  std::string id;
  const auto got = db_->Get({}, cf_[kMeta], kMetaStoreId, &id);
  if (got.ok()) {
    id_ = id;
  } else if (!got.IsNotFound()) {
    return from_status(got, "store id");
  } else {
    id_ = random_id();
    if (!options_.read_only) {
      rocksdb::WriteOptions wo;
      wo.sync = options_.sync;
      if (auto s = db_->Put(wo, cf_[kMeta], kMetaStoreId, id_); !s.ok())
        return from_status(s, "store id");
    }
  }
  const std::string prefix = "meta/lineage/";
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kMeta]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const auto k = it->key().ToStringView().substr(prefix.size());
    Lineage l;
    if (k.size() != 4 || !changelog::decode(it->value().ToStringView(), l))
      return make_error(Errc::corruption, "a partition lineage in the store is not well-formed");
    lineage_[static_cast<int32_t>(get_be64(std::string(4, '\0') + std::string(k)))] = l;
  }
  return {};
}

void Store::mirror_to(const std::string& changelog_topic, const std::string& input_topic) {
  changelog_topic_ = changelog_topic;
  input_topic_ = input_topic;
}

Lineage Store::lineage(int32_t partition) const {
  std::lock_guard lock(lineage_mu_);
  const auto it = lineage_.find(partition);
  return it == lineage_.end() ? Lineage{} : it->second;
}

void Store::set_owned(const std::vector<int32_t>& partitions) {
  std::unique_lock lock(owned_mu_);
  owned_ = std::set<int32_t>(partitions.begin(), partitions.end());
  owned_set_ = true;
}

bool Store::owns_partition(int32_t partition) const {
  if (!owned_set_.load()) return true;
  std::shared_lock lock(owned_mu_);
  return owned_.contains(partition);
}

bool Store::owns(std::string_view application_id) const {
  const int32_t n = partitions_.load();
  if (!owned_set_.load() || n <= 0) return true;
  return owns_partition(partition_of(application_id, n));
}

std::vector<int32_t> Store::owned() const {
  std::shared_lock lock(owned_mu_);
  return {owned_.begin(), owned_.end()};
}

Error Store::not_owned(std::string_view application_id) const {
  const int32_t n = partitions_.load();
  return make_error(Errc::unavailable,
                    "application \"" + std::string(application_id) + "\" is in partition " +
                        std::to_string(n > 0 ? partition_of(application_id, n) : -1) +
                        ", which this process does not own now; ask its owner (GET /v1/info "
                        "lists the owners)");
}

Result<bool> Store::holds(int32_t partition, const std::string& input_topic) const {
  std::string v;
  if (db_->Get({}, cf_[kMeta], position_key(input_topic, partition), &v).ok()) return true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kTimers]));
  const std::string due = kTimerByDue + be32(static_cast<uint32_t>(partition));
  it->Seek(due);
  if (it->Valid() && it->key().starts_with(due)) return true;
  const int32_t n = partitions_.load();
  if (n <= 0) return make_error(Errc::invalid_argument, "the partition count is not set");
  it.reset(db_->NewIterator({}, cf_[kApplications]));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    if (partition_of(it->key().ToStringView(), n) == partition) return true;
  if (!it->status().ok()) return from_status(it->status(), "applications");
  return false;
}

// The dedupe ids of the events applied to `id` (every applied event has a
// history entry), deleted in `wb`: a copy dropped for a restore must not
// take the events it had applied for repeats when they come again.
void Store::forget_applied(rocksdb::WriteBatch& wb, const std::string& id) const {
  auto entries = read_history(id);
  if (!entries) return;  // unreadable history: its ids age out with the retention
  for (const auto& h : *entries)
    wb.Delete(cf_[kDedupe], kDedupeByKey + join_key({h.source, h.id})).PermitUncheckedError();
}

Result<void> Store::drop_partition(int32_t partition, const std::string& input_topic) {
  const int32_t n = partitions_.load();
  if (n <= 0) return make_error(Errc::invalid_argument, "the partition count is not set");
  std::lock_guard lock(commit_mu_);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  rocksdb::WriteBatch wb;
  auto flush = [&]() -> Result<void> {
    if (wb.Count() == 0) return {};
    const auto s = db_->Write(wo, &wb);
    wb.Clear();
    return s.ok() ? Result<void>{} : Result<void>{from_status(s, "dropping a partition")};
  };
  std::vector<std::string> dropped;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kApplications]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string id = it->key().ToString();
    if (partition_of(id, n) != partition) continue;
    if (const auto app = read_application(it->value().ToStringView(), id))
      wb.Delete(cf_[kStageIndex], stage_key(app->program, app->stage, id)).PermitUncheckedError();
    wb.Delete(cf_[kApplications], id).PermitUncheckedError();
    wb.Delete(cf_[kKeys], id).PermitUncheckedError();  // the new owner restores it
    dropped.push_back(id);
    forget_applied(wb, id);
    wb.DeleteRange(cf_[kHistory], id + std::string(1, '\0'), history_end(id))
        .PermitUncheckedError();
    const std::string by_app = kTimerByApp + id;
    wb.DeleteRange(cf_[kTimers], by_app + std::string(1, '\0'), by_app + std::string(1, '\1'))
        .PermitUncheckedError();
    if (wb.Count() >= kPieceKeys)
      if (auto r = flush(); !r) return r;
  }
  if (!it->status().ok()) return from_status(it->status(), "applications");
  const std::string due = kTimerByDue + be32(static_cast<uint32_t>(partition));
  wb.DeleteRange(cf_[kTimers], due, kTimerByDue + be32(static_cast<uint32_t>(partition) + 1))
      .PermitUncheckedError();
  wb.Delete(cf_[kMeta], position_key(input_topic, partition)).PermitUncheckedError();
  wb.Delete(cf_[kMeta], lineage_key(partition)).PermitUncheckedError();
  wb.DeleteRange(cf_[kMeta], audit_prefix(partition), audit_prefix(partition + 1))
      .PermitUncheckedError();
  if (auto r = flush(); !r) return r;
  for (const auto& id : dropped) keys_->forget(id);
  audit_tips_.erase(partition);
  std::lock_guard l(lineage_mu_);
  lineage_.erase(partition);
  return {};
}

// Entries later in `entries` win over earlier ones with the same key; the
// result is written as it would have been by the rounds that made them.
Result<void> Store::restore_entries(const std::vector<ChangelogEntry>& entries) {
  std::map<std::string_view, const ChangelogEntry*> last;
  for (const auto& e : entries) last[e.key] = &e;
  std::lock_guard lock(commit_mu_);
  rocksdb::WriteBatch wb;
  const uint64_t first_dedupe = next_dedupe_seq_;
  std::map<int32_t, uint64_t> rounds;  // the largest audit round restored per partition
  RestoredKeys keys;                   // first: the applications after them are sealed under them
  for (const auto& [key, e] : last)
    if (const auto k = changelog::parse_key(key); k.kind == 'k') {
      if (auto r = restore_data_key(wb, k.id, e->value); !r) return r;
      keys[k.id] = e->value;
    }
  for (const auto& [key, e] : last) {
    const changelog::Key k = changelog::parse_key(key);
    if (k.kind == 0)
      return make_error(Errc::corruption, "changelog key \"" + std::string(key) + "\" is unknown");
    Result<void> r;
    if (k.kind == 'a') r = restore_application(wb, k.id, e->value, keys);
    if (k.kind == 'h') r = restore_history(wb, k.id, k.seq, e->value);
    if (k.kind == 't') r = restore_timers(wb, k.id, e->value);
    if (k.kind == 'r') r = restore_reviewer(wb, k.id, e->value);
    if (k.kind == 'u') r = restore_audit(wb, std::string(key), e->value, rounds);
    if (!r) {
      next_dedupe_seq_ = first_dedupe;
      return r;
    }
  }
  if (next_dedupe_seq_ != first_dedupe)
    wb.Put(cf_[kMeta], "meta/" + kMetaDedupeNext, be64(next_dedupe_seq_)).PermitUncheckedError();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  if (const auto s = db_->Write(wo, &wb); !s.ok()) {
    next_dedupe_seq_ = first_dedupe;
    return from_status(s, "restoring a partition");
  }
  set_dedupe_floor();
  for (const auto& [id, value] : keys) keys_->forget(id);
  for (const auto& [partition, number] : rounds) {
    audit_tips_.erase(partition);  // read back from the store at the next commit
    next_round_ = std::max(next_round_.load(), number + 1);
  }
  return {};
}

Result<void> Store::restore_application(rocksdb::WriteBatch& wb, const std::string& id,
                                        const std::optional<std::string>& value,
                                        const RestoredKeys& keys) {
  std::string old;
  if (db_->Get({}, cf_[kApplications], id, &old).ok()) {
    auto before = read_application(old, id);  // under the key it was written with
    if (before) wb.Delete(cf_[kStageIndex], stage_key(before->program, before->stage, id));
  }
  if (!value) {
    wb.Delete(cf_[kApplications], id).PermitUncheckedError();
    return {};
  }
  const auto app = read_application(*value, id, &keys);
  if (!app || app->id != id)
    return make_error(Errc::corruption, "changelog application \"" + id + "\" is not well-formed" +
                                            (app ? std::string() : ": " + app.error().message));
  wb.Put(cf_[kApplications], id, *value).PermitUncheckedError();
  wb.Put(cf_[kStageIndex], stage_key(app->program, app->stage, id), "").PermitUncheckedError();
  return {};
}

Result<void> Store::restore_history(rocksdb::WriteBatch& wb, const std::string& id, uint64_t seq,
                                    const std::optional<std::string>& value) {
  if (!value) {
    wb.Delete(cf_[kHistory], history_key(id, seq)).PermitUncheckedError();
    return {};
  }
  HistoryEntry h;
  if (!codec::decode(*value, h) || h.sequence != seq)
    return make_error(Errc::corruption, "changelog history entry " + std::to_string(seq) +
                                            " of \"" + id + "\" is not well-formed");
  wb.Put(cf_[kHistory], history_key(id, seq), *value).PermitUncheckedError();
  // The dedupe id of the event it applied: a restored process drops its
  // repeats as the one that applied it did.
  wb.Put(cf_[kDedupe], kDedupeByKey + join_key({h.source, h.id}), be64(next_dedupe_seq_++))
      .PermitUncheckedError();
  return {};
}

Result<void> Store::restore_timers(rocksdb::WriteBatch& wb, const std::string& id,
                                   const std::optional<std::string>& value) {
  const std::string prefix = kTimerByApp + id + std::string(1, '\0');
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kTimers]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    wb.Delete(cf_[kTimers], it->key()).PermitUncheckedError();
    wb.Delete(cf_[kTimers], it->key().ToStringView().substr(prefix.size())).PermitUncheckedError();
  }
  if (!value) return {};
  std::vector<TimerRecord> timers;
  if (!changelog::decode(*value, timers))
    return make_error(Errc::corruption, "changelog timers of \"" + id + "\" are not well-formed");
  std::string v;
  for (const auto& t : timers) {
    if (t.application != id)
      return make_error(Errc::corruption, "changelog timers of \"" + id + "\" name another");
    const std::string due = timer_due_key(t);
    v.clear();
    codec::encode(v, t);
    wb.Put(cf_[kTimers], due, v).PermitUncheckedError();
    wb.Put(cf_[kTimers], timer_app_key(id, due), "").PermitUncheckedError();
  }
  return {};
}

Result<void> Store::set_lineage(int32_t partition, const std::string& input_topic,
                                const Lineage& lineage) {
  std::lock_guard lock(commit_mu_);
  rocksdb::WriteBatch wb;
  std::string v;
  changelog::encode(v, lineage);
  wb.Put(cf_[kMeta], lineage_key(partition), v).PermitUncheckedError();
  if (lineage.next_offset >= 0)
    wb.Put(cf_[kMeta], position_key(input_topic, partition),
           be64(static_cast<uint64_t>(lineage.next_offset)))
        .PermitUncheckedError();
  else
    wb.Delete(cf_[kMeta], position_key(input_topic, partition)).PermitUncheckedError();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  if (const auto s = db_->Write(wo, &wb); !s.ok()) return from_status(s, "partition lineage");
  std::lock_guard l(lineage_mu_);
  lineage_[partition] = lineage;
  lineage_[partition].known = true;
  return {};
}

Result<void> Store::scan_partition(int32_t partition,
                                   const std::function<void(ChangelogEntry&&)>& each) const {
  const int32_t n = partitions_.load();
  if (n <= 0) return make_error(Errc::invalid_argument, "the partition count is not set");
  std::unique_ptr<rocksdb::Iterator> apps(db_->NewIterator({}, cf_[kApplications]));
  std::unique_ptr<rocksdb::Iterator> hist(db_->NewIterator({}, cf_[kHistory]));
  for (apps->SeekToFirst(); apps->Valid(); apps->Next()) {
    const std::string id = apps->key().ToString();
    if (partition_of(id, n) != partition) continue;
    std::string v(apps->value().ToStringView());
    if (!codec::is_sealed_application(v)) {
      const auto app = read_application(v, id);
      if (!app) return app.error();
      v.clear();
      codec::encode(v, *app);  // legacy encodings leave in the current one
    }
    each({changelog::app_key(id), std::move(v)});
    std::string wrapped;
    if (cf_[kKeys] != nullptr && db_->Get({}, cf_[kKeys], id, &wrapped).ok())
      each({changelog::data_key_key(id), std::move(wrapped)});
    const std::string prefix = id + std::string(1, '\0');
    for (hist->Seek(prefix); hist->Valid() && hist->key().starts_with(prefix); hist->Next()) {
      const uint64_t seq = get_be64(hist->key().ToStringView().substr(prefix.size()));
      HistoryEntry h;
      std::string hv(hist->value().ToStringView());
      if (!codec::is_history(hv)) {
        auto all = read_history(id);  // a legacy entry: read them the slow way
        if (!all) return all.error();
        for (const auto& e : *all)
          if (e.sequence == seq) h = e;
        hv.clear();
        codec::encode(hv, h);
      }
      each({changelog::history_key(id, seq), std::move(hv)});
    }
    auto timers = timers_of(id);
    if (!timers) return timers.error();
    if (!timers->empty()) {
      std::string tv;
      changelog::encode(tv, *timers);
      each({changelog::timers_key(id), std::move(tv)});
    }
  }
  if (!apps->status().ok()) return from_status(apps->status(), "applications");
  auto rounds = audit_rounds(partition, 0, SIZE_MAX, [&](audit::Round&& r) {
    std::string v;
    codec::encode(v, r);
    each({changelog::audit_key(partition, r.number), std::move(v)});
  });
  if (!rounds) return rounds;
  return reviewers([&](const std::string& id, std::string&& value) {
    if (partition_of(id, n) == partition) each({changelog::reviewer_key(id), std::move(value)});
  });
}

Result<void> Store::reseed(int32_t partition, const std::string& input_topic,
                           std::vector<ChangelogEntry> entries, uint64_t epoch, int64_t next_offset,
                           size_t part_bytes) {
  if (!mirroring()) return make_error(Errc::invalid_argument, "the store does not mirror");
  Batch batch = this->batch();
  batch.p_->mirror_n = 0;  // no mirroring of its own: this batch is the mirror
  Bundle part{partition, epoch, {}, std::nullopt};
  size_t bytes = 0;
  auto close_part = [&](bool last) {
    if (last) part.marker = RoundMarker{id_, epoch, 1, next_offset};
    OutboxRecord rec;
    rec.topic = changelog_topic_;
    rec.partition = partition;
    rec.bundle = true;
    changelog::encode(rec.value, part);
    batch.add_outbox(std::move(rec));
    part.entries.clear();
    bytes = 0;
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    bytes += entries[i].key.size() + (entries[i].value ? entries[i].value->size() : 0);
    part.entries.push_back(std::move(entries[i]));
    if (bytes >= part_bytes && i + 1 < entries.size()) close_part(false);
  }
  close_part(true);  // the last part carries the marker
  const Lineage l{true, epoch, 1, next_offset};
  std::string lv;
  changelog::encode(lv, l);
  batch.p_->wb.Put(cf_[kMeta], lineage_key(partition), lv).PermitUncheckedError();
  if (next_offset >= 0) batch.set_input_position({input_topic, partition, next_offset});
  if (auto r = commit(batch); !r) return r;
  std::lock_guard lock(lineage_mu_);
  lineage_[partition] = l;
  return {};
}

}  // namespace stagewise::store
