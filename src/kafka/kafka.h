#pragma once

#include "common/cloudevent.h"
#include "common/result.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// RAII wrappers of librdkafka (DESIGN.md §3 `kafka/`). Every C handle lives
/// in a unique_ptr with a deleter declared here; classes that own handles are
/// neither copyable nor movable.
namespace stagewise::kafka {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
};
struct RdConfDeleter {
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
};
struct RdMessageDeleter {
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
};
struct RdPartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
};
struct RdQueueDeleter {
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
};
struct RdEventDeleter {
  void operator()(rd_kafka_event_t* p) const { rd_kafka_event_destroy(p); }
};
struct RdErrorDeleter {
  void operator()(rd_kafka_error_t* p) const { rd_kafka_error_destroy(p); }
};
struct RdMockClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* p) const { rd_kafka_mock_cluster_destroy(p); }
};
struct RdNewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* p) const { rd_kafka_NewTopic_destroy(p); }
};

using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;
using RdConfPtr = std::unique_ptr<rd_kafka_conf_t, RdConfDeleter>;
using RdMessagePtr = std::unique_ptr<rd_kafka_message_t, RdMessageDeleter>;
using RdPartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, RdPartitionListDeleter>;
using RdQueuePtr = std::unique_ptr<rd_kafka_queue_t, RdQueueDeleter>;
using RdEventPtr = std::unique_ptr<rd_kafka_event_t, RdEventDeleter>;
using RdMockClusterPtr = std::unique_ptr<rd_kafka_mock_cluster_t, RdMockClusterDeleter>;

using Properties = std::map<std::string, std::string>;

/// What to do about a failed request: try again, set the record aside for
/// good (it can never be published as it is), or stop the process.
enum class ErrorClass { retriable, permanent, fatal };
ErrorClass classify(rd_kafka_resp_err_t err);

/// An Error from a librdkafka error code, with its class as flags.
Error kafka_error(rd_kafka_resp_err_t err, const std::string& context);

/// A configuration built from properties; the error names the bad property.
Result<RdConfPtr> make_conf(const Properties& props);

/// The topics of DESIGN.md §4.
struct Topics {
  std::string events = "stagewise.events";
  std::string status = "stagewise.status";
  std::string notifications = "stagewise.notifications";
  std::string deadletter = "stagewise.deadletter";
  std::string changelog = "stagewise.changelog";
  /// Internal: each serve process's address and partitions (DESIGN.md §9).
  std::string members = "stagewise.members";
  /// Reference data: every reviewer's latest record, keyed by reviewer id
  /// (compacted), read in full by every process (DESIGN.md §12).
  std::string reviewers = "stagewise.reviewers";
  /// Each committed round's audit seal per partition (DESIGN.md §14), for
  /// outside parties to pin.
  std::string audit = "stagewise.audit";
  std::vector<std::string> all() const {
    return {events, status, notifications, deadletter, changelog, members, reviewers, audit};
  }
};

/// librdkafka's mock cluster, in-process on loopback: a real Kafka-protocol
/// broker whose log lives in memory (DESIGN.md §8). Thread-safe.
class EmbeddedCluster {
 public:
  /// Starts `brokers` brokers and creates `topics` with `partitions` each.
  static Result<std::unique_ptr<EmbeddedCluster>> start(int brokers, int partitions,
                                                        const std::vector<std::string>& topics);
  ~EmbeddedCluster();
  EmbeddedCluster(const EmbeddedCluster&) = delete;
  EmbeddedCluster& operator=(const EmbeddedCluster&) = delete;

  /// "127.0.0.1:PORT,..." for clients.
  const std::string& bootstrap() const { return bootstrap_; }
  Result<void> create_topic(const std::string& topic, int partitions);
  /// For fault injection in tests (rd_kafka_mock_push_request_errors, ...).
  rd_kafka_mock_cluster_t* mock() const { return mock_.get(); }

 private:
  EmbeddedCluster() = default;
  RdKafkaPtr owner_;       // the handle the mock cluster hangs off
  RdMockClusterPtr mock_;  // destroyed before owner_
  std::string bootstrap_;
};

/// The cluster id the bootstrap servers report ("" when none answers in
/// time). librdkafka's embedded cluster reports "mockCluster…".
std::string cluster_id(const Properties& props, int timeout_ms);

/// Creates topics on a real cluster through the Admin API, with the topic
/// configs given per topic (e.g. cleanup.policy=compact); topics that exist
/// already are fine (and keep their configs).
Result<void> ensure_topics(const Properties& props, const std::vector<std::string>& topics,
                           int partitions, int timeout_ms,
                           const std::map<std::string, Properties>& configs = {});

/// What the broker said about one produced message.
struct DeliveryReport {
  uint64_t token = 0;  ///< the value given to produce()
  bool ok = false;
  Error error;
  int32_t partition = -1;
  int64_t offset = -1;
};

/// An idempotent producer (acks=all). produce() is thread-safe; reports are
/// delivered from poll()/flush() on the calling thread.
class Producer {
 public:
  using OnDelivery = std::function<void(const DeliveryReport&)>;
  static Result<std::unique_ptr<Producer>> create(const Properties& props, OnDelivery on_delivery);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  /// Queues a message; waits (polling) while the local queue is full.
  /// `partition` -1 lets the key pick it; `timestamp_ms` 0 stamps it now.
  Result<void> produce(const std::string& topic, std::string_view key, std::string_view value,
                       const Headers& headers, uint64_t token, int32_t partition = -1,
                       int64_t timestamp_ms = 0);
  /// Serves delivery reports; returns how many were served.
  int poll(int timeout_ms);
  /// Waits until every queued message is delivered or failed.
  Result<void> flush(int timeout_ms);
  /// Transactions (the producer was created with `transactional.id`).
  Result<void> init_transactions(int timeout_ms);
  Result<void> begin_transaction();
  /// Flushes and commits; on an abortable error the transaction is aborted
  /// and the error returned (retriable).
  Result<void> commit_transaction(int timeout_ms);
  /// Messages queued or in flight.
  int outstanding() const { return rd_kafka_outq_len(rk_.get()); }
  rd_kafka_t* handle() const { return rk_.get(); }

 private:
  Producer() = default;
  static void delivery_cb(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque);
  OnDelivery on_delivery_;
  RdKafkaPtr rk_;
};

/// One consumed message (or a consumer error when err() is set). Views stay
/// valid while the Message lives.
class Message {
 public:
  explicit Message(rd_kafka_message_t* m) : m_(m) {}
  rd_kafka_resp_err_t err() const { return m_->err; }
  std::string error_text() const { return rd_kafka_message_errstr(m_.get()); }
  std::string topic() const { return m_->rkt ? rd_kafka_topic_name(m_->rkt) : std::string(); }
  int32_t partition() const { return m_->partition; }
  int64_t offset() const { return m_->offset; }
  /// When the message was produced (CreateTime) or appended (LogAppendTime),
  /// in ms since the epoch; -1 when the broker has none.
  int64_t timestamp() const { return rd_kafka_message_timestamp(m_.get(), nullptr); }
  /// For a consumer error: the Error with its class (fatal ends the process).
  Error error() const;
  std::string_view key() const {
    return m_->key ? std::string_view(static_cast<const char*>(m_->key), m_->key_len)
                   : std::string_view();
  }
  std::string_view value() const {
    return m_->payload ? std::string_view(static_cast<const char*>(m_->payload), m_->len)
                       : std::string_view();
  }
  Headers headers() const;

 private:
  RdMessagePtr m_;
};

/// A partition assigned to this consumer and the offset to start it from.
struct Assigned {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = RD_KAFKA_OFFSET_BEGINNING;  ///< or a concrete offset
};

/// A group consumer whose start offsets come from the caller (the store),
/// not from the group: on assignment `on_assign` fills in each partition's
/// offset. Not thread-safe: one thread polls it.
class Consumer {
 public:
  using OnAssign = std::function<void(std::vector<Assigned>&)>;
  /// `lost`: taken away without a rebalance (the session ran out); another
  /// member may own them already.
  using OnRevoke = std::function<void(const std::vector<Assigned>&, bool lost)>;
  static Result<std::unique_ptr<Consumer>> create(const Properties& props, OnAssign on_assign,
                                                  OnRevoke on_revoke);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  Result<void> subscribe(const std::vector<std::string>& topics);
  /// Up to `max` messages, waiting at most `timeout_ms` for the first one.
  std::vector<Message> poll(size_t max, int timeout_ms);
  /// Commits next offsets to the group (secondary to the store's).
  Result<void> commit(const std::vector<Assigned>& next, bool async);
  /// Low and high watermark of a partition, asking the broker.
  Result<std::pair<int64_t, int64_t>> watermarks(const std::string& topic, int32_t partition,
                                                 int timeout_ms);
  /// Leaves the group cleanly.
  void close();
  /// The cause of a fatal consumer error (e.g. fenced by another member
  /// with the same group.instance.id); empty when there is none.
  std::string fatal_error() const;
  rd_kafka_t* handle() const { return rk_.get(); }

 private:
  Consumer() = default;
  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque);
  OnAssign on_assign_;
  OnRevoke on_revoke_;
  RdKafkaPtr rk_;
  bool closed_ = false;
};

/// Partitions of `topic`, from the broker's metadata.
Result<int32_t> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

/// Reads one partition from a given offset up to another, outside any
/// group (a restore from the changelog). Not thread-safe.
class PartitionReader {
 public:
  static Result<std::unique_ptr<PartitionReader>> create(const Properties& props);
  ~PartitionReader();
  PartitionReader(const PartitionReader&) = delete;
  PartitionReader& operator=(const PartitionReader&) = delete;

  Result<std::pair<int64_t, int64_t>> watermarks(const std::string& topic, int32_t partition,
                                                 int timeout_ms);
  /// Calls `each` for every message at offsets from..to-1 in order, stopping
  /// at its first error. Fails when the partition ends early, the offsets
  /// were trimmed, or nothing arrives for `idle_timeout_ms`.
  Result<void> read(const std::string& topic, int32_t partition, int64_t from, int64_t to,
                    const std::function<Result<void>(Message&)>& each, int idle_timeout_ms);
  /// Follows every partition of `topic` from its start: messages come from
  /// poll() as they arrive.
  Result<void> follow(const std::string& topic, int32_t partitions);
  /// The next message followed, or nothing within `timeout_ms`.
  std::optional<Message> poll(int timeout_ms);
  rd_kafka_t* handle() const { return rk_.get(); }

 private:
  PartitionReader() = default;
  RdKafkaPtr rk_;
};

/// How far a consumer group is behind on a topic, from the group's committed
/// offsets and the partitions' watermarks (asks the broker). Not thread-safe.
class GroupLag {
 public:
  static Result<std::unique_ptr<GroupLag>> create(const Properties& props,
                                                  const std::string& group);
  GroupLag(const GroupLag&) = delete;
  GroupLag& operator=(const GroupLag&) = delete;
  /// Messages of `topic` the group has not committed past.
  Result<int64_t> lag(const std::string& topic, int timeout_ms);

 private:
  GroupLag() = default;
  RdKafkaPtr rk_;
};

}  // namespace stagewise::kafka
