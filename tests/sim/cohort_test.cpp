// The cohort simulator: deterministic, valid for every program, and its
// oracle agrees with a replay of its own good events through the engine.
#include "sim/cohort.h"

#include "common/cloudevent.h"
#include "common/time.h"
#include "workflow/engine.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace stagewise::sim {
namespace {

using nlohmann::json;

const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
constexpr int64_t kHour = 3'600'000;

class CohortTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<workflow::Problem> problems;
    registry_ = new workflow::Registry(workflow::Registry::load({kWorkflows}, problems));
    ASSERT_TRUE(problems.empty()) << problems.front().to_string();
  }
  static void TearDownTestSuite() { delete registry_; }
  static const workflow::Registry& registry() { return *registry_; }
  static std::vector<std::string> programs() {
    std::set<std::string> out;
    for (const auto* wf : registry_->all()) out.insert(wf->program);
    return {out.begin(), out.end()};
  }

  static workflow::Registry* registry_;
};
workflow::Registry* CohortTest::registry_ = nullptr;

CohortOptions options(const std::string& program, int applicants, uint64_t seed, double bad = 0.0) {
  CohortOptions o;
  o.program = program;
  o.applicants = applicants;
  o.seed = seed;
  o.bad_fraction = bad;
  return o;
}

// Replays the good events in cohort order; returns each application's stage
// and counts events the engine refused.
std::map<std::string, std::string> replay(const workflow::Registry& reg, const Cohort& c,
                                          size_t& refused) {
  std::map<std::string, workflow::Application> apps;
  refused = 0;
  for (const auto& ev : c.events) {
    if (ev.bad) continue;
    auto decoded = decode_structured(ev.value);
    if (!std::holds_alternative<CloudEvent>(decoded)) {
      ++refused;
      continue;
    }
    const auto& e = std::get<CloudEvent>(decoded);
    EXPECT_EQ(e.subject, ev.key);
    const auto it = apps.find(e.subject);
    auto out = workflow::apply(reg, it == apps.end() ? nullptr : &it->second, e);
    if (auto* a = std::get_if<workflow::Applied>(&out))
      apps.insert_or_assign(e.subject, a->next);
    else
      ++refused;
  }
  std::map<std::string, std::string> stages;
  for (const auto& [id, a] : apps) stages[id] = a.stage;
  return stages;
}

TEST_F(CohortTest, SameSeedGivesIdenticalBytes) {
  const auto a = generate(registry(), options("summer-research-internship", 60, 42, 0.1));
  const auto b = generate(registry(), options("summer-research-internship", 60, 42, 0.1));
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) {
    ASSERT_EQ(a.events[i].key, b.events[i].key) << i;
    ASSERT_EQ(a.events[i].value, b.events[i].value) << i;
    ASSERT_EQ(a.events[i].bad, b.events[i].bad) << i;
  }
  EXPECT_EQ(a.expected_stage, b.expected_stage);
}

TEST_F(CohortTest, DifferentSeedsDiffer) {
  const auto a = generate(registry(), options("visiting-academics", 40, 1));
  const auto b = generate(registry(), options("visiting-academics", 40, 2));
  std::set<std::string> va, vb;
  for (const auto& e : a.events) va.insert(e.value);
  for (const auto& e : b.events) vb.insert(e.value);
  EXPECT_NE(va, vb);
  // Ids carry the seed, so two cohorts can share a server.
  for (const auto& [id, stage] : a.expected_stage) EXPECT_EQ(b.expected_stage.count(id), 0u) << id;
}

TEST_F(CohortTest, EveryProgramGeneratesAWalkThroughSeveralStages) {
  const auto all = programs();
  ASSERT_EQ(all.size(), 5u);
  for (const auto& program : all) {
    SCOPED_TRACE(program);
    const auto c = generate(registry(), options(program, 200, 7));
    EXPECT_EQ(c.expected_stage.size(), 200u);
    EXPECT_GT(c.events.size(), 200u * 3);
    uint64_t total = 0, reached = 0;
    for (const auto& [stage, n] : c.per_stage) {
      total += n;
      if (n > 0) ++reached;
    }
    EXPECT_EQ(total, 200u);
    EXPECT_GE(reached, 4u) << "the walk should spread applications over the workflow";
    // per_stage lists every state of the workflow.
    EXPECT_EQ(c.per_stage.size(), registry().latest(program)->states.size());
    std::set<std::string> types;
    for (const auto& e : c.events) {
      const json j = json::parse(e.value);
      types.insert(j["type"].get<std::string>());
      EXPECT_EQ(j["program"], program);
    }
    EXPECT_TRUE(types.count("application.submitted"));
    EXPECT_TRUE(types.count("decision.recorded"));
    EXPECT_TRUE(types.count("review.submitted"));
    EXPECT_TRUE(types.count("application.withdrawn"));
    EXPECT_TRUE(types.count("stage.deadline_passed"));
  }
}

TEST_F(CohortTest, ReplayingTheGoodEventsGivesTheExpectedStages) {
  for (const auto& program : programs()) {
    SCOPED_TRACE(program);
    const auto c = generate(registry(), options(program, 150, 11, 0.15));
    size_t refused = 0;
    EXPECT_EQ(replay(registry(), c, refused), c.expected_stage);
    EXPECT_EQ(refused, 0u) << "every good event applies";
    std::map<std::string, uint64_t> counts;
    for (const auto& [stage, n] : c.per_stage) counts[stage] = 0;
    for (const auto& [id, stage] : c.expected_stage) ++counts[stage];
    EXPECT_EQ(counts, c.per_stage);
  }
}

TEST_F(CohortTest, BadEventsAreRefusedAndDoNotChangeTheOutcome) {
  const auto clean = generate(registry(), options("research-grant", 80, 5));
  const auto dirty = generate(registry(), options("research-grant", 80, 5, 0.2));
  // The good walk is the same with or without bad events mixed in.
  EXPECT_EQ(clean.expected_stage, dirty.expected_stage);
  std::map<std::string, workflow::Application> apps;
  size_t refused = 0, bad = 0;
  for (const auto& ev : dirty.events) {
    auto decoded = decode_structured(ev.value);
    bool rejected = true;
    if (auto* e = std::get_if<CloudEvent>(&decoded)) {
      const auto it = apps.find(e->subject);
      auto out = workflow::apply(registry(), it == apps.end() ? nullptr : &it->second, *e);
      if (auto* a = std::get_if<workflow::Applied>(&out)) {
        rejected = false;
        apps.insert_or_assign(e->subject, a->next);
      }
    }
    if (ev.bad) {
      ++bad;
      EXPECT_TRUE(rejected) << ev.value;
    } else {
      EXPECT_FALSE(rejected) << ev.value;
    }
    if (rejected) ++refused;
  }
  EXPECT_EQ(refused, bad);
  EXPECT_EQ(bad, dirty.bad_events);
  for (const auto& [id, a] : apps) EXPECT_EQ(a.stage, dirty.expected_stage.at(id)) << id;
}

TEST_F(CohortTest, BadFractionIsRoughlyHonoured) {
  for (const double f : {0.0, 0.05, 0.3}) {
    const auto c = generate(registry(), options("phd-fellowship", 300, 3, f));
    const double share = static_cast<double>(c.bad_events) / static_cast<double>(c.events.size());
    EXPECT_NEAR(share, f, 0.02 + f * 0.15) << "bad_fraction " << f;
    size_t flagged = 0;
    for (const auto& e : c.events) flagged += e.bad;
    EXPECT_EQ(flagged, c.bad_events);
  }
}

TEST_F(CohortTest, TimesIncreasePerApplicationAndStayInTheSpan) {
  auto o = options("faculty-scholars", 120, 9, 0.1);
  o.start_ms = *parse_rfc3339_ms("2026-01-05T00:00:00Z");
  o.span_ms = 60LL * 24 * kHour;
  const auto c = generate(registry(), o);
  std::map<std::string, int64_t> last;
  int64_t previous = 0;
  for (const auto& ev : c.events) {
    const json j = json::parse(ev.value, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("time")) continue;
    const auto t = parse_rfc3339_ms(j["time"].get<std::string>());
    if (!t) continue;
    if (!ev.bad) {
      EXPECT_GE(*t, previous) << "the cohort is in time order";
      previous = *t;
      const bool deadline = j["type"] == "stage.deadline_passed";
      EXPECT_LE(*t, o.start_ms + o.span_ms + (deadline ? kHour : 0)) << ev.value;
    }
    EXPECT_GE(*t, o.start_ms - kHour);
    if (auto it = last.find(ev.key); it != last.end()) {
      EXPECT_GT(*t, it->second) << ev.value;
    }
    last[ev.key] = *t;
  }
  EXPECT_GE(c.first_ms, o.start_ms - kHour);
  EXPECT_LE(c.last_ms, o.start_ms + o.span_ms + kHour);
}

TEST_F(CohortTest, LapsedDeadlinesAreTheTimersOwnEvents) {
  const auto c = generate(registry(), options("summer-research-internship", 100, 4));
  size_t lapses = 0;
  for (const auto& ev : c.events) {
    const json j = json::parse(ev.value);
    if (j["type"] != "stage.deadline_passed") continue;
    ++lapses;
    EXPECT_EQ(j["source"], "stagewise.timers");
    EXPECT_EQ(j["actorrole"], "system");
    EXPECT_EQ(j["id"].get<std::string>().rfind("deadline/" + ev.key + "/", 0), 0u) << ev.value;
    EXPECT_EQ(j["data"]["due"], j["time"]);
  }
  EXPECT_GT(lapses, 5u);
}

TEST_F(CohortTest, UnknownProgramIsNamed) {
  try {
    generate(registry(), options("astronaut-training", 10, 1));
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("astronaut-training"), std::string::npos) << e.what();
  }
  EXPECT_THROW(generate(registry(), options("research-grant", 10, 1, 1.0)), std::invalid_argument);
}

TEST(IdPrefix, InitialsOfTheProgram) {
  EXPECT_EQ(id_prefix("summer-research-internship"), "sri");
  EXPECT_EQ(id_prefix("phd-fellowship"), "pf");
  EXPECT_EQ(id_prefix("grants"), "gra");
}

}  // namespace
}  // namespace stagewise::sim
