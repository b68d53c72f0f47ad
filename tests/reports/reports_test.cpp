// The reports of DESIGN.md §13 computed from rows: what a program manager
// reads in the funnel, the time in stage and the fairness table.
#include "reports/reports.h"

#include "common/time.h"
#include "reports/book.h"
#include "reports/csv.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

namespace stagewise::reports {
namespace {

using nlohmann::json;

const int64_t kDay = 24LL * 3600 * 1000;
const int64_t kT0 = parse_rfc3339_ms("2026-03-01T00:00:00Z").value();

const workflow::Workflow& summer() {
  static const workflow::Registry registry = [] {
    std::vector<workflow::Problem> problems;
    auto r = workflow::Registry::load({std::string(STAGEWISE_SOURCE_DIR) + "/workflows"}, problems);
    for (const auto& p : problems) ADD_FAILURE() << p.to_string();
    return r;
  }();
  return *registry.latest("summer-research-internship");
}

// An application that went through `path`, a day in each stage, with the
// given answer for "gender" (none when empty).
Row row(const std::string& id, const std::vector<std::string>& path, const std::string& gender,
        const std::string& hub = "Université Laval") {
  Row r;
  r.id = id;
  r.program = "summer-research-internship";
  r.sequence = path.size();
  r.submitted_ms = kT0;
  r.cycle = "2026";
  r.hub = hub;
  for (size_t i = 0; i < path.size(); ++i)
    r.stays.push_back(
        {path[i], kT0 + static_cast<int64_t>(i) * kDay, i + 1 < path.size() ? kDay : 0, 1});
  r.stage = path.back();
  r.stage_entered_ms = r.stays.back().first_ms;
  if (!gender.empty()) r.self_identification = {{"gender", gender}};
  return r;
}

const std::vector<std::string> kRejectedAtScreening = {"submitted", "rejected"};
const std::vector<std::string> kInReview = {"submitted", "documents", "review"};

Tally tally(const std::vector<Row>& rows, const Query& q) {
  Tally t;
  for (const auto& r : rows)
    if (q.filter.admits(r)) t.add(r, summer(), q);
  return t;
}

Query query(const std::string& attribute = "gender") {
  Query q;
  q.attribute = attribute;
  q.now_ms = kT0 + 10 * kDay;
  return q;
}

// 10 women: 8 reach review; 10 men: 5 reach review; 6 unknown: 3 reach review.
std::vector<Row> cohort() {
  std::vector<Row> rows;
  auto add = [&](const std::string& g, int reach, int total) {
    for (int i = 0; i < total; ++i)
      rows.push_back(row(g + std::to_string(i), i < reach ? kInReview : kRejectedAtScreening, g));
  };
  add("woman", 8, 10);
  add("man", 5, 10);
  add("", 3, 6);
  return rows;
}

const json& stage_of(const json& report, const std::string& stage) {
  for (const auto& s : report.at("stages"))
    if (s.at("stage") == stage) return s;
  throw std::runtime_error("no stage " + stage);
}

const json& group_of(const json& groups, const std::string& g) {
  for (const auto& x : groups)
    if (x.at("group") == g) return x;
  throw std::runtime_error("no group " + g);
}

TEST(Funnel, CountsNowReachedAndConversionInFlowOrder) {
  auto q = query();
  q.now_ms = kT0 + 30 * kDay;  // in review since day 2: past its 21 days
  const json f = funnel_report(summer(), tally(cohort(), q));
  EXPECT_EQ(f["total"], 26);
  EXPECT_EQ(f["active"], 16);
  EXPECT_EQ(f["decided"], 10);
  EXPECT_EQ(f["stages"][0]["stage"], "submitted");
  EXPECT_EQ(f["stages"][1]["stage"], "documents");
  const json& review = stage_of(f, "review");
  EXPECT_EQ(review["now"], 16);
  EXPECT_EQ(review["reached"], 16);
  EXPECT_DOUBLE_EQ(review["conversion"].get<double>(), 1.0);  // every one in documents got on
  EXPECT_DOUBLE_EQ(stage_of(f, "documents")["conversion"].get<double>(), 16.0 / 26);
  EXPECT_TRUE(stage_of(f, "submitted")["conversion"].is_null());
  EXPECT_TRUE(stage_of(f, "rejected")["conversion"].is_null());
  EXPECT_DOUBLE_EQ(stage_of(f, "rejected")["overall"].get<double>(), 10.0 / 26);
  // The review stage's deadline has passed for everyone waiting there.
  EXPECT_EQ(review["overdue"], 16);
  EXPECT_EQ(f["overdue"], 16);
}

TEST(Fairness, RatesImpactRatiosAndTheFourFifthsFlag) {
  const json r = fairness_report(summer(), tally(cohort(), query()), query());
  EXPECT_EQ(r["program"], "summer-research-internship");
  EXPECT_EQ(r["attribute"], "gender");
  EXPECT_EQ(r["min_cell"], 5);
  ASSERT_EQ(r["groups"].size(), 3u);
  EXPECT_EQ(r["groups"][2]["group"], "unknown") << "no answer is a group of its own, shown last";
  EXPECT_EQ(group_of(r["groups"], "unknown")["n"], 6);
  const json& review = stage_of(r, "review")["groups"];
  const json& man = group_of(review, "man");
  EXPECT_EQ(man["reached"], 5);
  EXPECT_DOUBLE_EQ(man["rate"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(man["impact_ratio"].get<double>(), 0.5 / 0.8);
  EXPECT_EQ(man["flag"], true);
  EXPECT_EQ(group_of(review, "woman")["impact_ratio"], 1.0);
  EXPECT_EQ(group_of(review, "woman")["flag"], false);
  EXPECT_EQ(group_of(review, "unknown")["flag"], true);  // 0.5 / 0.8 < 0.8
  // The initial stage is there: everyone reached it.
  EXPECT_EQ(group_of(stage_of(r, "submitted")["groups"], "man")["rate"], 1.0);
  EXPECT_EQ(r["stages"][0]["stage"], "submitted");
}

TEST(Fairness, SmallGroupsAreSuppressedAndSoIsWhatWouldRevealThem) {
  auto rows = cohort();
  for (int i = 0; i < 3; ++i) rows.push_back(row("nb" + std::to_string(i), kInReview, "nonbinary"));
  const json r = fairness_report(summer(), tally(rows, query()), query());
  const json& nb = group_of(r["groups"], "nonbinary");
  EXPECT_EQ(nb["suppressed"], true);
  EXPECT_TRUE(nb["n"].is_null());
  // Alone it could be derived from the total: the next smallest (unknown,
  // 6) is suppressed with it.
  EXPECT_EQ(group_of(r["groups"], "unknown")["suppressed"], true);
  EXPECT_EQ(group_of(r["groups"], "man")["suppressed"], false);
  for (const auto& s : r["stages"]) {
    for (const char* g : {"nonbinary", "unknown"}) {
      const json& cell = group_of(s["groups"], g);
      EXPECT_EQ(cell["suppressed"], true);
      for (const char* k : {"reached", "rate", "impact_ratio", "flag"})
        EXPECT_TRUE(cell[k].is_null()) << s["stage"] << " " << g << " " << k;
    }
  }
  // A larger threshold hides more.
  auto q = query();
  q.min_cell = 11;
  const json all = fairness_report(summer(), tally(rows, q), q);
  for (const auto& g : all["groups"]) EXPECT_EQ(g["suppressed"], true) << g;
}

TEST(TimeInStage, PercentilesOfFinishedStaysAndWaitsOverTheThreshold) {
  std::vector<Row> rows;
  for (int i = 1; i <= 10; ++i) {
    Row r = row("a" + std::to_string(i), kInReview, "");
    r.stays[0].spent_ms = i * kDay;  // submitted: 1..10 days
    rows.push_back(r);
  }
  auto q = query();
  q.threshold_ms = 5 * kDay;
  q.now_ms = kT0 + 8 * kDay;  // in review since day 2: 6 days
  const json t = time_report(summer(), tally(rows, q), q);
  const json& sub = stage_of(t, "submitted")["finished"];
  EXPECT_EQ(sub["count"], 10);
  EXPECT_DOUBLE_EQ(sub["p50"].get<double>(), 5 * 86400.0);
  EXPECT_DOUBLE_EQ(sub["p90"].get<double>(), 9 * 86400.0);
  EXPECT_DOUBLE_EQ(sub["max"].get<double>(), 10 * 86400.0);
  const json& waiting = stage_of(t, "review")["waiting"];
  EXPECT_EQ(waiting["count"], 10);
  EXPECT_DOUBLE_EQ(waiting["p50"].get<double>(), 6 * 86400.0);
  EXPECT_EQ(waiting["over_threshold"], 10);
  EXPECT_TRUE(stage_of(t, "review")["finished"]["p50"].is_null());
}

TEST(Tally, PartsOfDisjointApplicationsMergeToTheWhole) {
  const auto rows = cohort();
  const auto q = query();
  Tally a, b;
  for (size_t i = 0; i < rows.size(); ++i) (i % 3 ? a : b).add(rows[i], summer(), q);
  Tally merged = tally_from_json(to_json(a));
  merged.merge(tally_from_json(json::parse(to_json(b).dump())));
  const Tally whole = tally(rows, q);
  EXPECT_EQ(fairness_report(summer(), merged, q), fairness_report(summer(), whole, q));
  EXPECT_EQ(funnel_report(summer(), merged), funnel_report(summer(), whole));
  EXPECT_EQ(time_report(summer(), merged, q), time_report(summer(), whole, q));
}

TEST(Filter, BySubmissionDateCycleAndHub) {
  auto rows = cohort();
  rows[0].hub = "McGill University";
  rows[1].submitted_ms = kT0 - kDay;
  rows[1].cycle = "2025";
  Query q = query();
  q.filter.hub = "mcgill university";
  EXPECT_EQ(tally(rows, q).total, 1u);
  q.filter = {};
  q.filter.from_ms = kT0;
  EXPECT_EQ(tally(rows, q).total, rows.size() - 1);
  q.filter = {};
  q.filter.cycle = "2025";
  EXPECT_EQ(tally(rows, q).total, 1u);
  q.filter = {};
  q.filter.to_ms = kT0;
  EXPECT_EQ(tally(rows, q).total, 1u);
}

TEST(Reviewers, MeanScoreByGroupAgainstTheReviewersOwn) {
  std::vector<Row> rows;
  for (int i = 0; i < 12; ++i) {
    Row r = row("r" + std::to_string(i), kInReview, i < 6 ? "woman" : (i < 10 ? "man" : ""));
    r.scores = {{"rev-1", i < 6 ? 4.0 : 2.0}};
    rows.push_back(r);
  }
  const auto q = query();
  const json r = reviewer_report(summer(), tally(rows, q), q);
  ASSERT_EQ(r["reviewers"].size(), 1u);
  const json& rev = r["reviewers"][0];
  EXPECT_EQ(rev["reviewer"], "rev-1");
  EXPECT_EQ(rev["n"], 12);
  EXPECT_DOUBLE_EQ(rev["mean"].get<double>(), 36.0 / 12);
  const json& woman = group_of(rev["groups"], "woman");
  EXPECT_DOUBLE_EQ(woman["mean"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(woman["difference"].get<double>(), 1.0);
  // man (4) and unknown (2) are both under 5: both hidden.
  EXPECT_EQ(group_of(rev["groups"], "man")["suppressed"], true);
  EXPECT_TRUE(group_of(rev["groups"], "unknown")["mean"].is_null());
}

TEST(Hubs, ApplicationsStagesAndOutcomesPerHub) {
  auto rows = cohort();
  rows[0].hub = "McGill University";
  const json h = hub_report(summer(), tally(rows, query()));
  ASSERT_EQ(h["hubs"].size(), 2u);
  const json& mcgill = h["hubs"][0];
  EXPECT_EQ(mcgill["hub"], "McGill University");
  EXPECT_EQ(mcgill["applications"], 1);
  EXPECT_EQ(mcgill["stages"]["review"], 1);
  EXPECT_EQ(h["hubs"][1]["outcomes"]["rejected"], 10);
  EXPECT_EQ(h["hubs"][1]["decided"], 10);
}

TEST(Csv, QuotesAndDisarmsFormulas) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
  EXPECT_EQ(csv_field("+1"), "'+1");
  EXPECT_EQ(csv_field(json()), "");
  EXPECT_EQ(csv_field(-0.5), "-0.5") << "numbers are not formulas";
  auto rows = cohort();
  rows.push_back(row("x", kInReview, "=cmd|' /C calc'!A0"));
  auto q = query();
  q.min_cell = 1;
  const std::string csv = to_csv("fairness", fairness_report(summer(), tally(rows, q), q));
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "program,attribute,min_cell,stage,group,n,reached,rate,impact_ratio,flag,suppressed");
  EXPECT_NE(csv.find(",'=cmd|' /C calc'!A0,1,"), std::string::npos) << csv;
  EXPECT_EQ(csv.find(",=cmd"), std::string::npos);
}

TEST(StaysFromHistory, OlderApplicationsGetTheirStaysFromTheirHistory) {
  std::vector<store::HistoryEntry> h(4);
  h[0].to = "submitted";
  h[0].time = "2026-03-01T00:00:00Z";
  h[1].from = "submitted";
  h[1].to = "submitted";  // an update: no move
  h[1].time = "2026-03-01T10:00:00Z";
  h[2].from = "submitted";
  h[2].to = "documents";
  h[2].time = "2026-03-02T00:00:00Z";
  h[3].from = "documents";
  h[3].to = "submitted";
  h[3].time = "2026-03-02T12:00:00Z";
  const auto stays = stays_from_history(h);
  ASSERT_EQ(stays.size(), 2u);
  EXPECT_EQ(stays[0], (workflow::StageStay{"submitted", kT0, kDay, 2}));
  EXPECT_EQ(stays[1], (workflow::StageStay{"documents", kT0 + kDay, kDay / 2, 1}));
}

}  // namespace
}  // namespace stagewise::reports

namespace stagewise::reports {
namespace {

workflow::Application stored_app(const std::string& id, uint64_t sequence,
                                 const std::string& stage) {
  workflow::Application a;
  a.id = id;
  a.program = "summer-research-internship";
  a.workflow_version = 1;
  a.stage = stage;
  a.sequence = sequence;
  a.created_ms = a.stage_entered_ms = a.updated_ms = kT0;
  a.stays = {{stage, kT0, 0, 1}};
  a.self_identification = {{"gender", "woman"}};
  return a;
}

// The book reads what the store serves, keeps the newest copy of each
// application, and forgets the partitions the process no longer owns.
TEST(Book, FollowsTheStoreAndKeepsTheNewestCopy) {
  stagewise::testing::TempDir dir;
  auto opened = store::Store::open(dir.str(), {});
  ASSERT_TRUE(opened) << opened.error().message;
  auto& st = **opened;
  auto batch = st.batch();
  for (int i = 0; i < 20; ++i)
    batch.put_application(stored_app("a" + std::to_string(i), 2, "review"), "");
  ASSERT_TRUE(st.commit(batch));
  std::vector<workflow::Problem> problems;
  const auto registry =
      workflow::Registry::load({std::string(STAGEWISE_SOURCE_DIR) + "/workflows"}, problems);
  Book book;
  ASSERT_TRUE(book.refresh(st, registry));
  EXPECT_EQ(book.size(), 20u);
  // An older copy does not replace a newer one; a newer one does.
  book.put(make_row(stored_app("a1", 1, "submitted"), nullptr), st);
  book.put(make_row(stored_app("a2", 3, "interview"), nullptr), st);
  std::map<std::string, std::string> stage;
  book.each("summer-research-internship", [&](const Row& r) { stage[r.id] = r.stage; });
  EXPECT_EQ(stage["a1"], "review");
  EXPECT_EQ(stage["a2"], "interview");
  EXPECT_EQ(stage.size(), 20u);
  // A row the processor puts for a partition this process does not serve
  // (its last round before a revoke) goes at the next refresh.
  st.set_partitions(4);
  st.set_owned({1});
  std::string elsewhere;
  for (int i = 100; elsewhere.empty(); ++i)
    if (!st.owns("z" + std::to_string(i))) elsewhere = "z" + std::to_string(i);
  auto stray = stored_app(elsewhere, 1, "review");
  ASSERT_TRUE(book.refresh(st, registry));
  book.put(make_row(stray, nullptr), st);
  ASSERT_TRUE(book.refresh(st, registry));
  book.each("summer-research-internship",
            [&](const Row& r) { EXPECT_NE(r.id, elsewhere) << "a stray row is counted"; });
  // Now the process owns one of four partitions: only its rows stay.
  st.set_partitions(4);
  st.set_owned({1});
  ASSERT_TRUE(book.refresh(st, registry));
  size_t mine = 0;
  for (int i = 0; i < 20; ++i) mine += st.owns("a" + std::to_string(i)) ? 1 : 0;
  EXPECT_EQ(book.size(), mine);
  book.each("summer-research-internship",
            [&](const Row& r) { EXPECT_TRUE(st.owns(r.id)) << r.id; });
}

}  // namespace
}  // namespace stagewise::reports

namespace stagewise::reports {
namespace {

TEST(Csv, EveryReportFlattensWithItsNumbers) {
  auto rows = cohort();
  rows[0].scores = {{"rev-1", 4.0}};
  const auto q = query();
  const Tally t = tally(rows, q);
  for (const char* kind : {"funnel", "time-in-stage", "fairness", "reviewers", "hubs"}) {
    const Table table = to_table(kind, finish(kind, summer(), t, q));
    ASSERT_GT(table.size(), 1u) << kind;
    for (size_t i = 1; i < table.size(); ++i) EXPECT_EQ(table[i].size(), table[0].size()) << kind;
  }
  const std::string hubs = to_csv("hubs", hub_report(summer(), t));
  EXPECT_NE(hubs.find("summer-research-internship,Université Laval,review,16\r\n"),
            std::string::npos)
      << hubs;
  EXPECT_NE(hubs.find(",rejected,10\r\n"), std::string::npos) << hubs;
}

}  // namespace
}  // namespace stagewise::reports

namespace stagewise::reports {
namespace {

// 3 of 5 against 3 of 4 is an impact ratio of exactly 0.8: not below the
// four-fifths line, so not flagged (in floating point it reads 0.79999…).
TEST(Fairness, ARatioOfExactlyFourFifthsIsNotFlagged) {
  std::vector<Row> rows;
  for (int i = 0; i < 5; ++i)
    rows.push_back(row("a" + std::to_string(i), i < 3 ? kInReview : kRejectedAtScreening, "a"));
  for (int i = 0; i < 4; ++i)
    rows.push_back(row("b" + std::to_string(i), i < 3 ? kInReview : kRejectedAtScreening, "b"));
  auto q = query();
  q.min_cell = 4;
  const json r = fairness_report(summer(), tally(rows, q), q);
  const json& a = group_of(stage_of(r, "documents")["groups"], "a");
  EXPECT_NEAR(a["impact_ratio"].get<double>(), 0.8, 1e-12);
  EXPECT_EQ(a["flag"], false);
  rows.push_back(row("a5", kRejectedAtScreening, "a"));  // 3 of 6: 0.667
  const json r2 = fairness_report(summer(), tally(rows, q), q);
  EXPECT_EQ(group_of(stage_of(r2, "documents")["groups"], "a")["flag"], true);
}

// A filter that leaves fewer applications than min_cell (a narrow window
// around one applicant) does not even say which answers they gave.
TEST(Fairness, FewerApplicationsThanTheSmallestCellNameNoGroup) {
  const std::vector<Row> rows = {row("x", kInReview, "nonbinary"), row("y", kInReview, "woman")};
  const json r = fairness_report(summer(), tally(rows, query()), query());
  ASSERT_EQ(r["groups"].size(), 1u) << r.dump();
  EXPECT_EQ(r["groups"][0]["suppressed"], true);
  EXPECT_TRUE(r["groups"][0]["n"].is_null());
  const std::string text = r.dump();
  for (const char* answer : {"nonbinary", "woman"})
    EXPECT_EQ(text.find(answer), std::string::npos) << text;
  std::vector<Row> reviewed = rows;
  for (auto& x : reviewed) x.scores = {{"rev-1", 3.0}};
  const json rv = reviewer_report(summer(), tally(reviewed, query()), query());
  EXPECT_EQ(rv.dump().find("nonbinary"), std::string::npos) << rv.dump();
  EXPECT_EQ(rv["reviewers"][0]["groups"].size(), 1u);
}

}  // namespace
}  // namespace stagewise::reports
