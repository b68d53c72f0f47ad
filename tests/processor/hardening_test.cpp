// Issue 10: no message or fault can crash, wedge or leak the processor.
#include "common/digest.h"
#include "processor/fixture.h"

#include <gtest/gtest.h>

namespace stagewise::processor {
namespace {

using stagewise::testing::test_epoch_ms;

std::vector<json> topic_json(const std::string& bootstrap, const std::string& topic) {
  std::vector<json> out;
  for (const auto& m : read_topic(bootstrap, topic, kPartitions)) out.push_back(m.json());
  return out;
}

bool has_status_of(const std::string& bootstrap, const std::string& application) {
  for (const auto& e : topic_json(bootstrap, "stagewise.status"))
    if (e["subject"] == application) return true;
  return false;
}

// 10.1: a ~200 KB value of 0x01 bytes was dead-lettered as a 1.2 MB JSON
// string, over the producer's limit; the relay retried it forever and
// nothing was published again.
TEST_F(ProcessorTest, APoisonMessageNeverStopsTheOutputs) {
  const std::string poison(200'000, '\x01');
  send_raw("poison", poison);
  send(event("after-poison", "application.submitted", "p1", "applicant"));
  ASSERT_TRUE(eventually([&] { return has_status_of(cluster_->bootstrap(), "p1"); }, 30))
      << "the status of an event after the poison message was never published";

  json dl;
  ASSERT_TRUE(eventually([&] {  // the two may sit in different partitions
    for (const auto& e : topic_json(cluster_->bootstrap(), "stagewise.deadletter"))
      if (e["data"]["original"]["length"] == poison.size()) dl = e;
    return !dl.is_null();
  })) << "no dead letter for the poison message";
  const json& original = dl["data"]["original"];
  EXPECT_EQ(original["sha256"], sha256_hex(poison));
  EXPECT_EQ(original["truncated"], true);
  EXPECT_EQ(original["encoding"], "base64") << "control bytes are not escaped six-fold";
  EXPECT_LE(dl.dump().size(), 100'000u);
  // Nothing lost: the whole original is kept, under the dead letter's id.
  const auto kept = store_->dead_letter(dl["id"].get<std::string>());
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(kept->original, poison);
  EXPECT_EQ(kept->reason, "oversized");
}

// 10.1: a record the broker can never take is parked, counted and kept, and
// the records after it are published.
TEST_F(ProcessorTest, ARecordTheBrokerRefusesIsParkedAndTheRestGoOn) {
  processor_.reset();
  options_.kafka["message.max.bytes"] = "3000";  // the relay's producer refuses larger records
  ASSERT_NO_FATAL_FAILURE(start_processor());
  send_raw("big", std::string(3500, 'x'));  // its dead letter carries 3.5 KB: too large
  send(event("after-big", "application.submitted", "p2", "applicant"));
  ASSERT_TRUE(eventually([&] { return has_status_of(cluster_->bootstrap(), "p2"); }, 30));
  ASSERT_TRUE(eventually([&] { return store_->parked_count() == 1; }));
  EXPECT_EQ(processor_->relay_stats()->parked, 1u);
  const auto parked = *store_->parked(10);
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].record.topic, "stagewise.deadletter");
  EXPECT_NE(parked[0].reason.find("too large"), std::string::npos) << parked[0].reason;
  EXPECT_TRUE(eventually([&] { return store_->outbox(10)->empty(); }));
  EXPECT_FALSE(processor_->failed());
}

// 10.2: 100,000 nested brackets on the input topic crashed the process (and
// would crash every restart while the message stays in the log).
TEST_F(ProcessorTest, DeeplyNestedInputIsDeadLetteredNotACrash) {
  processor_.reset();
  options_.max_event_bytes = 300'000;
  ASSERT_NO_FATAL_FAILURE(start_processor());
  json e = event("deep", "application.submitted", "deep-1", "applicant");
  std::string value = e.dump();
  value.insert(value.size() - 1,
               ",\"data\":" + std::string(100'000, '[') + std::string(100'000, ']'));
  send_raw("deep-1", value);
  send(event("after-deep", "application.submitted", "deep-2", "applicant"));
  ASSERT_TRUE(eventually([&] { return stage("deep-2") == "submitted"; }));
  // The two may sit in different partitions: wait for both.
  ASSERT_TRUE(eventually([&] {
    return processor_->stats().rejected[static_cast<size_t>(Reason::malformed_json)] == 1;
  }));
  EXPECT_EQ(stage("deep-1"), "(none)");
}

// 10.7: a decision dated 1970 made the server's own timer expire an
// application at once; year 9999 was applied too.
TEST_F(ProcessorTest, EventTimesFarFromWhenTheyWereSentAreRefused) {
  json old_event = event("old", "application.submitted", "t-old", "applicant");
  old_event["time"] = "1970-01-02T00:00:00Z";
  json future = event("future", "application.submitted", "t-future", "applicant");
  future["time"] = "9999-12-31T00:00:00Z";
  send(old_event);
  send(future);
  send(event("now", "application.submitted", "t-now", "applicant"));
  ASSERT_TRUE(eventually([&] { return stage("t-now") == "submitted"; }));
  ASSERT_TRUE(eventually([&] { return handled() >= 3; }));
  EXPECT_EQ(stage("t-old"), "(none)");
  EXPECT_EQ(stage("t-future"), "(none)");
  EXPECT_EQ(processor_->stats().rejected[static_cast<size_t>(Reason::invalid_attribute)], 2u);
}

// 10.5: a store error set running_=false inside the loop, so stop() returned
// early and ~Processor destroyed joinable threads (std::terminate).
TEST_F(ProcessorTest, AStoreFailureStopsCleanlyAndARestartLosesNothing) {
  store_->fail_commit_after(1);
  send(event("f1", "application.submitted", "f-1", "applicant"));
  ASSERT_TRUE(eventually([&] { return processor_->failed(); }));
  EXPECT_NE(processor_->failure().find("commit"), std::string::npos) << processor_->failure();
  EXPECT_EQ(stage("f-1"), "(none)");
  processor_.reset();  // must not terminate the process
  ASSERT_NO_FATAL_FAILURE(start_processor());
  EXPECT_TRUE(eventually([&] { return stage("f-1") == "submitted"; }))
      << "the event of the failed round is applied after the restart";
}

// 10.5: fatal Kafka errors were only logged; the loop went on.
TEST_F(ProcessorTest, AFatalProducerErrorStopsTheProcessor) {
  ASSERT_NE(processor_->relay_producer(), nullptr);
  rd_kafka_test_fatal_error(processor_->relay_producer(),
                            RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "injected by a test");
  send(event("fatal", "application.submitted", "fatal-1", "applicant"));
  ASSERT_TRUE(eventually([&] { return processor_->failed(); }));
  EXPECT_NE(processor_->failure().find("injected by a test"), std::string::npos)
      << processor_->failure();
  processor_.reset();
}

// 10.6: caches bounded by count only; lists growing without limit.
TEST_F(ProcessorTest, CachedApplicationsAndListsAreBounded) {
  processor_.reset();
  options_.cache_bytes = 2000;
  options_.engine.max_list_items = 3;
  ASSERT_NO_FATAL_FAILURE(start_processor());
  for (int i = 0; i < 20; ++i)
    send(event("c" + std::to_string(i), "application.submitted", "c-" + std::to_string(i),
               "applicant", {{"name", std::string(100, 'n')}}));
  for (int i = 0; i < 5; ++i)
    send(event("n" + std::to_string(i), "note.added", "c-0", "program_manager",
               {{"text", "note " + std::to_string(i)}}));
  ASSERT_TRUE(eventually([&] { return handled() >= 25; }));
  EXPECT_GT(processor_->stats().cache_bytes, 0u);
  EXPECT_LE(processor_->stats().cache_bytes, 2000u);
  EXPECT_EQ(store_->application("c-0")->facts["notes"].size(), 3u);
  EXPECT_EQ(processor_->stats().rejected[static_cast<size_t>(Reason::invalid_data)], 2u);
  EXPECT_NE(
      dead_letters()["invalid_data"]["data"]["message"].get<std::string>().find("max_list_items"),
      std::string::npos);
}

TEST_F(ProcessorTest, AnApplicationCannotGrowPastItsByteLimit) {
  processor_.reset();
  options_.max_application_bytes = 6000;
  ASSERT_NO_FATAL_FAILURE(start_processor());
  send(event("g0", "application.submitted", "g-1", "applicant"));
  for (int i = 0; i < 4; ++i)
    send(event("g" + std::to_string(i + 1), "note.added", "g-1", "program_manager",
               {{"text", std::string(2000, 'a' + i)}}));
  ASSERT_TRUE(eventually([&] { return handled() >= 5; }));
  EXPECT_EQ(store_->application("g-1")->facts["notes"].size(), 2u);
  const auto dl = dead_letters();
  ASSERT_TRUE(dl.count("invalid_data"));
  EXPECT_NE(
      dl.at("invalid_data")["data"]["message"].get<std::string>().find("max_application_bytes"),
      std::string::npos);
}

// 10.5: `ready` was never cleared, so /readyz said 200 while stopping.
TEST_F(ProcessorTest, ReadyIsClearedWhenTheProcessorStops) {
  EXPECT_TRUE(processor_->ready());
  processor_->stop();
  EXPECT_FALSE(processor_->ready());
}

// Every process holds the whole reviewer pool in memory: a reference event
// that would grow it past processor's bound is refused, naming it, and the
// pool gives room again when a profile shrinks.
TEST_F(ProcessorTest, TheReviewerPoolIsBoundedInBytes) {
  processor_.reset();
  options_.max_event_bytes = 16'000;
  options_.profile_limits.max_pool_bytes = 6'000;
  ASSERT_NO_FATAL_FAILURE(start_processor());
  const auto profile = [&](const std::string& id, const std::string& reviewer, json data) {
    send(event(id, "reviewer.profile_updated", reviewer, "program_manager", std::move(data)));
  };
  profile("r1", "rev-a", {{"bio", std::string(4'000, 'a')}});
  ASSERT_TRUE(eventually([&] { return processor_->reviewers().get("rev-a") != nullptr; }));
  profile("r2", "rev-b", {{"bio", std::string(4'000, 'b')}});
  ASSERT_TRUE(eventually([&] {
    return processor_->stats().rejected[static_cast<size_t>(Reason::invalid_data)] == 1;
  }));
  EXPECT_EQ(processor_->reviewers().get("rev-b"), nullptr);
  EXPECT_LE(processor_->reviewers().bytes(), 6'000u);
  EXPECT_NE(
      dead_letters()["invalid_data"]["data"]["message"].get<std::string>().find("reviewer pool"),
      std::string::npos);
  profile("r3", "rev-a", {{"bio", nullptr}});
  ASSERT_TRUE(eventually([&] { return processor_->reviewers().get("rev-a")->revision == 2; }));
  profile("r4", "rev-b", {{"bio", std::string(4'000, 'b')}});
  ASSERT_TRUE(eventually([&] { return processor_->reviewers().get("rev-b") != nullptr; }));
}

}  // namespace
}  // namespace stagewise::processor
