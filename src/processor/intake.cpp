#include "processor/intake.h"

#include "common/cloudevent.h"

#include <chrono>
#include <variant>

namespace stagewise::processor {

struct Intake::Waiter {
  std::condition_variable cv;
  size_t remaining = 0;
  std::vector<IntakeResult>* results = nullptr;
};

Result<std::unique_ptr<Intake>> Intake::create(const kafka::Properties& props, std::string topic) {
  std::unique_ptr<Intake> self(new Intake());
  self->topic_ = std::move(topic);
  auto producer = kafka::Producer::create(
      props, [raw = self.get()](const kafka::DeliveryReport& d) { raw->on_delivery(d); });
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
  return self;
}

Intake::~Intake() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  if (poller_.joinable()) poller_.join();
  if (producer_) producer_->flush(5000).permit_unchecked_error();
}

void Intake::on_delivery(const kafka::DeliveryReport& d) {
  std::lock_guard lock(mu_);
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

std::vector<IntakeResult> Intake::submit(const std::vector<nlohmann::json>& events,
                                         int timeout_ms) {
  std::vector<IntakeResult> results(events.size());
  Waiter waiter;
  waiter.results = &results;
  std::vector<std::pair<size_t, uint64_t>> sent;
  for (size_t i = 0; i < events.size(); ++i) {
    auto decoded = decode_json(events[i]);
    if (auto* err = std::get_if<DecodeError>(&decoded)) {
      results[i].id = err->event_id;
      results[i].error = err->message;
      results[i].code = std::string(reason_code(err->reason));
      continue;
    }
    const CloudEvent& ev = std::get<CloudEvent>(decoded);
    results[i].id = ev.id;
    results[i].subject = ev.subject;
    uint64_t token = 0;
    {
      std::lock_guard lock(mu_);
      token = next_token_++;
      pending_[token] = {&waiter, i};
      ++waiter.remaining;
    }
    const std::string value = events[i].dump();
    auto r = producer_->produce(topic_, ev.subject, value,
                                {{"content-type", "application/cloudevents+json"}}, token);
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
  return results;
}

}  // namespace stagewise::processor
