#include "processor/relay.h"

#include "common/thread_name.h"
#include "common/time.h"
#include "store/changelog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace stagewise::processor {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kRound = 2000;

// The stable id of a record, for logs: its CloudEvent id (outputs are
// structured-mode CloudEvents; parsed only on this rare path).
std::string record_id(const store::OutboxRecord& rec) {
  const auto e = nlohmann::json::parse(rec.value, nullptr, false);
  if (e.is_object() && e.contains("id") && e["id"].is_string()) return e["id"];
  return "outbox record " + std::to_string(rec.seq);
}

}  // namespace

Relay::Relay(store::Store& store, Options options) : store_(store), options_(std::move(options)) {}

Relay::~Relay() {
  stop();
}

Result<void> Relay::start() {
  kafka::Properties props = options_.kafka;
  if (!options_.transactional_id.empty()) props["transactional.id"] = options_.transactional_id;
  auto producer =
      kafka::Producer::create(props, [this](const kafka::DeliveryReport& d) { on_delivery(d); });
  if (!producer) return producer.error();
  producer_ = std::move(*producer);
  if (!options_.transactional_id.empty())
    if (auto r = producer_->init_transactions(30000); !r) return r;
  // The tail must be kept from before the first scan: a record committed
  // between that scan and the first take would be in neither.
  store_.take_committed_outbox(0, recs_);
  thread_ = std::thread([this] {
    name_this_thread("sw-relay");
    run();
  });
  return {};
}

void Relay::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  producer_.reset();  // after the thread: its callbacks write this object
}

void Relay::wake() {
  {
    std::lock_guard lock(mu_);
    wake_flag_ = true;
  }
  cv_.notify_one();
}

bool Relay::drain(uint64_t seq, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  for (;;) {
    const auto first = store_.outbox(1, 0);
    if (first.ok() && (first->empty() || first->front().seq > seq)) return true;
    if (failed_ || Clock::now() > until) return false;
    wake();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string Relay::failure() const {
  std::lock_guard lock(failure_mu_);
  return failure_;
}

void Relay::fail(const Error& e) {
  {
    std::lock_guard lock(failure_mu_);
    if (failure_.empty()) failure_ = "publishing the outbox failed for good: " + e.message;
  }
  if (!failed_.exchange(true)) spdlog::critical("relay: {}", e.message);
}

void Relay::run() {
  Clock::time_point drain_deadline{};
  auto backoff = std::chrono::milliseconds(50);
  while (!failed_) {
    bool stopping = false;
    {
      std::lock_guard lock(mu_);
      stopping = stop_;
    }
    if (stopping && drain_deadline == Clock::time_point{})
      drain_deadline = Clock::now() + options_.drain;
    // While a failed record waits to be sent again, nothing newer goes
    // ahead of it: outputs stay in commit order.
    const size_t produced = in_flight_ < options_.max_in_flight && !retry_ ? produce_round() : 0;
    producer_->poll(produced > 0 ? 0 : 5);
    settle();
    if (retry_ && in_flight_ == 0) {
      // Send again whatever is still in the outbox, after a pause that
      // grows while the broker keeps failing.
      retry_ = false;
      cursor_ = 0;
      scanning_ = true;
      queue_.clear();
      held_.clear();
      bundle_left_.clear();
      outputs_in_flight_.clear();
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    } else if (produced > 0) {
      backoff = std::chrono::milliseconds(50);
    }
    if (stopping) {
      const auto left = store_.outbox(1, 0);
      if ((in_flight_ == 0 && left.ok() && left->empty()) || Clock::now() > drain_deadline) break;
      continue;
    }
    wait_for_work(produced == 0 && in_flight_ == 0);
  }
  producer_->flush(2000).permit_unchecked_error();
  producer_->poll(0);
  settle();
}

void Relay::wait_for_work(bool idle) {
  if (!idle) return;
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return wake_flag_ || stop_; });
  wake_flag_ = false;
}

// Takes the next committed records into the queue: from the store's
// in-memory tail, or read back from RocksDB at start, after a retry, or when
// the tail overflowed.
void Relay::refill() {
  recs_.clear();
  if (scanning_) {
    auto got = store_.outbox(kRound, cursor_);
    if (!got) {
      spdlog::error("relay: cannot read the outbox: {}", got.error().message);
      return;
    }
    recs_ = std::move(*got);
    // Caught up: what is committed from now on is in the tail (which also
    // holds older records, skipped by the cursor below).
    if (recs_.size() < kRound) scanning_ = false;
  } else if (!store_.take_committed_outbox(kRound, recs_)) {
    scanning_ = true;  // the tail overflowed; read the outbox itself
    recs_.clear();
  }
  for (auto& rec : recs_)
    if (rec.seq > cursor_) queue_.push_back(std::move(rec));
  recs_.clear();
}

// Queues the next records for sending. Returns how many were queued.
size_t Relay::produce_round() {
  const bool txn = !options_.transactional_id.empty();
  size_t produced = txn ? 0 : release_held();
  if (queue_.empty()) refill();
  if (queue_.empty()) return produced;
  if (txn) {
    if (auto b = producer_->begin_transaction(); !b) {
      spdlog::warn("relay: cannot begin a transaction: {}", b.error().message);
      if (b.error().fatal) fail(b.error());
      retry_ = true;
      return 0;
    }
  }
  while (!queue_.empty() && !retry_) {
    auto& rec = queue_.front();
    const uint64_t seq = rec.seq;
    // An earlier bundle waiting keeps this one behind it: bundles go in commit order.
    if (rec.bundle && !txn && (!held_.empty() || !outputs_acknowledged_before(seq))) {
      held_.push_back(std::move(rec));  // the outputs after it go on meanwhile
    } else if (rec.bundle && txn && in_flight_ > 0) {
      break;  // the transaction commits the outputs first
    } else if (!(rec.bundle ? produce_bundle(rec) : produce(rec))) {
      break;
    } else {
      ++produced;
    }
    cursor_ = seq;
    queue_.pop_front();
  }
  if (txn) {
    // Committed as a whole or not at all: on failure nothing of the round
    // counts as delivered and it is sent again.
    auto c = producer_->commit_transaction(30000);
    producer_->poll(0);
    if (!c) {
      spdlog::warn("relay: transaction failed, will retry: {}", c.error().message);
      if (c.error().fatal) fail(c.error());
      delivered_.clear();
      retry_ = true;
    }
  }
  return produced;
}

// A round's changelog bundle goes once every output committed before it is
// acknowledged: a restored owner never lacks an output of a round it does
// not redo. Bundles do not wait for each other (the idempotent producer
// keeps them in order per partition), nor outputs for bundles.
bool Relay::outputs_acknowledged_before(uint64_t seq) const {
  return outputs_in_flight_.empty() || *outputs_in_flight_.begin() > seq;
}

// Sends the held bundles whose outputs are acknowledged now. Returns how
// many went.
size_t Relay::release_held() {
  size_t sent = 0;
  while (!held_.empty() && !retry_ && outputs_acknowledged_before(held_.front().seq)) {
    if (!produce_bundle(held_.front())) break;
    held_.pop_front();
    ++sent;
  }
  return sent;
}

// Queues one record; false when the round must stop here (retry later).
bool Relay::produce(store::OutboxRecord& rec) {
  auto p = producer_->produce(rec.topic, rec.key, rec.value, rec.headers, rec.seq, rec.partition);
  if (p) {
    ++in_flight_;
    outputs_in_flight_.insert(rec.seq);
    return true;
  }
  const Error& e = p.error();
  if (e.permanent) {
    to_park_.emplace_back(rec.seq, e.message);
    spdlog::error("relay: {} ({} bytes to {}) can never be published: {}; parked", record_id(rec),
                  rec.value.size(), rec.topic, e.message);
    return true;  // the next records go on
  }
  if (e.fatal) fail(e);
  spdlog::warn("relay: cannot queue {}: {}", record_id(rec), e.message);
  retry_ = true;
  return false;
}

// Queues a changelog bundle: one message per entry, then the marker, all to
// its partition. Dropped (deleted unsent) when this process may not mirror
// that partition's epoch any more: it lost the partition, or restored a
// newer copy; the new owner's changelog must not be overwritten by it.
bool Relay::produce_bundle(store::OutboxRecord& rec) {
  store::Bundle b;
  if (!store::changelog::decode(rec.value, b)) {
    fail(make_error(Errc::corruption, "changelog record " + std::to_string(rec.seq) +
                                          " in the outbox is not well-formed"));
    return false;
  }
  if (!options_.may_mirror || !options_.may_mirror(b.partition, b.epoch)) {
    delivered_.push_back(rec.seq);
    stats_.mirror_dropped.fetch_add(1);
    spdlog::info(
        "relay: changelog round of partition {} (epoch {}) dropped: not this process's "
        "to mirror any more",
        b.partition, b.epoch);
    return true;
  }
  uint64_t sent = 0;
  auto send = [&](std::string_view key, std::string_view value) {
    auto p = producer_->produce(rec.topic, key, value, {}, rec.seq, b.partition);
    if (p) {
      ++sent;
      return true;
    }
    // A changelog message the broker can never take would leave a hole no
    // restore could see: stop, and say what to change.
    if (p.error().permanent || p.error().fatal)
      fail(make_error(Errc::kafka, "cannot mirror partition " + std::to_string(b.partition) +
                                       " to " + rec.topic + ": " + p.error().message +
                                       " (raise the topic's max.message.bytes or lower "
                                       "processor.max_application_bytes)"));
    else
      retry_ = true;
    return false;
  };
  bool ok = true;
  for (const auto& e : b.entries) {
    ok = send(e.key, e.value ? std::string_view(*e.value) : std::string_view());
    if (!ok) break;
  }
  if (ok && b.marker) {
    std::string marker;
    store::changelog::encode(marker, *b.marker);
    ok = send(store::changelog::kMarkerKey, marker);
  }
  in_flight_ += sent;
  if (sent > 0) bundle_left_[rec.seq] += sent;
  if (ok && sent == 0) delivered_.push_back(rec.seq);  // nothing to send
  return ok;
}

void Relay::on_delivery(const kafka::DeliveryReport& d) {
  --in_flight_;
  if (auto b = bundle_left_.find(d.token); b != bundle_left_.end()) {
    if (!d.ok) return on_bundle_failure(d);
    stats_.mirrored.fetch_add(1);
    if (--b->second == 0) {
      bundle_left_.erase(b);
      delivered_.push_back(d.token);
    }
    return;
  }
  outputs_in_flight_.erase(d.token);
  if (d.ok) {
    delivered_.push_back(d.token);
    stats_.published.fetch_add(1);
    return;
  }
  stats_.publish_failures.fetch_add(1);
  if (d.error.permanent) {
    spdlog::error("relay: outbox record {} was refused by the broker: {}; parked", d.token,
                  d.error.message);
    to_park_.emplace_back(d.token, d.error.message);
  } else if (d.error.fatal) {
    fail(d.error);
  } else {
    spdlog::warn("relay: publishing outbox record {} failed, will retry: {}", d.token,
                 d.error.message);
    retry_ = true;
  }
}

// A changelog message failed: retried as a whole bundle, unless it can
// never be sent (then mirroring stops the process; see produce_bundle).
void Relay::on_bundle_failure(const kafka::DeliveryReport& d) {
  stats_.publish_failures.fetch_add(1);
  if (d.error.permanent || d.error.fatal) {
    fail(make_error(Errc::kafka,
                    "the broker refused a changelog record for good: " + d.error.message +
                        " (raise the changelog topic's max.message.bytes or lower "
                        "processor.max_application_bytes)"));
    return;
  }
  spdlog::warn("relay: mirroring outbox record {} failed, will retry: {}", d.token,
               d.error.message);
  retry_ = true;
}

// Deletes what was acknowledged and parks what was refused for good.
void Relay::settle() {
  if (delivered_.empty() && to_park_.empty()) return;
  store::Batch batch = store_.batch();
  // Deliveries come back mostly in seq order: one range delete per run of
  // consecutive seqs instead of a tombstone per record.
  std::sort(delivered_.begin(), delivered_.end());
  for (size_t i = 0; i < delivered_.size();) {
    size_t j = i;
    while (j + 1 < delivered_.size() && delivered_[j + 1] == delivered_[j] + 1) ++j;
    if (j == i)
      batch.delete_outbox(delivered_[i]);
    else
      batch.delete_outbox_range(delivered_[i], delivered_[j]);
    i = j + 1;
  }
  for (const auto& [seq, reason] : to_park_) batch.park_outbox(seq, reason, now_ms());
  const bool parking = !to_park_.empty();
  // Losing a delete only republishes a record under its stable id; a park
  // must be durable, or the record would be tried again (and parked again).
  if (auto c = store_.commit(batch, /*sync=*/parking); !c) {
    spdlog::error("relay: cannot settle published records: {}", c.error().message);
    if (parking) fail(c.error());
  } else {
    stats_.parked.fetch_add(to_park_.size());
  }
  delivered_.clear();
  to_park_.clear();
}

}  // namespace stagewise::processor
