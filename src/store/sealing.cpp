// Personal data at rest (DESIGN.md §14, docs/audit.md "Encryption"): each
// application is stored sealed under its own data key, and so is the event
// data of each history entry; the rest of an entry (type, times, stages,
// actors) stays readable, and the audit's chain covers the sealed bytes.
// Erasing the application destroys its key: every copy of the sealed data,
// older values on disk and in the changelog included, is unreadable from
// then on, and the chain still verifies.

#include "privacy/keys.h"
#include "store/changelog.h"
#include "store/codec.h"
#include "store/detail/data_keys.h"
#include "store/detail/keys.h"
#include "store/detail/packing.h"
#include "store/detail/pending.h"
#include "store/store.h"

#include <rocksdb/db.h>

#include <stdexcept>

namespace stagewise::store {
using namespace detail;  // NOLINT: the key layout is this file's vocabulary

namespace {
const char* const kErased = "erased";

// A sealed value read from a store opened without its key-encryption key.
Error without_kek(const std::string& what) {
  return make_error(Errc::invalid_argument,
                    what +
                        " is sealed, and this store was opened without the key-encryption "
                        "key it was sealed under: auth/data.secret of the data dir, or of the "
                        "--secrets-dir serve runs with; read it through the running server");
}
}  // namespace

// ---- Batch: writing sealed ----

std::string Batch::data_key(const std::string& application_id) {
  auto& p = *p_;
  if (const auto it = p.made_keys.find(application_id); it != p.made_keys.end()) return it->second;
  // Destroyed in this batch (the erasure's own entry comes after): a key
  // used once and never kept, so what it seals is unreadable like the rest.
  if (p.destroyed_keys.contains(application_id)) return privacy::new_key();
  auto key = p.keys->get(application_id, true);
  if (!key)
    throw std::runtime_error("cannot seal personal data of \"" + application_id +
                             "\": " + key.error().message);
  if (*key) return **key;
  auto [fresh, wrapped] = p.keys->make(application_id);
  p.wb.Put(p.cf[kKeys], application_id, wrapped).PermitUncheckedError();
  if (p.mirror_n > 0)
    p.mirror[p.mirror_partition(application_id)].push_back(
        {changelog::data_key_key(application_id), wrapped});
  // Known to the writer at once: the next round may be applied while this
  // one is still being committed, and must seal under the same key.
  p.keys->made(application_id, fresh);
  p.made_keys[application_id] = fresh;
  ++count_;
  return fresh;
}

void Batch::destroy_data_key(const std::string& application_id) {
  auto& p = *p_;
  if (!p.destroyed_keys.insert(application_id).second) return;
  p.made_keys.erase(application_id);
  p.keys->forget(application_id);
  p.wb.Delete(p.cf[kKeys], application_id).PermitUncheckedError();
  if (p.mirror_n > 0)
    p.mirror[p.mirror_partition(application_id)].push_back(
        {changelog::data_key_key(application_id), std::nullopt});
  ++count_;
}

// An erased application is written in clear: nothing personal is left in
// it, and its key goes.
void Batch::seal_application(const workflow::Application& app, std::string& encoded) {
  if (workflow::is_erased(app)) {
    destroy_data_key(app.id);
    return;
  }
  const std::string key = data_key(app.id);
  std::string packed;
  pack(packed, encoded);
  std::string sealed(1, static_cast<char>(codec::kSealedApplication));
  sealed.reserve(1 + privacy::kOverhead + packed.size());
  privacy::seal(sealed, key, DataKeys::application_context(app.id), packed);
  encoded.swap(sealed);
}

// Keys made by a batch that is never committed were never stored.
void Batch::forget_made_keys() {
  if (!p_ || p_->keys == nullptr) return;
  for (const auto& [id, key] : p_->made_keys) p_->keys->forget(id);
  p_->made_keys.clear();
}

// ---- Store: reading sealed ----

Result<void> Store::open_keys() {
  keys_ = std::make_unique<DataKeys>(options_.kek, db_.get(), cf_[kKeys]);
  if (!keys_->enabled()) return {};
  std::optional<std::string> check;
  std::string v;
  if (db_->Get({}, cf_[kMeta], "meta/kek-check", &v).ok()) check = v;
  const bool fresh = !check;
  if (auto r = keys_->check(check); !r) return r;
  if (fresh && !options_.read_only) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (const auto s = db_->Put(wo, cf_[kMeta], "meta/kek-check", *check); !s.ok())
      return from_status(s, "recording the key-encryption key's check");
  }
  return {};
}

Result<workflow::Application> Store::read_application(std::string_view bytes, const std::string& id,
                                                      const RestoredKeys* restoring) const {
  if (!codec::is_sealed_application(bytes)) return detail::read_application(bytes, id);
  if (!keys_->enabled()) return without_kek("application \"" + id + "\"");
  std::optional<std::string> key;
  const auto r = restoring ? restoring->find(id) : RestoredKeys::const_iterator{};
  if (restoring && r != restoring->end()) {
    if (r->second) key = privacy::unwrap(options_.kek, id, *r->second);
  } else {
    auto k = keys_->get(id);
    if (!k) return k.error();
    key = std::move(*k);
  }
  if (!key)
    return make_error(Errc::corruption, "application \"" + id + "\" is sealed and has no data key");
  auto opened = privacy::open(*key, DataKeys::application_context(id), bytes.substr(1));
  const auto plain = opened ? unpack(std::move(*opened)) : std::nullopt;
  if (!plain)
    return make_error(Errc::corruption,
                      "application \"" + id + "\" does not open under its data key");
  return detail::read_application(*plain, id);
}

Result<void> Store::open_history_data(const std::string& id, HistoryEntry& h,
                                      const std::string& sealed_data,
                                      std::optional<std::optional<std::string>>& key) const {
  if (!keys_->enabled()) return without_kek("history of \"" + id + "\"");
  if (!key) {  // looked up once per history read
    auto k = keys_->get(id);
    if (!k) return k.error();
    key = std::move(*k);
  }
  if (!*key) {
    h.data = kErased;  // its key was destroyed: the data is unreadable
    return {};
  }
  auto opened = privacy::open(**key, DataKeys::history_context(id, h.sequence), sealed_data);
  const auto plain = opened ? unpack(std::move(*opened)) : std::nullopt;
  if (!plain || !codec::from_msgpack(*plain, h.data))
    return make_error(Errc::corruption, "history entry " + std::to_string(h.sequence) + " of \"" +
                                            id + "\" does not open under its data key");
  return {};
}

Result<void> Store::restore_data_key(rocksdb::WriteBatch& wb, const std::string& id,
                                     const std::optional<std::string>& value) {
  if (value) {
    if (keys_->enabled() && !privacy::unwrap(options_.kek, id, *value))
      return make_error(Errc::corruption,
                        "changelog data key of \"" + id +
                            "\" does not unwrap under this process's key-encryption key: "
                            "processes sharing the input must share auth/data.secret");
    wb.Put(cf_[kKeys], id, *value).PermitUncheckedError();
  } else {
    wb.Delete(cf_[kKeys], id).PermitUncheckedError();
  }
  return {};  // the cache forgets it once written
}

void Store::shred(const std::vector<std::string>& dead_letter_keys) {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  db_->Flush(fo, cf_).PermitUncheckedError();
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  db_->CompactRange(co, cf_[kKeys], nullptr, nullptr).PermitUncheckedError();
  for (const auto& key : dead_letter_keys) {
    const std::string end = key + std::string(1, '\0');
    const rocksdb::Slice from(key), to(end);
    db_->CompactRange(co, cf_[kDeadLetters], &from, &to).PermitUncheckedError();
  }
}

}  // namespace stagewise::store
