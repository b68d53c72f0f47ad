// Store: the audit's seals (DESIGN.md §14, docs/audit.md). History entries
// are sealed in their application's chain when the processor adds them
// (Batch::seal); each commit then seals them, per partition, in a round
// whose digest chains to the partition's previous one, kept in meta and
// mirrored with the partition's state.
#include "audit/chain.h"
#include "common/partition.h"
#include "store/changelog.h"
#include "store/codec.h"
#include "store/detail/keys.h"
#include "store/detail/pending.h"
#include "store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <map>

namespace stagewise::store {
using namespace detail;  // NOLINT: the key layout is this file's vocabulary

namespace {

int32_t partition_in(std::string_view key) {
  return static_cast<int32_t>(get_be64(std::string(4, '\0') + std::string(key.substr(0, 4))));
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string round_json(const audit::Round& r) {
  return nlohmann::json{{"partition", r.partition},   {"round", r.number},
                        {"time_ms", r.time_ms},       {"prev", audit::hex(r.prev)},
                        {"root", audit::hex(r.root)}, {"digest", audit::hex(r.digest)},
                        {"entries", r.leaves.size()}}
      .dump();
}

}  // namespace

// Round numbers go on from the largest stored (one seek per partition).
Result<void> Store::open_audit() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kMeta]));
  uint64_t largest = 0;
  for (it->Seek(kAuditPrefix); it->Valid() && it->key().starts_with(kAuditPrefix);) {
    const int32_t p = partition_in(it->key().ToStringView().substr(kAuditPrefix.size()));
    const std::string next = audit_prefix(p + 1);
    it->SeekForPrev(next);
    if (it->Valid() && it->key().size() == kAuditPrefix.size() + 12)
      largest =
          std::max(largest, get_be64(it->key().ToStringView().substr(kAuditPrefix.size() + 4)));
    it->Seek(next);
  }
  if (!it->status().ok()) return from_status(it->status(), "audit rounds");
  next_round_ = largest + 1;
  return {};
}

Result<std::optional<audit::Round>> Store::audit_tip(int32_t partition) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kMeta]));
  const std::string prefix = audit_prefix(partition);
  it->SeekForPrev(audit_prefix(partition + 1));
  if (!it->Valid() || !it->key().starts_with(prefix)) {
    if (!it->status().ok()) return from_status(it->status(), "audit rounds");
    return std::optional<audit::Round>{};
  }
  audit::Round r;
  if (!codec::decode(it->value().ToStringView(), r))
    return make_error(Errc::corruption, "the latest audit round of partition " +
                                            std::to_string(partition) + " is not well-formed");
  return std::optional<audit::Round>(std::move(r));
}

// Under commit_mu_: numbers this commit's round, writes its sealed history
// entries and, per partition, the round's seal (mirrored and published
// like the rest of the partition's changes).
Result<void> Store::write_audit(Batch& batch, std::map<int32_t, audit::Round>& sealed) {
  auto& p = *batch.p_;
  if (p.sealed.empty()) return {};
  const uint64_t number = next_round_++;
  std::string v;
  for (auto& e : p.sealed) {
    const int32_t partition = p.audit_n > 0 ? partition_of(e.application, p.audit_n) : 0;
    v.clear();
    codec::seal(v, number, e.chain, e.body);
    p.wb.Put(cf_[kHistory], history_key(e.application, e.sequence), v).PermitUncheckedError();
    if (p.mirror_n > 0)
      p.mirror[partition].push_back({changelog::history_key(e.application, e.sequence), v});
    sealed[partition].leaves.push_back({e.application, e.sequence, std::move(e.chain)});
  }
  const int64_t time = now_ms();
  for (auto& [partition, round] : sealed) {
    round.partition = partition;
    round.number = number;
    round.time_ms = time;
    if (auto tip = audit_tips_.find(partition); tip != audit_tips_.end()) {
      round.prev = tip->second.second;
    } else {
      auto stored = audit_tip(partition);
      if (!stored) return stored.error();
      round.prev = *stored ? (*stored)->digest : audit::no_round();
    }
    audit::seal(round);
    v.clear();
    codec::encode(v, round);
    p.wb.Put(cf_[kMeta], audit_key(partition, number), v).PermitUncheckedError();
    if (p.mirror_n > 0) p.mirror[partition].push_back({changelog::audit_key(partition, number), v});
    if (!audit_topic_.empty())
      p.outbox.push_back({0,
                          audit_topic_,
                          std::to_string(partition),
                          round_json(round),
                          {{"content-type", "application/json"}},
                          -1,
                          false});
  }
  return {};
}

Result<void> Store::stored_history(const std::string& id,
                                   const std::function<void(StoredEntry&&)>& each) const {
  if (!owns(id)) return not_owned(id);
  const std::string prefix = id + std::string(1, '\0');
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kHistory]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    StoredEntry e;
    e.sequence = get_be64(it->key().ToStringView().substr(prefix.size()));
    codec::SealedView view;
    e.readable = codec::unseal(it->value().ToStringView(), view);
    e.sealed = view.sealed;
    e.round = view.round;
    e.chain = std::move(view.chain);
    e.body = std::string(view.body);
    each(std::move(e));
  }
  if (!it->status().ok()) return from_status(it->status(), "history of \"" + id + "\"");
  return {};
}

Result<StoredEntry> Store::stored_entry(const std::string& id, uint64_t sequence) const {
  if (!owns(id)) return not_owned(id);
  std::string v;
  const auto s = db_->Get({}, cf_[kHistory], history_key(id, sequence), &v);
  if (s.IsNotFound())
    return make_error(Errc::not_found, "application \"" + id + "\" has no history entry " +
                                           std::to_string(sequence));
  if (!s.ok()) return from_status(s, "history of \"" + id + "\"");
  StoredEntry e;
  e.sequence = sequence;
  codec::SealedView view;
  e.readable = codec::unseal(v, view);
  e.sealed = view.sealed;
  e.round = view.round;
  e.chain = std::move(view.chain);
  e.body = std::string(view.body);
  return e;
}

Result<void> Store::audit_rounds(int32_t partition, uint64_t after, size_t max,
                                 const std::function<void(audit::Round&&)>& each) const {
  if (after == UINT64_MAX) return {};
  const std::string prefix = audit_prefix(partition);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kMeta]));
  size_t n = 0;
  for (it->Seek(audit_key(partition, after + 1));
       n < max && it->Valid() && it->key().starts_with(prefix); it->Next(), ++n) {
    audit::Round r;
    if (!codec::decode(it->value().ToStringView(), r))
      return make_error(
          Errc::corruption,
          "audit round " +
              std::to_string(get_be64(it->key().ToStringView().substr(prefix.size()))) +
              " of partition " + std::to_string(partition) + " is not well-formed");
    each(std::move(r));
  }
  if (!it->status().ok()) return from_status(it->status(), "audit rounds");
  return {};
}

Result<audit::Round> Store::audit_round(int32_t partition, uint64_t number) const {
  std::string v;
  const auto s = db_->Get({}, cf_[kMeta], audit_key(partition, number), &v);
  if (s.IsNotFound())
    return make_error(Errc::not_found, "partition " + std::to_string(partition) +
                                           " has no audit round " + std::to_string(number));
  if (!s.ok()) return from_status(s, "audit rounds");
  audit::Round r;
  if (!codec::decode(v, r))
    return make_error(Errc::corruption, "audit round " + std::to_string(number) + " of partition " +
                                            std::to_string(partition) + " is not well-formed");
  return r;
}

Result<std::vector<int32_t>> Store::audit_partitions() const {
  std::vector<int32_t> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kMeta]));
  for (it->Seek(kAuditPrefix); it->Valid() && it->key().starts_with(kAuditPrefix);) {
    const int32_t p = partition_in(it->key().ToStringView().substr(kAuditPrefix.size()));
    out.push_back(p);
    it->Seek(audit_prefix(p + 1));
  }
  if (!it->status().ok()) return from_status(it->status(), "audit rounds");
  return out;
}

Result<std::vector<audit::Round>> Store::audit_tips() const {
  auto partitions = audit_partitions();
  if (!partitions) return partitions.error();
  std::vector<audit::Round> out;
  for (const int32_t p : *partitions) {
    if (!owns_partition(p)) continue;
    auto tip = audit_tip(p);
    if (!tip) return tip.error();
    if (*tip) out.push_back(std::move(**tip));
  }
  return out;
}

// A round read back from the changelog: kept under its own key, and the
// partition's tip and the round numbers go on from it.
Result<void> Store::restore_audit(rocksdb::WriteBatch& wb, const std::string& key,
                                  const std::optional<std::string>& value,
                                  std::map<int32_t, uint64_t>& restored) {
  const changelog::Key k = changelog::parse_key(key);
  audit::Round r;
  if (!value || !codec::decode(*value, r) || std::to_string(r.partition) != k.id ||
      r.number != k.seq)
    return make_error(Errc::corruption, "changelog audit round \"" + key + "\" is not well-formed");
  wb.Put(cf_[kMeta], audit_key(r.partition, r.number), *value).PermitUncheckedError();
  restored[r.partition] = std::max(restored[r.partition], r.number);
  return {};
}

}  // namespace stagewise::store
