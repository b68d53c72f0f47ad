// Issue 11, end to end: the real binary with an external identity
// provider's RS256 keys (a JWKS made in the test), the zero-config HS256
// path (`stagewise token`), and every attack of the issue over HTTP and over
// Kafka.
#include "auth/keys.h"
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sys/stat.h>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::eventually;
using testing::mode_of;
using testing::Process;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
constexpr const char* kProgram = "summer-research-internship";

class Identity : public ::testing::Test {
 protected:
  void SetUp() override {
    idp_ = auth::testing::rsa_pair("idp-key-1");
    std::ofstream(tmp_ / "jwks.json") << json{{"keys", {idp_.jwk}}}.dump();
    std::ofstream(tmp_ / "config.json")
        << json{{"auth",
                 {{"jwks_file", tmp_ / "jwks.json"},
                  {"issuer", "https://idp.test"},
                  {"audience", "stagewise"},
                  {"services", {{"portal", {"applicant"}}}}}},
                {"security", {{"sources", {{"kafka-portal", {"applicant"}}}}}}}
               .dump();
    serve_ = std::make_unique<Process>(
        std::vector<std::string>{kBin, "serve", "--config", tmp_ / "config.json", "--data-dir",
                                 data(), "--workflows", kWorkflows, "--http-port", "0"},
        tmp_ / "serve.out", tmp_ / "serve.err");
    ready_ = testing::parse_ready_line(serve_->wait_line("ready ", 90));
    ASSERT_FALSE(ready_.http.empty()) << serve_->err();
  }
  std::string data() const { return tmp_ / "data"; }

  // A token of the identity provider (RS256, by kid).
  std::string idp_token(const std::string& role, const std::string& sub, json extra = {}) {
    json c = {{"sub", sub},
              {"role", role},
              {"iss", "https://idp.test"},
              {"aud", "stagewise"},
              {"exp", now_ms() / 1000 + 600}};
    if (extra.is_object()) c.update(extra);
    return auth::testing::sign(JWT_ALG_RS256, idp_.private_pem, c, "idp-key-1");
  }

  // POST /v1/events?wait=10 with `bearer` (none when empty).
  testing::JsonReply post(const std::string& bearer, const json& body) {
    httplib::Client c(ready_.http);
    c.set_read_timeout(30);
    if (!bearer.empty()) c.set_bearer_token_auth(bearer);
    return testing::post_json(c, "/v1/events?wait=10", body);
  }
  testing::JsonReply get(const std::string& bearer, const std::string& path) {
    httplib::Client c(ready_.http);
    if (!bearer.empty()) c.set_bearer_token_auth(bearer);
    return testing::get_json(c, path);
  }
  std::string stage(const std::string& id) {
    return get(admin(), "/v1/applications/" + id).body.value("stage", "(none)");
  }
  std::string admin() { return testing::token_for(kBin, data(), "admin", "office-admin"); }
  std::string manager() {
    return testing::token_for(kBin, data(), "program_manager", "pm-1", {"--program", kProgram});
  }
  json ev(const std::string& id, const std::string& type, const std::string& subject,
          const std::string& role, json data = nullptr, int minute = 0) {
    return testing::event(id, type, subject, role, std::move(data), minute);
  }

  TempDir tmp_;
  auth::testing::KeyPair idp_;
  std::unique_ptr<Process> serve_;
  testing::ReadyLine ready_;
};

TEST_F(Identity, KeysAndDataArePrivate) {
  EXPECT_EQ(mode_of(data()), 0700u);
  EXPECT_EQ(mode_of(data() + "/auth/token.secret"), 0600u);
  EXPECT_EQ(mode_of(data() + "/auth/internal.secret"), 0600u);
}

TEST_F(Identity, TokensOfTheIdentityProviderAndOfTheDataDirBothWork) {
  const auto mine = idp_token("applicant", "stu-a");
  EXPECT_EQ(get(mine, "/v1/info").status, 200);
  EXPECT_EQ(get(admin(), "/v1/info").status, 200) << "zero-config: stagewise token";
  EXPECT_EQ(get("", "/v1/info").status, 401);
  json c = {{"sub", "stu-a"},
            {"role", "applicant"},
            {"iss", "https://idp.test"},
            {"aud", "stagewise"},
            {"exp", now_ms() / 1000 - 3600}};
  EXPECT_EQ(
      get(auth::testing::sign(JWT_ALG_RS256, idp_.private_pem, c, "idp-key-1"), "/v1/info").status,
      401)
      << "expired";
  c["exp"] = now_ms() / 1000 + 600;
  c["aud"] = "someone-else";
  EXPECT_EQ(
      get(auth::testing::sign(JWT_ALG_RS256, idp_.private_pem, c, "idp-key-1"), "/v1/info").status,
      401)
      << "another audience";
  const auto stranger = auth::testing::rsa_pair("idp-key-1");
  EXPECT_EQ(
      get(auth::testing::sign(JWT_ALG_RS256, stranger.private_pem, c, "idp-key-1"), "/v1/info")
          .status,
      401)
      << "signed by a key the server does not know";
}

// Every attack of issue 11, over HTTP, then over Kafka.
TEST_F(Identity, NobodyActsAsSomeoneElse) {
  const auto a = idp_token("applicant", "stu-a"), b = idp_token("applicant", "stu-b");
  auto r =
      post(a, ev("a-s", "application.submitted", "app-a", "applicant",
                 {{"name", "Ann"}, {"email", "ann@example.edu"}, {"university", "Partner U"}}));
  ASSERT_EQ(r.status, 202) << r.body.dump();
  EXPECT_EQ(r.body["events"][0]["outcome"]["status"], "applied") << r.body.dump();
  ASSERT_EQ(post(b, ev("b-s", "application.submitted", "app-b", "applicant")).status, 202);

  // Anonymous, claiming to be a program manager.
  EXPECT_EQ(
      post("", ev("x1", "decision.recorded", "app-a", "program_manager", {{"outcome", "eligible"}}))
          .status,
      401);
  // An applicant claiming to be one.
  r = post(a, ev("x2", "decision.recorded", "app-a", "program_manager", {{"outcome", "eligible"}}));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["error"]["code"], "forbidden");
  // Another applicant withdrawing, or replacing the e-mail of, app-a.
  EXPECT_EQ(post(b, ev("x3", "application.withdrawn", "app-a", "applicant")).status, 403);
  EXPECT_EQ(post(b, ev("x4", "application.updated", "app-a", "applicant",
                       {{"email", "attacker@example.org"}}))
                .status,
            403);
  // A deadline forged as the system, by an applicant and by an admin.
  EXPECT_EQ(post(a, ev("x5", "stage.deadline_passed", "app-a", "system")).status, 403);
  EXPECT_EQ(post(admin(), ev("x6", "stage.deadline_passed", "app-a", "system")).status, 403);
  // A reviewer nobody assigned.
  EXPECT_EQ(post(idp_token("reviewer", "rev-8"), ev("x7", "review.submitted", "app-a", "reviewer",
                                                    {{"scores", {{"research_potential", 5}}}}))
                .status,
            403);
  // A service acting as a role auth.services does not give it.
  json as_pm = ev("x8", "decision.recorded", "app-a", "program_manager", {{"outcome", "eligible"}});
  as_pm["actorid"] = "pm-9";
  EXPECT_EQ(post(idp_token("service", "portal"), as_pm).status, 403);

  // Over Kafka: a forged timer, an unknown source, a source claiming more.
  testing::InputProducer kafka(ready_.bootstrap);
  ASSERT_TRUE(kafka.ok());
  json forged = ev("k1", "stage.deadline_passed", "app-a", "system", {{"stage", "submitted"}});
  forged["source"] = "stagewise.timers";
  json stranger = ev("k2", "application.withdrawn", "app-a", "applicant");
  stranger["source"] = "kcat";
  json portal =
      ev("k3", "decision.recorded", "app-a", "program_manager", {{"outcome", "eligible"}});
  portal["source"] = "kafka-portal";
  uint64_t token = 1;
  for (const auto& e : {forged, stranger, portal})
    ASSERT_TRUE(kafka.produce(token++, {"app-a", e.dump()}));
  ASSERT_TRUE(kafka.flush());
  ASSERT_TRUE(eventually([&] {
    return testing::metric(ready_.http, "stagewise_events_rejected_total{reason=\"unauthorized\"}")
               .value_or(0) >= 3;
  }));
  EXPECT_EQ(stage("app-a"), "submitted") << "an attack moved the application";
  const auto history = get(admin(), "/v1/applications/app-a/history").body;
  ASSERT_EQ(history["events"].size(), 1u) << history.dump();
  EXPECT_EQ(history["events"][0]["authsub"], "stu-a") << "who was authenticated is recorded";
  EXPECT_EQ(get(admin(), "/v1/applications/app-a").body["profile"]["email"], "ann@example.edu");
}

TEST_F(Identity, ApplicantsSeeTheirOwnAndBlindReviewersNoIdentity) {
  const auto a = idp_token("applicant", "stu-a");
  ASSERT_EQ(
      post(a,
           ev("a-s", "application.submitted", "app-a", "applicant",
              {{"name", "Ann Example"}, {"email", "ann@example.edu"}, {"university", "Partner U"}}))
          .status,
      202);
  // Through eligibility and documents into blind review, each step by its actor.
  ASSERT_EQ(post(manager(), ev("a-d", "decision.recorded", "app-a", "program_manager",
                               {{"outcome", "eligible"}}, 1))
                .body["events"][0]["outcome"]["stage"],
            "documents");
  ASSERT_EQ(post(a, json::array({ev("a-t", "application.document_added", "app-a", "applicant",
                                    {{"kind", "transcript"}}, 2),
                                 ev("a-l", "application.document_added", "app-a", "applicant",
                                    {{"kind", "recommendation_letter"}}, 3)}))
                .status,
            202);
  ASSERT_EQ(post(manager(), ev("a-r", "reviewer.assigned", "app-a", "program_manager",
                               {{"reviewer", "rev-1"}}, 4))
                .body["events"][0]["outcome"]["status"],
            "applied");
  ASSERT_EQ(stage("app-a"), "review");

  const auto reviewer = idp_token("reviewer", "rev-1");
  const auto seen = get(reviewer, "/v1/applications/app-a");
  ASSERT_EQ(seen.status, 200) << seen.body.dump();
  for (const char* identity : {"Ann Example", "ann@example.edu", "Partner U", "stu-a"})
    EXPECT_EQ(seen.body.dump().find(identity), std::string::npos) << identity;
  // The reviewer files its review as itself, not as another.
  auto r = post(
      reviewer,
      ev("a-v", "review.submitted", "app-a", "reviewer",
         {{"reviewer", "rev-2"}, {"scores", {{"research_potential", 5}, {"motivation", 5}}}}, 5));
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(r.body["events"][0]["outcome"]["reason"], "unauthorized") << r.body.dump();

  EXPECT_EQ(get("", "/v1/applications/app-a").status, 401);
  EXPECT_EQ(get(idp_token("applicant", "stu-b"), "/v1/applications/app-a").status, 404);
  const auto own = get(a, "/v1/applications/app-a");
  ASSERT_EQ(own.status, 200);
  EXPECT_EQ(own.body["stage"], "review");
  EXPECT_FALSE(own.body.contains("reviewers"));
  EXPECT_EQ(own.body.dump().find("rev-1"), std::string::npos);
}

}  // namespace
}  // namespace stagewise
