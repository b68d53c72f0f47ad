#include "replay/rebuild.h"

#include "common/partition.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace stagewise::replay {
namespace {

using Clock = std::chrono::steady_clock;

// Produces the log's messages into the embedded cluster's input topic.
class Feeder {
 public:
  Feeder(std::string topic, int32_t partitions) : topic_(std::move(topic)), n_(partitions) {}

  Result<void> open(const std::string& bootstrap) {
    auto p = kafka::Producer::create({{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}},
                                     [this](const kafka::DeliveryReport& d) {
                                       if (d.ok) return;
                                       std::lock_guard lock(mu_);
                                       if (failed_++ == 0) first_error_ = d.error.message;
                                     });
    if (!p) return p.error();
    producer_ = std::move(*p);
    return {};
  }

  Result<void> produce(const LogRecord& r) {
    const int32_t partition = r.partition     ? *r.partition
                              : r.key.empty() ? 0
                                              : partition_of(r.key, n_);
    if (partition >= n_)
      return make_error(Errc::invalid_argument,
                        "a message of partition " + std::to_string(partition) + " (offset " +
                            std::to_string(r.offset) + "), but the input has " +
                            std::to_string(n_) + " partitions: pass --partitions " +
                            std::to_string(partition + 1) + " or more, as the original had");
    if (auto p =
            producer_->produce(topic_, r.key, r.value, r.headers, sent_, partition, r.timestamp_ms);
        !p)
      return p;
    ++sent_;
    ++ends_[partition];
    producer_->poll(0);
    return {};
  }

  Result<void> flush() {
    if (auto r = producer_->flush(120'000); !r) return r;
    std::lock_guard lock(mu_);
    if (failed_ > 0)
      return make_error(Errc::kafka,
                        std::to_string(failed_) +
                            " message(s) not taken by the embedded cluster: " + first_error_);
    return {};
  }

  void poll(int ms) { producer_->poll(ms); }
  uint64_t sent() const { return sent_; }
  const std::map<int32_t, int64_t>& ends() const { return ends_; }

 private:
  std::string topic_;
  int32_t n_;
  std::unique_ptr<kafka::Producer> producer_;
  uint64_t sent_ = 0;
  std::map<int32_t, int64_t> ends_;  // the cluster is new: offsets start at 0
  std::mutex mu_;
  uint64_t failed_ = 0;
  std::string first_error_;
};

// Progress and a processor that stopped: checked while feeding and waiting.
class Watch {
 public:
  Watch(const processor::Processor& proc, const RebuildOptions& o) : proc_(proc), o_(o) {}

  Result<void> check() {
    if (proc_.failed())
      return make_error(Errc::internal, "the processor stopped: " + proc_.failure());
    const uint64_t consumed = proc_.stats().consumed.load();
    const auto now = Clock::now();
    if (consumed != last_ || committed_changed_) {
      last_ = consumed;
      moved_ = now;
      committed_changed_ = false;
    } else if (now - moved_ > o_.stall_timeout) {
      return make_error(Errc::timeout, "the processor took no message for " +
                                           std::to_string(o_.stall_timeout.count() / 1000) +
                                           " s (" + std::to_string(consumed) + " so far)");
    }
    if (o_.progress && now - drawn_ > std::chrono::milliseconds(100)) {
      drawn_ = now;
      o_.progress(consumed);
    }
    return {};
  }
  void committed_moved() { committed_changed_ = true; }

 private:
  const processor::Processor& proc_;
  const RebuildOptions& o_;
  uint64_t last_ = 0;
  bool committed_changed_ = false;
  Clock::time_point moved_ = Clock::now();
  Clock::time_point drawn_{};
};

// Whether every partition's committed input position reached its end.
Result<bool> all_applied(const store::Store& store, const std::string& topic,
                         const std::map<int32_t, int64_t>& ends, int64_t& committed) {
  auto positions = store.input_positions();
  if (!positions) return positions.error();
  int64_t sum = 0;
  bool done = true;
  for (const auto& [partition, end] : ends) {
    int64_t at = 0;
    for (const auto& p : *positions)
      if (p.topic == topic && p.partition == partition) at = p.next_offset;
    sum += std::min(at, end);
    done = done && at >= end;
  }
  committed = sum;
  return done;
}

Result<void> feed_all(Feeder& feeder, Watch& watch, const processor::Processor& proc,
                      const std::function<Result<void>(const Each&)>& read, int64_t max_ahead) {
  return read([&](LogRecord&& r) -> Result<void> {
    while (static_cast<int64_t>(feeder.sent() - proc.stats().consumed.load()) > max_ahead) {
      feeder.poll(20);
      if (auto w = watch.check(); !w) return w;
    }
    if (auto w = watch.check(); !w) return w;
    return feeder.produce(r);
  });
}

Result<void> wait_applied(const store::Store& store, const std::string& topic, const Feeder& feeder,
                          Watch& watch) {
  int64_t before = -1;
  for (;;) {
    int64_t committed = 0;
    auto done = all_applied(store, topic, feeder.ends(), committed);
    if (!done) return done.error();
    if (*done) return {};
    if (committed != before) watch.committed_moved();
    before = committed;
    if (auto w = watch.check(); !w) return w;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

Result<Rebuilt> rebuild(const workflow::Registry& registry, store::Store& store,
                        const std::function<Result<void>(const Each&)>& read, RebuildOptions o) {
  processor::Options& po = o.processor;
  auto cluster = kafka::EmbeddedCluster::start(1, o.partitions, po.topics.all());
  if (!cluster) return cluster.error();
  po.kafka["bootstrap.servers"] = (*cluster)->bootstrap();
  po.timers = false;
  po.changelog = false;  // one process on a broker it embeds (as serve's default)
  po.group_instance_id.clear();
  po.transactional_id.clear();
  processor::Processor proc(registry, store, po);
  if (auto r = proc.start(); !r)
    return make_error(r.error().code, "cannot start the processor: " + r.error().message);
  Feeder feeder(po.topics.events, o.partitions);
  if (auto r = feeder.open((*cluster)->bootstrap()); !r) return r.error();
  Watch watch(proc, o);
  auto result = feed_all(feeder, watch, proc, read, o.max_ahead);
  if (result) result = feeder.flush();
  if (result) result = wait_applied(store, po.topics.events, feeder, watch);
  proc.stop();
  if (!result) return result.error();
  if (o.progress) o.progress(proc.stats().consumed.load());
  Rebuilt out;
  out.messages = feeder.sent();
  out.ends = feeder.ends();
  out.applied = proc.stats().applied.load();
  out.duplicates = proc.stats().duplicates.load();
  for (const auto& n : proc.stats().rejected) out.rejected += n.load();
  return out;
}

}  // namespace stagewise::replay
