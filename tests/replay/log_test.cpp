#include "replay/log.h"

#include <gtest/gtest.h>

namespace stagewise::replay {
namespace {

#define ASSERT_OK(r) ASSERT_TRUE((r).ok()) << (r).error().message

const std::string kEvent =
    R"({"specversion":"1.0","id":"e1","source":"portal","type":"application.submitted",)"
    R"("subject":"app-7","time":"2026-01-01T00:00:00Z"})";

TEST(ReplayLog, APlainLineIsAMessageValueKeyedByItsSubject) {
  auto r = parse_line(kEvent);
  ASSERT_OK(r);
  EXPECT_EQ(r->value, kEvent);
  EXPECT_EQ(r->key, "app-7");
  EXPECT_FALSE(r->partition);
  EXPECT_EQ(r->timestamp_ms, 0);
  EXPECT_EQ(r->headers, (Headers{{"content-type", "application/cloudevents+json"}}));
  auto bad = parse_line("{not json");  // bad events were in the log too
  ASSERT_OK(bad);
  EXPECT_EQ(bad->value, "{not json");
  EXPECT_EQ(bad->key, "");
}

TEST(ReplayLog, ARecordedMessageKeepsPartitionKeyHeadersAndTimestamp) {
  // What `kcat -C -J` prints.
  const nlohmann::json kcat = {{"topic", "stagewise.events"},
                               {"partition", 3},
                               {"offset", 17},
                               {"tstype", "create"},
                               {"ts", 1767225600123},
                               {"broker", 1},
                               {"headers", {"ce_type", "application.submitted", "x", ""}},
                               {"key", "app-7"},
                               {"payload", kEvent}};
  auto r = parse_line(kcat.dump());
  ASSERT_OK(r);
  EXPECT_EQ(*r->partition, 3);
  EXPECT_EQ(r->offset, 17);
  EXPECT_EQ(r->timestamp_ms, 1767225600123);
  EXPECT_EQ(r->key, "app-7");
  EXPECT_EQ(r->value, kEvent);
  EXPECT_EQ(r->headers, (Headers{{"ce_type", "application.submitted"}, {"x", ""}}));
}

TEST(ReplayLog, WhatIsWrittenReadsBackAlikeAlsoBytesThatAreNotText) {
  LogRecord r;
  r.partition = 2;
  r.key = "app-1";
  r.value = std::string("\xff\x00\x01", 3);
  r.headers = {{"content-type", "application/cloudevents+json"}};
  r.timestamp_ms = 1767225600000;
  r.offset = 9;
  auto back = parse_line(format_line(r, "stagewise.events"));
  ASSERT_OK(back);
  EXPECT_EQ(back->partition, r.partition);
  EXPECT_EQ(back->key, r.key);
  EXPECT_EQ(back->value, r.value);
  EXPECT_EQ(back->headers, r.headers);
  EXPECT_EQ(back->timestamp_ms, r.timestamp_ms);
  EXPECT_EQ(back->offset, r.offset);
}

TEST(ReplayLog, ABrokenRecordIsRefusedNamingTheField) {
  auto r = parse_line(R"({"payload":"x","partition":"two"})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("partition"), std::string::npos);
  auto h = parse_line(R"({"payload":"x","headers":["a"]})");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.error().message.find("headers"), std::string::npos);
  auto big = parse_line(std::string(100, 'x'), {.max_line_bytes = 10});
  EXPECT_FALSE(big.ok());
}

}  // namespace
}  // namespace stagewise::replay
