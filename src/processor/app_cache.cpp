#include "processor/app_cache.h"

namespace stagewise::processor {

std::optional<ApplicationCache::Entry> ApplicationCache::take(const std::string& id) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return std::nullopt;
  std::optional<Entry> out(std::move(it->second.entry));
  drop(it);
  return out;
}

void ApplicationCache::put(const std::string& id, Entry&& entry) {
  if (auto it = slots_.find(id); it != slots_.end()) drop(it);
  if (max_count_ == 0 || entry.bytes > max_bytes_) return;
  while (!order_.empty() && (slots_.size() >= max_count_ || bytes_ + entry.bytes > max_bytes_))
    drop(slots_.find(order_.front()));
  bytes_ += entry.bytes;
  order_.push_back(id);
  slots_.emplace(id, Slot{std::move(entry), std::prev(order_.end())});
}

void ApplicationCache::clear() {
  slots_.clear();
  order_.clear();
  bytes_ = 0;
}

void ApplicationCache::drop(std::unordered_map<std::string, Slot>::iterator it) {
  bytes_ -= it->second.entry.bytes;
  order_.erase(it->second.age);
  slots_.erase(it);
}

}  // namespace stagewise::processor
