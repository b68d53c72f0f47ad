#pragma once

#include "common/result.h"
#include "kafka/kafka.h"

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stagewise::processor {

/// What happened to one submitted event.
struct IntakeResult {
  bool accepted = false;
  std::string id;       ///< the event's id, when it had one
  std::string subject;  ///< the application id, when it had one
  std::string error;    ///< why it was refused (names the attribute and what to do)
  std::string code;     ///< reason code when refused
};

/// Validates CloudEvents and writes them to the input topic (structured mode,
/// key = application id), answering once the broker acknowledged them
/// (acks=all). Used by `POST /v1/events` and `stagewise submit`.
///
/// Thread safety: submit() may be called from any number of threads.
class Intake {
 public:
  static Result<std::unique_ptr<Intake>> create(const kafka::Properties& props, std::string topic);
  ~Intake();
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  /// Validates each event and produces the valid ones; waits up to
  /// `timeout_ms` for their acknowledgements. Invalid events are refused with
  /// a reason and never produced; the others are accepted only when acked.
  std::vector<IntakeResult> submit(const std::vector<nlohmann::json>& events, int timeout_ms);

 private:
  struct Waiter;
  Intake() = default;
  void on_delivery(const kafka::DeliveryReport& d);

  std::string topic_;
  std::unique_ptr<kafka::Producer> producer_;
  std::mutex mu_;
  uint64_t next_token_ = 1;
  std::map<uint64_t, std::pair<Waiter*, size_t>> pending_;
  std::thread poller_;
  bool stop_ = false;
};

}  // namespace stagewise::processor
