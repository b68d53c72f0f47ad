// End to end, slow (DESIGN.md §9, issue 12): one `stagewise broker` kept up
// throughout, three `stagewise serve` processes sharing its partitions, a
// seeded stream of the summer program, random SIGKILLs and SIGTERMs of the
// processes, and a fresh process on an empty data dir joining mid-way. At
// the end every process answers every application alike, as the pure
// engine (the oracle) says; every input is applied once or dead-lettered
// once; no status id names two different payloads; the fresh process
// restored from the changelog instead of replaying the input.
//
// STAGEWISE_SCALEOUT_SEED=N reproduces a run.
#include "support/kafka_fixture.h"
#include "support/process.h"
#include "support/stagewise_e2e.h"
#include "support/summer_stream.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::event;
using testing::eventually;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
constexpr int kPartitions = 4;
constexpr int kApplications = 150;

uint64_t seed_of_run() {
  if (const char* s = std::getenv("STAGEWISE_SCALEOUT_SEED"); s != nullptr && *s != '\0')
    return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

// One serve process's data dir and its current run.
struct Node {
  std::string data;
  testing::ServeProcess serve;
  int starts = 0;
};

class Cluster {
 public:
  Cluster(const TempDir& tmp, std::string bootstrap)
      : tmp_(tmp), bootstrap_(std::move(bootstrap)), secrets_(tmp / "secrets") {}

  // Starts `n` and waits for its ready line; false (with its log) when it
  // did not come up.
  bool start(Node& n) {
    auto args = testing::serve_args(kBin, kWorkflows, n.data, bootstrap_);
    args.insert(args.end(), {"--secrets-dir", secrets_});
    const std::string log = n.data + ".run" + std::to_string(++n.starts);
    n.serve.proc = std::make_unique<testing::Process>(args, log + ".out", log + ".err");
    n.serve.ready = testing::parse_ready_line(n.serve.proc->wait_line("ready ", 180));
    return !n.serve.ready.http.empty();
  }
  const std::string& secrets() const { return secrets_; }

 private:
  const TempDir& tmp_;
  std::string bootstrap_;
  std::string secrets_;
};

// GET, trying again while the answer is 503 with Retry-After (a hand-over
// under way: a member's session ran out after the last restart) for at most
// 20 s; `retries` counts them.
testing::JsonReply get_settled(httplib::Client& c, const std::string& path, int& retries) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto r = testing::get_json(c, path);
    if (r.status != 503 || std::chrono::steady_clock::now() > until) return r;
    ++retries;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Every distinct payload published under each status id.
std::map<std::string, std::set<std::string>> status_payloads(const std::string& bootstrap) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& m : testing::read_topic(bootstrap, "stagewise.status", kPartitions)) {
    const json v = m.json();
    out[v["id"].get<std::string>()].insert(v["data"].dump());
  }
  return out;
}

TEST(ScaleOut, ProcessesComeAndGoYetEveryOneAnswersEveryApplicationAsTheOracle) {
  const uint64_t seed = seed_of_run();
  std::printf("[ seed     ] STAGEWISE_SCALEOUT_SEED=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed ^ 0x5bd1e995ULL);
  std::vector<workflow::Problem> problems;
  const auto registry = workflow::Registry::load({kWorkflows}, problems);
  ASSERT_TRUE(problems.empty()) << problems[0].to_string();

  testing::StreamBuilder builder(seed, "so-");
  std::vector<testing::InputMessage> stream = builder.build(kApplications);
  const size_t body = stream.size();
  std::vector<std::string> sentinels;
  for (int p = 0; p < kPartitions; ++p) {
    sentinels.push_back(testing::sentinel_id(p, kPartitions));
    stream.push_back({sentinels.back(), event(sentinels.back() + "-s", "application.submitted",
                                              sentinels.back(), "applicant")
                                            .dump()});
  }
  const testing::Oracle oracle = testing::run_oracle(registry, stream);

  TempDir tmp;
  auto broker = testing::start_broker(kBin, tmp / "broker", kPartitions);
  ASSERT_FALSE(broker.bootstrap.empty()) << broker.proc->err();
  Cluster cluster(tmp, broker.bootstrap);
  Node nodes[4];
  for (int i = 0; i < 4; ++i) nodes[i].data = tmp / ("node" + std::to_string(i));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cluster.start(nodes[i])) << nodes[i].serve.proc->err();

  testing::InputProducer producer(broker.bootstrap);
  ASSERT_TRUE(producer.ok());
  size_t next = 0;
  auto produce_until = [&](size_t end) {
    while (next < end) {
      for (size_t k = 0; k < 25 && next < end; ++k, ++next)
        if (!producer.produce(next, stream[next])) return false;
      producer.poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
    return true;
  };

  // Five segments; after each, one of the three is killed (SIGKILL) or
  // stopped (SIGTERM) and started again on its data dir. After the second,
  // a fourth joins on an empty data dir and stays.
  constexpr int kSegments = 5;
  std::string actions;
  size_t joined_at = 0;
  for (int k = 0; k < kSegments; ++k) {
    ASSERT_TRUE(produce_until(body * static_cast<size_t>(k + 1) / kSegments));
    Node& victim = nodes[rng() % 3];
    const bool kill = rng() % 2 == 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1500));
    victim.serve.proc->signal(kill ? SIGKILL : SIGTERM);
    ASSERT_EQ(victim.serve.proc->wait_for(60), kill ? 128 + SIGKILL : 0)
        << victim.serve.proc->err();
    actions += std::string(kill ? " kill:" : " term:") + victim.data.substr(victim.data.size() - 5);
    ASSERT_TRUE(cluster.start(victim)) << victim.serve.proc->err();
    if (k == 1) {
      ASSERT_TRUE(producer.flush());
      joined_at = next;
      ASSERT_TRUE(cluster.start(nodes[3])) << nodes[3].serve.proc->err();
      actions += " join:node3";
    }
  }
  for (int p = 0; p < kPartitions; ++p)
    ASSERT_TRUE(producer.produce(body + p, stream[body + p], p));
  ASSERT_TRUE(producer.flush(60000));
  ASSERT_EQ(producer.landed().size(), stream.size()) << "the broker did not take every message";
  std::printf("[ run      ] %zu messages, %zu applications;%s; node3 joined after %zu\n",
              stream.size(), oracle.apps.size(), actions.c_str(), joined_at);

  const std::string token = testing::token_for(kBin, cluster.secrets(), "admin", "e2e");
  ASSERT_FALSE(token.empty());
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (auto& n : nodes) {
    clients.push_back(std::make_unique<httplib::Client>(n.serve.ready.http));
    clients.back()->set_read_timeout(20);
    clients.back()->set_bearer_token_auth(token);
  }
  // Every partition consumed to its end, as seen from every process.
  // Failing, it shows the end of each process's log (its temp dir goes).
  auto logs = [&] {
    std::string out;
    for (size_t i = 0; i < std::size(nodes); ++i) {
      const std::string err = nodes[i].serve.proc ? nodes[i].serve.proc->err() : "";
      out += "\n--- node" + std::to_string(i) + " (last 3000 bytes of its log):\n" +
             err.substr(err.size() > 3000 ? err.size() - 3000 : 0);
    }
    return out;
  };
  for (size_t k = 0; k < clients.size(); ++k)
    for (const auto& s : sentinels)
      ASSERT_TRUE(eventually(
          [&] { return testing::get_json(*clients[k], "/v1/applications/" + s).status == 200; },
          180))
          << s << " never answered at node" << k << logs();

  // Every process answers every application as the oracle says.
  int retries = 0;
  for (const auto& [id, want] : oracle.apps) {
    for (size_t i = 0; i < clients.size(); ++i) {
      const auto app = get_settled(*clients[i], "/v1/applications/" + id, retries);
      ASSERT_EQ(app.status, 200) << id << " from node" << i << ": " << app.body.dump();
      EXPECT_EQ(app.body["stage"], want.stage) << id << " from node" << i;
      EXPECT_EQ(app.body["sequence"], want.sequence) << id << " from node" << i;
      const auto h = get_settled(*clients[i], "/v1/applications/" + id + "/history", retries);
      ASSERT_EQ(h.status, 200) << id << " history from node" << i << ": " << h.body.dump();
      std::set<std::string> ids;
      for (const auto& e : h.body["events"]) ids.insert(e["id"].get<std::string>());
      EXPECT_EQ(ids.size(), want.sequence) << id << " from node" << i << ": lost or applied twice";
    }
  }
  // Funnels gathered from all owners agree, and add up to the oracle.
  std::map<std::string, uint64_t> want_funnel;
  for (const auto& [id, app] : oracle.apps)
    if (app.program == "summer-research-internship") ++want_funnel[app.stage];
  for (size_t i = 0; i < clients.size(); ++i) {
    const auto f =
        get_settled(*clients[i], "/v1/programs/summer-research-internship/funnel", retries);
    ASSERT_EQ(f.status, 200) << f.body.dump();
    for (const auto& s : f.body["stages"])
      EXPECT_EQ(s["count"].get<uint64_t>(), want_funnel[s["stage"].get<std::string>()])
          << "node" << i << " stage " << s["stage"];
  }

  // No status id names two different payloads, and every stage change is there.
  std::map<std::string, std::set<std::string>> payloads;
  ASSERT_TRUE(eventually(
      [&] {
        payloads = status_payloads(broker.bootstrap);
        return payloads.size() >= oracle.status.size();
      },
      60));
  for (const auto& [id, p] : payloads) EXPECT_EQ(p.size(), 1u) << id << " names " << p.size();
  EXPECT_EQ(payloads.size(), oracle.status.size());

  // Every rejected input has one dead-letter id.
  std::set<std::pair<int32_t, int64_t>> dead;
  std::map<std::pair<int32_t, int64_t>, std::set<std::string>> ids_at;
  ASSERT_TRUE(eventually(
      [&] {
        ids_at.clear();
        for (const auto& m :
             testing::read_topic(broker.bootstrap, "stagewise.deadletter", kPartitions)) {
          const json v = m.json();
          ids_at[{v["data"]["source"]["partition"].get<int32_t>(),
                  v["data"]["source"]["offset"].get<int64_t>()}]
              .insert(v["id"].get<std::string>());
        }
        return ids_at.size() >= oracle.rejected.size();
      },
      60));
  EXPECT_EQ(ids_at.size(), oracle.rejected.size());
  for (const auto& [at, ids] : ids_at) EXPECT_EQ(ids.size(), 1u);

  // The fresh process restored what it owns from the changelog: it read
  // less input than the whole stream, and says it restored.
  const auto restores =
      testing::metric(nodes[3].serve.ready.http, "stagewise_partition_restores_total");
  const auto consumed =
      testing::metric(nodes[3].serve.ready.http, "stagewise_events_consumed_total");
  const auto owned = testing::metric(nodes[3].serve.ready.http, "stagewise_partitions_owned");
  ASSERT_TRUE(restores && consumed && owned);
  std::printf(
      "[ joiner   ] owns %.0f partitions, restored %.0f, consumed %.0f of %zu messages; %d reads "
      "answered 503 (hand-over) and were tried again\n",
      *owned, *restores, *consumed, stream.size(), retries);
  EXPECT_GE(*restores, 1.0);
  EXPECT_LT(*consumed, static_cast<double>(stream.size()));

  for (auto& n : nodes) {
    n.serve.proc->signal(SIGTERM);
    EXPECT_EQ(n.serve.proc->wait_for(60), 0) << n.serve.proc->err();
  }
}

}  // namespace
}  // namespace stagewise
