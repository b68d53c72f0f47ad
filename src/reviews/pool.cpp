#include "reviews/pool.h"

#include <algorithm>

namespace stagewise::reviews {

bool ReviewerPool::put(ReviewerPtr r) {
  if (!r) return false;
  const uint64_t size = encoded_size(*r);
  std::unique_lock lock(mu_);
  auto& held = by_id_[r->id];
  if (held.record && held.record->revision >= r->revision) return false;
  bytes_ = bytes_ - held.bytes + size;
  held = {std::move(r), size};
  ++version_;
  return true;
}

uint64_t ReviewerPool::bytes() const {
  std::shared_lock lock(mu_);
  return bytes_;
}

ReviewerPtr ReviewerPool::get(const std::string& id) const {
  std::shared_lock lock(mu_);
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.record;
}

namespace {
void by_id(std::vector<ReviewerPtr>& v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
}
}  // namespace

std::vector<ReviewerPtr> ReviewerPool::serving(const std::string& program) const {
  std::vector<ReviewerPtr> out;
  {
    std::shared_lock lock(mu_);
    for (const auto& [id, held] : by_id_)
      if (serves(held.record->profile, program)) out.push_back(held.record);
  }
  by_id(out);
  return out;
}

std::vector<ReviewerPtr> ReviewerPool::all() const {
  std::vector<ReviewerPtr> out;
  {
    std::shared_lock lock(mu_);
    out.reserve(by_id_.size());
    for (const auto& [id, held] : by_id_) out.push_back(held.record);
  }
  by_id(out);
  return out;
}

size_t ReviewerPool::size() const {
  std::shared_lock lock(mu_);
  return by_id_.size();
}

uint64_t ReviewerPool::version() const {
  std::shared_lock lock(mu_);
  return version_;
}

}  // namespace stagewise::reviews
