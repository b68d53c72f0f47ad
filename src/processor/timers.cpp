#include "processor/timers.h"

#include "auth/signature.h"
#include "common/thread_name.h"
#include "common/time.h"
#include "processor/outputs.h"
#include "workflow/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace stagewise::processor {
namespace {

std::string timer_key(const store::TimerRecord& t) {
  return t.application + '\0' + std::to_string(t.timer.due_ms) + '\0' +
         (t.timer.kind == workflow::Timer::Kind::deadline   ? "d"
          : t.timer.kind == workflow::Timer::Kind::reminder ? "r"
                                                            : "e") +
         std::to_string(t.timer.index);
}

const Headers kStructured = {{"content-type", "application/cloudevents+json"}};

}  // namespace

TimerService::TimerService(store::Store& store, const Clock& clock, Options options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

TimerService::~TimerService() {
  stop();
}

Result<void> TimerService::start() {
  auto producer = kafka::Producer::create(options_.kafka, [this](const kafka::DeliveryReport& d) {
    const auto it = in_flight_.find(d.token);
    if (it == in_flight_.end()) return;
    if (d.ok)
      acked_.push_back(it->second);
    else
      spdlog::warn("deadline event not delivered, will fire again: {}", d.error.message);
    in_flight_keys_.erase(timer_key(it->second));
    in_flight_.erase(it);
  });
  if (!producer) return producer.error();
  producer_ = std::move(*producer);
  running_ = true;
  thread_ = std::thread([this] {
    name_this_thread("sw-timers");
    run();
  });
  return {};
}

void TimerService::stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  producer_.reset();  // after the thread; its callbacks write this object
}

void TimerService::poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void TimerService::run() {
  for (;;) {
    const int64_t now = clock_.now_ms();
    fire_due(now);
    producer_->poll(0);
    if (!acked_.empty()) {
      store::Batch b = store_.batch();
      for (const auto& t : acked_) b.delete_timer(t);
      if (auto r = store_.commit(b, /*sync=*/false); !r)
        spdlog::error("cannot delete fired timers (they will fire again, harmlessly): {}",
                      r.error().message);
      acked_.clear();
    }
    // Sleep until the soonest timer, at most a second (new timers, a clock
    // that moves by other means), or until poked.
    int64_t wait_ms = 1000;
    for (const int32_t p : options_.owned_partitions())
      if (auto due = store_.next_due(p); due.ok()) wait_ms = std::min(wait_ms, *due - now);
    if (!in_flight_.empty()) wait_ms = std::min<int64_t>(wait_ms, 20);
    std::unique_lock lock(mu_);
    if (stop_) break;
    if (wait_ms > 0)
      cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return poked_ || stop_; });
    poked_ = false;
    if (stop_) break;
  }
  producer_->flush(2000).permit_unchecked_error();
}

void TimerService::fire_due(int64_t now) {
  uint64_t fired = 0;
  int64_t latest = 0;
  for (const int32_t partition : options_.owned_partitions()) {
    auto due = store_.due_timers(partition, now, 1000);
    if (!due) {
      spdlog::error("cannot read timers: {}", due.error().message);
      continue;
    }
    store::Batch reminders = store_.batch();
    bool outbox = false;
    for (const auto& t : *due) {
      const int64_t late_ms = now - t.timer.due_ms;
      if (t.timer.kind == workflow::Timer::Kind::reminder) {
        // Sent only while the application is still in that stay of the stage.
        auto app = store_.application(t.application);
        if (app.ok() && app->stage == t.timer.stage &&
            app->stage_entered_ms == t.timer.stage_entered_ms) {
          reminders.add_outbox(reminder(options_.notifications_topic, t, now));
          outbox = true;
          stats_.reminders_fired.fetch_add(1);
        } else {
          stats_.reminders_stale.fetch_add(1);
        }
        reminders.delete_timer(t);
      } else {
        const std::string key = timer_key(t);
        if (in_flight_keys_.count(key)) continue;
        workflow::Application app;
        app.id = t.application;
        app.program = t.program;
        // A deadline or an erasure: through the log, so a replay sees it.
        CloudEvent ev = t.timer.kind == workflow::Timer::Kind::retention
                            ? workflow::retention_event(app, t.timer, now)
                            : workflow::deadline_event(app, t.timer, now);
        ev.authsub = ev.actorid;
        ev.authrole = ev.actorrole;
        ev.authsig = auth::event_signature(options_.internal_key, ev);
        const uint64_t token = next_token_++;
        in_flight_[token] = t;
        in_flight_keys_.insert(key);
        if (auto r = producer_->produce(options_.events_topic, t.application, to_json(ev).dump(),
                                        kStructured, token, partition, now);
            !r) {
          spdlog::warn("cannot produce a deadline event (will retry): {}", r.error().message);
          in_flight_.erase(token);
          in_flight_keys_.erase(key);
          continue;
        }
        stats_.deadlines_fired.fetch_add(1);
      }
      ++fired;
      if (late_ms > options_.late_after_ms) {
        stats_.late.fetch_add(1);
        latest = std::max(latest, late_ms);
        int64_t seen = stats_.late_ms_max.load();
        while (late_ms > seen && !stats_.late_ms_max.compare_exchange_weak(seen, late_ms)) {
        }
      }
    }
    if (!reminders.empty()) {
      if (auto r = store_.commit(reminders); !r)
        spdlog::error("cannot record reminders: {}", r.error().message);
      else if (outbox && options_.on_outbox)
        options_.on_outbox();
    }
  }
  if (latest > 0)
    spdlog::info("fired {} timers, overdue ones up to {} s late", fired, latest / 1000);
}

}  // namespace stagewise::processor
