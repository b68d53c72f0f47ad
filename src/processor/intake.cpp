#include "processor/intake.h"

#include "common/cloudevent.h"
#include "common/time.h"
#include "processor/outputs.h"

#include <spdlog/spdlog.h>

#include <set>
#include <variant>

namespace stagewise::processor {
namespace {

using Clock = std::chrono::steady_clock;

// Delivery tokens of durable records carry their intake seq with this bit.
constexpr uint64_t kDurableBit = uint64_t{1} << 63;
const Headers kStructured = {{"content-type", "application/cloudevents+json"}};

}  // namespace

struct Intake::Waiter {
  std::condition_variable cv;
  size_t remaining = 0;
  std::vector<IntakeResult>* results = nullptr;
};

Result<std::unique_ptr<Intake>> Intake::create(Options options) {
  std::unique_ptr<Intake> self(new Intake());
  self->options_ = std::move(options);
  auto producer = kafka::Producer::create(
      self->options_.kafka,
      [raw = self.get()](const kafka::DeliveryReport& d) { raw->on_delivery(d); });
  if (!producer) return producer.error();
  self->producer_ = std::move(*producer);
  self->poller_ = std::thread([raw = self.get()] {
    for (;;) {
      {
        std::lock_guard lock(raw->mu_);
        if (raw->stop_) return;
      }
      raw->producer_->poll(50);
    }
  });
  if (self->options_.store != nullptr)
    self->relay_ = std::thread([raw = self.get()] { raw->relay_loop(); });
  return self;
}

Intake::~Intake() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (relay_.joinable()) relay_.join();
  if (poller_.joinable()) poller_.join();
  if (producer_) producer_->flush(5000).permit_unchecked_error();
  producer_.reset();  // its last callbacks run now, with every member alive
}

void Intake::on_delivery(const kafka::DeliveryReport& d) {
  std::lock_guard lock(mu_);
  if (d.token & kDurableBit) {
    // Durable records stay in the store; a failed one is produced again by
    // the relay, unless the broker refused it for good: then the relay
    // dead-letters it, so it is never retried forever.
    const uint64_t seq = d.token & ~kDurableBit;
    if (!d.ok) produced_.erase(seq);
    if (!d.ok && d.error.permanent) refused_.emplace_back(seq, d.error.message);
    if (d.ok && options_.owned_here && !options_.owned_here(d.partition))
      handed_off_.push_back(seq);
    return;
  }
  const auto it = pending_.find(d.token);
  if (it == pending_.end()) return;  // its submit() timed out already
  auto [waiter, index] = it->second;
  pending_.erase(it);
  auto& r = (*waiter->results)[index];
  r.accepted = d.ok;
  if (!d.ok) {
    r.error = "the broker did not acknowledge the event: " + d.error.message + "; send it again";
    r.code = "unavailable";
  }
  if (--waiter->remaining == 0) waiter->cv.notify_all();
}

// Produces a durable record with the time it was accepted as its timestamp
// (the processor checks event times against it, however late it is sent).
void Intake::produce_durable(const store::IntakeRecord& r) {
  {
    std::lock_guard lock(mu_);
    produced_[r.seq] = Clock::now();
  }
  auto p = producer_->produce(options_.topic, r.key, r.value, kStructured, r.seq | kDurableBit, -1,
                              r.accepted_ms);
  if (p) return;
  std::lock_guard lock(mu_);
  produced_.erase(r.seq);
  if (p.error().permanent) refused_.emplace_back(r.seq, p.error().message);
}

// Re-produces durable records that were never produced (a restart) or stay
// unprocessed long after they were (the broker may have lost its log), and
// dead-letters those the broker refused for good.
void Intake::relay_loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    settle_refused();
    settle_handed_off();
    uint64_t after = 0, oldest = UINT64_MAX;
    while (options_.store->intake_count() > 0) {
      auto recs = options_.store->intake_pending(1000, after);
      if (!recs || recs->empty()) break;
      const auto now = Clock::now();
      for (const auto& r : *recs) {
        after = r.seq;
        oldest = std::min(oldest, r.seq);
        bool fresh = false;
        {
          std::lock_guard guard(mu_);
          const auto it = produced_.find(r.seq);
          fresh = it != produced_.end() && now - it->second < options_.reproduce_after;
        }
        if (!fresh) produce_durable(r);
      }
    }
    lock.lock();
    // Forget records the processor has finished with: all older than the
    // oldest still pending.
    produced_.erase(produced_.begin(), produced_.lower_bound(oldest));
    stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
  }
}

// Records of applications another process owns leave the intake once the
// broker has them: that process applies them, and only its store could
// say when (DESIGN.md §9); keeping them here would re-produce them forever.
void Intake::settle_handed_off() {
  std::vector<uint64_t> seqs;
  {
    std::lock_guard lock(mu_);
    seqs.swap(handed_off_);
  }
  if (seqs.empty()) return;
  store::Batch b = options_.store->batch();
  for (const uint64_t seq : seqs) {
    auto recs = options_.store->intake_pending(1, seq - 1);
    if (!recs || recs->empty() || (*recs)[0].seq != seq) continue;
    b.intake_done((*recs)[0].source, (*recs)[0].id);
  }
  if (auto c = options_.store->commit(b); !c)
    spdlog::error("intake: cannot hand records over to their owners: {}", c.error().message);
}

// Records the broker refused for good become dead letters (reason
// `oversized`, the broker's words as the message) and leave the intake.
void Intake::settle_refused() {
  std::vector<std::pair<uint64_t, std::string>> refused;
  {
    std::lock_guard lock(mu_);
    refused.swap(refused_);
  }
  for (const auto& [seq, why] : refused) {
    auto recs = options_.store->intake_pending(1, seq - 1);
    if (!recs || recs->empty() || (*recs)[0].seq != seq) continue;
    const auto& r = (*recs)[0];
    InputRef in{"http", -1, static_cast<int64_t>(seq), r.key, r.value, nullptr};
    auto rejection = dead_letter(options_.deadletter_topic, in, Reason::oversized,
                                 "the broker refused the accepted event for good: " + why, r.id,
                                 r.key, now_ms());
    store::Batch b = options_.store->batch();
    b.add_outbox(std::move(rejection.record));
    b.add_dead_letter(std::move(rejection.kept));
    b.intake_done(r.source, r.id);
    if (auto c = options_.store->commit(b); !c)
      spdlog::error("intake: cannot dead-letter refused record {}: {}", seq, c.error().message);
    else
      spdlog::error("intake: event {} was refused by the broker for good ({}); dead-lettered", r.id,
                    why);
  }
}

bool Intake::wait_for_room() {
  if (!options_.lag) return true;
  const auto until = Clock::now() + options_.backpressure_wait;
  while (options_.lag() > options_.max_lag) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Decodes and checks each event as the processor will; fills the refusals
// in `results` and the bytes to produce in `values`; returns the indexes of
// the valid events.
std::vector<size_t> Intake::validate(const std::vector<nlohmann::json>& events,
                                     std::vector<IntakeResult>& results,
                                     std::vector<std::string>& values) const {
  std::vector<size_t> valid;
  const int64_t now = now_ms();
  for (size_t i = 0; i < events.size(); ++i) {
    auto& res = results[i];
    values[i] = events[i].dump();
    // The bytes to be produced, checked as the processor will check them.
    auto decoded = decode_input({}, values[i], options_.max_event_bytes, options_.envelope);
    std::optional<DecodeError> err;
    if (auto* bad = std::get_if<DecodeError>(&decoded)) {
      err = *bad;
    } else {
      const CloudEvent& ev = std::get<CloudEvent>(decoded);
      res.id = ev.id;
      res.source = ev.source;
      res.subject = ev.subject;
      err = check_time(ev, now, options_.time_window);
    }
    if (err) {
      res.id = err->event_id;
      res.error = err->message;
      res.code = std::string(reason_code(err->reason));
      values[i].clear();
      continue;
    }
    valid.push_back(i);
  }
  return valid;
}

std::vector<IntakeResult> Intake::submit(const std::vector<nlohmann::json>& events, int timeout_ms,
                                         int wait_ms) {
  std::vector<IntakeResult> results(events.size());
  std::vector<std::string> values(events.size());
  const std::vector<size_t> valid = validate(events, results, values);
  if (valid.empty()) return results;
  std::vector<std::string> keys;  // OutcomeBoard keys of valid events
  for (const size_t i : valid) keys.push_back(OutcomeBoard::key(results[i].source, results[i].id));

  if (!wait_for_room()) {
    for (const size_t i : valid) {
      results[i].code = "busy";
      results[i].error = "the processor is " + std::to_string(options_.lag()) +
                         " events behind; retry in a few seconds";
    }
    return results;
  }
  const bool wait_outcome = wait_ms > 0 && options_.outcomes != nullptr;
  if (wait_outcome)
    for (const auto& k : keys) options_.outcomes->expect(k);

  if (options_.store != nullptr)
    put_durably(valid, values, results);
  else
    produce_acked(valid, values, results, timeout_ms);

  if (wait_outcome) {
    const auto until = Clock::now() + std::chrono::milliseconds(wait_ms);
    for (size_t n = 0; n < valid.size(); ++n) {
      if (results[valid[n]].accepted)
        if (auto o = options_.outcomes->wait(keys[n], until)) results[valid[n]].outcome = *o;
      options_.outcomes->forget(keys[n]);
    }
  }
  return results;
}

// Durable mode: accepted once in the store; then produced (the relay
// produces again what stays unprocessed).
bool Intake::put_durably(const std::vector<size_t>& valid, std::vector<std::string>& values,
                         std::vector<IntakeResult>& results) {
  std::vector<store::IntakeRecord> records;
  const int64_t accepted = now_ms();
  for (const size_t i : valid)
    records.push_back(
        {0, results[i].source, results[i].id, results[i].subject, std::move(values[i]), accepted});
  if (auto r = options_.store->intake_put(records); !r) {
    for (const size_t i : valid) {
      results[i].code = "unavailable";
      results[i].error = "cannot record the event durably: " + r.error().message;
    }
    return false;
  }
  std::set<uint64_t> sent;  // the same event twice in one request is produced once
  for (size_t n = 0; n < valid.size(); ++n) {
    results[valid[n]].accepted = true;  // durable: the relay takes it from here
    if (sent.insert(records[n].seq).second) produce_durable(records[n]);
  }
  return true;
}

// Without a store: accepted once the broker acknowledged it.
void Intake::produce_acked(const std::vector<size_t>& valid, const std::vector<std::string>& values,
                           std::vector<IntakeResult>& results, int timeout_ms) {
  Waiter waiter;
  waiter.results = &results;
  for (const size_t i : valid) {
    uint64_t token = 0;
    {
      std::lock_guard lock(mu_);
      token = next_token_++;
      pending_[token] = {&waiter, i};
      ++waiter.remaining;
    }
    auto r = producer_->produce(options_.topic, results[i].subject, values[i], kStructured, token);
    if (!r) {
      std::lock_guard lock(mu_);
      pending_.erase(token);
      --waiter.remaining;
      results[i].error = r.error().message;
      results[i].code = "unavailable";
    }
  }
  std::unique_lock lock(mu_);
  waiter.cv.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                     [&] { return waiter.remaining == 0; });
  // Whatever is still unacknowledged is reported as not accepted; the
  // waiter goes away with this frame, so forget its tokens.
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.first == &waiter) {
      auto& r = results[it->second.second];
      r.error = "no acknowledgement from the broker within " + std::to_string(timeout_ms) +
                " ms; the event may or may not be recorded: send it again (its id makes a "
                "repeat harmless)";
      r.code = "timeout";
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace stagewise::processor
