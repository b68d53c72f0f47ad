// Issue 15: each (program, version) a data dir loads is fingerprinted on
// first load; a changed file under a used version is refused.
#include "store/workflow_versions.h"

#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace stagewise::store {
namespace {

using nlohmann::json;

const std::string kSummer =
    std::string(STAGEWISE_SOURCE_DIR) + "/workflows/summer-research-internship.json";

json summer() {
  std::ifstream in(kSummer);
  return json::parse(in);
}

class WorkflowVersions : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "wf");
    write("summer.json", summer());
    auto s = Store::open(dir_ / "store", {.sync = false});
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  void write(const std::string& name, const json& doc, int indent = 2) {
    std::ofstream(dir_ / ("wf/" + name)) << doc.dump(indent);
  }
  workflow::Registry load() {
    std::vector<workflow::Problem> problems;
    auto r = workflow::Registry::load({dir_ / "wf"}, problems);
    EXPECT_TRUE(problems.empty()) << problems.front().to_string();
    return r;
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(WorkflowVersions, FirstLoadRecordsTheFingerprint) {
  const auto registry = load();
  ASSERT_TRUE(
      recorded_fingerprint(*store_, "summer-research-internship", 1).error().is_not_found());
  ASSERT_TRUE(pin_workflows(*store_, registry).ok());
  const auto* wf = registry.find("summer-research-internship", 1);
  auto recorded = recorded_fingerprint(*store_, "summer-research-internship", 1);
  ASSERT_TRUE(recorded.ok());
  EXPECT_EQ(*recorded, workflow_fingerprint(*wf));
  EXPECT_EQ(recorded->size(), 64u);
}

TEST_F(WorkflowVersions, ReformattingTheFileIsNoChange) {
  ASSERT_TRUE(pin_workflows(*store_, load()).ok());
  write("summer.json", summer(), -1);  // one line, no indentation
  EXPECT_TRUE(pin_workflows(*store_, load()).ok());
}

TEST_F(WorkflowVersions, AChangedFileUnderAUsedVersionIsRefusedNamingEverything) {
  const auto before = load();
  ASSERT_TRUE(pin_workflows(*store_, before).ok());
  const std::string then = workflow_fingerprint(*before.find("summer-research-internship", 1));
  json edited = summer();
  edited["title"] = "Summer internship (edited)";
  write("summer.json", edited);
  const auto after = load();
  const std::string now = workflow_fingerprint(*after.find("summer-research-internship", 1));
  ASSERT_NE(then, now);
  const auto r = pin_workflows(*store_, after);
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message;
  for (const std::string& part :
       {std::string("summer-research-internship"), std::string("version 1"),
        dir_ / "wf/summer.json", then, now, std::string("bump \"version\" to 2")})
    EXPECT_NE(m.find(part), std::string::npos) << part << " not in: " << m;
  EXPECT_EQ(*recorded_fingerprint(*store_, "summer-research-internship", 1), then)
      << "the first fingerprint stays";
}

TEST_F(WorkflowVersions, TheChangeUnderANewVersionLoadsBesideTheOld) {
  ASSERT_TRUE(pin_workflows(*store_, load()).ok());
  json v2 = summer();
  v2["title"] = "Summer internship, second call";
  v2["version"] = 2;
  write("summer-v2.json", v2);
  const auto both = load();
  ASSERT_NE(both.find("summer-research-internship", 2), nullptr);
  ASSERT_TRUE(pin_workflows(*store_, both).ok());
  EXPECT_EQ(*recorded_fingerprint(*store_, "summer-research-internship", 2),
            workflow_fingerprint(*both.find("summer-research-internship", 2)));
}

TEST_F(WorkflowVersions, NothingIsRecordedWhenOneIsRefused) {
  ASSERT_TRUE(pin_workflows(*store_, load()).ok());
  json edited = summer();
  edited["title"] = "edited";
  write("summer.json", edited);
  json v2 = summer();
  v2["version"] = 2;
  write("summer-v2.json", v2);
  ASSERT_FALSE(pin_workflows(*store_, load()).ok());
  EXPECT_TRUE(
      recorded_fingerprint(*store_, "summer-research-internship", 2).error().is_not_found());
}

}  // namespace
}  // namespace stagewise::store
