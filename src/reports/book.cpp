#include "reports/book.h"

#include "common/partition.h"
#include "common/time.h"

#include <algorithm>

namespace stagewise::reports {

int32_t Book::partition_key(const store::Store& store, const std::string& id) {
  const int32_t n = store.partitions();
  return store.serves_every_partition() || n <= 0 ? -1 : partition_of(id, n);
}

void Book::put(Row row, const store::Store& store) {
  const int32_t p = partition_key(store, row.id);
  std::unique_lock lock(mu_);
  keep(std::move(row), p);
}

void Book::keep(Row&& row, int32_t partition) {
  auto& apps = programs_[row.program];
  const auto it = apps.find(row.id);
  if (it != apps.end() && it->second.row.sequence > row.sequence) return;
  std::string id = row.id;
  apps.insert_or_assign(std::move(id), Held{std::move(row), partition});
}

void Book::each(const std::string& program, const std::function<void(const Row&)>& each) const {
  std::shared_lock lock(mu_);
  const auto it = programs_.find(program);
  if (it == programs_.end()) return;
  for (const auto& [id, held] : it->second) each(held.row);
}

size_t Book::size() const {
  std::shared_lock lock(mu_);
  size_t n = 0;
  for (const auto& [program, apps] : programs_) n += apps.size();
  return n;
}

void Book::forget(int32_t partition) {
  std::unique_lock lock(mu_);
  for (auto& [program, apps] : programs_)
    std::erase_if(apps, [&](const auto& kv) { return kv.second.partition == partition; });
}

void Book::forget_unless(const std::map<int32_t, uint64_t>& want) {
  std::unique_lock lock(mu_);
  for (auto& [program, apps] : programs_)
    std::erase_if(apps, [&](const auto& kv) { return !want.contains(kv.second.partition); });
}

Result<void> Book::load(const store::Store& store, const workflow::Registry& registry,
                        int32_t partition) {
  std::vector<Row> rows;
  Result<void> failed;
  auto r = store.each_application(partition, [&](workflow::Application&& app) {
    if (app.stays.empty() && failed) {
      if (auto h = store.history(app.id); h)
        app.stays = stays_from_history(*h);
      else if (h.error().code != Errc::unavailable)
        failed = h.error();
    }
    rows.push_back(make_row(app, registry.find(app.program, app.workflow_version)));
  });
  if (!r) return r;
  if (!failed) return failed;
  std::unique_lock lock(mu_);
  for (auto& row : rows) keep(std::move(row), partition);
  return {};
}

Result<void> Book::refresh(const store::Store& store, const workflow::Registry& registry) {
  std::lock_guard guard(refresh_mu_);
  std::map<int32_t, uint64_t> want;
  if (store.serves_every_partition() || store.partitions() <= 0)
    want[-1] = 0;
  else
    for (const int32_t p : store.owned()) want[p] = store.lineage(p).epoch;
  for (auto it = loaded_.begin(); it != loaded_.end();) {
    const auto w = want.find(it->first);
    if (w != want.end() && w->second == it->second) {
      ++it;
      continue;
    }
    forget(it->first);
    it = loaded_.erase(it);
  }
  // Rows of partitions never loaded here: the processor's last round before
  // a revoke can put some after the store stopped serving them.
  forget_unless(want);
  for (const auto& [p, epoch] : want) {
    if (loaded_.contains(p)) continue;
    if (auto r = load(store, registry, p); !r) return r;
    loaded_[p] = epoch;
  }
  return {};
}

std::vector<workflow::StageStay> stays_from_history(
    const std::vector<store::HistoryEntry>& history) {
  std::vector<workflow::StageStay> out;
  std::string at;
  int64_t since = 0;
  for (const auto& h : history) {
    if (h.from && *h.from == h.to) continue;
    const int64_t t = parse_rfc3339_ms(h.time).value_or(since);
    for (auto& s : out)
      if (s.stage == at) s.spent_ms += std::max<int64_t>(0, t - since);
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const workflow::StageStay& s) { return s.stage == h.to; });
    if (it == out.end()) it = out.insert(out.end(), {h.to, t, 0, 0});
    ++it->visits;
    at = h.to;
    since = t;
  }
  return out;
}

}  // namespace stagewise::reports
