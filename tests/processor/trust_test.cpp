// Issue 11: on the input topic, a source claims only the roles
// security.sources gives it, and nobody claims to be stagewise.
#include "processor/fixture.h"

#include <gtest/gtest.h>

namespace stagewise::processor {
namespace {

TEST_F(ProcessorTest, SourcesClaimOnlyTheRolesTheyAreGiven) {
  processor_.reset();
  sources_ = {{"portal", {"applicant"}}, {"test", {"applicant", "program_manager"}}};
  ASSERT_NO_FATAL_FAILURE(start_processor());
  send(event("s1", "application.submitted", "src-1", "applicant"));
  json pm_from_portal =
      event("s2", "decision.recorded", "src-1", "program_manager", {{"outcome", "eligible"}});
  pm_from_portal["source"] = "portal";
  send(pm_from_portal);
  json stranger = event("s3", "application.submitted", "src-2", "applicant");
  stranger["source"] = "kcat-on-a-laptop";
  send(stranger);
  json claims_auth = event("s4", "application.submitted", "src-3", "applicant");
  claims_auth["authsub"] = "admin-1";
  claims_auth["authrole"] = "admin";
  send(claims_auth);
  ASSERT_TRUE(eventually([&] { return handled() >= 4; }));
  EXPECT_EQ(stage("src-1"), "submitted") << "a portal may not decide as a program manager";
  EXPECT_EQ(stage("src-2"), "(none)");
  EXPECT_EQ(stage("src-3"), "(none)");
  EXPECT_EQ(processor_->stats().rejected[static_cast<size_t>(Reason::unauthorized)], 3u);
  std::vector<std::string> messages;
  wait_published();
  for (const auto& m : read_topic(cluster_->bootstrap(), "stagewise.deadletter", kPartitions))
    messages.push_back(m.json()["data"]["message"]);
  const auto mentions = [&](const std::string& what) {
    return std::any_of(messages.begin(), messages.end(),
                       [&](const std::string& m) { return m.find(what) != std::string::npos; });
  };
  EXPECT_TRUE(mentions("source \"portal\" may not claim role \"program_manager\""));
  EXPECT_TRUE(mentions("\"kcat-on-a-laptop\" is not listed in security.sources"));
  EXPECT_TRUE(mentions("authsub"));
}

}  // namespace
}  // namespace stagewise::processor
