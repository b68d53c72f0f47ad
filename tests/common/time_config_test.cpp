#include "common/config.h"
#include "common/time.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <fstream>

namespace stagewise {
namespace {

TEST(Time, ParsesAndFormatsRfc3339) {
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_ms("2026-03-01T12:00:00.250Z"), 1772366400250);
  EXPECT_EQ(parse_rfc3339_ms("2026-03-01T13:00:00+01:00"), 1772366400000);
  EXPECT_EQ(parse_rfc3339_ms("2024-02-29T00:00:00Z").has_value(), true);
  EXPECT_FALSE(parse_rfc3339_ms("2025-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_ms("2026-03-01 12:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_ms("2026-03-01T12:00:00"));
  EXPECT_EQ(format_rfc3339_ms(1772366400250), "2026-03-01T12:00:00.250Z");
  EXPECT_EQ(format_rfc3339_ms(1772366400000), "2026-03-01T12:00:00Z");
}

TEST(Time, ParsesFixedLengthDurations) {
  EXPECT_EQ(parse_iso8601_duration_ms("P14D"), 14LL * 86400 * 1000);
  EXPECT_EQ(parse_iso8601_duration_ms("PT36H"), 36LL * 3600 * 1000);
  EXPECT_EQ(parse_iso8601_duration_ms("P1W"), 7LL * 86400 * 1000);
  EXPECT_EQ(parse_iso8601_duration_ms("P1DT2H30M"), (26LL * 60 + 30) * 60 * 1000);
  EXPECT_FALSE(parse_iso8601_duration_ms("P1M"));  // months have no fixed length
  EXPECT_FALSE(parse_iso8601_duration_ms("P"));
  EXPECT_FALSE(parse_iso8601_duration_ms("14D"));
  EXPECT_FALSE(parse_iso8601_duration_ms("PT1D"));
  // Found by fuzz_workflow: a duration past int64 milliseconds was UB.
  EXPECT_FALSE(parse_iso8601_duration_ms("P99999999999999999999D"));
  EXPECT_FALSE(parse_iso8601_duration_ms("P102222222222222D"));
  // Timestamps outside RFC 3339's years format to the nearest one, no UB.
  EXPECT_EQ(format_rfc3339_ms(INT64_MIN), "0000-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339_ms(INT64_MAX), "9999-12-31T23:59:59.999Z");
}

TEST(Config, ShippedFilesLoad) {
  const std::string root = STAGEWISE_SOURCE_DIR;
  const Config c = load_config(root + "/config/stagewise.json");
  EXPECT_TRUE(c.kafka.bootstrap_servers.empty());
  EXPECT_EQ(c.kafka.partitions, 8);
  const Config p = load_config(root + "/config/production.example.json");
  EXPECT_EQ(p.kafka.properties.at("security.protocol"), "SASL_SSL");
}

TEST(Config, ShippedFileListsEverySettingWithItsDefault) {
  const std::string root = STAGEWISE_SOURCE_DIR;
  std::ifstream in(root + "/config/stagewise.json");
  const auto shipped = nlohmann::json::parse(in);
  EXPECT_EQ(shipped, to_json(Config{}))
      << "config/stagewise.json and the defaults in common/config.h differ";
}

TEST(Config, ValuesOutOfBoundsAreRefusedNamingTheKey) {
  const std::string path = ::testing::TempDir() + "/bounds-config.json";
  std::ofstream(path) << R"({"http": {"threads": 0}})";
  try {
    (void)load_config(path);
    ADD_FAILURE() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("http.threads must be between 2 and"), std::string::npos)
        << e.what();
  }
  std::ofstream(path) << R"({"processor": {"max_clock_skew": "P1M"}})";
  EXPECT_THROW((void)load_config(path), std::runtime_error);
  std::ofstream(path) << R"({"processor": {"max_event_bytes": 2000000}})";
  EXPECT_THROW((void)load_config(path), std::runtime_error) << "larger than the producer takes";
  std::ofstream(path)
      << R"({"processor": {"max_event_bytes": 2000000}, "kafka": {"properties": {"message.max.bytes": "4000000"}}})";
  EXPECT_EQ(load_config(path).processor.max_event_bytes, 2'000'000);
  std::ofstream(path) << R"({"processor": {"max_clock_skew": "PT1H"}})";
  EXPECT_EQ(load_config(path).processor.max_clock_skew.ms, 3'600'000);
}

TEST(Config, EnvironmentOverridesAndErrorsNameTheKey) {
  setenv("STAGEWISE_HTTP_PORT", "9191", 1);
  EXPECT_EQ(load_config("").http.port, 9191);
  setenv("STAGEWISE_HTTP_PORT", "nine", 1);
  try {
    (void)load_config("");
    ADD_FAILURE() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("STAGEWISE_HTTP_PORT"), std::string::npos) << e.what();
  }
  unsetenv("STAGEWISE_HTTP_PORT");
  const std::string path = ::testing::TempDir() + "/bad-config.json";
  std::ofstream(path) << R"({"kafka": {"bootstrap_server": "x"}})";
  try {
    (void)load_config(path);
    ADD_FAILURE() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("kafka.bootstrap_server"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stagewise
