#pragma once

#include "common/result.h"
#include "kafka/kafka.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace stagewise::cluster {

/// One `serve` process as it announces itself.
struct Member {
  std::string id;                   ///< its store's id
  std::string url;                  ///< where its HTTP API answers
  std::vector<int32_t> partitions;  ///< the input partitions it owns
  int64_t time_ms = 0;              ///< when it said so
  bool leaving = false;             ///< it is shutting down
};

nlohmann::json to_json(const Member& m);
std::optional<Member> member_from_json(const nlohmann::json& j);

/// Who owns which input partition, and where to ask them (DESIGN.md §9):
/// every process announces its id, URL and owned partitions on the
/// members topic (on every assignment change and every `heartbeat`), and
/// follows everyone's announcements. A member silent for `dead_after` is
/// taken as gone.
///
/// Thread safety: every method from any thread.
class Directory {
 public:
  struct Options {
    kafka::Properties kafka;
    std::string topic = "stagewise.members";
    int32_t topic_partitions = 1;
    std::string self_id;
    std::string self_url;
    std::function<std::vector<int32_t>()> owned;  ///< this process's partitions now
    std::chrono::milliseconds heartbeat{2000};
    std::chrono::milliseconds dead_after{7000};
  };
  explicit Directory(Options options);
  ~Directory();
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  /// Where this process answers (known once its HTTP port is bound);
  /// before start().
  void set_self_url(std::string url) { options_.self_url = std::move(url); }
  Result<void> start();
  /// Announces that this process leaves, then stops.
  void stop();
  /// Announce now (the assignment changed).
  void announce();
  /// The live member other than this one that owns `partition`, newest
  /// announcement first.
  std::optional<Member> owner_of(int32_t partition) const;
  /// Every live member other than this one.
  std::vector<Member> others() const;
  const std::string& self_id() const { return options_.self_id; }

 private:
  void run_announcer();
  void run_follower();
  void send(bool leaving);
  bool live(const Member& m, int64_t now) const;

  Options options_;
  mutable std::mutex mu_;
  std::map<std::string, Member> members_;  // by id, the latest announcement
  std::condition_variable cv_;
  bool stop_ = false;
  bool announce_now_ = false;
  std::thread announcer_, follower_;
  std::unique_ptr<kafka::PartitionReader> reader_;
  std::unique_ptr<kafka::Producer> producer_;
};

}  // namespace stagewise::cluster
