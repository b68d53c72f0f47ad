#include "processor/outputs.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace stagewise::processor {
namespace {

using nlohmann::json;

CloudEvent cause(std::string actorid) {
  CloudEvent e;
  e.id = "ev \"1\"\\";
  e.type = "review.submitted";
  e.time = "2026-03-01T10:00:00Z";
  e.actorid = std::move(actorid);
  return e;
}

workflow::Applied applied(std::optional<std::string> from) {
  workflow::Applied a;
  a.next.id = "APP-\u00e9\t1";
  a.next.program = "phd-fellowship";
  a.next.workflow_version = 2;
  a.next.sequence = 12;
  a.from = std::move(from);
  a.to = "interview";
  return a;
}

// The outputs are written without a JSON tree; they must still be exactly
// what dumping the parsed object gives (sorted keys, same escaping), and
// carry every field.
TEST(Outputs, StageChangedIsCanonicalJsonWithEveryField) {
  for (const auto& from : {std::optional<std::string>("review"), std::optional<std::string>()}) {
    const auto rec = stage_changed("stagewise.status", applied(from), cause("r\x01\n\"x\""));
    const json j = json::parse(rec.value);
    EXPECT_EQ(j.dump(), rec.value);
    EXPECT_EQ(j["id"], "APP-\u00e9\t1/12/stage_changed");
    EXPECT_EQ(j["type"], kStageChanged);
    EXPECT_EQ(j["subject"], "APP-\u00e9\t1");
    EXPECT_EQ(j["program"], "phd-fellowship");
    EXPECT_EQ(j["time"], "2026-03-01T10:00:00Z");
    EXPECT_EQ(j["data"]["from"], from ? json(*from) : json());
    EXPECT_EQ(j["data"]["to"], "interview");
    EXPECT_EQ(j["data"]["sequence"], 12);
    EXPECT_EQ(j["data"]["workflow_version"], 2);
    EXPECT_EQ(j["data"]["cause"]["actorid"], "r\x01\n\"x\"");
    EXPECT_EQ(j["data"]["cause"]["id"], "ev \"1\"\\");
    EXPECT_EQ(rec.key, "APP-\u00e9\t1");
    EXPECT_EQ(rec.topic, "stagewise.status");
  }
}

TEST(Outputs, NotificationIsCanonicalJsonWithEveryField) {
  workflow::Notification n{"applicant", "offer_made", "offer", 0};
  for (const int64_t due : {int64_t{0}, int64_t{1'790'000'000'000}}) {
    n.due_ms = due;
    const auto rec = notification("stagewise.notifications", applied("review"), n, 3, cause(""));
    const json j = json::parse(rec.value);
    EXPECT_EQ(j.dump(), rec.value);
    EXPECT_EQ(j["id"], "APP-\u00e9\t1/12/notification/3");
    EXPECT_EQ(j["type"], kNotification);
    EXPECT_EQ(j["data"]["recipient"], "applicant");
    EXPECT_EQ(j["data"]["template"], "offer_made");
    EXPECT_EQ(j["data"]["stage"], "offer");
    EXPECT_EQ(j["data"]["due"].is_null(), due == 0);
    EXPECT_TRUE(j["data"]["cause"]["actorid"].is_null());
  }
}

TEST(Outputs, DeadLettersCarryABoundedExcerptWithLengthAndDigest) {
  const Headers headers = {{"h", std::string(5000, 'v')}, {"bin", "\xff\xfe"}};
  const std::string text = "caf\xc3\xa9 " + std::string(300, 't');
  InputRef in{"stagewise.events", 2, 7, "key", text, &headers};
  DeadLetterLimits limits{.excerpt_bytes = 100, .keep_bytes = 200};
  auto r = dead_letter("stagewise.deadletter", in, Reason::malformed_json, "bad", "e1", "app-1", 0,
                       limits);
  const json e = json::parse(r.record.value);
  const json& o = e["data"]["original"];
  EXPECT_EQ(e["id"], "deadletter/stagewise.events/2/7");
  EXPECT_EQ(o["value"].get<std::string>(), text.substr(0, 100));
  EXPECT_FALSE(o.contains("encoding"));
  EXPECT_EQ(o["length"], text.size());
  EXPECT_EQ(o["truncated"], true);
  EXPECT_EQ(o["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(o["headers"]["h"].get<std::string>().size(), 1024u);
  EXPECT_EQ(o["headers"]["bin"], "//4=");
  EXPECT_FALSE(r.kept.kept) << "longer than keep_bytes: only length and digest are kept";
  EXPECT_EQ(r.kept.length, text.size());
  EXPECT_EQ(r.kept.sha256, o["sha256"]);

  // An excerpt is never cut inside a UTF-8 sequence.
  const std::string accents = std::string(99, 'a') + "\xc3\xa9";
  in.value = accents;
  auto cut = dead_letter("t", in, Reason::malformed_json, "m", "", "", 0, limits);
  EXPECT_EQ(json::parse(cut.record.value)["data"]["original"]["value"], std::string(99, 'a'));
  EXPECT_TRUE(cut.kept.kept);
  EXPECT_EQ(cut.kept.original, accents);

  // Control bytes would take six characters each: base64 instead.
  const std::string control(50, '\x01');
  in.value = control;
  auto ctl = dead_letter("t", in, Reason::malformed_json, "m", "", "", 0, limits);
  const json co = json::parse(ctl.record.value)["data"]["original"];
  EXPECT_EQ(co["encoding"], "base64");
  EXPECT_EQ(co["truncated"], false);
}

}  // namespace
}  // namespace stagewise::processor
