#include "common/cloudevent.h"

#include <gtest/gtest.h>

namespace stagewise {
namespace {

using nlohmann::json;

json good() {
  return {{"specversion", "1.0"},
          {"id", "e-1"},
          {"source", "portal"},
          {"type", "application.submitted"},
          {"subject", "app-1"},
          {"time", "2026-03-01T12:00:00+01:00"},
          {"program", "summer-research-internship"},
          {"actorid", "stu-1"},
          {"actorrole", "applicant"},
          {"data", {{"name", "Ada"}}}};
}

DecodeError error_of(const DecodeResult& r) {
  const auto* e = std::get_if<DecodeError>(&r);
  return e ? *e : DecodeError{Reason::engine_error, "decoded fine", ""};
}

TEST(CloudEvent, DecodesStructuredMode) {
  const auto r = decode_structured(good().dump());
  ASSERT_TRUE(std::holds_alternative<CloudEvent>(r)) << error_of(r).message;
  const auto& e = std::get<CloudEvent>(r);
  EXPECT_EQ(e.id, "e-1");
  EXPECT_EQ(e.subject, "app-1");
  EXPECT_EQ(e.program, "summer-research-internship");
  EXPECT_EQ(e.actorrole, "applicant");
  EXPECT_EQ(e.time_ms, 1772362800000);  // 11:00Z
  EXPECT_EQ(e.data["name"], "Ada");
  EXPECT_EQ(to_json(e), good());
}

TEST(CloudEvent, DecodesBinaryModeFromHeaders) {
  const Headers h = {{"ce_specversion", "1.0"}, {"ce_id", "b-1"},
                     {"ce_source", "tool"},     {"ce_type", "note.added"},
                     {"ce_subject", "app-2"},   {"ce_time", "2026-03-01T12:00:00Z"},
                     {"ce_actorrole", "admin"}, {"content-type", "application/json"}};
  const auto r = decode_kafka(h, R"({"text":"hi"})");
  ASSERT_TRUE(std::holds_alternative<CloudEvent>(r)) << error_of(r).message;
  EXPECT_EQ(std::get<CloudEvent>(r).data["text"], "hi");
  EXPECT_EQ(std::get<CloudEvent>(r).actorrole, "admin");
}

TEST(CloudEvent, MalformedJsonIsNamed) {
  const auto r = decode_structured("{\"specversion\": ");
  EXPECT_EQ(error_of(r).reason, Reason::malformed_json);
  EXPECT_EQ(error_of(decode_structured("[1,2]")).reason, Reason::malformed_json);
  const Headers binary = {{"ce_specversion", "1.0"}, {"ce_id", "x"}};
  EXPECT_EQ(error_of(decode_kafka(binary, "{nope")).reason, Reason::malformed_json);
  EXPECT_EQ(error_of(decode_kafka(binary, "{nope")).event_id, "x");
}

TEST(CloudEvent, EachMissingAttributeIsNamedWithTheEventId) {
  for (const char* attr : {"specversion", "id", "source", "type", "subject", "time"}) {
    json e = good();
    e.erase(attr);
    const DecodeError err = error_of(decode_json(e));
    EXPECT_EQ(err.reason, Reason::missing_attribute) << attr;
    EXPECT_NE(err.message.find(std::string("\"") + attr + "\""), std::string::npos) << err.message;
    if (std::string(attr) != "id") {
      EXPECT_EQ(err.event_id, "e-1");
    }
  }
}

TEST(CloudEvent, InvalidAttributesAreRefused) {
  auto with = [](const char* k, json v) {
    json e = good();
    e[k] = std::move(v);
    return error_of(decode_json(e));
  };
  EXPECT_EQ(with("specversion", "0.3").reason, Reason::invalid_attribute);
  EXPECT_EQ(with("time", "yesterday").reason, Reason::invalid_attribute);
  EXPECT_NE(with("time", "2026-02-30T00:00:00Z").message.find("RFC 3339"), std::string::npos);
  EXPECT_EQ(with("id", 7).reason, Reason::invalid_attribute);
  EXPECT_EQ(with("subject", "").reason, Reason::invalid_attribute);
  EXPECT_EQ(with("subject", std::string(300, 'a')).reason, Reason::invalid_attribute);
  EXPECT_EQ(with("subject", "a\nb").reason, Reason::invalid_attribute);
  EXPECT_EQ(with("actorrole", "dean").reason, Reason::invalid_attribute);
  EXPECT_NE(with("actorrole", "dean").message.find("program_manager"), std::string::npos);
  EXPECT_EQ(with("Bad-Name", "x").reason, Reason::invalid_attribute);
  EXPECT_EQ(with("datacontenttype", "text/plain").reason, Reason::invalid_attribute);
  EXPECT_EQ(with("data_base64", "AAAA").reason, Reason::invalid_attribute);
}

TEST(CloudEvent, OtherExtensionsAreCarriedNotRefused) {
  json e = good();
  e["traceparent"] = "00-abc";
  EXPECT_TRUE(std::holds_alternative<CloudEvent>(decode_json(e)));
}

}  // namespace
}  // namespace stagewise
