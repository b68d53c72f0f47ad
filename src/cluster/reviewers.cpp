#include "cluster/reviewers.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace stagewise::cluster {

ReviewerFollower::ReviewerFollower(store::Store& store, reviews::ReviewerPool& pool,
                                   Options options)
    : store_(store), pool_(pool), options_(std::move(options)) {}

ReviewerFollower::~ReviewerFollower() {
  stop();
}

Result<void> ReviewerFollower::start() {
  auto reader = kafka::PartitionReader::create(options_.kafka);
  if (!reader) return reader.error();
  reader_ = std::move(*reader);
  if (auto r = reader_->follow(options_.topic, options_.topic_partitions); !r) return r;
  thread_ = std::thread([this] { run(); });
  return {};
}

Result<void> ReviewerFollower::catch_up(std::chrono::milliseconds timeout) {
  std::map<int32_t, int64_t> ends;
  for (int32_t p = 0; p < options_.topic_partitions; ++p) {
    auto w = reader_->watermarks(options_.topic, p, 5000);
    if (!w) return w.error();
    if (w->second > w->first) ends[p] = w->second;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      bool done = true;
      for (const auto& [p, end] : ends) done = done && next_[p] >= end;
      if (done) return {};
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(Errc::timeout, "the reviewers topic was not read to its end in " +
                                           std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void ReviewerFollower::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  reader_.reset();
}

void ReviewerFollower::run() {
  while (!stop_) {
    auto m = reader_->poll(100);
    if (!m) continue;
    {
      std::lock_guard lock(mu_);
      next_[m->partition()] = m->offset() + 1;
    }
    const std::string value(m->value());
    auto rec = reviews::reviewer_from_json(nlohmann::json::parse(value, nullptr, false));
    if (!rec || rec->id != m->key()) continue;  // not a reviewer record: not ours to read
    auto ptr = std::make_shared<const reviews::ReviewerRecord>(std::move(*rec));
    // Store first: what the pool shows survives a restart.
    const auto kept = store_.keep_reviewer(ptr->id, value);
    if (!kept) {
      spdlog::error("cannot keep a reviewer record from {}: {}", options_.topic,
                    kept.error().message);
      continue;
    }
    if (pool_.put(std::move(ptr))) kept_.fetch_add(1);
  }
}

}  // namespace stagewise::cluster
