#include "processor/conflict_watch.h"

#include "common/time.h"
#include "reviews/conflicts.h"

#include <spdlog/spdlog.h>

#include <map>

namespace stagewise::processor {
namespace {

using nlohmann::json;

// (program, stage) of every non-terminal stage of every loaded version:
// reviewers assigned there may still review, interview or decide.
std::set<std::pair<std::string, std::string>> open_stages(const workflow::Registry& registry) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto* wf : registry.all())
    for (const auto& [name, st] : wf->states)
      if (!st.terminal) out.emplace(wf->program, name);
  return out;
}

}  // namespace

ConflictWatch::ConflictWatch(const workflow::Registry& registry, const store::Store& store,
                             const reviews::ReviewerPool& pool, std::chrono::milliseconds interval)
    : registry_(registry), store_(store), pool_(pool), interval_(interval) {}

ConflictWatch::~ConflictWatch() {
  stop();
}

void ConflictWatch::start() {
  thread_ = std::thread([this] { run(); });
}

void ConflictWatch::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ConflictWatch::poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void ConflictWatch::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    const uint64_t version = pool_.version();
    if (poked_ || version != pool_version_) {
      poked_ = false;
      pool_version_ = version;
      lock.unlock();
      check();
      lock.lock();
    }
    cv_.wait_for(lock, interval_, [&] { return stop_; });
  }
}

void ConflictWatch::check() {
  std::lock_guard guard(check_mu_);
  std::set<std::pair<std::string, std::string>> now_flagged;
  const int64_t now = now_ms();
  static const json kNone = json::object();
  std::map<std::string, reviews::PreparedReviewer> prepared;  // each reviewer once per check
  auto reviewer = [&](const std::string& id) -> const reviews::PreparedReviewer& {
    auto it = prepared.find(id);
    if (it == prepared.end()) {
      const auto rec = pool_.get(id);
      it = prepared.emplace(id, reviews::prepare_reviewer(id, rec ? rec->profile : kNone)).first;
    }
    return it->second;
  };
  for (const auto& [program, stage] : open_stages(registry_)) {
    auto ids = store_.list_stage(program, stage, 10'000'000);
    if (!ids) continue;
    for (const auto& id : *ids) {
      auto app = store_.application(id);  // other processes' copies answer unavailable
      if (!app || !app->facts.contains("reviewers") || !app->facts["reviewers"].is_array())
        continue;
      const auto side = reviews::prepare_application(id, app->facts);
      for (const auto& r : app->facts["reviewers"]) {
        if (!r.is_string()) continue;
        if (!reviews::find_conflicts(side, reviewer(r.get<std::string>()), now).empty())
          now_flagged.emplace(id, r.get<std::string>());
      }
    }
  }
  uint64_t fresh = 0;
  for (const auto& pair : now_flagged) fresh += flagged_.count(pair) == 0 ? 1 : 0;
  if (fresh > 0)
    spdlog::warn(
        "{} assigned reviewer(s) now have a conflict of interest with their application; "
        "GET /v1/applications/{{id}} shows conflicts_flagged",
        fresh);
  stats_.found.fetch_add(fresh);
  stats_.flagged = now_flagged.size();
  stats_.checks.fetch_add(1);
  flagged_ = std::move(now_flagged);
}

}  // namespace stagewise::processor
