// Issue 13, end to end with the real binary: a program manager loads a
// reviewer pool, the conflicts are computed, `stagewise assign` assigns a
// cohort (conflict-free, within loads), refuses what it cannot cover, the
// reviews arrive and `stagewise ranking` ranks them.
#include "support/openapi_answers.h"
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::Process;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
constexpr const char* kProgram = "summer-research-internship";

class Reviews : public ::testing::Test {
 protected:
  void SetUp() override {
    serve_ = std::make_unique<Process>(
        std::vector<std::string>{kBin, "serve", "--data-dir", data(), "--workflows", kWorkflows,
                                 "--http-port", "0"},
        tmp_ / "serve.out", tmp_ / "serve.err");
    ready_ = testing::parse_ready_line(serve_->wait_line("ready ", 90));
    ASSERT_FALSE(ready_.http.empty()) << serve_->err();
    pm_ = testing::token_for(kBin, data(), "program_manager", "pm-1", {"--program", kProgram});
    admin_ = testing::token_for(kBin, data(), "admin", "office-admin");
  }
  std::string data() const { return tmp_ / "data"; }

  // POSTs one event as `bearer` and waits for its outcome.
  json send(const std::string& bearer, const json& e) {
    httplib::Client c(ready_.http);
    c.set_read_timeout(30);
    c.set_bearer_token_auth(bearer);
    const auto r = answers_.post(c, "/v1/events?wait=10", e);
    EXPECT_EQ(r.status, 202) << r.body.dump();
    return r.body["events"][0].value("outcome", json());
  }
  testing::JsonReply get(const std::string& bearer, const std::string& path) {
    httplib::Client c(ready_.http);
    c.set_read_timeout(30);
    c.set_bearer_token_auth(bearer);
    return answers_.get(c, path);
  }
  // POST /v1/programs/{program}/assignments as the program manager.
  testing::JsonReply assign_over_http(const std::string& query) {
    httplib::Client c(ready_.http);
    c.set_read_timeout(30);
    c.set_bearer_token_auth(pm_);
    const std::string target = std::string("/v1/programs/") + kProgram + "/assignments" + query;
    auto res = c.Post(target);
    answers_.add("POST", target, res);
    if (!res) return {};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  json ev(const std::string& id, const std::string& type, const std::string& subject,
          const std::string& role, json d = nullptr, int minute = 0) {
    return testing::event(id, type, subject, role, std::move(d), minute);
  }
  std::string applicant(const std::string& sub) {
    return testing::token_for(kBin, data(), "applicant", sub);
  }
  std::string reviewer(const std::string& sub) {
    return testing::token_for(kBin, data(), "reviewer", sub);
  }
  testing::RunResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), kBin);
    args.insert(args.end(), {"--data-dir", data(), "--token", pm_});
    return testing::run(args, tmp_ / ("cli-" + std::to_string(++runs_)));
  }

  // A reviewer in the summer pool.
  void profile(const std::string& id, json p) {
    p["programs"] = {kProgram};
    if (!p.contains("max_load")) p["max_load"] = 2;
    const json out = send(pm_, ev("profile-" + id + "-" + std::to_string(++runs_),
                                  "reviewer.profile_updated", id, "program_manager", p));
    ASSERT_EQ(out.value("status", ""), "applied") << out.dump();
  }

  // An application taken to the review stage: submitted, eligible,
  // transcript and a letter (by `letter_author`).
  void to_review(const std::string& id, json p, const std::string& letter_author) {
    const auto me = applicant("stu-" + id);
    ASSERT_EQ(
        send(me, ev(id + "-s", "application.submitted", id, "applicant", p)).value("status", ""),
        "applied");
    send(pm_,
         ev(id + "-e", "decision.recorded", id, "program_manager", {{"outcome", "eligible"}}, 1));
    send(me,
         ev(id + "-t", "application.document_added", id, "applicant", {{"kind", "transcript"}}, 2));
    send(me, ev(id + "-l", "application.document_added", id, "applicant",
                {{"kind", "recommendation_letter"}, {"author", letter_author}}, 3));
    ASSERT_EQ(get(pm_, "/v1/applications/" + id).body.value("stage", ""), "review");
  }

  json reviewers_of(const std::string& id) {
    return get(pm_, "/v1/applications/" + id).body.value("reviewers", json::array());
  }

  TempDir tmp_;
  std::unique_ptr<Process> serve_;
  testing::ReadyLine ready_;
  std::string pm_, admin_;
  int runs_ = 0;
  testing::AnswerLog answers_;  // checked against the OpenAPI document
};

TEST_F(Reviews, PoolConflictsAssignmentReviewsAndRanking) {
  profile("rev-ana", {{"name", "Ana Gómez"},
                      {"institution", "Université de Montréal"},
                      {"topics", {"fairness", "nlp"}}});
  profile("rev-bo", {{"name", "Bo Chen"}, {"institution", "Partner U"}, {"topics", {"vision"}}});
  profile("rev-cy",
          {{"name", "Cy Diaz"}, {"institution", "North College"}, {"topics", {"nlp", "vision"}}});
  profile("rev-di",
          {{"name", "Di Evans"}, {"institution", "South College"}, {"topics", {"fairness"}}});
  profile("rev-ed",
          {{"name", "Ed Fox"}, {"institution", "East College"}, {"topics", {"robotics"}}});

  // A program manager of another program neither reads nor moves this
  // program's reviewers, nor edits the evidence its conflict checks use.
  const auto other_pm = testing::token_for(kBin, data(), "program_manager", "pm-2",
                                           {"--program", "faculty-scholars"});
  for (const json& edit : {json{{"programs", nullptr}}, json{{"programs", {"faculty-scholars"}}},
                           json{{"conflicts", json::array()}}}) {
    httplib::Client hc(ready_.http);
    hc.set_bearer_token_auth(other_pm);
    const auto r = answers_.post(hc, "/v1/events",
                                 ev("steal-" + std::to_string(++runs_), "reviewer.profile_updated",
                                    "rev-ana", "program_manager", edit));
    EXPECT_EQ(r.status, 403) << edit.dump() << " " << r.body.dump();
  }
  EXPECT_EQ(get(other_pm, "/v1/reviewers/rev-ana").status, 404);
  EXPECT_TRUE(get(other_pm, "/v1/reviewers").body["reviewers"].empty());
  EXPECT_EQ(get(pm_, "/v1/reviewers").body["reviewers"].size(), 5u);

  // A reviewer edits its own topics, not its load or pools.
  EXPECT_EQ(send(reviewer("rev-bo"), ev("bo-1", "reviewer.profile_updated", "rev-bo", "reviewer",
                                        {{"topics", {"vision", "robotics"}}}))
                .value("status", ""),
            "applied");
  const json refused = send(reviewer("rev-bo"), ev("bo-2", "reviewer.profile_updated", "rev-bo",
                                                   "reviewer", {{"max_load", 50}}));
  EXPECT_EQ(refused.value("reason", ""), "unauthorized") << refused.dump();

  // Accents and case fold: Ana is at the applicant's university.
  to_review("app-1", {{"institution", "UNIVERSITE DE MONTREAL"}, {"topics", {"fairness", "nlp"}}},
            "Someone Else");
  // Bo wrote app-2's letter.
  to_review("app-2", {{"institution", "Far U"}, {"topics", {"vision"}}}, "bo chen");
  to_review("app-3", {{"institution", "Far U"}, {"topics", {"robotics", "nlp"}}}, "Someone Else");

  const auto c1 = get(pm_, "/v1/applications/app-1/conflicts");
  ASSERT_EQ(c1.status, 200) << c1.body.dump();
  ASSERT_EQ(c1.body["conflicts"].size(), 1u) << c1.body.dump();
  EXPECT_EQ(c1.body["conflicts"][0]["reviewer"], "rev-ana");
  EXPECT_EQ(c1.body["conflicts"][0]["reason"], "same_institution");
  const auto c2 = get(pm_, "/v1/applications/app-2/conflicts");
  ASSERT_EQ(c2.body["conflicts"].size(), 1u) << c2.body.dump();
  EXPECT_EQ(c2.body["conflicts"][0]["reason"], "letter_writer");
  EXPECT_EQ(get(applicant("stu-app-1"), "/v1/applications/app-1/conflicts").status, 403);

  // By hand, a conflicted reviewer is refused with the reason.
  const json manual = send(pm_, ev("m-1", "reviewer.assigned", "app-1", "program_manager",
                                   {{"reviewer", "rev-ana"}}, 5));
  EXPECT_EQ(manual.value("reason", ""), "conflict_of_interest") << manual.dump();
  EXPECT_NE(manual.value("message", "").find("same_institution"), std::string::npos);

  // An imported affinity (as OpenReview imports them) overrides the topics'
  // Jaccard similarity (0 here).
  const json imported = send(pm_, ev("aff-1", "reviewer.affinity", "rev-di", "program_manager",
                                     {{"scores", {{"app-3", 1.0}}}}));
  ASSERT_EQ(imported.value("status", ""), "applied") << imported.dump();
  EXPECT_EQ(get(pm_, "/v1/reviewers/rev-di").body["affinity"], json({{"app-3", 1.0}}));

  // A dry run plans and sends nothing. Without --token the CLI acts as a
  // program manager of the data dir; an admin does not assign reviewers.
  auto dry = testing::run({kBin, "assign", kProgram, "--dry-run", "--json", "--data-dir", data()},
                          tmp_ / "dry");
  ASSERT_EQ(dry.code, 0) << dry.err;
  const json plan = json::parse(dry.out);
  const auto as_admin =
      testing::run({kBin, "assign", kProgram, "--dry-run", "--data-dir", data(), "--token", admin_},
                   tmp_ / "as-admin");
  EXPECT_EQ(as_admin.code, 1);
  EXPECT_NE(as_admin.err.find("role"), std::string::npos) << as_admin.err;
  EXPECT_EQ(plan["assignments"].size(), 9u);
  bool imported_used = false;
  for (const auto& a : plan["assignments"])
    if (a["application"] == "app-3" && a["reviewer"] == "rev-di")
      imported_used = a["affinity"] == 1.0;
  EXPECT_TRUE(imported_used) << plan.dump();
  EXPECT_TRUE(reviewers_of("app-1").empty());
  const auto http_plan = assign_over_http("?dry_run=true");
  EXPECT_EQ(http_plan.status, 200) << http_plan.body.dump();
  EXPECT_EQ(http_plan.body["assignments"], plan["assignments"]);

  auto run = cli({"assign", kProgram, "--json"});
  ASSERT_EQ(run.code, 0) << run.err;
  const json done = json::parse(run.out);
  EXPECT_EQ(done["assignments"], plan["assignments"]) << "deterministic for the same input";
  std::map<std::string, int> load;
  for (const auto& a : done["assignments"]) {
    ++load[a["reviewer"]];
    EXPECT_FALSE(a["application"] == "app-1" && a["reviewer"] == "rev-ana");
    EXPECT_FALSE(a["application"] == "app-2" && a["reviewer"] == "rev-bo");
  }
  for (const auto& [r, n] : load) EXPECT_LE(n, 2) << r << " above its max_load";
  for (const std::string id : {"app-1", "app-2", "app-3"})
    ASSERT_TRUE(testing::eventually([&] { return reviewers_of(id).size() == 3; }, 20)) << id;
  // Applied as the program manager's events, in the history.
  const auto h = get(admin_, "/v1/applications/app-3/history").body;
  int assigned = 0;
  for (const auto& e : h["events"])
    if (e["type"] == "reviewer.assigned") {
      ++assigned;
      EXPECT_EQ(e["actorid"], "pm-1");
    }
  EXPECT_EQ(assigned, 3);

  // Nothing is missing now; one more application cannot be covered (one
  // place left in the pool): nothing is assigned and the CLI says why.
  EXPECT_EQ(json::parse(cli({"assign", kProgram, "--json"}).out)["assignments"].size(), 0u);
  to_review("app-4", {{"institution", "Far U"}, {"topics", {"nlp"}}}, "Someone Else");
  auto short_run = cli({"assign", kProgram});
  EXPECT_EQ(short_run.code, 2) << short_run.out << short_run.err;
  EXPECT_NE(short_run.err.find("app-4"), std::string::npos) << short_run.err;
  EXPECT_NE(short_run.err.find("loads"), std::string::npos) << short_run.err;
  EXPECT_TRUE(reviewers_of("app-4").empty());
  const auto refused_plan = assign_over_http("?dry_run=true");
  EXPECT_EQ(refused_plan.status, 409);
  EXPECT_EQ(refused_plan.body["uncovered"][0]["application"], "app-4") << refused_plan.body.dump();

  // Blind review (the summer program's): an assigned reviewer sees the
  // topics, not who the applicant is, who is close to them, or who wrote
  // the letters.
  const std::string first = reviewers_of("app-2")[0];
  const auto blind = get(reviewer(first), "/v1/applications/app-2").body;
  ASSERT_TRUE(blind.contains("profile")) << blind.dump();
  EXPECT_TRUE(blind["profile"].contains("topics")) << blind.dump();
  for (const char* hidden : {"institution", "name", "advisors", "advisees", "conflicts"})
    EXPECT_FALSE(blind["profile"].contains(hidden)) << hidden << ": " << blind.dump();
  EXPECT_EQ(blind.dump().find("bo chen"), std::string::npos) << "the letter's author shows";

  // The reviews arrive; the ranking calibrates them.
  int minute = 10;
  for (const std::string id : {"app-1", "app-2", "app-3"})
    for (const auto& r : reviewers_of(id)) {
      const int s = r == "rev-cy" ? 2 : 4;
      const json scores = {{"research_potential", s}, {"motivation", s}, {"academic_record", s}};
      const json out = send(reviewer(r), ev(id + "-" + r.get<std::string>(), "review.submitted", id,
                                            "reviewer", {{"scores", scores}}, ++minute));
      EXPECT_EQ(out.value("status", ""), "applied") << out.dump();
    }
  // Every reviewed application and every one in review (app-4, last).
  auto ranked = cli({"ranking", kProgram, "--json"});
  ASSERT_EQ(ranked.code, 0) << ranked.err;
  const json rk = json::parse(ranked.out);
  ASSERT_EQ(rk["reviews"], 9) << rk.dump();
  ASSERT_EQ(rk["applications"].size(), 4u) << rk.dump();
  EXPECT_EQ(rk["applications"][3]["application"], "app-4");
  EXPECT_EQ(rk["applications"][3]["reviews"], 0);
  // rev-cy gives 2 where the others give 4: calibrated, its 2 is its own
  // mean, so its applications are not pulled below the others'.
  for (const auto& r : rk["reviewers"])
    if (r["reviewer"] == "rev-cy") {
      EXPECT_LT(r["leniency"].get<double>(), 0);
    }
  EXPECT_EQ(cli({"ranking", kProgram, "--stage", "review", "--json"}).code, 0);
  EXPECT_EQ(get(pm_, std::string("/v1/programs/") + kProgram + "/ranking").body["reviews"], 9);
  auto human = cli({"ranking", kProgram});
  EXPECT_EQ(human.code, 0);
  EXPECT_NE(human.out.find("leniency"), std::string::npos) << human.out;

  // The reviewed applications left review: their reviewers' load is free
  // again, and app-4 can be covered now.
  auto again = cli({"assign", kProgram, "--json"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["assignments"].size(), 3u);
  ASSERT_TRUE(testing::eventually([&] { return reviewers_of("app-4").size() == 3; }, 20));
  EXPECT_EQ(testing::metric(ready_.http, "stagewise_review_conflicts_flagged"), 0.0);

  // A profile change after the assignment: flagged on the application and
  // in the metrics.
  const std::string on4 = reviewers_of("app-4")[0];
  profile(on4, {{"institution", "Far U"}});
  const auto view = get(pm_, "/v1/applications/app-4").body;
  ASSERT_EQ(view["conflicts_flagged"].size(), 1u) << view.dump();
  EXPECT_EQ(view["conflicts_flagged"][0]["reviewer"], on4);
  EXPECT_EQ(view["conflicts_flagged"][0]["reason"], "same_institution");
  EXPECT_TRUE(testing::eventually(
      [&] {
        const auto flagged = testing::metric(ready_.http, "stagewise_review_conflicts_flagged");
        return flagged.value_or(0) >= 1.0 &&
               testing::metric(ready_.http, "stagewise_review_conflicts_found_total") == flagged;
      },
      20))
      << testing::metric(ready_.http, "stagewise_review_conflicts_flagged").value_or(-1);
  EXPECT_EQ(testing::metric(ready_.http, "stagewise_reviewers"), 5.0);
  EXPECT_EQ(get(pm_, "/v1/reviewers/" + on4).status, 200);
  EXPECT_TRUE(answers_.conform(tmp_ / "answers"));
}

}  // namespace
}  // namespace stagewise
