#include "processor/takeover.h"

#include "store/changelog.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

namespace stagewise::processor {

namespace {
constexpr int kMetadataTimeoutMs = 10'000;
}

Takeover::Takeover(store::Store& store, Options options, TakeoverStats& stats)
    : store_(store), options_(std::move(options)), stats_(stats) {}

Result<kafka::PartitionReader*> Takeover::reader() {
  if (!reader_) {
    auto r = kafka::PartitionReader::create(options_.kafka);
    if (!r) return r.error();
    reader_ = std::move(*r);
  }
  return reader_.get();
}

Result<Takeover::Scan> Takeover::scan(int32_t partition) {
  auto rd = reader();
  if (!rd) return rd.error();
  auto wm = (*rd)->watermarks(options_.changelog_topic, partition, kMetadataTimeoutMs);
  if (!wm) return wm.error();
  Scan s;
  s.lo = wm->first;
  s.hi = wm->second;
  auto each = [&](kafka::Message& m) -> Result<void> {
    const auto key = m.key();
    if (key == store::changelog::kMarkerKey) {
      store::RoundMarker marker;
      if (!store::changelog::decode(m.value(), marker))
        return make_error(Errc::corruption,
                          options_.changelog_topic + "/" + std::to_string(partition) + "@" +
                              std::to_string(m.offset()) + ": a round marker is not well-formed");
      s.last = std::move(marker);
      s.last_offset = m.offset();
    } else {
      s.keys.emplace(key);
    }
    return {};
  };
  if (auto r = (*rd)->read(options_.changelog_topic, partition, s.lo, s.hi, each,
                           options_.read_timeout_ms);
      !r)
    return r.error();
  return s;
}

Result<void> Takeover::take(int32_t partition, bool reset, bool owned_at_reset) {
  auto s = scan(partition);
  if (!s) return s.error();
  // After a reset the process that owned the partition then re-seeds it;
  // give it a moment before starting without it.
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.reset_grace_ms);
  while (reset && !owned_at_reset && !s->last && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    s = scan(partition);
    if (!s) return s.error();
  }
  const store::Lineage mine = store_.lineage(partition);
  auto held = store_.holds(partition, options_.input_topic);
  if (!held) return held.error();
  if (s->last) {
    const store::RoundMarker& m = *s->last;
    const bool ours = mine.known && m.owner == store_.id() && m.epoch == mine.epoch;
    if (ours && m.round == mine.round) {
      stats_.kept.fetch_add(1);
      spdlog::info("partition {}: the local copy is current (epoch {}, round {})", partition,
                   m.epoch, m.round);
      return {};
    }
    // Ahead of what it mirrored (rounds committed, not yet sent when the
    // process stopped): still the newest copy there is.
    if (ours && m.round < mine.round) return reseed(partition, *s);
    return restore(partition, *s);
  }
  // An empty changelog: nobody mirrored this partition (a first start, or a
  // broker whose log is new).
  if (*held && (!reset || owned_at_reset)) return reseed(partition, *s);
  return start_fresh(partition, *s);
}

Result<void> Takeover::restore(int32_t partition, const Scan& scan) {
  const store::RoundMarker& m = *scan.last;
  if (scan.lo > 0)
    return make_error(Errc::unavailable,
                      "cannot restore partition " + std::to_string(partition) + ": " +
                          options_.changelog_topic + " starts at offset " +
                          std::to_string(scan.lo) +
                          ", its older records were trimmed (the embedded broker keeps about "
                          "5 MB per partition); run several processes on a Kafka cluster whose "
                          "changelog topic has cleanup.policy=compact");
  const auto started = std::chrono::steady_clock::now();
  stats_.restoring = partition;
  spdlog::info(
      "partition {}: restoring from {} (offsets 0..{}, last round by {} epoch {} round "
      "{}, input from {})",
      partition, options_.changelog_topic, scan.last_offset, m.owner, m.epoch, m.round,
      m.next_offset);
  if (auto r = store_.drop_partition(partition, options_.input_topic); !r) return r;
  auto rd = reader();
  if (!rd) return rd.error();
  std::vector<store::ChangelogEntry> round;
  uint64_t records = 0;
  auto each = [&](kafka::Message& msg) -> Result<void> {
    const auto key = msg.key();
    if (key == store::changelog::kMarkerKey) {
      if (auto r = store_.restore_entries(round); !r) return r;
      records += round.size();
      round.clear();
      return {};
    }
    store::ChangelogEntry e{std::string(key), std::nullopt};
    if (msg.value().data() != nullptr) e.value = std::string(msg.value());
    round.push_back(std::move(e));
    return {};
  };
  auto read = (*rd)->read(options_.changelog_topic, partition, 0, scan.last_offset + 1, each,
                          options_.read_timeout_ms);
  stats_.restoring = -1;
  if (!read) return read;
  const store::Lineage next{true, m.epoch + 1, 0, m.next_offset};
  if (auto r = store_.set_lineage(partition, options_.input_topic, next); !r) return r;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  stats_.restored.fetch_add(1);
  stats_.restored_records.fetch_add(records);
  stats_.restore_ms.fetch_add(static_cast<uint64_t>(ms));
  spdlog::info("partition {}: restored {} changelog records in {} ms; input from offset {}",
               partition, records, ms, m.next_offset);
  return {};
}

// A snapshot of the local copy under a new epoch, with a tombstone for every
// key the changelog holds that the copy does not (timers that fired since).
Result<void> Takeover::reseed(int32_t partition, const Scan& scan) {
  std::vector<store::ChangelogEntry> entries;
  std::set<std::string> present;
  auto each = [&](store::ChangelogEntry&& e) {
    present.insert(e.key);
    entries.push_back(std::move(e));
  };
  if (auto r = store_.scan_partition(partition, each); !r) return r;
  for (const auto& k : scan.keys)
    if (!present.contains(k)) entries.push_back({k, std::nullopt});
  const store::Lineage mine = store_.lineage(partition);
  const uint64_t epoch = std::max(mine.epoch, scan.last ? scan.last->epoch : 0) + 1;
  int64_t next_offset = mine.known ? mine.next_offset : -1;
  if (!mine.known) {  // a store from before the changelog: its stored position
    auto positions = store_.input_positions();
    if (!positions) return positions.error();
    for (const auto& p : *positions)
      if (p.topic == options_.input_topic && p.partition == partition) next_offset = p.next_offset;
  }
  const size_t n = entries.size();
  if (auto r =
          store_.reseed(partition, options_.input_topic, std::move(entries), epoch, next_offset);
      !r)
    return r;
  stats_.reseeded.fetch_add(1);
  spdlog::info("partition {}: re-seeded {} with the local copy ({} records, epoch {})", partition,
               options_.changelog_topic, n, epoch);
  return {};
}

Result<void> Takeover::start_fresh(int32_t partition, const Scan& scan) {
  auto held = store_.holds(partition, options_.input_topic);
  if (!held) return held.error();
  if (!*held && store_.lineage(partition).known) return {};  // nothing here yet, nothing lost
  if (*held) {
    spdlog::warn(
        "partition {}: the local copy cannot be proven current (the broker's log is "
        "new and this process did not own the partition then); dropped",
        partition);
    if (auto r = store_.drop_partition(partition, options_.input_topic); !r) return r;
    stats_.dropped.fetch_add(1);
  }
  const store::Lineage next{true, (scan.last ? scan.last->epoch : 0) + 1, 0, -1};
  return store_.set_lineage(partition, options_.input_topic, next);
}

Result<void> Takeover::reseed_for_others(int32_t partition) {
  auto s = scan(partition);
  if (!s) return s.error();
  if (s->last) return {};  // somebody mirrored it already
  auto held = store_.holds(partition, options_.input_topic);
  if (!held) return held.error();
  if (!*held) return {};
  return reseed(partition, *s);
}

}  // namespace stagewise::processor
