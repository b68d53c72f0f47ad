#pragma once

// The per-application data keys (privacy/keys.h) as the store keeps them:
// wrapped under the key-encryption key in the `keys` column family (key:
// the application id), mirrored to the changelog as "k/ID", unwrapped on
// use and cached in memory. Internal to src/store/.

#include "common/result.h"

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace stagewise::store::detail {

class DataKeys {
 public:
  DataKeys() = default;
  DataKeys(std::string kek, rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf)
      : kek_(std::move(kek)), db_(db), cf_(cf) {}

  /// Whether personal data is sealed when written (a key-encryption key
  /// was given).
  bool enabled() const { return !kek_.empty(); }
  /// `id`'s data key; nullopt when it has none (never had, or erased).
  /// An error when it cannot be read or does not unwrap (corruption).
  /// Only the writer (`remember`) caches what it reads: a reader racing an
  /// erasure must not put the destroyed key back.
  Result<std::optional<std::string>> get(const std::string& id, bool remember = false) const;
  /// A new data key for `id` and its wrapped form, to be written.
  std::pair<std::string, std::string> make(const std::string& id) const;
  /// After a commit: keys made are known, keys destroyed are forgotten.
  void made(const std::string& id, const std::string& key) const;
  void forget(const std::string& id) const;

  /// Checks (or, on a new store, records in `check_value`) that the kek is
  /// the one this store's data was sealed with.
  Result<void> check(std::optional<std::string>& check_value) const;

  /// What the values are bound to (privacy::seal's context).
  static std::string application_context(std::string_view id);
  static std::string history_context(std::string_view id, uint64_t sequence);

 private:
  std::string kek_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_ = nullptr;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::string> cache_;  // id -> key, bounded
};

}  // namespace stagewise::store::detail
