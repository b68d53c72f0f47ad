#include "reviews/pool.h"

#include <algorithm>

namespace stagewise::reviews {

bool ReviewerPool::put(ReviewerPtr r) {
  if (!r) return false;
  std::unique_lock lock(mu_);
  auto& held = by_id_[r->id];
  if (held && held->revision >= r->revision) return false;
  held = std::move(r);
  ++version_;
  return true;
}

ReviewerPtr ReviewerPool::get(const std::string& id) const {
  std::shared_lock lock(mu_);
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
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
    for (const auto& [id, r] : by_id_)
      if (serves(r->profile, program)) out.push_back(r);
  }
  by_id(out);
  return out;
}

std::vector<ReviewerPtr> ReviewerPool::all() const {
  std::vector<ReviewerPtr> out;
  {
    std::shared_lock lock(mu_);
    out.reserve(by_id_.size());
    for (const auto& [id, r] : by_id_) out.push_back(r);
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
