#include "processor/processor.h"

#include "common/cloudevent.h"
#include "common/partition.h"
#include "common/thread_name.h"
#include "common/time.h"
#include "processor/app_cache.h"
#include "processor/outputs.h"
#include "workflow/engine.h"
#include "workflow/self_identification.h"
#include "workflow/vocabulary.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace stagewise::processor {
namespace {

using Clock = std::chrono::steady_clock;
using TopicPartition = std::pair<std::string, int32_t>;

std::string tp_name(const TopicPartition& tp) {
  return tp.first + "/" + std::to_string(tp.second);
}

// Counted once the round is durable, so the metrics never run ahead of the
// store.
struct Counts {
  uint64_t applied = 0, moved = 0, duplicates = 0;
  std::array<uint64_t, kReasonCount> rejected{};
};

// A decoded application and the bytes of its stored encoding (what the
// cache's byte bound counts).
using Held = ApplicationCache::Entry;

// An application changed in a round: its newest state, that state's
// encoding, and the stage the store has for it before the round ("" when
// new). Written once, at hand-over, however many events changed it.
struct Changed : Held {
  std::string encoded;
  std::string stored_stage;
};

}  // namespace

// One batch of input events: built by the loop thread, then written by the
// committer thread while the loop builds the next one.
struct Processor::Round {
  store::Batch batch;
  std::unordered_map<std::string, Changed> apps;  // written in this round
  std::string scratch;                            // an encoding, before it is kept
  std::unordered_set<std::string> seen;           // dedupe keys applied
  std::map<TopicPartition, int64_t> advanced;     // next offsets
  Counts counts;
  // Of each applied event: its `time` and its message's timestamp (ms).
  std::vector<std::pair<int64_t, int64_t>> applied_times;
  std::vector<std::pair<std::string, nlohmann::json>> outcomes;     // only when awaited
  std::unordered_map<std::string, reviews::ReviewerPtr> reviewers;  // written in this round
  bool timers_added = false;
  bool assigned_profiles_changed = false;  // for the conflict watch
  Result<void> result;                     // of the commit

  void reset() {
    apps.clear();
    seen.clear();
    advanced.clear();
    counts = {};
    applied_times.clear();
    outcomes.clear();
    reviewers.clear();
    timers_added = false;
    assigned_profiles_changed = false;
    result = {};
  }
  void count_applied(const InputRef& in, const CloudEvent& ev) {
    ++counts.applied;
    applied_times.emplace_back(ev.time_ms, in.timestamp_ms);
  }
};

// State of the consume loop; touched only by the loop thread (the rebalance
// callbacks run inside Consumer::poll on that thread too).
struct Processor::Loop {
  Loop(uint64_t cache_count, uint64_t cache_bytes) : cache(cache_count, cache_bytes) {}
  std::unique_ptr<kafka::Consumer> consumer;
  std::map<TopicPartition, int64_t> next_offset;  // of assigned partitions
  std::string cluster_id;
  // Committed applications, decoded: filled after each durable commit.
  ApplicationCache cache;
  // Set by a revoke inside poll(): the round being collected was built
  // partly for partitions no longer owned, and is dropped (its events are
  // read again from the stored positions by whoever owns them now).
  bool void_round = false;

  // Two rounds: one being built, one (`inflight`) being committed.
  std::array<Round, 2> rounds;
  Round* inflight = nullptr;
  // The committer thread's hand-off.
  std::thread committer;
  std::mutex mu;
  std::condition_variable cv;
  Round* job = nullptr;  // set by the loop, cleared by the committer when done
  bool quit = false;
};

// The state an event applies to: the newest copy of the application.
// The engine changes it instead of a copy when that copy may be lost:
// `loaded` (read from the store, or taken out of the cache, whose copy the
// store also has), or `in_round`, changed earlier in the round being built,
// whose encoding gives it back when the event is not applied. The round in
// flight's copies are the committer's to read, and are copied.
struct Processor::Current {
  const workflow::Application* app = nullptr;  // null: no such application
  std::optional<workflow::Application> loaded;
  Changed* in_round = nullptr;
  workflow::Application* given() { return loaded ? &*loaded : in_round ? &in_round->app : nullptr; }
};

Processor::Processor(const workflow::Registry& registry, store::Store& store, Options options)
    : registry_(registry),
      store_(store),
      options_(std::move(options)),
      pool_(options_.reviewers ? options_.reviewers : &own_pool_) {}

Processor::~Processor() {
  stop();
}

Result<void> Processor::start() {
  if (auto r = load_reviewers(); !r) return r;
  watch_ =
      std::make_unique<ConflictWatch>(registry_, store_, *pool_, options_.conflict_check_interval);
  watch_->start();
  loop_ = std::make_unique<Loop>(options_.cache_applications, options_.cache_bytes);
  // A member that vanished without leaving holds its partitions until the
  // session times out; 10 s (not Kafka's 45 s) bounds that stall. Config wins.
  // librdkafka 2.0.2's embedded cluster ignores static membership, so there
  // only a short session makes a killed process's successor take over fast.
  const bool embedded = kafka::cluster_id(options_.kafka, 5000).rfind("mockCluster", 0) == 0;
  kafka::Properties cprops = {{"session.timeout.ms", embedded ? "3000" : "10000"},
                              {"heartbeat.interval.ms", embedded ? "500" : "1000"}};
  for (const auto& [k, v] : options_.kafka) cprops[k] = v;
  cprops["group.id"] = options_.group_id;
  if (!options_.group_instance_id.empty()) cprops["group.instance.id"] = options_.group_instance_id;
  auto consumer = kafka::Consumer::create(
      cprops, [this](std::vector<kafka::Assigned>& parts) { on_assign(parts); },
      [this](const std::vector<kafka::Assigned>& parts, bool lost) { on_revoke(parts, lost); });
  if (!consumer) return consumer.error();
  loop_->consumer = std::move(*consumer);
  if (auto r = init_partitions(); !r) return r;
  if (auto r = loop_->consumer->subscribe({options_.topics.events}); !r) return r;

  Relay::Options ro;
  ro.kafka = options_.kafka;
  ro.transactional_id = options_.transactional_id;
  ro.may_mirror = [this](int32_t partition, uint64_t epoch) {
    return may_mirror(partition, epoch);
  };
  relay_ = std::make_unique<Relay>(store_, std::move(ro));
  if (auto r = relay_->start(); !r) return r;

  if (options_.timers) {
    TimerService::Options to;
    to.kafka = options_.kafka;
    to.events_topic = options_.topics.events;
    to.notifications_topic = options_.topics.notifications;
    to.owned_partitions = [this] { return owned_partitions(); };
    to.on_outbox = [this] { wake_relay(); };
    to.internal_key = options_.internal_key;
    timers_ = std::make_unique<TimerService>(
        store_, options_.clock ? *options_.clock : system_clock_, std::move(to));
    if (auto r = timers_->start(); !r) return r;
  }
  started_ = true;
  loop_thread_ = std::thread([this] {
    name_this_thread("sw-loop");
    run_loop();
  });
  return {};
}

// The input's partition count (applications live in partition_of(id, n));
// with a changelog, its topic must mirror the input partition for partition.
Result<void> Processor::init_partitions() {
  const auto& t = options_.topics;
  auto n = kafka::partition_count(loop_->consumer->handle(), t.events, 10'000);
  if (!n) return n.error();
  partitions_ = *n;
  store_.set_partitions(*n);
  if (!options_.changelog) return {};
  auto c = kafka::partition_count(loop_->consumer->handle(), t.changelog, 10'000);
  if (!c) return c.error();
  if (*c != *n)
    return make_error(Errc::invalid_argument,
                      "topic " + t.changelog + " has " + std::to_string(*c) + " partitions and " +
                          t.events + " has " + std::to_string(*n) +
                          ": one changelog partition mirrors one input partition; recreate " +
                          t.changelog + " with " + std::to_string(*n));
  store_.mirror_to(t.changelog, t.events);
  Takeover::Options to;
  to.kafka = options_.kafka;
  to.changelog_topic = t.changelog;
  to.input_topic = t.events;
  to.reset_grace_ms = options_.reset_grace_ms;
  takeover_ = std::make_unique<Takeover>(store_, std::move(to), takeover_stats_);
  return {};
}

// The relay's gate for changelog bundles: sent only by the process that
// owns the partition in the bundle's epoch (or re-seeds it for others after
// a reset), never after the partition moved on.
bool Processor::may_mirror(int32_t partition, uint64_t epoch) const {
  {
    std::lock_guard lock(owned_mu_);
    const bool mine = assigned_.contains(partition) || reseeding_for_others_.contains(partition);
    if (!mine) return false;
  }
  return store_.lineage(partition).epoch == epoch;
}

std::vector<int32_t> Processor::owned_partitions() const {
  std::lock_guard lock(owned_mu_);
  return owned_;
}

std::string Processor::failure() const {
  if (relay_ && relay_->failed()) return relay_->failure();
  std::lock_guard lock(failure_mu_);
  return failure_;
}

void Processor::fail(const std::string& why) {
  {
    std::lock_guard lock(failure_mu_);
    if (failure_.empty()) failure_ = why;
  }
  if (!failed_.exchange(true)) spdlog::critical("processor: {}", why);
}

void Processor::stop() {
  stop_requested_ = true;
  if (timers_) timers_->stop();
  // Joined whether the loop ended on request or on a failure: a joinable
  // thread left behind would terminate the process.
  if (loop_thread_.joinable()) loop_thread_.join();
  if (relay_) relay_->stop();  // publishes what the last round left (bounded)
  if (watch_) watch_->stop();
  ready_ = false;
  started_ = false;
}

void Processor::on_assign(std::vector<kafka::Assigned>& parts) {
  finish_round();  // the stored positions must include the round in flight
  Loop& lp = *loop_;
  char* cid = rd_kafka_clusterid(lp.consumer->handle(), 5000);
  lp.cluster_id = cid ? cid : "";
  if (cid) rd_kafka_mem_free(lp.consumer->handle(), cid);
  const auto stored_cluster = store_.meta("cluster_id");
  const bool new_cluster =
      stored_cluster.ok() && !lp.cluster_id.empty() && *stored_cluster != lp.cluster_id;
  if (takeover_ && !take_over(parts, new_cluster)) {
    parts.clear();
    return;
  }
  const auto positions = store_.input_positions();
  if (!positions) {
    // Never fall back to the group's or librdkafka's offsets: that could
    // apply events twice or skip them. Take no partitions and stop.
    parts.clear();
    return fail("cannot read the stored input positions: " + positions.error().message);
  }
  store::Batch fix = store_.batch();
  for (auto& p : parts) {
    const store::InputPosition* stored = nullptr;
    for (const auto& s : *positions)
      if (s.topic == p.topic && s.partition == p.partition) stored = &s;
    const int64_t start = stored != nullptr ? start_offset(*stored, new_cluster, fix) : -1;
    p.offset = stored != nullptr ? start : RD_KAFKA_OFFSET_BEGINNING;
    lp.next_offset[{p.topic, p.partition}] = start;
  }
  if (!lp.cluster_id.empty()) fix.set_meta("cluster_id", lp.cluster_id);
  std::vector<int32_t> owned;
  std::string assigned;  // what this process had when the broker's log was replaced, if it is
  for (const auto& p : parts) {
    if (p.topic != options_.topics.events) continue;
    owned.push_back(p.partition);
    assigned += (assigned.empty() ? "" : ",") + std::to_string(p.partition);
  }
  fix.set_meta("assigned", assigned);
  if (auto r = store_.commit(fix); !r) {
    parts.clear();
    return fail("cannot record input positions: " + r.error().message);
  }
  start_serving(std::move(owned));
}

// Where an assigned partition resumes: its stored position, unless the
// broker's log is new (its start) or was trimmed past it (a gap, recorded
// in `fix`).
int64_t Processor::start_offset(const store::InputPosition& stored, bool new_cluster,
                                store::Batch& fix) {
  const TopicPartition tp{stored.topic, stored.partition};
  const auto wm = loop_->consumer->watermarks(stored.topic, stored.partition, 5000);
  const int64_t lo = wm ? wm->first : 0, hi = wm ? wm->second : stored.next_offset;
  int64_t start = stored.next_offset;
  if (new_cluster || stored.next_offset > hi) {
    spdlog::warn(
        "input log of {} was reset (stored offset {} is past its end {}{}): the broker's "
        "log is new; continuing from its start with the stored state intact",
        tp_name(tp), stored.next_offset, hi, new_cluster ? ", new cluster id" : "");
    stats_.log_resets.fetch_add(1);
    start = lo;
  } else if (stored.next_offset < lo) {
    spdlog::error(
        "GAP in {}: offsets {}..{} were trimmed by the broker before they were consumed; {} "
        "events are lost to stagewise and recorded as a gap",
        tp_name(tp), stored.next_offset, lo - 1, lo - stored.next_offset);
    stats_.gaps.fetch_add(1);
    stats_.gap_messages.fetch_add(static_cast<uint64_t>(lo - stored.next_offset));
    fix.set_meta("gap/" + tp_name(tp) + "/" + std::to_string(stored.next_offset),
                 std::to_string(lo));
    start = lo;
  }
  if (start != stored.next_offset) fix.set_input_position({stored.topic, stored.partition, start});
  return start;
}

// The assigned partitions are taken over and their positions durable: they
// are served, applied and their timers fired from now on.
void Processor::start_serving(std::vector<int32_t> owned) {
  if (takeover_) store_.set_owned(owned);
  const size_t n = owned.size();
  {
    std::lock_guard lock(owned_mu_);
    owned_ = std::move(owned);
  }
  if (timers_) timers_->poke();  // overdue timers of these partitions fire now
  spdlog::info("assigned {} input partitions", n);
  ready_ = true;
  if (options_.on_owned_changed) options_.on_owned_changed();
}

// Takes each assigned input partition over (Takeover: keep, restore,
// re-seed or drop the local copy) before anything is applied to it. After
// a reset, copies this process had then and is not assigned now are
// re-seeded for their new owners. False when the process failed.
bool Processor::take_over(const std::vector<kafka::Assigned>& parts, bool reset) {
  std::set<int32_t> at_reset;
  if (reset)
    if (auto a = store_.meta("assigned"); a.ok())
      for (size_t pos = 0; pos < a->size();) {
        const size_t comma = std::min(a->find(',', pos), a->size());
        at_reset.insert(std::atoi(a->substr(pos, comma - pos).c_str()));
        pos = comma + 1;
      }
  std::set<int32_t> now;
  for (const auto& p : parts)
    if (p.topic == options_.topics.events) now.insert(p.partition);
  {
    std::lock_guard lock(owned_mu_);  // what a take-over re-seeds may be mirrored
    assigned_ = now;
  }
  for (const auto& p : parts) {
    if (p.topic != options_.topics.events) continue;
    if (auto r = takeover_->take(p.partition, reset, at_reset.contains(p.partition)); !r) {
      fail("cannot take over input partition " + std::to_string(p.partition) + ": " +
           r.error().message);
      return false;
    }
  }
  for (const int32_t p : at_reset) {
    if (now.contains(p)) continue;
    {
      std::lock_guard lock(owned_mu_);
      reseeding_for_others_.insert(p);
    }
    if (auto r = takeover_->reseed_for_others(p); !r)
      spdlog::warn("partition {}: cannot re-seed the changelog for its new owner: {}", p,
                   r.error().message);
  }
  return true;
}

// Losing partitions: they are not served and their timers not fired from
// now on; the round in flight (built while they were owned) is committed,
// and mirrored before they go, unless they were lost (the session ran out:
// another process may own them already, so nothing more of them is
// mirrored); the round being collected is dropped.
void Processor::on_revoke(const std::vector<kafka::Assigned>& parts, bool lost) {
  ready_ = false;
  if (takeover_) store_.set_owned({});
  {
    std::lock_guard lock(owned_mu_);
    owned_.clear();
    if (lost) assigned_.clear();
  }
  if (lost) {
    stats_.partitions_lost.fetch_add(parts.size());
    spdlog::warn(
        "lost {} input partitions (the group session ran out); their last round is "
        "kept here but not mirrored",
        parts.size());
  }
  finish_round();
  Loop& lp = *loop_;
  lp.void_round = true;
  if (!lost && takeover_ && relay_ &&
      !relay_->drain(store_.last_outbox_seq(), std::chrono::seconds(10)))
    spdlog::warn(
        "revoke: the outbox was not published within 10 s; the next owner restores "
        "from what was");
  for (const auto& p : parts) lp.next_offset.erase({p.topic, p.partition});
  lp.cache.clear();
  stats_.cache_bytes = 0;
  {
    std::lock_guard lock(owned_mu_);
    assigned_.clear();
  }
  if (options_.on_owned_changed) options_.on_owned_changed();
  spdlog::info("revoked {} input partitions", parts.size());
}

void Processor::run_loop() {
  Loop& lp = *loop_;
  // Each round's batch is reused: a commit empties it but keeps its
  // buffers, so a busy loop does not grow (and page-fault) a fresh
  // multi-megabyte write batch every round.
  for (auto& r : lp.rounds) r.batch = store_.batch();
  lp.committer = std::thread([this] {
    name_this_thread("sw-commit");
    run_committer();
  });
  Round* cur = &lp.rounds[0];
  while (!stop_requested_ && !failed_) {
    cur->reset();
    collect_round(*cur);
    update_lag();
    if (failed_) break;  // nothing of this round is committed
    if (cur->advanced.empty()) {
      finish_round();  // idle: settle the round in flight now
      continue;
    }
    if (!hand_over(cur)) break;
    cur = cur == &lp.rounds[0] ? &lp.rounds[1] : &lp.rounds[0];
  }
  finish_round();
  {
    std::lock_guard lock(lp.mu);
    lp.quit = true;
  }
  lp.cv.notify_all();
  lp.committer.join();
  lp.consumer->close();
}

// Polls and handles messages until the round is full or its time is up.
void Processor::collect_round(Round& r) {
  const size_t max_events = static_cast<size_t>(std::max(1, options_.batch_max_events));
  const auto max_wait = std::chrono::milliseconds(std::max(0, options_.batch_max_ms));
  size_t n = 0;
  const auto first = Clock::now();
  bool any = false;
  while (n < max_events && !stop_requested_ && !failed_) {
    const auto elapsed = Clock::now() - first;
    if (any && elapsed >= max_wait) break;
    const int timeout =
        any ? static_cast<int>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(max_wait - elapsed).count())
            : 100;
    auto msgs = loop_->consumer->poll(max_events - n, std::max(timeout, 0));
    if (loop_->void_round) {  // partitions were revoked inside poll()
      loop_->void_round = false;
      r.batch.clear();
      r.reset();
      n = 0;
      any = false;
    }
    if (msgs.empty()) {
      if (any) break;
      finish_round();  // idle: settle the round in flight (cache, group offsets)
      continue;
    }
    for (auto& m : msgs) {
      if (m.err() != RD_KAFKA_RESP_ERR_NO_ERROR) {
        stats_.consumer_errors.fetch_add(1);
        const Error e = m.error();
        if (e.fatal) return fail(e.message + " (" + loop_->consumer->fatal_error() + ")");
        spdlog::warn("consumer: {} ({})", m.error_text(), rd_kafka_err2name(m.err()));
        continue;
      }
      any = true;
      ++n;
      handle_message(r, m);
      if (failed_) return;
    }
  }
}

void Processor::handle_message(Round& r, kafka::Message& m) {
  stats_.consumed.fetch_add(1);
  const TopicPartition tp{m.topic(), m.partition()};
  // Offsets of one partition are contiguous for stagewise's producers; a
  // jump means the broker trimmed messages we never saw.
  if (auto it = loop_->next_offset.find(tp);
      it != loop_->next_offset.end() && it->second >= 0 && m.offset() > it->second) {
    spdlog::error("GAP in {}: offsets {}..{} were never delivered (trimmed by the broker)",
                  tp_name(tp), it->second, m.offset() - 1);
    stats_.gaps.fetch_add(1);
    stats_.gap_messages.fetch_add(static_cast<uint64_t>(m.offset() - it->second));
    r.batch.set_meta("gap/" + tp_name(tp) + "/" + std::to_string(it->second),
                     std::to_string(m.offset()));
  }
  loop_->next_offset[tp] = m.offset() + 1;
  r.advanced[tp] = m.offset() + 1;

  const Headers headers = m.headers();
  const InputRef in{tp.first, tp.second, m.offset(), m.key(), m.value(), &headers, m.timestamp()};
  auto decoded = decode_input(headers, m.value(), options_.max_event_bytes, options_.envelope);
  if (auto* err = std::get_if<DecodeError>(&decoded))
    return reject(r, in, err->reason, err->message, err->event_id, "");
  CloudEvent& ev = std::get<CloudEvent>(decoded);
  // Whatever becomes of it now, an event the HTTP intake holds is resolved,
  // and one awaited gets its outcome.
  if (store_.intake_count() > 0) r.batch.intake_done(ev.source, ev.id);
  std::string dedupe_key = OutcomeBoard::key(ev.source, ev.id);
  if (auto why = misplaced(ev, tp))
    return reject(r, in, Reason::wrong_partition, *why, ev.id, ev.subject, &dedupe_key);
  // The message's timestamp is part of the log, so a replay decides alike.
  if (const int64_t sent = m.timestamp(); sent > 0)
    if (auto late = check_time(ev, sent, options_.time_window))
      return reject(r, in, late->reason, late->message, ev.id, ev.subject, &dedupe_key);
  if (auto why = options_.trust.refuse(ev))
    return reject(r, in, Reason::unauthorized, *why, ev.id, ev.subject, &dedupe_key);
  if (is_duplicate(r, ev, dedupe_key)) return;
  if (workflow::is_reference_type(ev.type))
    return apply_reference(r, in, std::move(ev), std::move(dedupe_key));
  apply_event(r, in, std::move(ev), std::move(dedupe_key));
}

// Why an event is in the wrong input partition, if it is: every event of
// an application must arrive in the one partition its owner applies.
std::optional<std::string> Processor::misplaced(const CloudEvent& ev,
                                                const std::pair<std::string, int32_t>& tp) const {
  const int32_t n = partitions_.load();
  if (n <= 0 || tp.first != options_.topics.events) return std::nullopt;
  const int32_t home = partition_of(ev.subject, n);
  if (home == tp.second) return std::nullopt;
  return "application \"" + ev.subject + "\" lives in input partition " + std::to_string(home) +
         " of " + std::to_string(n) + " (CRC-32 of its id, librdkafka's default partitioner), " +
         "but this event arrived in partition " + std::to_string(tp.second) +
         ": produce events with their subject as the key and that partitioner";
}

// Whether (source, id) was applied already: in this round, the round in
// flight, or a committed one. A store that cannot answer fails the loop:
// guessing "not seen" could apply an event twice.
bool Processor::is_duplicate(Round& r, const CloudEvent& ev, const std::string& key) {
  // The round in flight is read (not written) here while the committer
  // writes it; read inflight each time: a rebalance inside poll() settles
  // it and moves its applications into the cache.
  const Round* prev = loop_->inflight;
  bool dup = r.seen.count(key) > 0 || (prev && prev->seen.count(key) > 0);
  if (!dup) {
    const auto s = store_.seen(ev.source, ev.id);
    if (!s) {
      fail("cannot read dedupe ids: " + s.error().message);
      return true;
    }
    dup = *s;
  }
  if (!dup) return false;
  if (options_.outcomes != nullptr && options_.outcomes->wanted())
    r.outcomes.emplace_back(key, nlohmann::json{{"status", "duplicate"}});
  ++r.counts.duplicates;
  spdlog::debug("duplicate event {} from {} ignored", ev.id, ev.source);
  return true;
}

// The newest copy of an application: this round's, the round in flight's,
// the cache's, or the store's. False when the store failed.
bool Processor::load_current(Round& r, const std::string& id, Current& out) {
  const Round* prev = loop_->inflight;
  if (auto it = r.apps.find(id); it != r.apps.end()) {
    out.in_round = &it->second;
    out.app = &it->second.app;
  } else if (auto pit = prev ? prev->apps.find(id) : r.apps.end();
             prev && pit != prev->apps.end()) {
    out.app = &pit->second.app;
  } else if (auto cached = loop_->cache.take(id)) {
    // Taken out: this round's copy replaces it once durable (cache_round),
    // and a rejected event leaves nothing the store does not have.
    out.loaded = std::move(cached->app);
    out.app = &*out.loaded;
  } else {
    stats_.cache_misses.fetch_add(1, std::memory_order_relaxed);
    auto got = store_.application(id);
    if (got.ok()) {
      out.loaded = std::move(*got);
      out.app = &*out.loaded;
    } else if (!got.error().is_not_found()) {
      // Do not guess; stop before committing anything of this round.
      fail("cannot read application " + id + " from the store: " + got.error().message);
      return false;
    }
  }
  return true;
}

// The reviewer profiles an event sees: this round's, the round in flight's,
// then the pool's (DESIGN.md §12).
class Processor::RoundReviewers : public workflow::ReviewerDirectory {
 public:
  RoundReviewers(const Processor& p, const Round& r) : p_(p), r_(r) {}
  const nlohmann::json* profile(const std::string& reviewer) const override {
    held_ = p_.current_reviewer(r_, reviewer);
    return held_ ? &held_->profile : nullptr;
  }

 private:
  const Processor& p_;
  const Round& r_;
  mutable reviews::ReviewerPtr held_;  // keeps the profile alive during apply()
};

void Processor::apply_event(Round& r, const InputRef& in, CloudEvent&& ev,
                            std::string&& dedupe_key) {
  Current current;
  if (!load_current(r, ev.subject, current)) return;
  const RoundReviewers reviewers(*this, r);
  const std::string old_stage = current.app ? current.app->stage : "";
  const bool existed = current.app != nullptr;
  workflow::Application* given = current.given();
  auto outcome =
      given ? workflow::apply(registry_, std::move(*given), ev, options_.engine, &reviewers)
            : workflow::apply(registry_, current.app, ev, options_.engine, &reviewers);
  if (auto* rej = std::get_if<workflow::Rejected>(&outcome)) {
    give_back(r, ev.subject, current);
    return reject(r, in, rej->reason, rej->message, ev.id, ev.subject, &dedupe_key);
  }
  auto& applied = std::get<workflow::Applied>(outcome);
  const std::string subject = ev.subject;
  if (!record_applied(r, in, applied, std::move(ev), old_stage, existed, std::move(dedupe_key)))
    give_back(r, subject, current);
}

// An event not applied leaves the round's copy the engine was given as it
// was: decoded from the round's encoding of it (the store's format, so the
// same state a later round would read from the store).
void Processor::give_back(Round& r, const std::string& id, Current& current) {
  if (current.in_round == nullptr) return;
  Changed& c = *current.in_round;
  if (!r.batch.decode_application(c.encoded, c.app))
    fail("cannot decode this round's copy of application " + id + " (a bug)");
}

bool Processor::record_applied(Round& r, const InputRef& in, workflow::Applied& applied,
                               CloudEvent&& ev, const std::string& old_stage, bool existed,
                               std::string&& dedupe_key) {
  // The history keeps the event's data, but for self-identification, which
  // only the application keeps (apart). Sealed first: the application holds
  // the chain's new head (DESIGN.md §14).
  workflow::drop_self_identification(ev.data);
  store::SealedEntry entry = r.batch.seal(
      ev.subject, history_entry(applied, std::move(ev), in.topic, in.partition, in.offset),
      applied.next.history_head);
  const size_t bytes = r.batch.encode_application(applied.next, r.scratch);
  if (bytes > options_.max_application_bytes) {
    reject(r, in, Reason::invalid_data,
           "application \"" + ev.subject + "\" would grow past " +
               std::to_string(options_.max_application_bytes) +
               " bytes (processor.max_application_bytes); keep large content outside "
               "stagewise and send its uri",
           ev.id, ev.subject, &dedupe_key);
    return false;
  }
  const std::string subject = ev.subject;
  if ((ev.type == "application.updated" || ev.type == "application.document_added") &&
      applied.next.facts.contains("reviewers") && !applied.next.facts["reviewers"].empty())
    r.assigned_profiles_changed = true;
  if (ev.type == workflow::kErased) {
    r.batch.drop_dead_letter_originals(subject);
    r.batch.add_outbox(erased_notice(options_.topics.status, applied, ev));
  }
  if (applied.moved) r.batch.add_outbox(stage_changed(options_.topics.status, applied, ev));
  for (size_t i = 0; i < applied.notifications.size(); ++i)
    r.batch.add_outbox(
        notification(options_.topics.notifications, applied, applied.notifications[i], i, ev));
  if (applied.reset_timers && existed) r.batch.cancel_timers(subject);
  for (const auto& t : applied.timers) {
    r.batch.add_timer({subject, applied.next.program, in.partition, t});
    r.timers_added = true;
  }
  r.batch.mark_seen(ev.source, ev.id);
  if (options_.outcomes != nullptr && options_.outcomes->wanted())
    r.outcomes.emplace_back(
        dedupe_key,
        nlohmann::json{{"status", "applied"},
                       {"application", subject},
                       {"from", applied.from ? nlohmann::json(*applied.from) : nlohmann::json()},
                       {"stage", applied.to},
                       {"moved", applied.moved},
                       {"sequence", applied.next.sequence}});
  r.seen.insert(std::move(dedupe_key));
  r.counts.moved += applied.moved ? 1 : 0;
  r.count_applied(in, ev);
  spdlog::debug("applied {} {} to {}: {} -> {}", ev.type, ev.id, subject, old_stage, applied.to);
  r.batch.add_history(std::move(entry));
  auto [it, fresh] = r.apps.try_emplace(subject);
  if (fresh) it->second.stored_stage = old_stage;
  it->second.app = std::move(applied.next);
  it->second.bytes = bytes;
  it->second.encoded.swap(r.scratch);
  return true;
}

reviews::ReviewerPtr Processor::current_reviewer(const Round& r, const std::string& id) const {
  if (auto it = r.reviewers.find(id); it != r.reviewers.end()) return it->second;
  if (const Round* prev = loop_->inflight)
    if (auto it = prev->reviewers.find(id); it != prev->reviewers.end()) return it->second;
  auto held = pool_->get(id);
  // A partition taken over restores its reviewers into the store: that copy
  // may be newer than the pool's until the reviewers topic brings it.
  const auto stored = store_.reviewer(id);
  if (!stored) return held;
  auto rec = reviews::reviewer_from_json(nlohmann::json::parse(*stored, nullptr, false));
  if (!rec || rec->id != id || (held && rec->revision <= held->revision)) return held;
  auto newer = std::make_shared<const reviews::ReviewerRecord>(std::move(*rec));
  pool_->put(newer);
  return newer;
}

// A reviewer's profile or affinity scores (reference data, DESIGN.md §12):
// kept in the store with the round, mirrored with its id's partition, and
// published on the reviewers topic for every process's pool.
void Processor::apply_reference(Round& r, const InputRef& in, CloudEvent&& ev,
                                std::string&& dedupe_key) {
  const auto held = current_reviewer(r, ev.subject);
  auto outcome = reviews::apply_reference(held.get(), ev, options_.profile_limits);
  if (auto* rej = std::get_if<reviews::ReferenceRejected>(&outcome))
    return reject(r, in, rej->reason, rej->message, ev.id, ev.subject, &dedupe_key);
  auto next = std::make_shared<const reviews::ReviewerRecord>(
      std::move(std::get<reviews::ReviewerRecord>(outcome)));
  std::string value = reviews::to_json(*next).dump();
  // Every process holds the whole pool in memory: bounded.
  const uint64_t before = held ? reviews::encoded_size(*held) : 0;
  if (pool_->bytes() - std::min(before, pool_->bytes()) + value.size() >
      options_.profile_limits.max_pool_bytes)
    return reject(r, in, Reason::invalid_data,
                  "the reviewer pool would grow past " +
                      std::to_string(options_.profile_limits.max_pool_bytes) +
                      " bytes; remove unused affinity scores (null) or reviewers' long fields",
                  ev.id, ev.subject, &dedupe_key);
  r.batch.put_reviewer(next->id, value);
  store::OutboxRecord out;
  out.topic = options_.topics.reviewers;
  out.key = next->id;
  out.value = std::move(value);
  out.headers = {{"content-type", "application/json"}};
  r.batch.add_outbox(std::move(out));
  r.batch.mark_seen(ev.source, ev.id);
  if (options_.outcomes != nullptr && options_.outcomes->wanted())
    r.outcomes.emplace_back(dedupe_key, nlohmann::json{{"status", "applied"},
                                                       {"reviewer", next->id},
                                                       {"revision", next->revision}});
  r.seen.insert(std::move(dedupe_key));
  r.count_applied(in, ev);
  r.reviewers.insert_or_assign(next->id, std::move(next));
}

// Every reviewer the store holds goes into the pool before the first event.
Result<void> Processor::load_reviewers() {
  size_t bad = 0;
  auto each = [&](const std::string& id, std::string&& value) {
    const auto j = nlohmann::json::parse(value, nullptr, false);
    auto rec = reviews::reviewer_from_json(j);
    if (!rec || rec->id != id) return void(++bad);
    pool_->put(std::make_shared<const reviews::ReviewerRecord>(std::move(*rec)));
  };
  if (auto r = store_.reviewers(each); !r) return r;
  if (bad > 0) spdlog::warn("{} stored reviewer records could not be read; skipped", bad);
  return {};
}

// Dead-letters an input; its outcome is published when someone waits for it
// (`outcome_key`: the event's (source, id), once known). The log line says
// where and why by code, never the message: messages may name people (an
// actor's id can be an e-mail address); GET /v1/deadletters/{id} has it.
void Processor::reject(Round& r, const InputRef& in, Reason reason, const std::string& message,
                       const std::string& event_id, const std::string& subject,
                       const std::string* outcome_key) {
  ++r.counts.rejected[static_cast<size_t>(reason)];
  auto rejection = dead_letter(options_.topics.deadletter, in, reason, message, event_id, subject,
                               now_ms(), options_.dead_letters);
  spdlog::warn("rejected input at {}/{}@{}: {} (dead letter {})", in.topic, in.partition, in.offset,
               reason_code(reason), rejection.kept.id);
  if (outcome_key != nullptr && options_.outcomes != nullptr && options_.outcomes->wanted())
    r.outcomes.emplace_back(*outcome_key, nlohmann::json{{"status", "rejected"},
                                                         {"reason", reason_code(reason)},
                                                         {"message", message}});
  r.batch.add_outbox(std::move(rejection.record));
  r.batch.add_dead_letter(std::move(rejection.kept));
}

// Hands a full round to the committer. One round in flight at a time: the
// previous must be durable (and the cache hold its applications) first.
bool Processor::hand_over(Round* r) {
  for (auto& [id, changed] : r->apps) {
    r->batch.put_encoded(changed.app, changed.encoded, changed.stored_stage);
    std::string().swap(changed.encoded);  // the cache keeps the decoded state only
  }
  for (const auto& [tp, next] : r->advanced)
    r->batch.set_input_position({tp.first, tp.second, next});
  if (!finish_round()) return false;
  Loop& lp = *loop_;
  {
    std::lock_guard lock(lp.mu);
    lp.job = r;
  }
  lp.cv.notify_all();
  lp.inflight = r;
  return true;
}

// The committer thread: writes each handed-over round, then publishes what
// only a durable round may publish (metrics, awaited outcomes, the relay's
// wake-up).
void Processor::run_committer() {
  Loop& lp = *loop_;
  for (;;) {
    Round* r = nullptr;
    {
      std::unique_lock lock(lp.mu);
      lp.cv.wait(lock, [&] { return lp.job != nullptr || lp.quit; });
      if (lp.job == nullptr) return;
      r = lp.job;
    }
    r->result = store_.commit(r->batch);
    if (r->result) {
      stats_.batches.fetch_add(1);
      if (r->timers_added && timers_) timers_->poke();
      stats_.applied.fetch_add(r->counts.applied);
      observe_latency(*r);
      stats_.moved.fetch_add(r->counts.moved);
      stats_.duplicates.fetch_add(r->counts.duplicates);
      for (size_t i = 0; i < kReasonCount; ++i) stats_.rejected[i].fetch_add(r->counts.rejected[i]);
      // The pool first: whoever waited for the outcome reads the new profile.
      for (auto& [id, reviewer] : r->reviewers) pool_->put(reviewer);
      book_round(*r);
      for (auto& [key, outcome] : r->outcomes) options_.outcomes->publish(key, std::move(outcome));
      if (r->assigned_profiles_changed && watch_) watch_->poke();
      wake_relay();
    }
    {
      std::lock_guard lock(lp.mu);
      lp.job = nullptr;
    }
    lp.cv.notify_all();
  }
}

// How long each event of a durable round took to be applied: from its
// `time` (as its sender says) and from its message's timestamp (when it
// was produced). A clock ahead of ours counts as 0 (Histogram::observe).
void Processor::observe_latency(const Round& r) {
  const auto now = static_cast<double>(now_ms());
  for (const auto& [event_ms, produced_ms] : r.applied_times) {
    stats_.event_age.observe((now - static_cast<double>(event_ms)) / 1000.0);
    if (produced_ms > 0)
      stats_.event_queue.observe((now - static_cast<double>(produced_ms)) / 1000.0);
  }
}

// On the loop thread: waits for the round in flight, then moves its
// applications into the cache and commits its offsets to the group. False
// when the commit failed (the loop stops: nothing of that round is stored,
// and a restart resumes from the last committed offsets).
bool Processor::finish_round() {
  Loop& lp = *loop_;
  Round* r = lp.inflight;
  if (r == nullptr) return !failed_;
  {
    std::unique_lock lock(lp.mu);
    lp.cv.wait(lock, [&] { return lp.job == nullptr; });
  }
  lp.inflight = nullptr;
  if (!r->result) {
    fail("cannot commit a batch to the store: " + r->result.error().message);
    return false;
  }
  cache_round(*r);
  std::vector<kafka::Assigned> commit;
  for (const auto& [tp, next] : r->advanced) commit.push_back({tp.first, tp.second, next});
  lp.consumer->commit(commit, /*async=*/true).permit_unchecked_error();
  return true;
}

// The reports' rows of a durable round's applications.
void Processor::book_round(const Round& r) {
  if (options_.reports == nullptr) return;
  for (const auto& [id, held] : r.apps)
    options_.reports->put(
        reports::make_row(held.app, registry_.find(held.app.program, held.app.workflow_version)),
        store_);
}

// Keeps a durable round's applications decoded, as the newest in the cache.
void Processor::cache_round(Round& r) {
  Loop& lp = *loop_;
  for (auto& [id, changed] : r.apps) lp.cache.put(id, Held(std::move(changed)));
  stats_.cache_bytes = lp.cache.bytes();
}

void Processor::update_lag() {
  int64_t lag = 0;
  std::map<int32_t, int64_t> by_partition;
  for (const auto& [tp, next] : loop_->next_offset) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_get_watermark_offsets(loop_->consumer->handle(), tp.first.c_str(), tp.second, &lo,
                                       &hi) != RD_KAFKA_RESP_ERR_NO_ERROR)
      continue;
    const int64_t behind = std::max<int64_t>(0, hi - std::max(next, lo));
    lag += behind;
    by_partition[tp.second] = behind;
  }
  stats_.lag = lag;
  std::lock_guard lock(owned_mu_);
  lag_by_partition_ = std::move(by_partition);
}

std::map<int32_t, int64_t> Processor::partition_lag() const {
  std::lock_guard lock(owned_mu_);
  std::map<int32_t, int64_t> out;
  for (const int32_t p : owned_) {
    const auto it = lag_by_partition_.find(p);
    out[p] = it == lag_by_partition_.end() ? 0 : it->second;
  }
  return out;
}

}  // namespace stagewise::processor
