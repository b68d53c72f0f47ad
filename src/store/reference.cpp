// Reference data (DESIGN.md §12): a copy of every reviewer in every store,
// in the default column family under "reviewer/" + id.

#include "common/partition.h"
#include "store/changelog.h"
#include "store/detail/keys.h"
#include "store/detail/pending.h"
#include "store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

namespace stagewise::store {
using namespace detail;  // NOLINT: the key layout is this file's vocabulary

namespace {

const std::string kReviewerPrefix = "reviewer/";

// The record's revision; nullopt when the text is not a record.
std::optional<uint64_t> revision_of(std::string_view value) {
  const auto j = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("revision") || !j["revision"].is_number_unsigned())
    return std::nullopt;
  return j["revision"].get<uint64_t>();
}

}  // namespace

void Batch::put_reviewer(const std::string& id, const std::string& value) {
  p_->wb.Put(p_->cf[kDefault], kReviewerPrefix + id, value).PermitUncheckedError();
  if (p_->mirror_n > 0)
    p_->mirror[p_->mirror_partition(id)].push_back({changelog::reviewer_key(id), value});
  ++count_;
}

Result<std::string> Store::reviewer(const std::string& id) const {
  std::string v;
  const auto s = db_->Get({}, cf_[kDefault], kReviewerPrefix + id, &v);
  if (!s.ok()) return from_status(s, "reviewer \"" + id + "\"");
  return v;
}

Result<void> Store::reviewers(
    const std::function<void(const std::string& id, std::string&& value)>& each) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kDefault]));
  for (it->Seek(kReviewerPrefix); it->Valid() && it->key().starts_with(kReviewerPrefix); it->Next())
    each(it->key().ToString().substr(kReviewerPrefix.size()), it->value().ToString());
  if (!it->status().ok()) return from_status(it->status(), "reviewers");
  return {};
}

// Whether `value` is newer than the stored copy of `id` (or none is stored).
static bool newer_than_stored(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf,
                              const std::string& id, const std::string& value) {
  const auto incoming = revision_of(value);
  if (!incoming) return false;
  std::string old;
  if (!db.Get({}, cf, kReviewerPrefix + id, &old).ok()) return true;
  const auto held = revision_of(old);
  return !held || *incoming > *held;
}

Result<bool> Store::keep_reviewer(const std::string& id, const std::string& value) {
  std::lock_guard lock(commit_mu_);
  if (!newer_than_stored(*db_, cf_[kDefault], id, value)) return false;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (const auto s = db_->Put(wo, cf_[kDefault], kReviewerPrefix + id, value); !s.ok())
    return from_status(s, "reviewer \"" + id + "\"");
  return true;
}

Result<void> Store::restore_reviewer(rocksdb::WriteBatch& wb, const std::string& id,
                                     const std::optional<std::string>& value) {
  // A reviewer is never deleted; a tombstone or an older copy changes nothing.
  if (!value) return {};
  if (!revision_of(*value))
    return make_error(Errc::corruption, "changelog reviewer \"" + id + "\" is not well-formed");
  if (newer_than_stored(*db_, cf_[kDefault], id, *value))
    wb.Put(cf_[kDefault], kReviewerPrefix + id, *value).PermitUncheckedError();
  return {};
}

}  // namespace stagewise::store
