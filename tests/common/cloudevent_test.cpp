#include "common/cloudevent.h"

#include "common/json_limits.h"
#include "common/log.h"

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

// Issue 10.2: 100,000 nested brackets (200 KB, under max_event_bytes) killed
// the process with a stack overflow; now a dead letter.
TEST(CloudEvent, DeepNestingIsRefusedWithoutRecursion) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  EXPECT_FALSE(json_depth_within(deep, 32));
  std::string event = good().dump();
  event.insert(event.size() - 1, ",\"data2\":" + deep);
  const DecodeError err = error_of(decode_structured(event));
  EXPECT_EQ(err.reason, Reason::malformed_json);
  EXPECT_NE(err.message.find("max_json_depth"), std::string::npos) << err.message;
  const Headers binary = {{"ce_specversion", "1.0"}, {"ce_id", "deep-1"}};
  const DecodeError b = error_of(decode_kafka(binary, deep));
  EXPECT_EQ(b.reason, Reason::malformed_json);
  EXPECT_EQ(b.event_id, "deep-1");
  // Brackets inside strings do not count; 32 levels do fit.
  EXPECT_TRUE(json_depth_within(R"({"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]]]"})", 2));
  json nested = good();
  json* at = &nested["data"];
  for (int i = 0; i < 30; ++i) at = &((*at)["n"] = json::object());
  EXPECT_TRUE(std::holds_alternative<CloudEvent>(decode_structured(nested.dump())));
}

// Events are parsed with simdjson (common/simd_json.h); what they decode to
// must be what nlohmann's tree gave before: the same attributes, the same
// data (value and number types), the same errors.
DecodeResult by_nlohmann(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DecodeError{Reason::malformed_json, "not JSON", ""};
  return decode_json(j);
}

bool same_tree(const json& a, const json& b) {
  if (a.type() != b.type() || a != b) return false;
  if (a.is_structured())
    for (auto ai = a.begin(), bi = b.begin(); ai != a.end(); ++ai, ++bi)
      if (!same_tree(*ai, *bi)) return false;
  return true;
}

void expect_same_decoding(const std::string& text) {
  SCOPED_TRACE(text);
  const DecodeResult fast = decode_structured(text);
  const DecodeResult slow = by_nlohmann(text);
  ASSERT_EQ(fast.index(), slow.index()) << (fast.index() ? error_of(fast).message : "an event");
  if (const auto* f = std::get_if<DecodeError>(&fast)) {
    EXPECT_EQ(f->reason, std::get<DecodeError>(slow).reason);
    if (f->reason != Reason::malformed_json) {
      EXPECT_EQ(f->message, error_of(slow).message);
    }
    EXPECT_EQ(f->event_id, std::get<DecodeError>(slow).event_id);
    return;
  }
  const auto& a = std::get<CloudEvent>(fast);
  const auto& b = std::get<CloudEvent>(slow);
  EXPECT_EQ(to_json(a).dump(), to_json(b).dump());
  EXPECT_EQ(a.time_ms, b.time_ms);
  EXPECT_TRUE(same_tree(a.data, b.data)) << a.data.dump() << " vs " << b.data.dump();
}

TEST(CloudEvent, SimdjsonDecodesExactlyAsNlohmannDid) {
  std::string base = good().dump();
  base.pop_back();  // the object left open: members are appended below
  const std::vector<std::string> tails = {
      R"(})",
      R"(,"id":"e-2"})",                               // a repeated key: the last one counts
      R"(,"data":{"a":1,"a":[2,-3,4.5,1e2]}})",        // and inside data
      R"(,"data":{"z":0,"n":-0,"m":-0.0,"k":-0e0}})",  // integers signed as written
      R"(,"data":{"big":18446744073709551615,"bigger":18446744073709551616}})",
      R"(,"data":{"neg":-9223372036854775808,"below":-9223372036854775809}})",
      R"(,"data":{"tiny":1e-400,"huge":1e400}})",
      R"(,"data":{"s":"\u00e9\ud83d\ude00\u0000","t":true,"f":false,"n":null}})",
      R"(,"data":null})",
      R"(,"data":"text"})",
      R"(,"id":7})",
      R"(,"program":null})",
      R"(,"actorrole":"wizard"})",
      R"(,"Bad-Name":"x"})",
      R"(,"data_base64":"AA=="})",
      R"(,"datacontenttype":"text/plain"})",
      R"(,"subject":"a/b"})",
      R"(,"time":"yesterday"})",
      R"(,"specversion":null})",
      R"(,"s":"\ud800"})",  // a lone surrogate
      R"(,})",
      "}\n ",
      std::string("}\0x", 3),  // nlohmann stops at a NUL
      // Over 64 KiB: nlohmann reads it (simdjson's buffers stay small).
      R"(,"data":{"a":1,"a":2,"text":")" + std::string(70'000, 'x') + R"("}})",
  };
  for (const auto& tail : tails) expect_same_decoding(base + tail);
  for (const std::string& whole :
       {std::string("[1,2]"), std::string("\"event\""), "\xef\xbb\xbf" + good().dump(),
        std::string("{}"), std::string()})
    expect_same_decoding(whole);
}

// Every bounded parse (HTTP bodies, tokens, binary-mode data, logs) reads
// with simdjson where it can: the tree must be nlohmann's.
TEST(JsonLimits, ABoundedParseGivesNlohmannsTree) {
  const std::vector<std::string> texts = {
      R"({"a":1,"a":[2,-3,4.5,1e2,-0,-0.0,18446744073709551615]})",
      R"([18446744073709551616,-9223372036854775809,1e-400])",
      R"("\u00e9\ud83d\ude00")",
      "true",
      "null",
      "  7 ",
      R"({"s":"\ud800"})",
      "[1,]",
      "",
      "\xef\xbb\xbf{}",
      std::string("{}\0x", 3),
      "[\"" + std::string(70'000, 'y') + "\"]"};
  for (const auto& text : texts) {
    SCOPED_TRACE(text.substr(0, 80));
    const json slow = json::parse(text, nullptr, /*allow_exceptions=*/false);
    const json fast = parse_json_bounded(text, 8);
    ASSERT_EQ(fast.is_discarded(), slow.is_discarded());
    if (!slow.is_discarded()) {
      EXPECT_TRUE(same_tree(fast, slow)) << fast.dump();
    }
  }
}

// Issue 10.7: ids that could never be read back, or that forge log lines.
TEST(CloudEvent, IdsMustBeReadableBackAndHarmlessInLogs) {
  auto with = [](const char* k, json v) {
    json e = good();
    e[k] = std::move(v);
    return decode_json(e);
  };
  for (const char* subject :
       {"a/b", "a%2Fb", "a b", "a?b", "a#b", "a\\b", "x\u202Eexe.pdf", "a\u200Bb", "a\u00A0b",
        "\u0085x", "a\u200Db", "a\u2060b", "a\u2028b"}) {
    const auto r = with("subject", json::parse(std::string("\"") + subject + "\""));
    EXPECT_EQ(error_of(r).reason, Reason::invalid_attribute) << subject;
    EXPECT_NE(error_of(r).message.find("subject"), std::string::npos);
  }
  EXPECT_TRUE(std::holds_alternative<CloudEvent>(with("subject", "app-\xc3\xa9t\xc3\xa9_42.x")));
  EXPECT_EQ(error_of(with("id", std::string(100'000, 'i'))).reason, Reason::invalid_attribute);
  EXPECT_EQ(error_of(with("id", std::string(100'000, 'i'))).event_id, "")
      << "an id too long to log is not echoed";
  EXPECT_EQ(error_of(with("source", "portal\u202e")).reason, Reason::invalid_attribute);
  EXPECT_EQ(error_of(with("actorid", "stu\n2026-01-01 INFO forged")).reason,
            Reason::invalid_attribute);
  EXPECT_EQ(error_of(with("program", "../etc")).reason, Reason::invalid_attribute);
  // Event ids and sources may hold slashes (URIs): they never appear in a path.
  EXPECT_TRUE(std::holds_alternative<CloudEvent>(with("source", "https://portal.example/x")));
  const Headers bad_header = {{"ce_specversion", "1.0"}, {"ce_id", "\xff\xfe"}};
  EXPECT_EQ(error_of(decode_kafka(bad_header, "{}")).reason, Reason::invalid_attribute);
}

// Issue 10.7: a decision dated 1970 expired an application at once.
TEST(CloudEvent, EventTimeMustLieNearWhenItWasSent) {
  const auto decoded = decode_json(good());
  CloudEvent e = std::get<CloudEvent>(decoded);
  const TimeWindow w{7LL * 86'400'000, 30LL * 86'400'000};
  EXPECT_FALSE(check_time(e, e.time_ms, w));
  EXPECT_FALSE(check_time(e, e.time_ms + 29LL * 86'400'000, w));
  const auto old = check_time(e, e.time_ms + 31LL * 86'400'000, w);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->reason, Reason::invalid_attribute);
  EXPECT_NE(old->message.find("max_backdate"), std::string::npos) << old->message;
  const auto future = check_time(e, e.time_ms - 8LL * 86'400'000, w);
  ASSERT_TRUE(future);
  EXPECT_NE(future->message.find("max_clock_skew"), std::string::npos) << future->message;
  e.actorrole = "system";  // a timer fired late after a restart
  EXPECT_FALSE(check_time(e, e.time_ms + 300LL * 86'400'000, w));
  // A producer's timestamp at either end of int64 (found by fuzz_envelope).
  EXPECT_TRUE(check_time(e, INT64_MAX, {INT64_MAX, INT64_MAX}) == std::nullopt);
  e.actorrole = "applicant";
  EXPECT_TRUE(check_time(e, INT64_MAX, w));
  EXPECT_TRUE(check_time(e, INT64_MIN, w));
}

TEST(JsonLimits, EscapesWhatWouldForgeOrHideALogLine) {
  EXPECT_EQ(escape_unsafe("a\nb\x1b[31m\xe2\x80\xae"
                          "c\xff"),
            "a\\nb\\u001b[31m\\u202ec\\xff");
  EXPECT_EQ(escape_unsafe("Zo\xc3\xab"), "Zo\xc3\xab");
}

// Issue 10.8: the JSON log format inserted the message unescaped.
TEST(Log, EveryLineIsOneLineAndJsonLinesParse) {
  const std::string nasty = "quote \" backslash \\ newline\nforged INFO line \x1b[2J \xe2\x80\xae";
  for (const char* format : {"json", "text"}) {
    auto f = log_formatter(format);
    spdlog::details::log_msg msg(spdlog::source_loc{}, "stagewise", spdlog::level::warn, nasty);
    spdlog::memory_buf_t out;
    f->format(msg, out);
    std::string line(out.data(), out.size());
    ASSERT_EQ(line.back(), '\n');
    line.pop_back();
    EXPECT_EQ(line.find('\n'), std::string::npos) << format;
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << format;
    EXPECT_EQ(line.find("\xe2\x80\xae"), std::string::npos) << format;
    if (std::string(format) == "json") {
      const json j = json::parse(line, nullptr, false);
      ASSERT_FALSE(j.is_discarded()) << line;
      EXPECT_EQ(j["level"], "warning");
      EXPECT_NE(j["message"].get<std::string>().find("quote \" backslash"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace stagewise
