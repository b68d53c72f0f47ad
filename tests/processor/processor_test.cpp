// Integration: the processor against the embedded Kafka cluster (real
// protocol on loopback) and a real RocksDB store.
#include "audit/verify.h"
#include "processor/fixture.h"
#include "processor/outputs.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace stagewise::processor {
namespace {

TEST_F(ProcessorTest, AppliesAnEventStoresItAndPublishesAStatusEvent) {
  send(event("e1", "application.submitted", "app-1", "applicant", {{"name", "Ada"}}));
  ASSERT_TRUE(eventually([&] { return stage("app-1") == "submitted"; }));
  auto app = store_->application("app-1");
  ASSERT_TRUE(app.ok());
  EXPECT_EQ(app->program, "summer-research-internship");
  EXPECT_EQ(app->sequence, 1u);

  std::vector<json> status;
  ASSERT_TRUE(eventually([&] {
    status.clear();
    for (const auto& m : read_topic(cluster_->bootstrap(), "stagewise.status", kPartitions)) {
      EXPECT_EQ(m.key, "app-1");
      bool ce_header = false;
      for (const auto& [k, v] : m.headers)
        ce_header |= k == "content-type" && v == "application/cloudevents+json";
      EXPECT_TRUE(ce_header);
      status.push_back(m.json());
    }
    return !status.empty();
  }));
  ASSERT_EQ(status.size(), 1u);
  const json& s = status[0];
  EXPECT_EQ(s["specversion"], "1.0");
  EXPECT_EQ(s["type"], "stagewise.application.stage_changed");
  EXPECT_EQ(s["subject"], "app-1");
  EXPECT_EQ(s["id"], "app-1/1/stage_changed");
  EXPECT_EQ(s["data"]["application"], "app-1");
  EXPECT_EQ(s["data"]["program"], "summer-research-internship");
  EXPECT_EQ(s["data"]["workflow_version"], 1);
  EXPECT_TRUE(s["data"]["from"].is_null());
  EXPECT_EQ(s["data"]["to"], "submitted");
  EXPECT_EQ(s["data"]["sequence"], 1);
  EXPECT_EQ(s["data"]["cause"]["id"], "e1");
  EXPECT_EQ(s["data"]["cause"]["type"], "application.submitted");
  // The outbox is emptied once the broker acknowledged.
  EXPECT_TRUE(eventually([&] { return store_->outbox(10)->empty(); }));
}

TEST_F(ProcessorTest, BadInputIsDeadLetteredAndProcessingContinues) {
  send(event("ok-0", "application.submitted", "a", "applicant"));
  send_raw("k", "{not json");
  send_raw(
      "k",
      R"({"specversion":"1.0","id":"m1","source":"t","type":"application.submitted","time":"2026-03-01T08:00:00Z"})");
  json unknown_program = event("u1", "application.submitted", "b", "applicant");
  unknown_program["program"] = "nope";
  send(unknown_program);
  send(event("u2", "decision.recorded", "ghost", "program_manager", {{"outcome", "eligible"}}));
  send(event("u3", "offer.accepted", "a", "applicant"));
  send(event("u4", "decision.recorded", "a", "applicant", {{"outcome", "eligible"}}));
  send(event("u5", "application.submitted", "c", "applicant", {{"blob", std::string(5000, 'x')}}));
  send_raw("k", std::string("\xff\xfe binary", 9));
  // Binary mode (ce_ headers) is accepted too.
  send_raw("a", R"({"outcome":"eligible"})",
           {{"ce_specversion", "1.0"},
            {"ce_id", "bin-1"},
            {"ce_source", "test"},
            {"ce_type", "decision.recorded"},
            {"ce_subject", "a"},
            {"ce_time", "2026-03-01T09:00:00Z"},
            {"ce_actorrole", "program_manager"},
            {"content-type", "application/json"}});
  ASSERT_TRUE(eventually([&] { return handled() >= 10; }));
  EXPECT_EQ(stage("a"), "documents");

  std::map<std::string, json> dl;
  ASSERT_TRUE(eventually([&] {
    dl = dead_letters();
    return dl.size() >= 7;
  }));
  for (const char* reason :
       {"malformed_json", "missing_attribute", "unknown_program", "unknown_application",
        "not_accepted_in_stage", "unauthorized", "oversized"})
    EXPECT_TRUE(dl.count(reason)) << "no dead letter for " << reason;
  const json& m = dl["missing_attribute"];
  EXPECT_EQ(m["type"], "stagewise.event.rejected");
  EXPECT_EQ(m["specversion"], "1.0");
  EXPECT_EQ(m["data"]["source"]["topic"], "stagewise.events");
  EXPECT_TRUE(m["data"]["source"]["offset"].is_number_integer());
  EXPECT_NE(m["data"]["message"].get<std::string>().find("subject"), std::string::npos);
  EXPECT_EQ(m["data"]["original"]["value"].get<std::string>().substr(0, 16), R"({"specversion":")");
  const json& bin = dl["malformed_json"];
  EXPECT_TRUE(bin["id"].get<std::string>().rfind("deadletter/stagewise.events/", 0) == 0);
  EXPECT_EQ(processor_->stats().rejected[static_cast<size_t>(Reason::oversized)], 1u);

  // Still going: a good event after all that is applied.
  send(event("after", "application.submitted", "d", "applicant"));
  EXPECT_TRUE(eventually([&] { return stage("d") == "submitted"; }));
}

TEST_F(ProcessorTest, RedeliveredEventIsAppliedOnce) {
  send(event("s1", "application.submitted", "a", "applicant"));
  send(event("s1", "application.submitted", "a", "applicant"));
  send(event("n1", "note.added", "a", "program_manager", {{"text", "hello"}}));
  send(event("n1", "note.added", "a", "program_manager", {{"text", "hello"}}));
  ASSERT_TRUE(eventually([&] { return handled() >= 4; }));
  EXPECT_EQ(history_size("a"), 2u);
  EXPECT_EQ(processor_->stats().duplicates, 2u);
  EXPECT_EQ(dead_letters().size(), 0u);
}

TEST_F(ProcessorTest, EventsOfOneApplicationApplyInLogOrder) {
  std::vector<json> events = {event("o1", "application.submitted", "a", "applicant", nullptr, 0)};
  for (int i = 0; i < 50; ++i)
    events.push_back(event("note-" + std::to_string(i), "note.added", "a", "program_manager",
                           {{"text", std::to_string(i)}}, 1 + i));
  events.push_back(
      event("o2", "decision.recorded", "a", "program_manager", {{"outcome", "eligible"}}, 60));
  for (const auto& e : events)
    ASSERT_TRUE(producer_->produce("stagewise.events", "a", e.dump(), {}, 0).ok());
  ASSERT_TRUE(producer_->flush(10000).ok());
  ASSERT_TRUE(eventually([&] { return history_size("a") == events.size(); }));
  auto h = store_->history("a");
  ASSERT_TRUE(h.ok());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ((*h)[i].id, events[i]["id"]);
    EXPECT_EQ((*h)[i].sequence, i + 1);
  }
  EXPECT_EQ(stage("a"), "documents");
}

// A round is applied while the previous one is still being written (fsync);
// each event here is its own round, so every event after the first reads
// state, and dedupe ids, that are not in the store yet.
TEST_F(ProcessorTest, EachRoundSeesTheRoundStillBeingCommitted) {
  processor_.reset();
  store_.reset();
  auto s = store::Store::open(dir_ / "db", {.sync = true, .kek = std::string(32, 'k')});
  ASSERT_TRUE(s.ok()) << s.error().message;
  store_ = std::move(*s);
  options_.batch_max_events = 1;
  ASSERT_NO_FATAL_FAILURE(start_processor());
  std::vector<json> events = {event("p1", "application.submitted", "a", "applicant", nullptr, 0)};
  for (int i = 0; i < 40; ++i) {
    events.push_back(event("pn-" + std::to_string(i), "note.added", "a", "program_manager",
                           {{"text", std::to_string(i)}}, 1 + i));
    if (i % 10 == 0) events.push_back(events.back());  // redelivered right away
  }
  for (const auto& e : events)
    ASSERT_TRUE(producer_->produce("stagewise.events", "a", e.dump(), {}, 0).ok());
  ASSERT_TRUE(producer_->flush(10000).ok());
  ASSERT_TRUE(eventually([&] { return handled() >= events.size(); }));
  EXPECT_EQ(history_size("a"), 41u);
  EXPECT_EQ(processor_->stats().duplicates, 4u);
  EXPECT_EQ(processor_->stats().applied, 41u);
  EXPECT_GE(processor_->stats().batches, 41u) << "one event per round";
  EXPECT_EQ(store_->application("a")->sequence, 41u);
  EXPECT_TRUE(dead_letters().empty());
  // Once idle, the last round is settled too: the group's committed offsets
  // (what outside tools show as the consumer lag) reach the end of the log.
  auto lag =
      kafka::GroupLag::create({{"bootstrap.servers", cluster_->bootstrap()}}, options_.group_id);
  ASSERT_TRUE(lag.ok()) << lag.error().message;
  EXPECT_TRUE(eventually([&] {
    const auto l = (*lag)->lag("stagewise.events", 5000);
    return l.ok() && *l == 0;
  })) << "the group's offsets stay one round behind while idle";
}

// The processor hands the engine the cache's copy of an application to
// change in place (no copy per event). An event the engine rejects after it
// took the copy (here a fourth note, past the list limit) must leave the
// application as stored: the next event applies to that, not to what is
// left of the copy.
TEST_F(ProcessorTest, AnEventRejectedAfterTheEngineTookTheCachedApplicationChangesNothing) {
  processor_.reset();
  options_.batch_max_events = 1;
  options_.engine.max_list_items = 2;
  ASSERT_NO_FATAL_FAILURE(start_processor());
  const std::vector<json> events = {
      event("t1", "application.submitted", "a", "applicant", {{"name", "Ada"}}, 0),
      event("t2", "note.added", "a", "program_manager", {{"text", "one"}}, 1),
      event("t3", "note.added", "a", "program_manager", {{"text", "two"}}, 2),
      event("t4", "note.added", "a", "program_manager", {{"text", "three"}}, 3),
      event("t5", "decision.recorded", "a", "program_manager", {{"outcome", "eligible"}}, 4)};
  auto lag =
      kafka::GroupLag::create({{"bootstrap.servers", cluster_->bootstrap()}}, options_.group_id);
  ASSERT_TRUE(lag.ok()) << lag.error().message;
  for (size_t i = 0; i < events.size(); ++i) {
    send(events[i]);
    // Settled before the next (the group's offsets are committed after the
    // round's applications went to the cache): each event finds it there.
    ASSERT_TRUE(eventually([&] {
      const auto l = (*lag)->lag("stagewise.events", 5000);
      return handled() >= i + 1 && l.ok() && *l == 0;
    }));
  }
  EXPECT_EQ(processor_->stats().rejected[static_cast<size_t>(Reason::invalid_data)], 1u);
  auto app = store_->application("a");
  ASSERT_TRUE(app.ok()) << app.error().message;
  EXPECT_EQ(app->stage, "documents");
  EXPECT_EQ(app->sequence, 4u);
  EXPECT_EQ(app->facts["profile"]["name"], "Ada");
  ASSERT_EQ(app->facts["notes"].size(), 2u);
  EXPECT_EQ(app->facts["notes"][1]["text"], "two");
  EXPECT_EQ(history_size("a"), 4u);
}

// A round writes each application it changed once, in its last state (not
// once per event): the stored state, the stage index and the audit chain
// must be those of the last applied event, also when an event in between
// was rejected, and when the application is new or leaves its stage twice.
// The engine changes the round's copy of an application in place: an event
// rejected after it took that copy (by the engine, or for the size of the
// result) must leave it as it was.
TEST_F(ProcessorTest, ARoundWritesEachApplicationOnceInItsLastState) {
  send(event("d1", "application.submitted", "d", "applicant", nullptr, 0));  // stored before
  ASSERT_TRUE(eventually([&] { return stage("d") == "submitted"; }));
  processor_.reset();
  options_.batch_max_events = 1000;
  options_.batch_max_ms = 3000;  // every event below in the first round
  options_.max_application_bytes = 2500;
  options_.engine.max_list_items = 2;
  const std::string big(3000, 'x');
  const std::vector<json> events = {
      event("w1", "application.submitted", "a", "applicant", {{"name", "Ada"}}, 0),
      event("w2", "decision.recorded", "a", "program_manager", {{"outcome", "eligible"}}, 1),
      event("w3", "application.document_added", "a", "applicant", {{"kind", "transcript"}}, 2),
      event("w4", "note.added", "a", "program_manager", {{"text", big}}, 3),  // past 2500 bytes
      event("w4a", "note.added", "a", "program_manager", {{"text", "one"}}, 3),
      event("w4b", "note.added", "a", "program_manager", {{"text", "two"}}, 3),
      event("w4c", "note.added", "a", "program_manager", {{"text", "three"}}, 3),  // a third
      event("w5", "application.document_added", "a", "applicant",
            {{"kind", "recommendation_letter"}}, 4),
      event("w6", "application.submitted", "b", "applicant", nullptr, 0),
      event("w7", "application.withdrawn", "b", "applicant", nullptr, 1),
      event("w8", "application.submitted", "c", "applicant", nullptr, 0),
      event("d2", "decision.recorded", "d", "program_manager", {{"outcome", "eligible"}}, 1),
      event("d3", "application.document_added", "d", "applicant", {{"kind", "transcript"}}, 2),
      event("d4", "application.document_added", "d", "applicant",
            {{"kind", "recommendation_letter"}}, 3)};
  for (const auto& e : events)
    ASSERT_TRUE(
        producer_->produce("stagewise.events", e.value("subject", ""), e.dump(), {}, 0).ok());
  ASSERT_TRUE(producer_->flush(10000).ok());
  ASSERT_NO_FATAL_FAILURE(start_processor());
  ASSERT_TRUE(eventually([&] { return handled() >= events.size(); }));
  // The point of the test: a's events were applied in one round, and d's
  // after its first.
  for (const std::string id : {"a", "d"}) {
    auto h = store_->history(id);
    ASSERT_TRUE(h.ok()) << h.error().message;
    ASSERT_GE(h->size(), 4u);
    for (const auto& e : *h) {
      if (id == "d" && e.sequence == 1) continue;
      ASSERT_EQ(e.round, h->back().round) << id << e.sequence;
    }
  }
  EXPECT_EQ(processor_->stats().rejected[static_cast<size_t>(Reason::invalid_data)], 2u);

  auto a = store_->application("a");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->stage, "review");
  EXPECT_EQ(a->sequence, 6u);
  EXPECT_EQ(a->facts["profile"]["name"], "Ada");
  ASSERT_EQ(a->facts["notes"].size(), 2u) << a->facts["notes"].dump();
  EXPECT_EQ(a->facts["notes"][0]["text"], "one");
  EXPECT_EQ(a->facts["notes"][1]["text"], "two");
  EXPECT_EQ(history_size("a"), 6u);
  EXPECT_EQ(stage("b"), "withdrawn");
  EXPECT_EQ(stage("c"), "submitted");
  EXPECT_EQ(stage("d"), "review");
  // Each application is in the stage index once, under its last stage.
  const std::string program = "summer-research-internship";
  const std::map<std::string, std::vector<std::string>> want = {
      {"submitted", {"c"}}, {"documents", {}}, {"review", {"a", "d"}}, {"withdrawn", {"b"}}};
  for (const auto& [stage_name, ids] : want) {
    auto listed = store_->list_stage(program, stage_name, 100);
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    EXPECT_EQ(*listed, ids) << stage_name;
  }
  auto counts = store_->stage_counts(program);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)["submitted"] + (*counts)["documents"] + (*counts)["review"] +
                (*counts)["withdrawn"],
            4u);
  // The stored heads are the chains' last links, and every entry is in its round.
  auto report = audit::verify(*store_, {});
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->ok()) << audit::describe(report->broken.front());
  EXPECT_EQ(report->entries, 13u);
}

TEST_F(ProcessorTest, RestartResumesFromStoredOffsetsWithoutReapplying) {
  send(event("r1", "application.submitted", "a", "applicant"));
  send(event("r2", "decision.recorded", "a", "program_manager", {{"outcome", "eligible"}}));
  ASSERT_TRUE(eventually([&] { return history_size("a") == 2; }));
  processor_.reset();
  open_store();
  ASSERT_NO_FATAL_FAILURE(start_processor());
  send(event("r3", "application.document_added", "a", "applicant", {{"kind", "transcript"}}));
  ASSERT_TRUE(eventually([&] { return history_size("a") == 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(history_size("a"), 3u);
  EXPECT_EQ(processor_->stats().applied, 1u) << "the restarted processor re-applied old events";
  EXPECT_EQ(processor_->stats().duplicates, 0u) << "old events were redelivered";
}

TEST_F(ProcessorTest, NewBrokerLogKeepsStateAndCarriesOn) {
  send(event("l1", "application.submitted", "a", "applicant"));
  send(event("l2", "decision.recorded", "a", "program_manager", {{"outcome", "eligible"}}));
  ASSERT_TRUE(eventually([&] { return history_size("a") == 2; }));
  processor_.reset();
  producer_.reset();
  // The embedded broker restarts with an empty log: stored offsets are now
  // past its end.
  start_cluster();
  auto p = kafka::Producer::create({{"bootstrap.servers", cluster_->bootstrap()}}, nullptr);
  ASSERT_TRUE(p.ok());
  producer_ = std::move(*p);
  ASSERT_NO_FATAL_FAILURE(start_processor());
  send(event("l3", "application.document_added", "a", "applicant", {{"kind", "transcript"}}));
  send(event("l4", "application.submitted", "b", "applicant"));
  ASSERT_TRUE(eventually([&] { return history_size("a") == 3 && stage("b") == "submitted"; }));
  EXPECT_EQ(stage("a"), "documents");
  EXPECT_GE(processor_->stats().log_resets, 1u);
}

}  // namespace
}  // namespace stagewise::processor
