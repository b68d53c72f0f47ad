// The scope logic alone (auth/scope.h): which role sees which application,
// and what of it, as a table.
#include "auth/scope.h"

#include <gtest/gtest.h>

namespace stagewise::auth {
namespace {

using nlohmann::json;

workflow::Workflow workflow_with(bool blind) {
  workflow::Workflow wf;
  wf.program = "p";
  workflow::State review;
  review.name = "review";
  review.review = workflow::ReviewSpec{2, blind, {}};
  wf.states["review"] = review;
  return wf;
}

workflow::Application application() {
  workflow::Application a;
  a.id = "a1";
  a.program = "p";
  a.stage = "review";
  a.facts = {{"owner", "stu-1"},
             {"profile", {{"name", "N"}, {"university", "U"}, {"gpa", 4}}},
             {"reviewers", {"rev-1"}}};
  return a;
}

TEST(Scope, WhoSeesWhichApplication) {
  const auto app = application();
  const auto blind = workflow_with(true), open = workflow_with(false);
  struct Row {
    Principal who;
    Scope blind_wf, open_wf;
  };
  const std::vector<Row> rows = {
      {{.sub = "x", .role = Role::admin}, Scope::full, Scope::full},
      {{.sub = "pm", .role = Role::program_manager, .programs = {"p"}}, Scope::full, Scope::full},
      {{.sub = "pm", .role = Role::program_manager}, Scope::none, Scope::none},
      {{.sub = "pm", .role = Role::program_manager, .programs = {"q"}}, Scope::none, Scope::none},
      {{.sub = "svc", .role = Role::service, .programs = {"p"}}, Scope::full, Scope::full},
      {{.sub = "h", .role = Role::hub_admin, .programs = {"p"}, .university = "u"},
       Scope::hub,
       Scope::hub},
      {{.sub = "h", .role = Role::hub_admin, .programs = {"p"}, .university = "V"},
       Scope::none,
       Scope::none},
      {{.sub = "rev-1", .role = Role::reviewer}, Scope::blind, Scope::reviewer},
      {{.sub = "rev-2", .role = Role::reviewer}, Scope::none, Scope::none},
      {{.sub = "stu-1", .role = Role::applicant}, Scope::applicant, Scope::applicant},
      {{.sub = "stu-2", .role = Role::applicant}, Scope::none, Scope::none},
      {{.sub = "stu-2", .role = Role::applicant, .applications = {"a1"}},
       Scope::applicant,
       Scope::applicant},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(scope_of(r.who, app, blind), r.blind_wf) << r.who.sub << " " << role_name(r.who.role);
    EXPECT_EQ(scope_of(r.who, app, open), r.open_wf) << r.who.sub << " " << role_name(r.who.role);
  }
}

TEST(Scope, IdentityFieldsAreRecognisedWhateverTheirCase) {
  for (const char* f :
       {"name", "first_name", "Email", "phone_number", "university", "institution", "orcid",
        "self_identification", "team", "advisors", "advisees", "conflicts", "collaborators"})
    EXPECT_TRUE(identifies(f)) << f;
  for (const char* f : {"gpa", "field", "year_of_study", "enrolled", "research_statement_kind"})
    EXPECT_FALSE(identifies(f)) << f;
}

TEST(Scope, RedactionKeepsOnlyWhatTheScopeAllows) {
  const json view = {{"id", "a1"},
                     {"stage", "review"},
                     {"profile", {{"name", "N"}, {"gpa", 4}}},
                     {"documents", {{{"kind", "cv"}, {"name", "N.pdf"}, {"uri", "s3://x"}}}},
                     {"reviews",
                      {{{"reviewer", "rev-1"}, {"scores", {{"q", 3}}}},
                       {{"reviewer", "rev-2"}, {"scores", {{"q", 5}}}}}},
                     {"reviewers", {"rev-1", "rev-2"}},
                     {"notes", {{{"text", "t"}}}},
                     {"decision", {{"outcome", "x"}}},
                     {"owner", "stu-1"}};
  json nested = view;
  nested["profile"]["contact"] = {{"email", "n@x"}, {"city", "C"}};
  nested["profile"]["references"] = {{{"name", "R"}, {"relation", "advisor"}}};
  nested["profile"]["self_identification"] = {{"gender", "x"}};
  const json nested_blind = redact_application(Scope::blind, nested, "rev-1");
  EXPECT_EQ(nested_blind["profile"]["contact"], json({{"city", "C"}}));
  EXPECT_EQ(nested_blind["profile"]["references"][0], json({{"relation", "advisor"}}));
  EXPECT_FALSE(nested_blind["profile"].contains("self_identification"));
  EXPECT_FALSE(
      redact_application(Scope::hub, nested, "")["profile"].contains("self_identification"));
  const json blind = redact_application(Scope::blind, view, "rev-1");
  EXPECT_FALSE(blind["profile"].contains("name"));
  EXPECT_EQ(blind["documents"][0], json({{"kind", "cv"}}));
  EXPECT_FALSE(blind.contains("notes"));
  EXPECT_FALSE(blind.contains("reviewers"));
  EXPECT_FALSE(blind.contains("owner"));
  ASSERT_EQ(blind["reviews"].size(), 2u);
  EXPECT_FALSE(blind["reviews"][1].contains("reviewer"));
  EXPECT_TRUE(redact_application(Scope::blind, view, "rev-3")["reviews"].empty())
      << "no own review yet: nobody else's";
  const json own = redact_application(Scope::applicant, view, "");
  for (const char* k : {"reviews", "reviewers", "notes", "decision"}) EXPECT_FALSE(own.contains(k));
  EXPECT_EQ(own["profile"]["name"], "N");
  EXPECT_EQ(redact_application(Scope::full, view, ""), view);
  EXPECT_TRUE(redact_application(Scope::none, view, "").is_null());
}

}  // namespace
}  // namespace stagewise::auth
