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

}  // namespace
}  // namespace stagewise::processor
