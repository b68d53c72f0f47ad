#include "store/detail/data_keys.h"

#include "privacy/keys.h"
#include "store/detail/keys.h"

#include <rocksdb/db.h>

namespace stagewise::store::detail {

namespace {
// Keys held unwrapped in memory; past it the cache starts over (a miss
// costs one point read and one unwrap).
constexpr size_t kCacheKeys = 100'000;
const std::string kCheckPlain = "stagewise: this data dir's key-encryption key";
}  // namespace

Result<std::optional<std::string>> DataKeys::get(const std::string& id, bool remember) const {
  {
    std::lock_guard lock(mu_);
    if (const auto it = cache_.find(id); it != cache_.end())
      return std::optional<std::string>(it->second);
  }
  std::string wrapped;
  const auto s = db_->Get({}, cf_, id, &wrapped);
  if (s.IsNotFound()) return std::optional<std::string>{};
  if (!s.ok()) return from_status(s, "data key of \"" + id + "\"");
  auto key = privacy::unwrap(kek_, id, wrapped);
  if (!key)
    return make_error(
        Errc::corruption,
        "the data key of \"" + id + "\" does not unwrap under this data dir's key-encryption key");
  if (remember) made(id, *key);
  return std::optional<std::string>(std::move(*key));
}

std::pair<std::string, std::string> DataKeys::make(const std::string& id) const {
  std::string key = privacy::new_key();
  std::string wrapped = privacy::wrap(kek_, id, key);
  return {std::move(key), std::move(wrapped)};
}

void DataKeys::made(const std::string& id, const std::string& key) const {
  std::lock_guard lock(mu_);
  if (cache_.size() >= kCacheKeys) cache_.clear();
  cache_[id] = key;
}

void DataKeys::forget(const std::string& id) const {
  std::lock_guard lock(mu_);
  cache_.erase(id);
}

Result<void> DataKeys::check(std::optional<std::string>& check_value) const {
  if (!check_value) {
    std::string v;
    privacy::seal(v, kek_, "stagewise.kek-check", kCheckPlain);
    check_value = std::move(v);
    return {};
  }
  if (privacy::open(kek_, "stagewise.kek-check", *check_value) == kCheckPlain) return {};
  return make_error(Errc::invalid_argument,
                    "the key-encryption key (auth/data.secret) is not the one this data dir's "
                    "personal data was sealed with; restore that file (it is in every backup "
                    "of the data dir) or use the secrets dir it was written with");
}

std::string DataKeys::application_context(std::string_view id) {
  std::string c = "stagewise.application";
  c.push_back('\0');
  c.append(id);
  return c;
}

std::string DataKeys::history_context(std::string_view id, uint64_t sequence) {
  std::string c = "stagewise.history";
  c.push_back('\0');
  c.append(id);
  c.push_back('\0');
  put_be64(c, sequence);
  return c;
}

}  // namespace stagewise::store::detail
