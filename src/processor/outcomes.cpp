#include "processor/outcomes.h"

namespace stagewise::processor {

void OutcomeBoard::expect(const std::string& key) {
  std::lock_guard lock(mu_);
  if (slots_.emplace(key, std::nullopt).second) waiting_.fetch_add(1);
}

void OutcomeBoard::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  if (slots_.erase(key) > 0) waiting_.fetch_sub(1);
}

void OutcomeBoard::publish(const std::string& key, nlohmann::json outcome) {
  {
    std::lock_guard lock(mu_);
    const auto it = slots_.find(key);
    if (it == slots_.end() || it->second) return;  // not awaited, or the first outcome stands
    it->second = std::move(outcome);
  }
  cv_.notify_all();
}

std::optional<nlohmann::json> OutcomeBoard::wait(const std::string& key,
                                                 std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] {
    const auto it = slots_.find(key);
    return it == slots_.end() || it->second.has_value();
  });
  const auto it = slots_.find(key);
  return it == slots_.end() ? std::nullopt : it->second;
}

}  // namespace stagewise::processor
