#pragma once

// Shared by the integration tests: an embedded Kafka cluster (the real
// protocol on loopback), a producer of raw messages and a reader of topics.
#include "common/time.h"
#include "kafka/kafka.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace stagewise::testing {

struct ReadMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  Headers headers;
  nlohmann::json json() const { return nlohmann::json::parse(value, nullptr, false); }
};

/// Reads every message of `topic` from the beginning (all partitions),
/// with a low-level consumer outside any group.
inline std::vector<ReadMessage> read_topic(const std::string& bootstrap, const std::string& topic,
                                           int partitions) {
  auto conf = kafka::make_conf({{"bootstrap.servers", bootstrap},
                                {"group.id", "test-reader"},
                                {"enable.partition.eof", "true"},
                                {"enable.auto.commit", "false"},
                                {"log_level", "3"}});
  EXPECT_TRUE(conf.ok());
  char err[256];
  kafka::RdKafkaPtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf->release(), err, sizeof err));
  kafka::RdPartitionListPtr parts(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk.get(), parts.get());
  std::vector<ReadMessage> out;
  int eof = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (eof < partitions && std::chrono::steady_clock::now() < until) {
    kafka::RdMessagePtr m(rd_kafka_consumer_poll(rk.get(), 100));
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++eof;
      continue;
    }
    if (m->err) continue;
    kafka::Message msg(m.release());
    out.push_back({msg.topic(), msg.partition(), msg.offset(), std::string(msg.key()),
                   std::string(msg.value()), msg.headers()});
  }
  rd_kafka_consumer_close(rk.get());
  EXPECT_EQ(eof, partitions) << "did not reach the end of " << topic;
  return out;
}

/// Polls `done` until it is true or `seconds` pass.
inline bool eventually(const std::function<bool()>& done, int seconds = 20) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

/// When the test's events happen: a whole hour before the test started, so
/// that no deadline of the workflows (days) is due while a test runs on the
/// real clock, and the same for every event of one run.
inline int64_t test_epoch_ms() {
  static const int64_t epoch = (now_ms() / 3600000 - 1) * 3600000;
  return epoch;
}

/// A CloudEvent in structured mode for the summer program, `minute` minutes
/// after test_epoch_ms().
inline nlohmann::json event(const std::string& id, const std::string& type,
                            const std::string& subject, const std::string& role,
                            nlohmann::json data = nullptr, int minute = 0) {
  const std::string time = format_rfc3339_ms(test_epoch_ms() + int64_t{minute} * 60000);
  nlohmann::json e = {{"specversion", "1.0"}, {"id", id},
                      {"source", "test"},     {"type", type},
                      {"subject", subject},   {"time", time},
                      {"actorrole", role},    {"program", "summer-research-internship"}};
  if (!data.is_null()) e["data"] = std::move(data);
  return e;
}

}  // namespace stagewise::testing
