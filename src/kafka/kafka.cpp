#include "kafka/kafka.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace stagewise::kafka {

ErrorClass classify(rd_kafka_resp_err_t err) {
  switch (err) {
    // The record itself is refused: sending it again can never succeed.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return ErrorClass::permanent;
    // The client or the cluster's set-up is broken: no record can be sent
    // until an operator acts, so stop instead of spinning.
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__SSL:
      return ErrorClass::fatal;
    default:
      // Transport, timeouts, leadership moves, queue full, purged, ...: the
      // idempotent producer keeps order and ids, so sending again is safe.
      return ErrorClass::retriable;
  }
}

Error kafka_error(rd_kafka_resp_err_t err, const std::string& context) {
  Error e = make_error(Errc::kafka, context + ": " + rd_kafka_err2str(err));
  const ErrorClass c = classify(err);
  e.retriable = c == ErrorClass::retriable;
  e.permanent = c == ErrorClass::permanent;
  e.fatal = c == ErrorClass::fatal;
  return e;
}

namespace {
// librdkafka's own log lines go through the process's logger, so they share
// its format (one JSON object per line with log.format json). Its warnings
// about properties meant for the other client type are noise here: every
// client gets the same kafka.properties.
void log_cb(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  const std::string_view facility(fac != nullptr ? fac : "");
  if (facility == "CONFWARN") return spdlog::debug("librdkafka {}: {}", facility, buf);
  if (level <= 3) return spdlog::error("librdkafka {}: {}", facility, buf);
  if (level <= 4) return spdlog::warn("librdkafka {}: {}", facility, buf);
  if (level <= 6) return spdlog::info("librdkafka {}: {}", facility, buf);
  spdlog::debug("librdkafka {}: {}", facility, buf);
}
}  // namespace

Result<RdConfPtr> make_conf(const Properties& props) {
  RdConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &log_cb);
  char errstr[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK)
      return make_error(Errc::invalid_argument,
                        "Kafka property \"" + k + "\" = \"" + v + "\": " + errstr);
  }
  return conf;
}

namespace {

// librdkafka logs through its own callback; route it to nothing noisy by
// default (errors surface through return values and error events).
Result<RdKafkaPtr> new_handle(rd_kafka_type_t type, RdConfPtr conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr)
    return make_error(Errc::invalid_argument, std::string("Kafka client: ") + errstr);
  conf.release();  // owned by rk now
  return RdKafkaPtr(rk);
}

}  // namespace

// ---- EmbeddedCluster ----

Result<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::start(
    int brokers, int partitions, const std::vector<std::string>& topics) {
  auto conf = make_conf({{"log_level", "3"}});
  if (!conf) return conf.error();
  auto rk = new_handle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk) return rk.error();
  std::unique_ptr<EmbeddedCluster> c(new EmbeddedCluster());
  c->owner_ = std::move(*rk);
  c->mock_.reset(rd_kafka_mock_cluster_new(c->owner_.get(), brokers));
  if (!c->mock_) return make_error(Errc::unavailable, "cannot start the embedded Kafka cluster");
  c->bootstrap_ = rd_kafka_mock_cluster_bootstraps(c->mock_.get());
  for (const auto& t : topics)
    if (auto r = c->create_topic(t, partitions); !r) return r.error();
  return c;
}

EmbeddedCluster::~EmbeddedCluster() = default;

Result<void> EmbeddedCluster::create_topic(const std::string& topic, int partitions) {
  const auto err = rd_kafka_mock_topic_create(mock_.get(), topic.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    return kafka_error(err, "creating topic " + topic);
  return {};
}

std::string cluster_id(const Properties& props, int timeout_ms) {
  auto conf = make_conf(props);
  if (!conf) return "";
  auto rk = new_handle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk) return "";
  char* id = rd_kafka_clusterid(rk->get(), timeout_ms);
  std::string out = id != nullptr ? id : "";
  if (id != nullptr) rd_kafka_mem_free(rk->get(), id);
  return out;
}

Result<void> ensure_topics(const Properties& props, const std::vector<std::string>& topics,
                           int partitions, int timeout_ms,
                           const std::map<std::string, Properties>& configs) {
  auto conf = make_conf(props);
  if (!conf) return conf.error();
  auto rk = new_handle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk) return rk.error();
  // Only ask to create what the cluster lacks: some clusters (the embedded
  // one among them) do not answer CreateTopics.
  std::vector<std::string> missing(topics.begin(), topics.end());
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk->get(), 1, nullptr, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < md->topic_cnt; ++i)
      if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        std::erase(missing, std::string(md->topics[i].topic));
    rd_kafka_metadata_destroy(md);
  }
  if (missing.empty()) return {};
  RdQueuePtr queue(rd_kafka_queue_new(rk->get()));
  std::vector<rd_kafka_NewTopic_t*> raw;
  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, RdNewTopicDeleter>> owned;
  char errstr[512];
  for (const auto& t : missing) {
    // -1: the broker's default replication factor.
    owned.emplace_back(rd_kafka_NewTopic_new(t.c_str(), partitions, -1, errstr, sizeof errstr));
    if (!owned.back()) return make_error(Errc::invalid_argument, "topic " + t + ": " + errstr);
    if (auto c = configs.find(t); c != configs.end())
      for (const auto& [k, v] : c->second)
        if (auto e = rd_kafka_NewTopic_set_config(owned.back().get(), k.c_str(), v.c_str()); e)
          return kafka_error(e, "topic " + t + " config " + k);
    raw.push_back(owned.back().get());
  }
  rd_kafka_CreateTopics(rk->get(), raw.data(), raw.size(), nullptr, queue.get());
  RdEventPtr ev(rd_kafka_queue_poll(queue.get(), timeout_ms));
  if (!ev) return make_error(Errc::timeout, "creating topics: no answer from the cluster");
  if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_error(rd_kafka_event_error(ev.get()), "creating topics");
  const auto* result = rd_kafka_event_CreateTopics_result(ev.get());
  size_t n = 0;
  const rd_kafka_topic_result_t** res = rd_kafka_CreateTopics_result_topics(result, &n);
  for (size_t i = 0; i < n; ++i) {
    const auto err = rd_kafka_topic_result_error(res[i]);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      return kafka_error(err, std::string("creating topic ") + rd_kafka_topic_result_name(res[i]));
  }
  return {};
}

// ---- Producer ----

namespace {
// The error of a failed request; for RD_KAFKA_RESP_ERR__FATAL, the
// underlying cause librdkafka recorded (e.g. the producer was fenced).
Error client_error(rd_kafka_t* rk, rd_kafka_resp_err_t err, const std::string& context) {
  Error e = kafka_error(err, context);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char reason[512] = "";
    const auto cause = rd_kafka_fatal_error(rk, reason, sizeof reason);
    e.message += std::string(" (") + rd_kafka_err2name(cause) + ": " + reason + ")";
  }
  return e;
}
}  // namespace

void Producer::delivery_cb(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (!self->on_delivery_) return;
  DeliveryReport r;
  r.token = reinterpret_cast<uintptr_t>(msg->_private);
  r.ok = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR;
  if (!r.ok) r.error = client_error(rk, msg->err, "delivery");
  r.partition = msg->partition;
  r.offset = msg->offset;
  self->on_delivery_(r);
}

Result<std::unique_ptr<Producer>> Producer::create(const Properties& props,
                                                   OnDelivery on_delivery) {
  Properties p = {{"enable.idempotence", "true"},
                  {"acks", "all"},
                  {"linger.ms", "2"},
                  {"batch.num.messages", "10000"},
                  {"queue.buffering.max.messages", "200000"},
                  {"compression.codec", "lz4"},
                  {"log_level", "3"}};
  for (const auto& [k, v] : props) p[k] = v;
  auto conf = make_conf(p);
  if (!conf) return conf.error();
  std::unique_ptr<Producer> self(new Producer());
  self->on_delivery_ = std::move(on_delivery);
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Producer::delivery_cb);
  rd_kafka_conf_set_opaque(conf->get(), self.get());
  auto rk = new_handle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk) return rk.error();
  self->rk_ = std::move(*rk);
  return self;
}

Producer::~Producer() {
  if (rk_) rd_kafka_flush(rk_.get(), 2000);
}

Result<void> Producer::produce(const std::string& topic, std::string_view key,
                               std::string_view value, const Headers& headers, uint64_t token,
                               int32_t partition, int64_t timestamp_ms) {
  for (;;) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!headers.empty()) {
      hdrs = rd_kafka_headers_new(headers.size());
      for (const auto& [k, v] : headers)
        rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                            static_cast<ssize_t>(v.size()));
    }
    const auto err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_TIMESTAMP(timestamp_ms),
        RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(token))), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);  // not taken on failure
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return client_error(rk_.get(), err, "producing to " + topic);
    rd_kafka_poll(rk_.get(), 10);  // make room: serve delivery reports
  }
}

namespace {
Result<void> txn_result(rd_kafka_error_t* raw, const std::string& what) {
  if (raw == nullptr) return {};
  std::unique_ptr<rd_kafka_error_t, RdErrorDeleter> err(raw);
  Error e = make_error(Errc::kafka, what + ": " + rd_kafka_error_string(raw));
  e.retriable = rd_kafka_error_is_retriable(raw) || rd_kafka_error_txn_requires_abort(raw);
  e.fatal = rd_kafka_error_is_fatal(raw);
  return e;
}
}  // namespace

Result<void> Producer::init_transactions(int timeout_ms) {
  return txn_result(rd_kafka_init_transactions(rk_.get(), timeout_ms), "init transactions");
}

Result<void> Producer::begin_transaction() {
  return txn_result(rd_kafka_begin_transaction(rk_.get()), "begin transaction");
}

Result<void> Producer::commit_transaction(int timeout_ms) {
  rd_kafka_error_t* raw = rd_kafka_commit_transaction(rk_.get(), timeout_ms);
  if (raw != nullptr && rd_kafka_error_txn_requires_abort(raw))
    txn_result(rd_kafka_abort_transaction(rk_.get(), timeout_ms), "abort transaction")
        .permit_unchecked_error();  // the commit's error is the one to report
  return txn_result(raw, "commit transaction");
}

int Producer::poll(int timeout_ms) {
  return rd_kafka_poll(rk_.get(), timeout_ms);
}

Result<void> Producer::flush(int timeout_ms) {
  const auto err = rd_kafka_flush(rk_.get(), timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(err, "flushing the producer");
  return {};
}

// ---- Consumer ----

Error Message::error() const {
  return kafka_error(m_->err, "consumer: " + error_text());
}

std::string Consumer::fatal_error() const {
  char reason[512] = "";
  const auto cause = rd_kafka_fatal_error(rk_.get(), reason, sizeof reason);
  if (cause == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return std::string(rd_kafka_err2name(cause)) + ": " + reason;
}

Headers Message::headers() const {
  Headers out;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m_.get(), &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name = nullptr;
  const void* val = nullptr;
  size_t size = 0;
  for (size_t i = 0;
       rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
    out.emplace_back(name, val ? std::string(static_cast<const char*>(val), size) : std::string());
  return out;
}

namespace {
std::vector<Assigned> to_assigned(const rd_kafka_topic_partition_list_t* parts) {
  std::vector<Assigned> out;
  for (int i = 0; i < parts->cnt; ++i)
    out.push_back({parts->elems[i].topic, parts->elems[i].partition, parts->elems[i].offset});
  return out;
}

RdPartitionListPtr to_list(const std::vector<Assigned>& parts) {
  RdPartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
  for (const auto& a : parts)
    rd_kafka_topic_partition_list_add(list.get(), a.topic.c_str(), a.partition)->offset = a.offset;
  return list;
}
}  // namespace

void Consumer::rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    auto assigned = to_assigned(parts);
    if (self->on_assign_) self->on_assign_(assigned);
    auto list = to_list(assigned);
    rd_kafka_assign(rk, list.get());
  } else {
    if (self->on_revoke_) self->on_revoke_(to_assigned(parts), rd_kafka_assignment_lost(rk) == 1);
    rd_kafka_assign(rk, nullptr);
  }
}

Result<std::unique_ptr<Consumer>> Consumer::create(const Properties& props, OnAssign on_assign,
                                                   OnRevoke on_revoke) {
  Properties p = {{"enable.auto.commit", "false"},   {"enable.auto.offset.store", "false"},
                  {"auto.offset.reset", "earliest"}, {"enable.partition.eof", "false"},
                  {"fetch.wait.max.ms", "10"},       {"log_level", "3"}};
  for (const auto& [k, v] : props) p[k] = v;
  auto conf = make_conf(p);
  if (!conf) return conf.error();
  std::unique_ptr<Consumer> self(new Consumer());
  self->on_assign_ = std::move(on_assign);
  self->on_revoke_ = std::move(on_revoke);
  rd_kafka_conf_set_rebalance_cb(conf->get(), &Consumer::rebalance_cb);
  rd_kafka_conf_set_opaque(conf->get(), self.get());
  auto rk = new_handle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk) return rk.error();
  self->rk_ = std::move(*rk);
  rd_kafka_poll_set_consumer(self->rk_.get());
  return self;
}

Consumer::~Consumer() {
  close();
}

Result<void> Consumer::subscribe(const std::vector<std::string>& topics) {
  std::vector<Assigned> list;
  for (const auto& t : topics) list.push_back({t, RD_KAFKA_PARTITION_UA, 0});
  auto parts = to_list(list);
  const auto err = rd_kafka_subscribe(rk_.get(), parts.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(err, "subscribing");
  return {};
}

std::vector<Message> Consumer::poll(size_t max, int timeout_ms) {
  std::vector<Message> out;
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), timeout_ms);
  if (m != nullptr) out.reserve(std::min<size_t>(max, 1024));
  while (m != nullptr) {
    out.emplace_back(m);
    if (out.size() >= max) break;
    m = rd_kafka_consumer_poll(rk_.get(), 0);
  }
  return out;
}

Result<void> Consumer::commit(const std::vector<Assigned>& next, bool async) {
  if (next.empty()) return {};
  auto list = to_list(next);
  const auto err = rd_kafka_commit(rk_.get(), list.get(), async ? 1 : 0);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
    return kafka_error(err, "committing offsets");
  return {};
}

namespace {
Result<std::pair<int64_t, int64_t>> watermarks_of(rd_kafka_t* rk, const std::string& topic,
                                                  int32_t partition, int timeout_ms) {
  int64_t lo = 0, hi = 0;
  const auto err =
      rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &lo, &hi, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_error(err, "watermarks of " + topic + "/" + std::to_string(partition));
  return std::make_pair(lo, hi);
}
}  // namespace

Result<std::pair<int64_t, int64_t>> Consumer::watermarks(const std::string& topic,
                                                         int32_t partition, int timeout_ms) {
  return watermarks_of(rk_.get(), topic, partition, timeout_ms);
}

void Consumer::close() {
  if (closed_ || !rk_) return;
  closed_ = true;
  rd_kafka_consumer_close(rk_.get());
}

Result<int32_t> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(err, "metadata of " + topic);
  int32_t n = 0;
  rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (md->topic_cnt == 1) {
    n = md->topics[0].partition_cnt;
    topic_err = md->topics[0].err;
  }
  rd_kafka_metadata_destroy(md);
  if (topic_err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(topic_err, "topic " + topic);
  if (n <= 0) return make_error(Errc::kafka, "topic " + topic + " has no partitions");
  return n;
}

// ---- PartitionReader ----

Result<std::unique_ptr<PartitionReader>> PartitionReader::create(const Properties& props) {
  Properties p = props;
  // librdkafka 2.0 refuses assign() without a group id; this one is never
  // joined (no subscribe) and never committed to.
  p["group.id"] = (props.contains("group.id") ? props.at("group.id") : "stagewise") + ".reader";
  p.erase("group.instance.id");
  p["enable.auto.commit"] = "false";
  p["enable.auto.offset.store"] = "false";
  p["enable.partition.eof"] = "true";
  p["fetch.wait.max.ms"] = "10";  // a restore reads what is there; it waits for nothing new
  p["log_level"] = "3";
  auto conf = make_conf(p);
  if (!conf) return conf.error();
  auto rk = new_handle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk) return rk.error();
  std::unique_ptr<PartitionReader> self(new PartitionReader());
  self->rk_ = std::move(*rk);
  rd_kafka_poll_set_consumer(self->rk_.get());
  return self;
}

PartitionReader::~PartitionReader() {
  if (rk_) rd_kafka_consumer_close(rk_.get());
}

Result<std::pair<int64_t, int64_t>> PartitionReader::watermarks(const std::string& topic,
                                                                int32_t partition, int timeout_ms) {
  return watermarks_of(rk_.get(), topic, partition, timeout_ms);
}

Result<void> PartitionReader::read(const std::string& topic, int32_t partition, int64_t from,
                                   int64_t to, const std::function<Result<void>(Message&)>& each,
                                   int idle_timeout_ms) {
  if (from >= to) return {};
  auto list = to_list({{topic, partition, from}});
  if (const auto err = rd_kafka_assign(rk_.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_error(err, "assigning " + topic + "/" + std::to_string(partition));
  Result<void> result;
  int64_t next = from;
  auto idle_since = std::chrono::steady_clock::now();
  while (next < to) {
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(rk_.get(), 100);
    if (raw == nullptr) {
      if (std::chrono::steady_clock::now() - idle_since >
          std::chrono::milliseconds(idle_timeout_ms)) {
        result = make_error(Errc::timeout, "reading " + topic + "/" + std::to_string(partition) +
                                               ": nothing after offset " + std::to_string(next) +
                                               " (of " + std::to_string(to) + ") for " +
                                               std::to_string(idle_timeout_ms) + " ms");
        break;
      }
      continue;
    }
    Message m(raw);
    idle_since = std::chrono::steady_clock::now();
    if (m.err() == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      next = std::max(next, m.offset());
      if (next < to) {
        result =
            make_error(Errc::kafka, topic + "/" + std::to_string(partition) + " ends at " +
                                        std::to_string(next) + ", before " + std::to_string(to));
        break;
      }
      continue;
    }
    if (m.err() != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const Error e = m.error();
      if (e.fatal || m.err() == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        result = e;
        break;
      }
      continue;
    }
    next = m.offset() + 1;
    if (m.offset() >= to) break;
    if (auto r = each(m); !r) {
      result = r;
      break;
    }
  }
  rd_kafka_assign(rk_.get(), nullptr);
  return result;
}

Result<void> PartitionReader::follow(const std::string& topic, int32_t partitions) {
  std::vector<Assigned> all;
  for (int32_t p = 0; p < partitions; ++p) all.push_back({topic, p, RD_KAFKA_OFFSET_BEGINNING});
  auto list = to_list(all);
  if (const auto err = rd_kafka_assign(rk_.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_error(err, "following " + topic);
  return {};
}

std::optional<Message> PartitionReader::poll(int timeout_ms) {
  for (;;) {
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(rk_.get(), timeout_ms);
    if (raw == nullptr) return std::nullopt;
    Message m(raw);
    if (m.err() == RD_KAFKA_RESP_ERR_NO_ERROR) return m;
    timeout_ms = 0;  // an end-of-partition note or an error: look again, without waiting
  }
}

// ---- GroupLag ----

Result<std::unique_ptr<GroupLag>> GroupLag::create(const Properties& props,
                                                   const std::string& group) {
  Properties p = props;
  p["group.id"] = group;
  p["enable.auto.commit"] = "false";
  p["log_level"] = "3";
  auto conf = make_conf(p);
  if (!conf) return conf.error();
  auto rk = new_handle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk) return rk.error();
  std::unique_ptr<GroupLag> self(new GroupLag());
  self->rk_ = std::move(*rk);
  return self;
}

Result<int64_t> GroupLag::lag(const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk_.get(), 0, rkt, &md, timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(err, "metadata of " + topic);
  const int partitions = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
  rd_kafka_metadata_destroy(md);
  RdPartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  if (const auto e = rd_kafka_committed(rk_.get(), list.get(), timeout_ms);
      e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_error(e, "committed offsets of " + topic);
  int64_t lag = 0;
  for (int i = 0; i < list->cnt; ++i) {
    int64_t lo = 0, hi = 0;
    const auto& tp = list->elems[i];
    if (const auto e = rd_kafka_query_watermark_offsets(rk_.get(), topic.c_str(), tp.partition, &lo,
                                                        &hi, timeout_ms);
        e != RD_KAFKA_RESP_ERR_NO_ERROR)
      return kafka_error(e, "watermarks of " + topic);
    lag += std::max<int64_t>(0, hi - std::max(tp.offset, lo));
  }
  return lag;
}

}  // namespace stagewise::kafka
