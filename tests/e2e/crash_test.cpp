// End to end, slow: `stagewise serve` is SIGKILLed at random moments while a
// seeded stream of the summer-research-internship program flows through
// `stagewise broker`. The pure engine, run here over the same input, is the
// oracle: every application must end where it says, with nothing lost and
// nothing applied twice, and every status and dead letter must be published.
//
// STAGEWISE_CRASH_SEED=N reproduces a run.
#include "common/cloudevent.h"
#include "support/kafka_fixture.h"
#include "support/process.h"
#include "support/stagewise_e2e.h"
#include "support/summer_stream.h"
#include "workflow/engine.h"
#include "workflow/workflow.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::event;
using testing::eventually;
using testing::InputMessage;
using testing::Oracle;
using testing::run_oracle;
using testing::StreamBuilder;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
constexpr int kPartitions = 4;
constexpr int kApplications = 300;

uint64_t crash_seed() {
  if (const char* s = std::getenv("STAGEWISE_CRASH_SEED"); s != nullptr && *s != '\0')
    return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

TEST(Crash, RandomKillsLoseNothingAndApplyNothingTwice) {
  const uint64_t seed = crash_seed();
  std::printf("[ seed     ] STAGEWISE_CRASH_SEED=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);

  std::vector<workflow::Problem> problems;
  const auto registry = workflow::Registry::load({kWorkflows}, problems);
  ASSERT_TRUE(problems.empty()) << problems[0].to_string();

  StreamBuilder builder(seed);
  std::vector<InputMessage> stream = builder.build(kApplications);
  const size_t body = stream.size();
  // One last submission on every partition: once all are applied, everything
  // before them was handled (one partition is consumed in order).
  std::vector<std::string> sentinels;
  for (int p = 0; p < kPartitions; ++p) {
    const std::string id = testing::sentinel_id(p, kPartitions);
    sentinels.push_back(id);
    stream.push_back({id, event(id + "-s", "application.submitted", id, "applicant").dump()});
  }
  const Oracle oracle = run_oracle(registry, stream);
  ASSERT_GT(oracle.apps.size(), static_cast<size_t>(kApplications) * 9 / 10);
  std::string reasons;
  for (const auto& [reason, n] : oracle.reasons) reasons += " " + reason + "=" + std::to_string(n);
  std::printf(
      "[ stream   ] %zu messages, %zu applications, %zu stage changes expected, %zu "
      "rejected:%s\n",
      stream.size(), oracle.apps.size(), oracle.status.size(), oracle.rejected.size(),
      reasons.c_str());

  TempDir tmp;
  const std::string data = tmp / "data";
  auto broker = testing::start_broker(kBin, tmp / "broker", kPartitions);
  ASSERT_FALSE(broker.bootstrap.empty()) << broker.proc->err();
  int starts = 0;
  testing::ServeProcess serve;
  auto spawn = [&] {
    const std::string log = tmp / ("serve" + std::to_string(++starts));
    serve.proc = std::make_unique<testing::Process>(
        testing::serve_args(kBin, kWorkflows, data, broker.bootstrap), log + ".out", log + ".err");
    serve.ready = {};
  };
  std::vector<double> ready_after;  // seconds from each (re)start to its ready line
  auto wait_ready = [&](std::chrono::steady_clock::time_point since) {
    serve.ready = testing::parse_ready_line(serve.proc->wait_line("ready ", 120));
    ready_after.push_back(testing::seconds_since(since));
    return !serve.ready.http.empty();
  };
  auto started = std::chrono::steady_clock::now();
  spawn();
  ASSERT_TRUE(wait_ready(started)) << serve.proc->err();

  testing::InputProducer producer(broker.bootstrap);
  ASSERT_TRUE(producer.ok());
  size_t next = 0;
  // Produces up to `end`, a few dozen messages at a time, `pause` apart.
  auto produce_until = [&](size_t end, std::chrono::milliseconds pause) {
    while (next < end) {
      const size_t step = 20 + rng() % 40;
      for (size_t k = 0; k < step && next < end; ++k, ++next)
        if (!producer.produce(next, stream[next])) return false;
      producer.poll();
      std::this_thread::sleep_for(pause);
    }
    return true;
  };

  // The stream in kills + 1 segments. Half of each segment goes out while the
  // server (re)starts, so it has a backlog to catch up on; the rest while it
  // runs. The SIGKILL comes at a random moment: while it catches up, while it
  // keeps up with the stream, or a while after the segment.
  const int kills = 4 + static_cast<int>(rng() % 3);
  const size_t segment = body / static_cast<size_t>(kills + 1);
  std::vector<double> applied_at_kill;
  std::vector<char> modes;
  for (int k = 0; k < kills; ++k) {
    const size_t seg_end = next + segment;
    ASSERT_TRUE(produce_until(next + segment / 2, std::chrono::milliseconds(0)));
    if (serve.ready.http.empty()) {
      ASSERT_TRUE(wait_ready(started)) << serve.proc->err();
    }
    switch (rng() % 3) {
      case 0:
        modes.push_back('c');  // catching up
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
        break;
      case 1:
        modes.push_back('s');  // in the stream
        ASSERT_TRUE(produce_until(next + rng() % (seg_end - next), std::chrono::milliseconds(60)));
        break;
      default:
        modes.push_back('a');  // after the segment
        ASSERT_TRUE(produce_until(seg_end, std::chrono::milliseconds(60)));
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1500));
    }
    applied_at_kill.push_back(
        testing::metric(serve.ready.http, "stagewise_events_applied_total").value_or(-1));
    serve.proc->signal(SIGKILL);
    ASSERT_EQ(serve.proc->wait_for(30), 128 + SIGKILL);
    started = std::chrono::steady_clock::now();
    spawn();
    ASSERT_TRUE(produce_until(seg_end, std::chrono::milliseconds(0)));
  }
  ASSERT_TRUE(produce_until(next + (body - next) / 2, std::chrono::milliseconds(0)));
  ASSERT_TRUE(wait_ready(started)) << serve.proc->err();
  ASSERT_TRUE(produce_until(body, std::chrono::milliseconds(60)));
  for (int p = 0; p < kPartitions; ++p)
    ASSERT_TRUE(producer.produce(body + p, stream[body + p], p));
  ASSERT_TRUE(producer.flush(60000));
  const auto landed = producer.landed();
  ASSERT_EQ(landed.size(), stream.size()) << "the broker did not take every input message";
  std::string kill_points, restarts;
  for (size_t k = 0; k < applied_at_kill.size(); ++k)
    kill_points += std::string(" ") + modes[k] + ":" + std::to_string(int64_t(applied_at_kill[k]));
  char buf[32];
  for (const double r : ready_after) std::snprintf(buf, sizeof buf, " %.1f", r), restarts += buf;
  std::printf(
      "[ kills    ] %d SIGKILLs; events applied by each killed run (c catching up, s in the "
      "stream, a after):%s; seconds from each "
      "start to ready:%s\n",
      kills, kill_points.c_str(), restarts.c_str());

  // Wait until all input is handled.
  httplib::Client c(serve.ready.http);
  c.set_read_timeout(20);
  c.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "e2e"));
  for (int p = 0; p < kPartitions; ++p)
    ASSERT_TRUE(eventually(
        [&] { return testing::get_json(c, "/v1/applications/" + sentinels[p]).status == 200; },
        120))
        << "partition " << p << " not consumed to its end: " << serve.proc->err();

  // Every application is where the oracle says, with as many history entries.
  size_t history_entries = 0;
  for (const auto& [id, want] : oracle.apps) {
    const auto app = testing::get_json(c, "/v1/applications/" + id);
    ASSERT_EQ(app.status, 200) << id;
    EXPECT_EQ(app.body["stage"], want.stage) << id;
    EXPECT_EQ(app.body["sequence"], want.sequence) << id;
    const auto h = testing::get_json(c, "/v1/applications/" + id + "/history");
    ASSERT_EQ(h.status, 200) << id;
    const json& events = h.body["events"];
    EXPECT_EQ(events.size(), want.sequence) << id << ": events lost or applied twice";
    std::set<std::string> ids;
    for (size_t i = 0; i < events.size(); ++i) {
      EXPECT_EQ(events[i]["sequence"], i + 1) << id;
      ids.insert(events[i]["id"].get<std::string>());
    }
    EXPECT_EQ(ids.size(), events.size()) << id << ": an event applied twice";
    history_entries += events.size();
  }
  for (const auto& m : stream) {  // applications of an unknown program never exist
    if (m.key.rfind("ghost-", 0) == 0) {
      EXPECT_EQ(testing::get_json(c, "/v1/applications/" + m.key).status, 404) << m.key;
    }
  }

  // stagewise.status: one stage change per creation and move, each with one
  // cause, published at least once.
  std::map<std::pair<std::string, uint64_t>, std::set<std::string>> ids_of, causes_of, to_of;
  size_t status_messages = 0;
  auto read_status = [&] {
    ids_of.clear(), causes_of.clear(), to_of.clear();
    const auto msgs = testing::read_topic(broker.bootstrap, "stagewise.status", kPartitions);
    status_messages = msgs.size();
    for (const auto& m : msgs) {
      const json v = m.json();
      const json& d = v["data"];
      const std::pair<std::string, uint64_t> key{d["application"].get<std::string>(),
                                                 d["sequence"].get<uint64_t>()};
      ids_of[key].insert(v["id"].get<std::string>());
      causes_of[key].insert(d["cause"]["id"].get<std::string>());
      to_of[key].insert(d["to"].get<std::string>());
    }
    return ids_of.size() >= oracle.status.size();
  };
  EXPECT_TRUE(eventually(read_status, 60)) << "status events missing";
  size_t distinct_status = 0;
  for (const auto& [key, ids] : ids_of) {
    distinct_status += ids.size();
    EXPECT_EQ(ids.size(), 1u) << key.first << "/" << key.second;
    EXPECT_EQ(causes_of[key].size(), 1u)
        << key.first << " sequence " << key.second << " was given to two events";
    EXPECT_EQ(to_of[key].size(), 1u) << key.first << "/" << key.second;
  }
  EXPECT_EQ(distinct_status, oracle.status.size());
  for (const auto& [key, want] : oracle.status) {
    ASSERT_TRUE(causes_of.count(key)) << "no status event for " << key.first << "/" << key.second;
    EXPECT_EQ(*to_of[key].begin(), want.first) << key.first << "/" << key.second;
    EXPECT_EQ(*causes_of[key].begin(), want.second) << key.first << "/" << key.second;
  }

  // stagewise.deadletter: exactly one dead letter per bad or rejected input,
  // with the oracle's reason.
  std::map<std::pair<int32_t, int64_t>, std::string> want_dl;
  for (const auto& [i, reason] : oracle.rejected) want_dl[landed.at(i)] = reason;
  std::map<std::string, std::set<std::pair<int32_t, int64_t>>> sources_of;
  std::map<std::pair<int32_t, int64_t>, std::set<std::string>> dl_ids_at, reasons_at;
  size_t dl_messages = 0;
  auto read_dl = [&] {
    sources_of.clear(), dl_ids_at.clear(), reasons_at.clear();
    const auto msgs = testing::read_topic(broker.bootstrap, "stagewise.deadletter", kPartitions);
    dl_messages = msgs.size();
    for (const auto& m : msgs) {
      const json v = m.json();
      const json& src = v["data"]["source"];
      const std::pair<int32_t, int64_t> at{src["partition"].get<int32_t>(),
                                           src["offset"].get<int64_t>()};
      EXPECT_EQ(src["topic"], "stagewise.events");
      sources_of[v["id"].get<std::string>()].insert(at);
      dl_ids_at[at].insert(v["id"].get<std::string>());
      reasons_at[at].insert(v["data"]["reason"].get<std::string>());
    }
    return sources_of.size() >= want_dl.size();
  };
  EXPECT_TRUE(eventually(read_dl, 60)) << "dead letters missing";
  EXPECT_EQ(sources_of.size(), want_dl.size()) << "distinct dead-letter ids";
  for (const auto& [id, sources] : sources_of) EXPECT_EQ(sources.size(), 1u) << id;
  for (const auto& [at, ids] : dl_ids_at)
    EXPECT_EQ(ids.size(), 1u) << "input " << at.first << "@" << at.second
                              << " has more than one dead-letter id";
  for (const auto& [at, reason] : want_dl) {
    const auto it = reasons_at.find(at);
    if (it == reasons_at.end()) {
      ADD_FAILURE() << "no dead letter for input " << at.first << "@" << at.second << " (" << reason
                    << ")";
      continue;
    }
    EXPECT_EQ(it->second, std::set<std::string>{reason}) << at.first << "@" << at.second;
  }
  for (const auto& [at, ids] : dl_ids_at)
    EXPECT_TRUE(want_dl.count(at))
        << "dead letter for input " << at.first << "@" << at.second << " that the engine applies";

  std::printf(
      "[ counts   ] events=%zu applications=%zu kills=%d history_entries=%zu "
      "stage_changes=%zu dead_letters=%zu; duplicates published: status=%zu deadletter=%zu\n",
      stream.size(), oracle.apps.size(), kills, history_entries, distinct_status, sources_of.size(),
      status_messages - distinct_status, dl_messages - sources_of.size());

  serve.proc->signal(SIGTERM);
  EXPECT_EQ(serve.proc->wait_for(60), 0) << serve.proc->err();
}

}  // namespace
}  // namespace stagewise
