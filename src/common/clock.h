#pragma once

#include "common/time.h"

#include <atomic>
#include <cstdint>

namespace stagewise {

/// Wall-clock time for the services that need it (timers). The engine never
/// reads a clock: it uses the event's time. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override { return stagewise::now_ms(); }
};

/// A clock tests move by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ms) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(); }
  void set(int64_t ms) { now_.store(ms); }
  void advance(int64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace stagewise
