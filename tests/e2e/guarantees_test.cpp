// End to end, the guarantees of DESIGN.md §5 as an operator sees them: the
// real `stagewise broker` and `stagewise serve` processes, stopped, killed and
// restarted, and the broker itself lost.
#include "support/kafka_fixture.h"
#include "support/process.h"
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::event;
using testing::eventually;
using testing::InputMessage;
using testing::InputProducer;
using testing::metric;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
const std::string kApplied = "stagewise_events_applied_total";

// Events per application: a submission, then notes. Everything stays in
// "submitted", which accepts notes, so each event is one history entry.
struct Burst {
  std::vector<std::string> apps;
  std::map<std::string, std::vector<std::string>> ids;  // per application, in order
  std::vector<InputMessage> messages;                   // round-robin over applications
};

Burst make_burst(const std::string& prefix, int apps, int per_app) {
  Burst b;
  for (int a = 0; a < apps; ++a) b.apps.push_back(prefix + "-" + std::to_string(a));
  for (int round = 0; round < per_app; ++round) {
    for (const auto& app : b.apps) {
      const std::string id = app + "-e" + std::to_string(round);
      const json e = round == 0 ? event(id, "application.submitted", app, "applicant",
                                        {{"name", app}, {"university", "Partner U"}}, round)
                                : event(id, "note.added", app, "program_manager",
                                        {{"text", "note " + std::to_string(round)}}, round);
      b.ids[app].push_back(id);
      b.messages.push_back({app, e.dump()});
    }
  }
  return b;
}

// Produces `messages` from a thread, a few at a time, so that a server
// consuming them is busy for a while; flushes at the end.
class PacedProducer {
 public:
  PacedProducer(InputProducer& producer, const std::vector<InputMessage>& messages, size_t per_step,
                std::chrono::milliseconds step)
      : thread_([&producer, &messages, per_step, step, this] {
          for (size_t i = 0; i < messages.size(); ++i) {
            if (!producer.produce(i, messages[i])) ++errors_;
            sent_ = i + 1;
            if ((i + 1) % per_step == 0) {
              producer.poll();
              std::this_thread::sleep_for(step);
            }
          }
          flushed_ = producer.flush();
        }) {}
  ~PacedProducer() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  size_t sent() const { return sent_; }
  bool flushed() const { return flushed_; }
  int errors() const { return errors_; }

 private:
  std::atomic<size_t> sent_{0};
  std::atomic<bool> flushed_{false};
  std::atomic<int> errors_{0};
  std::thread thread_;  // last: starts after the counters exist
};

// Waits (`seconds` in all) until every application of `burst` has all its
// events in its history, then checks each history holds exactly its events,
// in order, numbered 1..n.
void expect_every_history_exact(const std::string& http, const std::string& token,
                                const Burst& burst, int seconds) {
  httplib::Client c(http);
  c.set_bearer_token_auth(token);
  c.set_read_timeout(10);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (const auto& app : burst.apps) {
    const auto& ids = burst.ids.at(app);
    json events;
    const auto left =
        std::chrono::duration_cast<std::chrono::seconds>(until - std::chrono::steady_clock::now());
    eventually(
        [&] {
          auto r = testing::get_json(c, "/v1/applications/" + app + "/history");
          if (r.status != 200) return false;
          events = r.body["events"];
          return events.size() >= ids.size();
        },
        std::max(1, static_cast<int>(left.count())));
    ASSERT_TRUE(events.is_array()) << app << " has no history";
    std::vector<std::string> got;
    for (size_t i = 0; i < events.size(); ++i) {
      got.push_back(events[i]["id"].get<std::string>());
      EXPECT_EQ(events[i]["sequence"].get<uint64_t>(), i + 1) << app << " entry " << i;
    }
    EXPECT_EQ(got, ids) << app << ": events lost, applied twice or out of order";
  }
}

// Partitions of `topic` per the cluster's metadata; -1 when unknown.
int partition_count(const std::string& bootstrap, const std::string& topic) {
  auto p = kafka::Producer::create({{"bootstrap.servers", bootstrap}}, nullptr);
  if (!p) return -1;
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata((*p)->handle(), 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return -1;
  int n = -1;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (topic == md->topics[i].topic) n = md->topics[i].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return n;
}

TEST(Broker, RunsTheEmbeddedClusterForOtherProcesses) {
  TempDir tmp;
  auto broker = testing::start_broker(kBin, tmp / "broker", 3);
  ASSERT_FALSE(broker.bootstrap.empty()) << broker.proc->err();
  // HOST:PORT, a port a client can connect to.
  const auto colon = broker.bootstrap.rfind(':');
  ASSERT_NE(colon, std::string::npos) << broker.bootstrap;
  EXPECT_GT(std::stoi(broker.bootstrap.substr(colon + 1)), 0) << broker.bootstrap;

  auto producer = std::make_unique<InputProducer>(broker.bootstrap);
  ASSERT_TRUE(producer->ok());
  std::set<std::string> sent;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "b-" + std::to_string(i);
    const std::string value = event(key + "-s", "application.submitted", key, "applicant").dump();
    ASSERT_TRUE(producer->produce(i, {key, value}));
    sent.insert(value);
  }
  ASSERT_TRUE(producer->flush(30000));
  EXPECT_EQ(producer->landed().size(), 30u);
  EXPECT_EQ(producer->failed(), 0u);
  std::set<int32_t> partitions;
  for (const auto& [token, where] : producer->landed()) partitions.insert(where.first);
  EXPECT_EQ(partitions, (std::set<int32_t>{0, 1, 2})) << "30 keys should spread over 3 partitions";
  EXPECT_EQ(partition_count(broker.bootstrap, "stagewise.events"), 3);

  // A second, unrelated client reads them back from all three partitions.
  const auto read = testing::read_topic(broker.bootstrap, "stagewise.events", 3);
  std::set<std::string> got;
  for (const auto& m : read) {
    got.insert(m.value);
    EXPECT_EQ(m.key, m.json()["subject"]) << "the key is the application id";
  }
  EXPECT_EQ(got, sent);
  EXPECT_EQ(read.size(), sent.size());
  // The other topics of DESIGN.md §4 are there too.
  EXPECT_TRUE(testing::read_topic(broker.bootstrap, "stagewise.status", 3).empty());

  producer.reset();  // before its broker goes
  broker.proc->signal(SIGTERM);
  EXPECT_EQ(broker.proc->wait_for(30), 0) << broker.proc->err();
}

TEST(Shutdown, SigtermDuringABurstDrainsAndRestartAppliesNothingTwice) {
  TempDir tmp;
  const std::string data = tmp / "data";
  auto broker = testing::start_broker(kBin, tmp / "broker", 4);
  ASSERT_FALSE(broker.bootstrap.empty()) << broker.proc->err();
  auto serve = testing::start_serve(kBin, kWorkflows, data, broker.bootstrap, tmp / "serve1");
  ASSERT_FALSE(serve.ready.http.empty()) << serve.proc->err();
  EXPECT_EQ(serve.ready.bootstrap, broker.bootstrap);

  const Burst burst = make_burst("burst", 200, 15);  // 3000 events
  InputProducer producer(broker.bootstrap);
  ASSERT_TRUE(producer.ok());
  size_t applied_at_stop = 0, sent_at_stop = 0;
  {
    PacedProducer paced(producer, burst.messages, 50, std::chrono::milliseconds(60));
    // Stop the server once it is well into the burst, while events still arrive.
    ASSERT_TRUE(
        eventually([&] { return metric(serve.ready.http, kApplied).value_or(0) >= 600; }, 120))
        << serve.proc->err();
    applied_at_stop = static_cast<size_t>(metric(serve.ready.http, kApplied).value_or(0));
    sent_at_stop = paced.sent();
    serve.proc->signal(SIGTERM);
    const int code = serve.proc->wait_for(60);
    EXPECT_EQ(code, 0) << "serve did not stop cleanly on SIGTERM: " << serve.proc->err();
    paced.join();
    ASSERT_TRUE(paced.flushed());
    ASSERT_EQ(paced.errors(), 0);
  }
  std::printf("[ figures  ] SIGTERM after %zu of %zu events produced, %zu applied\n", sent_at_stop,
              burst.messages.size(), applied_at_stop);
  EXPECT_EQ(producer.landed().size(), burst.messages.size());

  auto again = testing::start_serve(kBin, kWorkflows, data, broker.bootstrap, tmp / "serve2");
  ASSERT_FALSE(again.ready.http.empty()) << again.proc->err();
  expect_every_history_exact(again.ready.http, testing::token_for(kBin, data, "admin", "e2e"),
                             burst, 120);
  // The restarted server did part of the work: the stop really came mid-burst.
  const double applied_after = metric(again.ready.http, kApplied).value_or(-1);
  EXPECT_GT(applied_after, 0);
  EXPECT_LE(applied_after + static_cast<double>(applied_at_stop),
            static_cast<double>(burst.messages.size()))
      << "together the two runs applied more events than were sent";
  std::printf("[ figures  ] restarted serve applied %.0f more\n", applied_after);

  again.proc->signal(SIGTERM);
  EXPECT_EQ(again.proc->wait_for(60), 0) << again.proc->err();
}

TEST(Restart, KilledServeResumesQuickly) {
  TempDir tmp;
  const std::string data = tmp / "data";
  auto broker = testing::start_broker(kBin, tmp / "broker", 4);
  ASSERT_FALSE(broker.bootstrap.empty()) << broker.proc->err();
  auto serve = testing::start_serve(kBin, kWorkflows, data, broker.bootstrap, tmp / "serve1");
  ASSERT_FALSE(serve.ready.http.empty()) << serve.proc->err();

  const Burst burst = make_burst("kill", 60, 10);  // 600 events
  InputProducer producer(broker.bootstrap);
  ASSERT_TRUE(producer.ok());
  {
    PacedProducer paced(producer, burst.messages, 30, std::chrono::milliseconds(30));
    ASSERT_TRUE(
        eventually([&] { return metric(serve.ready.http, kApplied).value_or(0) >= 150; }, 120))
        << serve.proc->err();
    serve.proc->signal(SIGKILL);
    EXPECT_EQ(serve.proc->wait_for(30), 128 + SIGKILL);
    paced.join();
    ASSERT_TRUE(paced.flushed());
  }

  // Start it again and send one new event right away: how long until it is
  // applied? A member that vanished holds its partitions until its session
  // times out, unless it comes back as the same static member.
  const auto start = std::chrono::steady_clock::now();
  auto again = std::make_unique<testing::Process>(
      testing::serve_args(kBin, kWorkflows, data, broker.bootstrap), tmp / "serve2.out",
      tmp / "serve2.err");
  ASSERT_TRUE(
      producer.produce(1'000'000, {"fresh", event("fresh-s", "application.submitted", "fresh",
                                                  "applicant", {{"name", "Fresh"}}, 0)
                                                .dump()}));
  ASSERT_TRUE(producer.flush(30000));
  const auto ready = testing::parse_ready_line(again->wait_line("ready ", 90));
  ASSERT_FALSE(ready.http.empty()) << again->err();
  const double ready_seconds = testing::seconds_since(start);
  httplib::Client c(ready.http);
  c.set_read_timeout(10);
  c.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "e2e"));
  ASSERT_TRUE(
      eventually([&] { return testing::get_json(c, "/v1/applications/fresh").status == 200; }, 60))
      << again->err();
  const double seconds = testing::seconds_since(start);
  std::printf(
      "[ figures  ] restart after SIGKILL: ready after %.2f s, new event applied %.2f s "
      "after the start\n",
      ready_seconds, seconds);
  EXPECT_LT(seconds, 9.0) << "a restarted serve should not wait out the killed member's session";

  // Across the kill, nothing lost and nothing applied twice.
  expect_every_history_exact(ready.http, testing::token_for(kBin, data, "admin", "e2e"), burst,
                             120);

  again->signal(SIGTERM);
  EXPECT_EQ(again->wait_for(60), 0) << again->err();
}

TEST(Intake, AcceptedEventSurvivesLosingTheBroker) {
  TempDir tmp;
  const std::string data = tmp / "data";
  auto b1 = testing::start_broker(kBin, tmp / "broker1", 4);
  ASSERT_FALSE(b1.bootstrap.empty()) << b1.proc->err();
  auto serve = testing::start_serve(kBin, kWorkflows, data, b1.bootstrap, tmp / "serve1");
  ASSERT_FALSE(serve.ready.http.empty()) << serve.proc->err();
  // Events are sent as the token's actor (an applicant); reads as an admin.
  httplib::Client c(serve.ready.http);
  c.set_read_timeout(30);
  c.set_bearer_token_auth(testing::token_for(kBin, data, "applicant", "stu-e2e"));
  httplib::Client admin(serve.ready.http);
  admin.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "e2e"));

  // Some traffic while the broker is up, so the store has offsets on it.
  for (int i = 0; i < 5; ++i) {
    const std::string app = "before-" + std::to_string(i);
    auto r = testing::post_json(c, "/v1/events",
                                event(app + "-s", "application.submitted", app, "applicant"));
    ASSERT_EQ(r.status, 202) << r.body.dump();
  }
  ASSERT_TRUE(eventually(
      [&] { return testing::get_json(admin, "/v1/applications/before-4").status == 200; }, 60));

  // Kafka goes away (its log was only in memory).
  b1.proc->signal(SIGTERM);
  ASSERT_EQ(b1.proc->wait_for(30), 0) << b1.proc->err();

  const auto posted = std::chrono::steady_clock::now();
  auto accepted = testing::post_json(
      c, "/v1/events",
      event("lost-s", "application.submitted", "lost", "applicant", {{"name", "Kept"}}, 3));
  const double post_seconds = testing::seconds_since(posted);
  std::printf("[ figures  ] POST with the broker down answered %d after %.2f s\n", accepted.status,
              post_seconds);
  ASSERT_EQ(accepted.status, 202) << accepted.body.dump();
  EXPECT_EQ(accepted.body["ids"], json::array({"lost-s"}));
  EXPECT_LT(post_seconds, 5.0) << "the 202 should not wait for a broker that is gone";

  // The server crashes; a new, empty broker takes the old one's place.
  serve.proc->signal(SIGKILL);
  serve.proc->wait_for(30);
  auto b2 = testing::start_broker(kBin, tmp / "broker2", 4);
  ASSERT_FALSE(b2.bootstrap.empty()) << b2.proc->err();
  auto again = testing::start_serve(kBin, kWorkflows, data, b2.bootstrap, tmp / "serve2");
  ASSERT_FALSE(again.ready.http.empty()) << again.proc->err();
  httplib::Client c2(again.ready.http);
  c2.set_read_timeout(30);
  c2.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "e2e"));
  httplib::Client applicant(again.ready.http);
  applicant.set_read_timeout(30);
  applicant.set_bearer_token_auth(testing::token_for(kBin, data, "applicant", "stu-e2e"));
  httplib::Client manager(again.ready.http);
  manager.set_read_timeout(30);
  manager.set_bearer_token_auth(testing::token_for(kBin, data, "program_manager", "pm-e2e",
                                                   {"--program", "summer-research-internship"}));
  const auto restarted = std::chrono::steady_clock::now();
  json lost;
  EXPECT_TRUE(eventually(
      [&] {
        auto r = testing::get_json(c2, "/v1/applications/lost");
        lost = r.body;
        return r.status == 200;
      },
      30))
      << "the accepted event was lost with the broker: " << again.proc->err();
  std::printf(
      "[ figures  ] the event accepted without a broker was applied %.2f s after the "
      "restarted serve was ready\n",
      testing::seconds_since(restarted));
  EXPECT_EQ(lost["stage"], "submitted");
  EXPECT_EQ(lost["profile"]["name"], "Kept") << lost.dump();
  // Applied once, and the state from before the loss is intact.
  EXPECT_EQ(testing::get_json(c2, "/v1/applications/lost/history").body["events"].size(), 1u);
  EXPECT_EQ(testing::get_json(c2, "/v1/applications/before-0").status, 200);

  // ?wait: the answer says what the processor made of each event.
  auto r = testing::post_json(applicant, "/v1/events?wait=10",
                              event("w-s", "application.submitted", "w", "applicant"));
  ASSERT_EQ(r.status, 202) << r.body.dump();
  ASSERT_EQ(r.body["events"].size(), 1u) << r.body.dump();
  EXPECT_EQ(r.body["events"][0]["outcome"]["status"], "applied") << r.body.dump();
  EXPECT_EQ(r.body["events"][0]["outcome"]["stage"], "submitted") << r.body.dump();

  r = testing::post_json(manager, "/v1/events?wait=10",
                         json::array({event("w-d", "decision.recorded", "w", "program_manager",
                                            {{"outcome", "eligible"}}, 1)}));
  ASSERT_EQ(r.status, 202) << r.body.dump();
  ASSERT_EQ(r.body["events"].size(), 1u) << r.body.dump();
  const json moved = r.body["events"][0]["outcome"];
  EXPECT_EQ(moved["status"], "applied") << r.body.dump();
  EXPECT_EQ(moved["stage"], "documents") << r.body.dump();
  r = testing::post_json(
      applicant, "/v1/events?wait=10",
      json::array({event("w-o", "offer.accepted", "w", "applicant", nullptr, 2)}));
  ASSERT_EQ(r.status, 202) << r.body.dump();
  const json& refused = r.body["events"][0]["outcome"];
  EXPECT_EQ(refused["status"], "rejected") << r.body.dump();
  EXPECT_EQ(refused["reason"], "not_accepted_in_stage") << r.body.dump();
  EXPECT_EQ(testing::get_json(c2, "/v1/applications/w").body["stage"], "documents");

  again.proc->signal(SIGTERM);
  EXPECT_EQ(again.proc->wait_for(60), 0) << again.proc->err();
}

}  // namespace
}  // namespace stagewise
