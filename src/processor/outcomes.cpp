#include "processor/outcomes.h"

namespace stagewise::processor {

void OutcomeBoard::expect(const std::string& key) {
  std::lock_guard lock(mu_);
  Slot& slot = slots_[key];
  if (slot.waiters++ == 0) waiting_.fetch_add(1);
}

void OutcomeBoard::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  const auto it = slots_.find(key);
  if (it == slots_.end() || --it->second.waiters > 0) return;
  slots_.erase(it);
  waiting_.fetch_sub(1);
}

void OutcomeBoard::publish(const std::string& key, nlohmann::json outcome) {
  {
    std::lock_guard lock(mu_);
    const auto it = slots_.find(key);
    if (it == slots_.end() || it->second.outcome) return;  // not awaited, or the first stands
    it->second.outcome = std::move(outcome);
  }
  cv_.notify_all();
}

std::optional<nlohmann::json> OutcomeBoard::wait(const std::string& key,
                                                 std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] {
    const auto it = slots_.find(key);
    return it == slots_.end() || it->second.outcome.has_value();
  });
  const auto it = slots_.find(key);
  return it == slots_.end() ? std::nullopt : it->second.outcome;
}

}  // namespace stagewise::processor
