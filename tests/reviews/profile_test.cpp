// Reviewer profiles and affinity scores as reference data (DESIGN.md §12):
// who may send them, how they merge, what is refused, and the pool's rule
// that only a newer revision replaces a copy.
#include "reviews/profile.h"

#include "reviews/pool.h"

#include <gtest/gtest.h>

namespace stagewise::reviews {
namespace {

using nlohmann::json;

CloudEvent event(const std::string& type, const std::string& role, const std::string& actor,
                 json data, const std::string& subject = "rev-1") {
  CloudEvent e;
  e.id = "e-" + std::to_string(rand());
  e.source = "test";
  e.type = type;
  e.subject = subject;
  e.time = "2026-06-01T00:00:00Z";
  e.actorrole = role;
  e.actorid = actor;
  e.data = std::move(data);
  return e;
}

ReviewerRecord applied(const ReviewerRecord* current, const CloudEvent& e) {
  auto out = apply_reference(current, e);
  const auto* rej = std::get_if<ReferenceRejected>(&out);
  EXPECT_EQ(rej, nullptr) << (rej ? rej->message : "");
  return rej ? ReviewerRecord{} : std::get<ReviewerRecord>(out);
}

std::string refused(const ReviewerRecord* current, const CloudEvent& e, Reason reason) {
  auto out = apply_reference(current, e);
  const auto* rej = std::get_if<ReferenceRejected>(&out);
  EXPECT_NE(rej, nullptr) << "accepted: " << e.data.dump();
  if (rej == nullptr) return "";
  EXPECT_EQ(rej->reason, reason) << rej->message;
  return rej->message;
}

TEST(Profiles, MergeAsAPatchAndCountRevisions) {
  const auto one = applied(
      nullptr,
      event("reviewer.profile_updated", "program_manager", "pm",
            {{"name", "Ana"}, {"programs", {"p"}}, {"topics", {"nlp"}}, {"max_load", {{"p", 4}}}}));
  EXPECT_EQ(one.revision, 1u);
  const auto two = applied(&one, event("reviewer.profile_updated", "reviewer", "rev-1",
                                       {{"topics", {"nlp", "fairness"}}, {"name", nullptr}}));
  EXPECT_EQ(two.revision, 2u);
  EXPECT_FALSE(two.profile.contains("name")) << "null removes a field";
  EXPECT_EQ(two.profile["topics"].size(), 2u);
  EXPECT_TRUE(serves(two.profile, "p"));
  EXPECT_FALSE(serves(two.profile, "q"));
  EXPECT_EQ(max_load(two.profile, "p"), 4);
  EXPECT_EQ(max_load(two.profile, "q"), std::nullopt);
  EXPECT_EQ(topics(two.profile), (std::vector<std::string>{"nlp", "fairness"}));
  EXPECT_EQ(reviewer_from_json(to_json(two)), two);
}

TEST(Profiles, OnlyTheOfficeAndTheReviewerItself) {
  refused(nullptr, event("reviewer.profile_updated", "applicant", "stu", {{"name", "x"}}),
          Reason::unauthorized);
  refused(nullptr, event("reviewer.profile_updated", "hub_admin", "hub", {{"name", "x"}}),
          Reason::unauthorized);
  refused(nullptr, event("reviewer.profile_updated", "reviewer", "rev-2", {{"name", "x"}}),
          Reason::unauthorized);
  const auto msg =
      refused(nullptr, event("reviewer.profile_updated", "reviewer", "rev-1", {{"max_load", 40}}),
              Reason::unauthorized);
  EXPECT_NE(msg.find("max_load"), std::string::npos);
  refused(nullptr, event("reviewer.profile_updated", "reviewer", "rev-1", {{"programs", {"p"}}}),
          Reason::unauthorized);
  refused(nullptr, event("reviewer.affinity", "reviewer", "rev-1", {{"scores", {{"a", 1}}}}),
          Reason::unauthorized);
  applied(nullptr, event("reviewer.profile_updated", "service", "hr", {{"name", "x"}}));
}

TEST(Profiles, AReviewerAddsToTheEvidenceOfConflictsButNeverRemovesIt) {
  const auto pm =
      applied(nullptr, event("reviewer.profile_updated", "program_manager", "pm",
                             {{"conflicts", {"app-9"}},
                              {"employers", {{{"institution", "U"}, {"until", nullptr}}}}}));
  const auto more = applied(&pm, event("reviewer.profile_updated", "reviewer", "rev-1",
                                       {{"conflicts", {"app-9", "app-10"}}}));
  EXPECT_EQ(more.profile["conflicts"].size(), 2u);
  for (const json& removal : {json{{"conflicts", nullptr}}, json{{"conflicts", {"app-10"}}},
                              json{{"employers", json::array()}}})
    refused(&more, event("reviewer.profile_updated", "reviewer", "rev-1", removal),
            Reason::unauthorized);
  applied(&more,
          event("reviewer.profile_updated", "program_manager", "pm", {{"conflicts", nullptr}}));
}

TEST(Profiles, EveryFieldIsCheckedAndNamed) {
  struct Case {
    json data;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{{"name", 7}}, "name"},
      {{{"orcid", "0000-0002"}}, "orcid"},
      {{{"topics", "nlp"}}, "topics"},
      {{{"topics", {1}}}, "topics[0]"},
      {{{"max_load", -1}}, "max_load"},
      {{{"max_load", {{"p", "many"}}}}, "max_load.p"},
      {{{"employers", {{{"until", nullptr}}}}}, "employers[0]"},
      {{{"employers", {{{"institution", "U"}, {"until", "last year"}}}}}, "employers[0].until"},
      {{{"collaborators", {{{"name", "B"}, {"last", "2025-13"}}}}}, "collaborators[0].last"},
      {{{"collaborators", {{{"name", "B"}, {"last", "2025-02-29"}}}}}, "collaborators[0].last"},
      {{{"collaborators", {json::object()}}}, "collaborators[0]"},
      {{{"advisors", {{{"orcid", "nope"}}}}}, "advisors[0].orcid"},
      {{{"conflicts", {json::object()}}}, "conflicts[0]"},
      {json::array(), "data"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.data.dump());
    const auto msg =
        refused(nullptr, event("reviewer.profile_updated", "program_manager", "pm", c.data),
                Reason::invalid_data);
    EXPECT_NE(msg.find(c.field), std::string::npos) << msg;
  }
  applied(nullptr, event("reviewer.profile_updated", "program_manager", "pm",
                         {{"orcid", "https://orcid.org/0000-0002-1825-009x"},
                          {"employers", {{{"institution", "U"}, {"until", "2024-02-29"}}}},
                          {"collaborators", {{{"name", "B"}, {"last", "2024"}}}},
                          {"advisors", {"0000-0002-1825-0097", {{"name", "C"}}}}}));
}

TEST(Profiles, ListsAndSizesAreBounded) {
  json many = json::array();
  for (int i = 0; i < 201; ++i) many.push_back("t" + std::to_string(i));
  refused(nullptr, event("reviewer.profile_updated", "program_manager", "pm", {{"topics", many}}),
          Reason::invalid_data);
  ProfileLimits small;
  small.max_profile_bytes = 100;
  auto out = apply_reference(
      nullptr,
      event("reviewer.profile_updated", "program_manager", "pm", {{"bio", std::string(200, 'x')}}),
      small);
  ASSERT_TRUE(std::holds_alternative<ReferenceRejected>(out));
}

TEST(Affinity, ScoresMergeWithinZeroAndOne) {
  auto r = applied(nullptr, event("reviewer.affinity", "service", "matcher",
                                  {{"scores", {{"app-1", 0.8}, {"app-2", 0}}}}));
  r = applied(&r, event("reviewer.affinity", "program_manager", "pm",
                        {{"scores", {{"app-2", nullptr}, {"app-3", 1}}}}));
  EXPECT_EQ(r.affinity, (json{{"app-1", 0.8}, {"app-3", 1}}));
  refused(&r, event("reviewer.affinity", "service", "m", {{"scores", {{"app-1", 1.5}}}}),
          Reason::invalid_data);
  refused(&r, event("reviewer.affinity", "service", "m", {{"scores", {{"app-1", "high"}}}}),
          Reason::invalid_data);
  refused(&r, event("reviewer.affinity", "service", "m", {{"scores", json::array()}}),
          Reason::invalid_data);
  ProfileLimits small;
  small.max_affinity = 2;
  auto out = apply_reference(
      &r, event("reviewer.affinity", "service", "m", {{"scores", {{"app-9", 0.1}}}}), small);
  ASSERT_TRUE(std::holds_alternative<ReferenceRejected>(out)) << "a third score is one too many";
}

TEST(Pool, OnlyANewerRevisionReplacesACopy) {
  ReviewerPool pool;
  auto make = [](const std::string& id, uint64_t rev, const std::string& program) {
    ReviewerRecord r;
    r.id = id;
    r.revision = rev;
    r.profile = {{"programs", {program}}};
    return std::make_shared<const ReviewerRecord>(r);
  };
  EXPECT_TRUE(pool.put(make("b", 2, "p")));
  EXPECT_TRUE(pool.put(make("a", 1, "p")));
  EXPECT_FALSE(pool.put(make("b", 1, "q"))) << "a copy arriving late changes nothing";
  EXPECT_FALSE(pool.put(make("b", 2, "q"))) << "nor one arriving twice";
  EXPECT_EQ(pool.get("b")->revision, 2u);
  ASSERT_EQ(pool.serving("p").size(), 2u);
  EXPECT_EQ(pool.serving("p")[0]->id, "a") << "by id";
  EXPECT_TRUE(pool.put(make("b", 3, "q")));
  EXPECT_EQ(pool.serving("p").size(), 1u);
  EXPECT_EQ(pool.serving("q").size(), 1u);
  EXPECT_EQ(pool.get("zz"), nullptr);
}

TEST(Pool, CountsTheBytesItHolds) {
  ReviewerPool pool;
  ReviewerRecord r;
  r.id = "a";
  r.revision = 1;
  r.profile = {{"name", std::string(1000, 'x')}};
  pool.put(std::make_shared<const ReviewerRecord>(r));
  EXPECT_EQ(pool.bytes(), encoded_size(r));
  EXPECT_GT(pool.bytes(), 1000u);
  r.revision = 2;
  r.profile = {{"name", "short"}};
  pool.put(std::make_shared<const ReviewerRecord>(r));
  EXPECT_EQ(pool.bytes(), encoded_size(r)) << "a replaced copy's bytes are not counted twice";
  r.revision = 1;
  r.profile = {{"name", std::string(5000, 'y')}};
  pool.put(std::make_shared<const ReviewerRecord>(r));
  EXPECT_LT(pool.bytes(), 1000u) << "a refused copy was counted";
}

}  // namespace
}  // namespace stagewise::reviews
