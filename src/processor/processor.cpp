#include "processor/processor.h"

#include "common/cloudevent.h"
#include "common/time.h"
#include "processor/outputs.h"
#include "workflow/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
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

}  // namespace

// One batch of input events: built by the loop thread, then written by the
// committer thread while the loop builds the next one.
struct Processor::Round {
  store::Batch batch;
  std::unordered_map<std::string, workflow::Application> apps;  // written in this round
  std::unordered_set<std::string> seen;                         // dedupe keys applied
  std::map<TopicPartition, int64_t> advanced;                   // next offsets
  Counts counts;
  std::vector<std::pair<std::string, nlohmann::json>> outcomes;  // only when awaited
  bool timers_added = false;
  Result<void> result;  // of the commit

  void reset() {
    apps.clear();
    seen.clear();
    advanced.clear();
    counts = {};
    outcomes.clear();
    timers_added = false;
    result = {};
  }
};

// State of the consume loop; touched only by the loop thread (the rebalance
// callback runs inside Consumer::poll on that thread too).
struct Processor::Loop {
  std::unique_ptr<kafka::Consumer> consumer;
  std::map<TopicPartition, int64_t> next_offset;  // of assigned partitions
  std::string cluster_id;
  // Committed applications, decoded. Filled after each durable commit; an
  // arbitrary entry goes when full.
  std::unordered_map<std::string, workflow::Application> cache;

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

struct Processor::Relay {
  std::unique_ptr<kafka::Producer> producer;
  std::vector<uint64_t> delivered;
  uint64_t in_flight = 0;
  bool failed = false;
};

Processor::Processor(const workflow::Registry& registry, store::Store& store, Options options)
    : registry_(registry), store_(store), options_(std::move(options)) {}

Processor::~Processor() {
  stop();
}

Result<void> Processor::start() {
  loop_ = std::make_unique<Loop>();
  relay_ = std::make_unique<Relay>();

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
      cprops,
      [this](std::vector<kafka::Assigned>& parts) {
        finish_round();  // the stored positions must include the round in flight
        const auto positions = store_.input_positions();
        if (!positions) {
          spdlog::error("cannot read input positions: {}", positions.error().message);
          return;
        }
        char* cid = rd_kafka_clusterid(loop_->consumer->handle(), 5000);
        loop_->cluster_id = cid ? cid : "";
        if (cid) rd_kafka_mem_free(loop_->consumer->handle(), cid);
        const auto stored_cluster = store_.meta("cluster_id");
        const bool new_cluster = stored_cluster.ok() && !loop_->cluster_id.empty() &&
                                 *stored_cluster != loop_->cluster_id;
        store::Batch fix = store_.batch();
        for (auto& p : parts) {
          const TopicPartition tp{p.topic, p.partition};
          const store::InputPosition* stored = nullptr;
          for (const auto& s : *positions)
            if (s.topic == p.topic && s.partition == p.partition) stored = &s;
          int64_t start = 0;
          if (stored != nullptr) {
            const auto wm = loop_->consumer->watermarks(p.topic, p.partition, 5000);
            const int64_t lo = wm ? wm->first : 0, hi = wm ? wm->second : stored->next_offset;
            if (new_cluster || stored->next_offset > hi) {
              spdlog::warn(
                  "input log of {} was reset (stored offset {} is past its end {}{}): the "
                  "broker's log is new; continuing from its start with the stored state intact",
                  tp_name(tp), stored->next_offset, hi, new_cluster ? ", new cluster id" : "");
              stats_.log_resets.fetch_add(1);
              start = lo;
            } else if (stored->next_offset < lo) {
              spdlog::error(
                  "GAP in {}: offsets {}..{} were trimmed by the broker before they were "
                  "consumed; {} events are lost to stagewise and recorded as a gap",
                  tp_name(tp), stored->next_offset, lo - 1, lo - stored->next_offset);
              stats_.gaps.fetch_add(1);
              stats_.gap_messages.fetch_add(static_cast<uint64_t>(lo - stored->next_offset));
              fix.set_meta("gap/" + tp_name(tp) + "/" + std::to_string(stored->next_offset),
                           std::to_string(lo));
              start = lo;
            } else {
              start = stored->next_offset;
            }
            if (start != stored->next_offset) fix.set_input_position({p.topic, p.partition, start});
          }
          p.offset = stored != nullptr ? start : RD_KAFKA_OFFSET_BEGINNING;
          loop_->next_offset[tp] = stored != nullptr ? start : -1;
        }
        if (!loop_->cluster_id.empty()) fix.set_meta("cluster_id", loop_->cluster_id);
        if (auto r = store_.commit(fix); !r)
          spdlog::error("cannot record input positions: {}", r.error().message);
        {
          std::lock_guard lock(owned_mu_);
          owned_.clear();
          for (const auto& p : parts)
            if (p.topic == options_.topics.events) owned_.push_back(p.partition);
        }
        if (timers_) timers_->poke();  // overdue timers of these partitions fire now
        spdlog::info("assigned {} input partitions", parts.size());
        ready_ = true;
      },
      [this](const std::vector<kafka::Assigned>& parts) {
        finish_round();
        for (const auto& p : parts) loop_->next_offset.erase({p.topic, p.partition});
        {
          std::lock_guard lock(owned_mu_);
          owned_.clear();
        }
        spdlog::info("revoked {} input partitions", parts.size());
      });
  if (!consumer) return consumer.error();
  loop_->consumer = std::move(*consumer);
  if (auto r = loop_->consumer->subscribe({options_.topics.events}); !r) return r;

  kafka::Properties relay_props = options_.kafka;
  if (!options_.transactional_id.empty())
    relay_props["transactional.id"] = options_.transactional_id;
  auto producer = kafka::Producer::create(relay_props, [this](const kafka::DeliveryReport& d) {
    --relay_->in_flight;
    if (d.ok) {
      relay_->delivered.push_back(d.token);
      stats_.published.fetch_add(1);
    } else {
      relay_->failed = true;
      stats_.publish_failures.fetch_add(1);
      spdlog::warn("publishing outbox record {} failed, will retry: {}", d.token, d.error.message);
    }
  });
  if (!producer) return producer.error();
  relay_->producer = std::move(*producer);
  if (!options_.transactional_id.empty())
    if (auto r = relay_->producer->init_transactions(30000); !r) return r;

  if (options_.timers) {
    TimerService::Options to;
    to.kafka = options_.kafka;
    to.events_topic = options_.topics.events;
    to.notifications_topic = options_.topics.notifications;
    to.owned_partitions = [this] { return owned_partitions(); };
    to.on_outbox = [this] {
      {
        std::lock_guard lock(wake_mu_);
        wake_flag_ = true;
      }
      wake_.notify_one();
    };
    timers_ = std::make_unique<TimerService>(
        store_, options_.clock ? *options_.clock : system_clock_, std::move(to));
    if (auto r = timers_->start(); !r) return r;
  }
  running_ = true;
  relay_running_ = true;
  loop_thread_ = std::thread([this] { run_loop(); });
  relay_thread_ = std::thread([this] { run_relay(); });
  return {};
}

std::vector<int32_t> Processor::owned_partitions() const {
  std::lock_guard lock(owned_mu_);
  return owned_;
}

void Processor::stop() {
  if (!running_.exchange(false)) return;
  if (timers_) timers_->stop();
  if (loop_thread_.joinable()) loop_thread_.join();
  relay_running_ = false;  // the relay drains what the loop's last batch left
  {
    std::lock_guard lock(wake_mu_);
    wake_flag_ = true;
  }
  wake_.notify_all();
  if (relay_thread_.joinable()) relay_thread_.join();
}

void Processor::run_loop() {
  const workflow::Registry& reg = registry_;
  const auto& topics = options_.topics;
  const size_t max_events = static_cast<size_t>(std::max(1, options_.batch_max_events));
  const auto max_wait = std::chrono::milliseconds(std::max(0, options_.batch_max_ms));

  Loop& lp = *loop_;
  // Each round's batch is reused: a commit empties it but keeps its
  // buffers, so a busy loop does not grow (and page-fault) a fresh
  // multi-megabyte write batch every round.
  for (auto& r : lp.rounds) r.batch = store_.batch();
  lp.committer = std::thread([this] { run_committer(); });
  Round* cur = &lp.rounds[0];
  OutcomeBoard* board = options_.outcomes;
  while (running_) {
    cur->reset();
    store::Batch& batch = cur->batch;
    auto& apps = cur->apps;
    auto& seen_here = cur->seen;
    auto& advanced = cur->advanced;
    auto& counts = cur->counts;
    auto& outcomes = cur->outcomes;
    size_t n = 0;
    const auto first = Clock::now();
    bool any = false;

    while (n < max_events && running_) {
      const auto elapsed = Clock::now() - first;
      if (any && elapsed >= max_wait) break;
      const int timeout =
          any ? static_cast<int>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(max_wait - elapsed)
                        .count())
              : 100;
      auto msgs = loop_->consumer->poll(max_events - n, std::max(timeout, 0));
      if (msgs.empty()) {
        if (any) break;
        finish_round();  // idle: settle the round in flight (cache, group offsets)
        continue;
      }
      for (auto& m : msgs) {
        if (m.err() != RD_KAFKA_RESP_ERR_NO_ERROR) {
          stats_.consumer_errors.fetch_add(1);
          spdlog::warn("consumer: {} ({})", m.error_text(), rd_kafka_err2name(m.err()));
          continue;
        }
        any = true;
        ++n;
        stats_.consumed.fetch_add(1);
        const TopicPartition tp{m.topic(), m.partition()};
        // Offsets of one partition are contiguous for stagewise's producers;
        // a jump means the broker trimmed messages we never saw.
        if (auto it = loop_->next_offset.find(tp);
            it != loop_->next_offset.end() && it->second >= 0 && m.offset() > it->second) {
          spdlog::error("GAP in {}: offsets {}..{} were never delivered (trimmed by the broker)",
                        tp_name(tp), it->second, m.offset() - 1);
          stats_.gaps.fetch_add(1);
          stats_.gap_messages.fetch_add(static_cast<uint64_t>(m.offset() - it->second));
          batch.set_meta("gap/" + tp_name(tp) + "/" + std::to_string(it->second),
                         std::to_string(m.offset()));
        }
        loop_->next_offset[tp] = m.offset() + 1;
        advanced[tp] = m.offset() + 1;

        const Headers headers = m.headers();
        InputRef ref{tp.first, tp.second, m.offset(), m.key(), m.value(), &headers};
        auto reject = [&](Reason reason, const std::string& message, const std::string& event_id,
                          const std::string& subject) {
          ++counts.rejected[static_cast<size_t>(reason)];
          spdlog::warn("rejected {} at {}@{}: {}: {}", event_id.empty() ? "event" : event_id,
                       tp_name(tp), m.offset(), reason_code(reason), message);
          batch.add_outbox(
              dead_letter(topics.deadletter, ref, reason, message, event_id, subject, now_ms()));
        };

        if (static_cast<int64_t>(m.value().size()) > options_.max_event_bytes) {
          reject(Reason::oversized,
                 "event is " + std::to_string(m.value().size()) + " bytes; the limit is " +
                     std::to_string(options_.max_event_bytes) +
                     " (processor.max_event_bytes): keep documents outside the event and send "
                     "their uri",
                 "", "");
          continue;
        }
        auto decoded = decode_kafka(headers, m.value());
        if (auto* err = std::get_if<DecodeError>(&decoded)) {
          reject(err->reason, err->message, err->event_id, "");
          continue;
        }
        const CloudEvent& ev = std::get<CloudEvent>(decoded);
        std::string dedupe_key = ev.source;
        dedupe_key.push_back('\0');
        dedupe_key += ev.id;
        // The round in flight is read (not written) here while the committer
        // writes it; read lp.inflight each time: a rebalance inside poll()
        // settles it and moves its applications into the cache.
        const Round* prev = lp.inflight;
        bool dup = seen_here.count(dedupe_key) > 0 || (prev && prev->seen.count(dedupe_key) > 0);
        if (!dup) {
          const auto s = store_.seen(ev.source, ev.id);
          dup = s.ok() && *s;
        }
        if (store_.intake_count() > 0) batch.intake_done(ev.source, ev.id);
        const bool awaited = board != nullptr && board->wanted();
        if (dup) {
          if (awaited) outcomes.emplace_back(dedupe_key, nlohmann::json{{"status", "duplicate"}});
          ++counts.duplicates;
          spdlog::debug("duplicate event {} from {} ignored", ev.id, ev.source);
          continue;
        }

        const workflow::Application* current = nullptr;
        std::optional<workflow::Application> loaded;
        if (auto it = apps.find(ev.subject); it != apps.end()) {
          current = &it->second;
        } else if (auto pit = prev ? prev->apps.find(ev.subject) : apps.end();
                   prev && pit != prev->apps.end()) {
          current = &pit->second;
        } else if (auto c = loop_->cache.find(ev.subject); c != loop_->cache.end()) {
          current = &c->second;
        } else {
          auto got = store_.application(ev.subject);
          if (got.ok()) {
            loaded = std::move(*got);
            current = &*loaded;
          } else if (!got.error().is_not_found()) {
            // The store failed: do not guess; stop before committing anything.
            spdlog::critical("store read failed for {}: {}", ev.subject, got.error().message);
            failed_ = true;
            running_ = false;
            break;
          }
        }

        auto outcome = workflow::apply(reg, current, ev);
        if (auto* rej = std::get_if<workflow::Rejected>(&outcome)) {
          reject(rej->reason, rej->message, ev.id, ev.subject);
          if (awaited)
            outcomes.emplace_back(dedupe_key, nlohmann::json{{"status", "rejected"},
                                                             {"reason", reason_code(rej->reason)},
                                                             {"message", rej->message}});
          continue;
        }
        auto& applied = std::get<workflow::Applied>(outcome);
        const std::string old_stage = current ? current->stage : "";
        // The event's data is not needed after apply: moved into the history.
        const store::HistoryEntry h = history_entry(
            applied, std::move(std::get<CloudEvent>(decoded)), tp.first, tp.second, m.offset());
        batch.add_history(ev.subject, h);
        batch.put_application(applied.next, old_stage);
        if (applied.reset_timers && current != nullptr) batch.cancel_timers(ev.subject);
        for (const auto& t : applied.timers) {
          batch.add_timer({ev.subject, applied.next.program, tp.second, t});
          cur->timers_added = true;
        }
        batch.mark_seen(ev.source, ev.id);
        if (awaited)
          outcomes.emplace_back(dedupe_key,
                                nlohmann::json{{"status", "applied"},
                                               {"application", ev.subject},
                                               {"from", applied.from ? nlohmann::json(*applied.from)
                                                                     : nlohmann::json()},
                                               {"stage", applied.to},
                                               {"moved", applied.moved},
                                               {"sequence", applied.next.sequence}});
        seen_here.insert(std::move(dedupe_key));
        if (applied.moved) {
          batch.add_outbox(stage_changed(topics.status, applied, ev));
          ++counts.moved;
        }
        for (size_t i = 0; i < applied.notifications.size(); ++i)
          batch.add_outbox(
              notification(topics.notifications, applied, applied.notifications[i], i, ev));
        ++counts.applied;
        spdlog::debug("applied {} {} to {}: {} -> {}", ev.type, ev.id, ev.subject, old_stage,
                      applied.to);
        apps.insert_or_assign(ev.subject, std::move(applied.next));
      }
    }
    update_lag();
    if (failed_) break;
    if (advanced.empty()) {
      finish_round();  // idle: settle the round in flight now
      continue;
    }
    for (const auto& [tp, next] : advanced) batch.set_input_position({tp.first, tp.second, next});
    // One round in flight at a time: the previous must be durable (and the
    // cache hold its applications) before this one is handed over.
    if (!finish_round()) break;
    {
      std::lock_guard lock(lp.mu);
      lp.job = cur;
    }
    lp.cv.notify_all();
    lp.inflight = cur;
    cur = cur == &lp.rounds[0] ? &lp.rounds[1] : &lp.rounds[0];
  }
  finish_round();
  {
    std::lock_guard lock(lp.mu);
    lp.quit = true;
  }
  lp.cv.notify_all();
  lp.committer.join();
  loop_->consumer->close();
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
      stats_.moved.fetch_add(r->counts.moved);
      stats_.duplicates.fetch_add(r->counts.duplicates);
      for (size_t i = 0; i < kReasonCount; ++i) stats_.rejected[i].fetch_add(r->counts.rejected[i]);
      for (auto& [key, outcome] : r->outcomes) options_.outcomes->publish(key, std::move(outcome));
      {
        std::lock_guard lock(wake_mu_);
        wake_flag_ = true;
      }
      wake_.notify_one();
    }
    {
      std::lock_guard lock(lp.mu);
      lp.job = nullptr;
    }
    lp.cv.notify_all();
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
    spdlog::critical("cannot commit a batch to the store: {}", r->result.error().message);
    failed_ = true;
    running_ = false;
    return false;
  }
  if (const size_t cap = options_.cache_applications; cap > 0) {
    auto& cache = lp.cache;
    for (auto& [id, app] : r->apps) {
      if (auto it = cache.find(id); it != cache.end()) {
        it->second = std::move(app);
        continue;
      }
      if (cache.size() >= cap) cache.erase(cache.begin());
      cache.emplace(id, std::move(app));
    }
  }
  std::vector<kafka::Assigned> commit;
  for (const auto& [tp, next] : r->advanced) commit.push_back({tp.first, tp.second, next});
  lp.consumer->commit(commit, /*async=*/true).permit_unchecked_error();
  return true;
}

void Processor::update_lag() {
  int64_t lag = 0;
  for (const auto& [tp, next] : loop_->next_offset) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_get_watermark_offsets(loop_->consumer->handle(), tp.first.c_str(), tp.second, &lo,
                                       &hi) != RD_KAFKA_RESP_ERR_NO_ERROR)
      continue;
    lag += std::max<int64_t>(0, hi - std::max(next, lo));
  }
  stats_.lag = lag;
}

void Processor::run_relay() {
  auto& r = *relay_;
  // Records come from the store's in-memory tail of committed outbox records
  // (no read back); the outbox itself is read from RocksDB at start, after a
  // failed send, and when the tail overflowed. `cursor` is the last seq
  // queued; seqs are numbered in commit order.
  uint64_t cursor = 0;
  bool scanning = true;
  std::vector<store::OutboxRecord> recs;
  // The tail must be kept from before the first scan: a record committed
  // between that scan and the first take would be in neither.
  store_.take_committed_outbox(0, recs);
  Clock::time_point drain_deadline{};
  for (;;) {
    const bool stopping = !relay_running_;
    if (stopping && drain_deadline == Clock::time_point{})
      drain_deadline = Clock::now() + std::chrono::seconds(5);
    size_t produced = 0;
    if (r.in_flight < 20000) {
      constexpr size_t kRound = 2000;
      recs.clear();
      if (scanning) {
        if (auto got = store_.outbox(kRound, cursor); !got) {
          spdlog::error("cannot read the outbox: {}", got.error().message);
        } else {
          recs = std::move(*got);
          // Caught up: what is committed from now on is in the tail (which
          // also holds older records, skipped by the cursor below).
          if (recs.size() < kRound) scanning = false;
        }
      } else if (!store_.take_committed_outbox(kRound, recs)) {
        scanning = true;  // the tail overflowed; read the outbox itself
        recs.clear();
      }
      std::erase_if(recs, [&](const store::OutboxRecord& rec) { return rec.seq <= cursor; });
      const bool txn = !options_.transactional_id.empty() && !recs.empty();
      if (txn) {
        if (auto b = r.producer->begin_transaction(); !b) {
          spdlog::warn("cannot begin a relay transaction: {}", b.error().message);
          recs.clear();
          r.failed = true;
        }
      }
      for (auto& rec : recs) {
        if (auto p = r.producer->produce(rec.topic, rec.key, rec.value, rec.headers, rec.seq); !p) {
          spdlog::warn("cannot queue outbox record {}: {}", rec.seq, p.error().message);
          r.failed = true;
          break;
        }
        ++r.in_flight;
        cursor = rec.seq;
        ++produced;
      }
      if (txn && produced > 0) {
        // Committed as a whole or not at all: on failure nothing of the
        // round counts as delivered and it is sent again.
        auto c = r.producer->commit_transaction(30000);
        r.producer->poll(0);
        if (!c) {
          spdlog::warn("relay transaction failed, will retry: {}", c.error().message);
          r.delivered.clear();
          r.failed = true;
        }
      }
    }
    r.producer->poll(produced > 0 ? 0 : 5);
    if (!r.delivered.empty()) {
      // Deliveries come back mostly in seq order: one range delete per run of
      // consecutive seqs instead of a tombstone per record.
      std::sort(r.delivered.begin(), r.delivered.end());
      store::Batch del = store_.batch();
      for (size_t i = 0; i < r.delivered.size();) {
        size_t j = i;
        while (j + 1 < r.delivered.size() && r.delivered[j + 1] == r.delivered[j] + 1) ++j;
        if (j == i)
          del.delete_outbox(r.delivered[i]);
        else
          del.delete_outbox_range(r.delivered[i], r.delivered[j]);
        i = j + 1;
      }
      r.delivered.clear();
      // Losing a delete only republishes a record under its stable id.
      if (auto c = store_.commit(del, /*sync=*/false); !c)
        spdlog::error("cannot remove published records from the outbox: {}", c.error().message);
    }
    if (r.failed && r.in_flight == 0) {
      r.failed = false;
      cursor = 0;  // send again whatever is still in the outbox
      scanning = true;
    }
    if (stopping) {
      const bool empty =
          r.in_flight == 0 && store_.outbox(1, 0).ok() && store_.outbox(1, 0)->empty();
      if (empty || Clock::now() > drain_deadline) break;
      continue;
    }
    if (produced == 0 && r.in_flight == 0) {
      std::unique_lock lock(wake_mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(50), [this] { return wake_flag_; });
      wake_flag_ = false;
    }
  }
  r.producer->flush(2000).permit_unchecked_error();
}

}  // namespace stagewise::processor
