// Issue 11: who may call which route, and which fields of which application
// each role sees (DESIGN.md §11). A server on a store seeded directly, real
// HS256 tokens, every route of the table exercised for every role.
#include "api/routes.h"
#include "api/server.h"
#include "auth/tokens.h"
#include "common/time.h"
#include "reports/book.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <regex>
#include <set>

namespace stagewise::api {
namespace {

using auth::Role;
using nlohmann::json;

const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
const std::string kSecret(48, 'z');
constexpr const char* kSummer = "summer-research-internship";
constexpr const char* kScholars = "faculty-scholars";

workflow::Application app(const std::string& id, const std::string& program,
                          const std::string& stage, json facts) {
  workflow::Application a;
  a.id = id;
  a.program = program;
  a.workflow_version = 1;
  a.stage = stage;
  a.sequence = 3;
  a.facts = std::move(facts);
  return a;
}

json review(const std::string& reviewer, int score) {
  return {{"reviewer", reviewer},
          {"time", "2026-03-02T10:00:00Z"},
          {"scores", {{"research_potential", score}, {"motivation", score}}}};
}

class Authz : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<workflow::Problem> problems;
    registry_ = workflow::Registry::load({kWorkflows}, problems);
    ASSERT_TRUE(problems.empty());
    auto s = store::Store::open(dir_ / "store", {.sync = false});
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
    seed();
    Context ctx;
    ctx.registry = &registry_;
    ctx.store = store_.get();
    ctx.verifier = &verifier_;
    ctx.info = {{"version", "test"}, {"data_dir", "/secret/path"}, {"bootstrap_servers", "b:1"}};
    ctx.metrics_token = metrics_token_;
    ctx.reports = &book_;
    ctx.data_dir = dir_ / "store";
    server_ = std::make_unique<Server>(ctx, HttpLimits{});
    auto port = server_->start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
  }
  void TearDown() override { server_->stop(); }

  void seed() {
    store::Batch b = store_->batch();
    // A blind-reviewed internship application with two reviews and a note.
    b.put_application(
        app("sri-1", kSummer, "review",
            {{"owner", "stu-1"},
             {"profile",
              {{"name", "Ada Lovelace"},
               {"email", "ada@example.edu"},
               {"university", "Partner U"},
               {"gpa", 3.9}}},
             {"documents", {{{"kind", "cv"}, {"name", "Ada_Lovelace_CV.pdf"}, {"time", "t"}}}},
             {"reviewers", {"rev-1", "rev-2"}},
             {"assignments",
              {{"rev-1", {{"time", "t"}, {"actorid", "pm-1"}, {"affinity", 0.5}}},
               {"rev-2", {{"time", "t"}, {"actorid", "pm-1"}}}}},
             {"reviews", {review("rev-1", 4), review("rev-2", 5)}},
             {"notes", {{{"text", "strong candidate"}, {"actorid", "pm-1"}}}}}),
        "");
    // Another applicant's, reviewed only by someone else so far.
    b.put_application(app("sri-2", kSummer, "review",
                          {{"owner", "stu-2"},
                           {"profile", {{"name", "Bo"}, {"university", "Other U"}}},
                           {"reviewers", {"rev-2", "rev-9"}},
                           {"reviews", {review("rev-9", 2)}}}),
                      "");
    b.put_application(
        app("fs-1", kScholars, "matching",
            {{"owner", "stu-3"}, {"profile", {{"name", "Cy"}}}, {"reviewers", {"rev-1"}}}),
        "");
    store::HistoryEntry h;
    std::string head;  // the audit chain's
    h.sequence = 1;
    h.id = "e1";
    h.type = "application.submitted";
    h.to = "submitted";
    h.actorid = "stu-1";
    h.actorrole = "applicant";
    h.authsub = "stu-1";
    h.authrole = "applicant";
    h.data = {{"name", "Ada Lovelace"}};
    b.add_history("sri-1", h, head);
    h.sequence = 2;
    h.id = "e2";
    h.type = "review.submitted";
    h.actorid = "rev-2";
    h.actorrole = "reviewer";
    b.add_history("sri-1", h, head);
    ASSERT_TRUE(store_->commit(b).ok());
  }

  std::string token(Role role, const std::string& sub, std::vector<std::string> programs = {},
                    const std::string& university = "") {
    auth::TokenClaims c{
        .sub = sub, .role = role, .programs = std::move(programs), .university = university};
    return *auth::mint_hs256(kSecret, c, now_ms(), 600'000);
  }

  std::pair<int, json> get(const std::string& path, const std::string& bearer) {
    httplib::Client c("127.0.0.1", port_);
    if (!bearer.empty()) c.set_bearer_token_auth(bearer);
    auto res = c.Get(path);
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  std::pair<int, json> post(const std::string& path, const std::string& body,
                            const std::string& bearer) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60);
    if (!bearer.empty()) c.set_bearer_token_auth(bearer);
    auto res = c.Post(path, body, "application/json");
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  testing::TempDir dir_;
  workflow::Registry registry_;
  std::unique_ptr<store::Store> store_;
  auth::Verifier verifier_{{.hs256_secret = kSecret}};
  const std::string metrics_token_ = "metrics-scraper-token-0123456789";
  std::unique_ptr<Server> server_;
  int port_ = 0;
  reports::Book book_;
};

// Who is asking, by name.
struct Who {
  const char* name;
  Role role;
  const char* sub;
  std::vector<std::string> programs;
  const char* university = "";
};

const std::vector<Who>& everyone() {
  static const std::vector<Who> who = {
      {"admin", Role::admin, "admin-1", {}},
      {"pm_summer", Role::program_manager, "pm-1", {kSummer}},
      {"pm_other", Role::program_manager, "pm-2", {kScholars}},
      {"hub_partner", Role::hub_admin, "hub-1", {kSummer}, "Partner U"},
      {"reviewer_1", Role::reviewer, "rev-1", {}},
      {"reviewer_3", Role::reviewer, "rev-3", {}},
      {"applicant_1", Role::applicant, "stu-1", {}},
      {"applicant_2", Role::applicant, "stu-2", {}},
      {"service", Role::service, "portal", {kSummer}},
  };
  return who;
}

// Roles × routes: the status each caller gets, and no token at all.
TEST_F(Authz, EveryRouteAnswersEachRoleAsTheTableSays) {
  // path -> expected status by caller name ("none" = no token).
  const std::map<std::string, std::map<std::string, int>> expect = {
      {"/healthz", {{"none", 200}, {"applicant_1", 200}}},
      {"/readyz", {{"none", 200}}},
      {"/", {{"none", 200}}},
      {"/v1/openapi.json", {{"none", 200}, {"applicant_1", 200}}},
      {"/v1/info", {{"none", 401}, {"admin", 200}, {"applicant_2", 200}, {"reviewer_3", 200}}},
      {"/v1/workflows", {{"none", 401}, {"applicant_1", 200}, {"hub_partner", 200}}},
      {"/v1/workflows/summer-research-internship/graph", {{"none", 401}, {"reviewer_1", 200}}},
      {"/v1/applications/sri-1",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 404},
        {"hub_partner", 200},
        {"reviewer_1", 200},
        {"reviewer_3", 404},
        {"applicant_1", 200},
        {"applicant_2", 404},
        {"service", 200}}},
      {"/v1/applications/no-such-app",
       {{"none", 401}, {"admin", 404}, {"applicant_1", 404}, {"reviewer_1", 404}}},
      {"/v1/applications/sri-1/history",
       {{"none", 401},
        {"admin", 200},
        {"pm_other", 404},
        {"reviewer_1", 200},
        {"reviewer_3", 404},
        {"applicant_1", 200},
        {"applicant_2", 404}}},
      {"/v1/applications/sri-1/audit?sequence=2",
       {{"none", 401},
        {"admin", 200},
        {"pm_other", 404},
        {"reviewer_1", 200},
        {"reviewer_3", 404},
        {"applicant_1", 200},
        {"applicant_2", 404}}},
      {"/v1/applications/sri-1/audit?sequence=1", {{"applicant_1", 200}, {"applicant_2", 404}}},
      {"/v1/audit/head",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"hub_partner", 403},
        {"reviewer_1", 403},
        {"applicant_1", 403},
        {"service", 200}}},
      {"/v1/audit/rounds?partition=0",
       {{"none", 401}, {"admin", 200}, {"reviewer_1", 403}, {"applicant_1", 403}}},
      {"/v1/programs/summer-research-internship/applications",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 403},
        {"hub_partner", 200},
        {"reviewer_1", 403},
        {"applicant_1", 403},
        {"service", 200}}},
      {"/v1/programs/summer-research-internship/deadlines",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 403},
        {"hub_partner", 403},
        {"reviewer_1", 403},
        {"applicant_1", 403}}},
      {"/v1/programs/summer-research-internship/funnel",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 403},
        {"hub_partner", 403},
        {"reviewer_1", 403},
        {"applicant_1", 403},
        {"service", 200}}},
      {"/v1/deadletters",
       {{"none", 401}, {"admin", 200}, {"pm_summer", 403}, {"applicant_1", 403}}},
      {"/v1/deadletters/deadletter/stagewise.events/0/1",
       {{"none", 401}, {"admin", 404}, {"pm_summer", 403}}},
      {"/v1/outbox/parked", {{"none", 401}, {"admin", 200}, {"service", 403}}},
      {"/v1/applications/sri-1/conflicts",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 404},
        {"hub_partner", 403},
        {"reviewer_1", 403},
        {"applicant_1", 403}}},
      {"/v1/reviewers",
       {{"none", 401}, {"pm_summer", 200}, {"reviewer_1", 403}, {"applicant_1", 403}}},
      {"/v1/reviewers?program=faculty-scholars", {{"pm_summer", 403}, {"pm_other", 200}}},
      {"/v1/reviewers/rev-1", {{"none", 401}, {"applicant_1", 404}, {"reviewer_3", 404}}},
      {"/assets/app.js", {{"none", 200}}},
      {"/assets/app.css", {{"none", 200}}},
      {"/v1/programs/summer-research-internship/reports/funnel",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 403},
        {"hub_partner", 403},
        {"reviewer_1", 403},
        {"applicant_1", 403},
        {"service", 200}}},
      {"/v1/programs/summer-research-internship/reports/time-in-stage",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 403},
        {"hub_partner", 403},
        {"reviewer_1", 403},
        {"applicant_1", 403},
        {"service", 200}}},
      {"/v1/programs/summer-research-internship/reports/hubs",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 403},
        {"hub_partner", 200},
        {"reviewer_1", 403},
        {"applicant_1", 403},
        {"service", 200}}},
      {"/v1/programs/summer-research-internship/fairness?attribute=gender",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 403},
        {"hub_partner", 403},
        {"reviewer_1", 403},
        {"applicant_1", 403},
        {"service", 200}}},
      {"/v1/programs/summer-research-internship/fairness/reviewers?attribute=gender",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 403},
        {"hub_partner", 403},
        {"reviewer_1", 403},
        {"applicant_1", 403},
        {"service", 200}}},
      {"/v1/programs/summer-research-internship/ranking",
       {{"none", 401},
        {"admin", 200},
        {"pm_summer", 200},
        {"pm_other", 403},
        {"hub_partner", 403},
        {"reviewer_1", 403},
        {"applicant_1", 403}}},
  };
  std::set<std::string> covered;
  for (const auto& [path, by_caller] : expect) {
    for (const auto& [caller, status] : by_caller) {
      std::string bearer;
      for (const auto& w : everyone())
        if (caller == w.name) bearer = token(w.role, w.sub, w.programs, w.university);
      EXPECT_EQ(get(path, bearer).first, status) << caller << " GET " << path;
    }
  }
  // /metrics wants its own token when one is configured; user tokens are not it.
  EXPECT_EQ(get("/metrics", "").first, 401);
  EXPECT_EQ(get("/metrics", token(Role::admin, "admin-1")).first, 401);
  EXPECT_EQ(get("/metrics", metrics_token_).first, 200);
  // A token that is expired, or signed with another key, is no token.
  auth::TokenClaims c{.sub = "admin-1", .role = Role::admin};
  EXPECT_EQ(get("/v1/info", *auth::mint_hs256(kSecret, c, now_ms() - 7'200'000, 60'000)).first,
            401);
  EXPECT_EQ(get("/v1/info", *auth::mint_hs256(std::string(48, 'x'), c, now_ms(), 60'000)).first,
            401);
  // Every GET route of the table is in the matrix above (POST is in the e2e
  // identity test).
  for (const auto& route : route_table()) {
    if (route.method != "GET" || route.path == "/metrics") continue;
    std::string path(route.path);
    bool found = false;
    const std::regex pattern{std::string(route.pattern)};
    for (const auto& [p, _] : expect)
      found = found || p == path || std::regex_match(p.substr(0, p.find('?')), pattern);
    EXPECT_TRUE(found) << "route " << route.path << " has no row in the roles x routes matrix";
  }
}

// POST /v1/admin/backup: admins only, and only into a new dir outside the
// data dir, given as an absolute path (issue 15).
TEST_F(Authz, OnlyAdminsWriteBackupsAndOnlyWhereTheyMay) {
  const std::string to = dir_ / "backup";
  const std::string body = json{{"to", to}}.dump();
  EXPECT_EQ(post("/v1/admin/backup", body, "").first, 401);
  for (const auto& w : everyone()) {
    if (w.role == Role::admin) continue;
    EXPECT_EQ(post("/v1/admin/backup", body, token(w.role, w.sub, w.programs, w.university)).first,
              403)
        << w.name;
  }
  EXPECT_FALSE(std::filesystem::exists(to)) << "a refused caller wrote nothing";
  const std::string admin = token(Role::admin, "admin-1");
  for (const auto& [bad, why] : std::vector<std::pair<json, std::string>>{
           {{{"to", "relative/dir"}}, "relative"},
           {{{"to", dir_ / "x/../backup"}}, ".."},
           {{{"to", dir_ / "store/inside"}}, "inside the data dir"},
           {{{"to", dir_.str()}}, "inside the data dir"},
           {{{"to", dir_ / "no/such/parent"}}, "parent"},
           {{{"to", 42}}, "absolute"},
           {json::array(), "absolute"}}) {
    const auto [status, answer] = post("/v1/admin/backup", bad.dump(), admin);
    EXPECT_EQ(status, 400) << bad.dump();
    EXPECT_NE(answer.dump().find(why), std::string::npos) << answer.dump();
  }
  EXPECT_EQ(post("/v1/admin/backup", std::string(5000, ' '), admin).first, 413);
  const auto [status, answer] = post("/v1/admin/backup", body, admin);
  ASSERT_EQ(status, 200) << answer.dump();
  EXPECT_GT(answer["files"].get<int>(), 0);
  EXPECT_TRUE(std::filesystem::exists(to + "/manifest.json"));
  EXPECT_EQ(post("/v1/admin/backup", body, admin).first, 400) << "the target is not empty now";
}

// Which fields of an application each role sees.
TEST_F(Authz, EachRoleSeesOnlyItsFieldsOfAnApplication) {
  auto as = [&](const char* name) {
    for (const auto& w : everyone())
      if (std::string(name) == w.name)
        return get("/v1/applications/sri-1", token(w.role, w.sub, w.programs, w.university)).second;
    return json();
  };
  const json admin = as("admin");
  EXPECT_EQ(admin["profile"]["email"], "ada@example.edu");
  EXPECT_EQ(admin["notes"].size(), 1u);
  EXPECT_EQ(admin["reviews"].size(), 2u);
  ASSERT_TRUE(admin.contains("assignments")) << "who assigned each reviewer, and when";
  EXPECT_TRUE(admin.contains("conflicts_flagged"));

  const json hub = as("hub_partner");
  EXPECT_EQ(hub["profile"]["name"], "Ada Lovelace");
  EXPECT_FALSE(hub.contains("reviews"));
  EXPECT_FALSE(hub.contains("notes"));
  EXPECT_FALSE(hub.contains("reviewers"));
  EXPECT_FALSE(hub.contains("assignments")) << "reviewer ids by another name";
  EXPECT_FALSE(hub.contains("conflicts_flagged"));

  // A reviewer of a blind stage: no identity, its own review, the other's
  // scores (its own is in) but not who gave them; no notes.
  const json rev = as("reviewer_1");
  const std::string text = rev.dump();
  for (const char* secret :
       {"Ada", "Lovelace", "ada@example.edu", "Partner U", "stu-1", "strong candidate", "rev-2"})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " shown to a blind reviewer";
  EXPECT_EQ(rev["profile"]["gpa"], 3.9) << "what is not identity stays";
  EXPECT_EQ(rev["documents"][0]["kind"], "cv");
  ASSERT_EQ(rev["reviews"].size(), 2u);

  const json own = as("applicant_1");
  EXPECT_EQ(own["profile"]["name"], "Ada Lovelace");
  EXPECT_EQ(own["stage"], "review");
  for (const char* hidden : {"reviews", "reviewers", "assignments", "notes", "conflicts_flagged"})
    EXPECT_FALSE(own.contains(hidden)) << hidden << " shown to the applicant";
  EXPECT_EQ(own.dump().find("rev-1"), std::string::npos);
}

TEST_F(Authz, ABlindReviewerSeesOthersScoresOnlyOnceItsOwnIsIn) {
  const json before =
      get("/v1/applications/sri-2", token(Role::reviewer, "rev-2")).second;  // not reviewed yet
  EXPECT_TRUE(before["reviews"].empty()) << before.dump();
  EXPECT_EQ(before.dump().find("Bo"), std::string::npos);
}

TEST_F(Authz, HistoryShowsWhoWasAuthenticatedOnlyToTheOffice) {
  const json pm =
      get("/v1/applications/sri-1/history", token(Role::program_manager, "pm-1", {kSummer})).second;
  ASSERT_EQ(pm["events"].size(), 2u);
  EXPECT_EQ(pm["events"][0]["authsub"], "stu-1");
  EXPECT_EQ(pm["events"][0]["data"]["name"], "Ada Lovelace");
  const json own = get("/v1/applications/sri-1/history", token(Role::applicant, "stu-1")).second;
  ASSERT_EQ(own["events"].size(), 1u) << "the review is not the applicant's to see";
  EXPECT_FALSE(own["events"][0].contains("data"));
  EXPECT_FALSE(own["events"][0].contains("actorid"));
  const json rev = get("/v1/applications/sri-1/history", token(Role::reviewer, "rev-1")).second;
  EXPECT_EQ(rev.dump().find("Ada"), std::string::npos);
  EXPECT_EQ(rev.dump().find("rev-2"), std::string::npos);
}

TEST_F(Authz, InfoShowsPathsOnlyToAdmins) {
  const json admin = get("/v1/info", token(Role::admin, "admin-1")).second;
  EXPECT_EQ(admin["data_dir"], "/secret/path");
  const json pm = get("/v1/info", token(Role::program_manager, "pm-1", {kSummer})).second;
  EXPECT_FALSE(pm.contains("data_dir"));
  EXPECT_FALSE(pm.contains("bootstrap_servers"));
  EXPECT_EQ(pm["you"]["role"], "program_manager");
}

TEST_F(Authz, HubAdminsListOnlyTheirUniversitysApplications) {
  const json list = get("/v1/programs/summer-research-internship/applications",
                        token(Role::hub_admin, "hub-1", {kSummer}, "Partner U"))
                        .second;
  ASSERT_EQ(list["applications"].size(), 1u) << list.dump();
  EXPECT_EQ(list["applications"][0]["id"], "sri-1");
}

}  // namespace
}  // namespace stagewise::api
