#include "cluster/members.h"

#include "common/time.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace stagewise::cluster {

using nlohmann::json;

json to_json(const Member& m) {
  return {{"id", m.id},
          {"url", m.url},
          {"partitions", m.partitions},
          {"time_ms", m.time_ms},
          {"leaving", m.leaving}};
}

std::optional<Member> member_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  Member m;
  try {
    m.id = j.at("id").get<std::string>();
    m.url = j.at("url").get<std::string>();
    m.partitions = j.at("partitions").get<std::vector<int32_t>>();
    m.time_ms = j.at("time_ms").get<int64_t>();
    m.leaving = j.value("leaving", false);
  } catch (const json::exception&) {
    return std::nullopt;
  }
  if (m.id.empty() || m.id.size() > 128 || m.url.size() > 2048 || m.partitions.size() > 1024)
    return std::nullopt;
  return m;
}

Directory::Directory(Options options) : options_(std::move(options)) {}

Directory::~Directory() {
  stop();
}

Result<void> Directory::start() {
  auto producer = kafka::Producer::create(options_.kafka, nullptr);
  if (!producer) return producer.error();
  producer_ = std::move(*producer);
  auto reader = kafka::PartitionReader::create(options_.kafka);
  if (!reader) return reader.error();
  reader_ = std::move(*reader);
  if (auto r = reader_->follow(options_.topic, options_.topic_partitions); !r) return r;
  announcer_ = std::thread([this] { run_announcer(); });
  follower_ = std::thread([this] { run_follower(); });
  return {};
}

void Directory::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (announcer_.joinable()) announcer_.join();
  if (follower_.joinable()) follower_.join();
  if (producer_) {
    send(true);
    producer_->flush(2000).permit_unchecked_error();
  }
  reader_.reset();
  producer_.reset();
}

void Directory::announce() {
  {
    std::lock_guard lock(mu_);
    announce_now_ = true;
  }
  cv_.notify_all();
}

void Directory::send(bool leaving) {
  Member me{options_.self_id, options_.self_url, {}, now_ms(), leaving};
  if (!leaving && options_.owned) me.partitions = options_.owned();
  const std::string value = to_json(me).dump();
  // Keyed by member: a compacted topic keeps each one's latest.
  producer_->produce(options_.topic, me.id, value, {}, 0, 0).permit_unchecked_error();
  producer_->poll(0);
}

void Directory::run_announcer() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    send(false);
    lock.lock();
    cv_.wait_for(lock, options_.heartbeat, [&] { return stop_ || announce_now_; });
    announce_now_ = false;
  }
}

void Directory::run_follower() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    auto m = reader_->poll(100);
    if (!m) continue;
    const auto j = json::parse(m->value(), nullptr, false);
    auto member = member_from_json(j);
    if (!member) continue;  // not ours to read; ignore
    std::lock_guard lock(mu_);
    auto& slot = members_[member->id];
    if (member->time_ms >= slot.time_ms) slot = std::move(*member);
  }
}

bool Directory::live(const Member& m, int64_t now) const {
  return !m.leaving && m.id != options_.self_id && now - m.time_ms <= options_.dead_after.count();
}

std::optional<Member> Directory::owner_of(int32_t partition) const {
  const int64_t now = now_ms();
  std::lock_guard lock(mu_);
  std::optional<Member> best;
  for (const auto& [id, m] : members_) {
    if (!live(m, now)) continue;
    if (std::find(m.partitions.begin(), m.partitions.end(), partition) == m.partitions.end())
      continue;
    if (!best || m.time_ms > best->time_ms) best = m;
  }
  return best;
}

std::vector<Member> Directory::others() const {
  const int64_t now = now_ms();
  std::lock_guard lock(mu_);
  std::vector<Member> out;
  for (const auto& [id, m] : members_)
    if (live(m, now)) out.push_back(m);
  return out;
}

}  // namespace stagewise::cluster
