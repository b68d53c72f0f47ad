// Issue 15, end to end with the real binary: `stagewise backup` while a
// cohort is being applied, `stagewise restore`, and the restored store is
// the original at the backup's input offsets; restores that must be
// refused are; workflow fingerprints; the data dir's modes.
#include "privacy/keys.h"
#include "store/store.h"
#include "support/openapi_answers.h"
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sys/stat.h>

namespace stagewise {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::eventually;
using testing::mode_of;
using testing::Process;
using testing::run;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
constexpr const char* kProgram = "summer-research-internship";

json run_json(const std::vector<std::string>& args, const std::string& scratch, int* code) {
  const auto r = run(args, scratch);
  *code = r.code;
  if (r.code != 0) ADD_FAILURE() << args[1] << " exit " << r.code << ": " << r.err;
  return json::parse(r.out, nullptr, false);
}

std::map<int32_t, int64_t> offsets_of(const json& positions) {
  std::map<int32_t, int64_t> out;
  for (const auto& p : positions)
    if (p["topic"] == "stagewise.events") out[p["partition"].get<int32_t>()] = p["next_offset"];
  return out;
}

int64_t sum(const std::map<int32_t, int64_t>& m) {
  int64_t n = 0;
  for (const auto& [p, o] : m) n += o;
  return n;
}

std::unique_ptr<store::Store> open_read_only(const std::string& dir) {
  store::Store::Options o;
  o.read_only = true;
  o.kek = privacy::kek_of(dir).value_or("");  // the copy's own key file opens its personal data
  auto s = store::Store::open(dir, o);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return s.ok() ? std::move(*s) : nullptr;
}

// The part of an application's history the input before `offsets` made.
std::vector<store::HistoryEntry> before(const std::vector<store::HistoryEntry>& history,
                                        const std::map<int32_t, int64_t>& offsets) {
  std::vector<store::HistoryEntry> out;
  for (const auto& h : history) {
    EXPECT_EQ(h.topic, "stagewise.events") << "every event came through Kafka here";
    const auto it = offsets.find(h.partition);
    if (it != offsets.end() && h.offset < it->second) out.push_back(h);
  }
  return out;
}

// Every application of the original, as the backup's offsets say it was,
// is in the restored store, and nothing else: same history, same stage.
void expect_restored_at(const std::string& original, const std::string& restored,
                        const std::map<int32_t, int64_t>& offsets, size_t* in_backup) {
  auto a = open_read_only(original), b = open_read_only(restored);
  ASSERT_TRUE(a && b);
  size_t originals = 0, restored_apps = 0;
  ASSERT_TRUE(b->each_application(-1, [&](workflow::Application&&) { ++restored_apps; }).ok());
  ASSERT_TRUE(a->each_application(-1, [&](workflow::Application&& app) {
                 ++originals;
                 const auto expected = before(*a->history(app.id), offsets);
                 const auto got = *b->history(app.id);
                 ASSERT_EQ(got.size(), expected.size()) << app.id;
                 for (size_t i = 0; i < got.size(); ++i) {
                   EXPECT_EQ(got[i].id, expected[i].id) << app.id;
                   EXPECT_EQ(got[i].to, expected[i].to) << app.id;
                   EXPECT_EQ(got[i].offset, expected[i].offset) << app.id;
                 }
                 if (expected.empty()) return;
                 ++*in_backup;
                 const auto r = b->application(app.id);
                 ASSERT_TRUE(r.ok()) << app.id;
                 EXPECT_EQ(r->stage, expected.back().to) << app.id;
                 EXPECT_EQ(r->sequence, expected.back().sequence) << app.id;
               }).ok());
  EXPECT_EQ(restored_apps, *in_backup) << "the restored store holds no other application";
  EXPECT_GT(originals, *in_backup) << "some applications came after the backup";
}

// Restores that must be refused, each with a message naming the problem.
void expect_refusals(const TempDir& tmp, const std::string& backup, const std::string& used) {
  fs::copy(backup, tmp / "bad", fs::copy_options::recursive);
  std::string sst;
  for (const auto& e : fs::directory_iterator(tmp / "bad/store"))
    if (e.path().extension() == ".sst") sst = e.path().filename().string();
  ASSERT_FALSE(sst.empty());
  {
    std::fstream f(tmp / ("bad/store/" + sst), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x7f');
  }
  auto r = run({kBin, "restore", "--from", tmp / "bad", "--data-dir", tmp / "d3"}, tmp / "r-bad");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("store/" + sst), std::string::npos) << r.err;
  fs::copy(backup, tmp / "incomplete", fs::copy_options::recursive);
  fs::remove(tmp / "incomplete/store/CURRENT");
  r = run({kBin, "restore", "--from", tmp / "incomplete", "--data-dir", tmp / "d3"}, tmp / "r-inc");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("store/CURRENT"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "d3"));
  r = run({kBin, "restore", "--from", backup, "--data-dir", used}, tmp / "r-full");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
  r = run({kBin, "restore", "--from", backup, "--data-dir", used, "--force"}, tmp / "r-used");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is using the data dir"), std::string::npos) << r.err;
  EXPECT_EQ(run({kBin, "restore", "--from", backup}, tmp / "r-usage").code, 2);
}

// The route as a client calls it, recorded for the OpenAPI checks.
void call_the_route(testing::AnswerLog& log, const std::string& url, const std::string& data,
                    const TempDir& tmp) {
  httplib::Client admin(url), pm(url);
  admin.set_read_timeout(60);
  admin.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "ops"));
  pm.set_bearer_token_auth(
      testing::token_for(kBin, data, "program_manager", "pm", {"--program", kProgram}));
  EXPECT_EQ(log.post(admin, "/v1/admin/backup", {{"to", tmp / "by-http"}}).status, 200);
  EXPECT_EQ(log.post(admin, "/v1/admin/backup", {{"to", "relative"}}).status, 400);
  EXPECT_EQ(log.post(admin, "/v1/admin/backup", {{"to", data + "/x"}}).status, 400);
  EXPECT_EQ(log.post(pm, "/v1/admin/backup", {{"to", tmp / "by-pm"}}).status, 403);
  EXPECT_EQ(log.get(admin, "/v1/workflows").status, 200);
  EXPECT_TRUE(log.conform(tmp / "answers"));
}

TEST(Backup, TakenWhileACohortIsAppliedRestoresTheStoreAtItsOffsets) {
  TempDir tmp;
  const std::string data = tmp / "data", restored = tmp / "restored";
  auto serve = testing::start_serve_embedded(kBin, kWorkflows, data, tmp / "serve");
  ASSERT_FALSE(serve.ready.http.empty()) << serve.proc->err();
  Process sim({kBin, "simulate", "--program", kProgram, "--applicants", "300", "--seed", "15",
               "--rate", "500", "--data-dir", data, "--workflows", kWorkflows, "--json"},
              tmp / "sim.out", tmp / "sim.err");
  ASSERT_TRUE(eventually(
      [&] { return testing::metric(serve.ready.http, "stagewise_events_applied_total") >= 300; },
      60));
  int code = 0;
  const json taken = run_json({kBin, "backup", "--data-dir", data, "--to", tmp / "b", "--json"},
                              tmp / "b1", &code);
  ASSERT_EQ(code, 0);
  EXPECT_EQ(taken["via"], serve.ready.http) << "the running server wrote it";
  EXPECT_EQ(taken["verified"], true);
  EXPECT_EQ(taken["keys"], json({"auth/data.secret", "auth/internal.secret", "auth/token.secret"}));
  EXPECT_EQ(mode_of(tmp / "b"), 0700u);
  EXPECT_EQ(mode_of(tmp / "b/auth/token.secret"), 0600u);
  const auto at_backup = offsets_of(taken["input_positions"]);
  ASSERT_EQ(sim.wait(), 0) << sim.err();
  // Everything sent is applied: the input offsets stop moving.
  ASSERT_TRUE(eventually(
      [&] { return testing::metric(serve.ready.http, "stagewise_input_lag") == 0.0; }, 60));
  call_the_route(*std::make_unique<testing::AnswerLog>(), serve.ready.http, data, tmp);
  serve.proc->signal(SIGTERM);
  ASSERT_EQ(serve.proc->wait(), 0) << serve.proc->err();

  // No server now: the backup is taken from the data dir itself.
  const json last = run_json({kBin, "backup", "--data-dir", data, "--to", tmp / "last", "--json"},
                             tmp / "b2", &code);
  ASSERT_EQ(code, 0);
  EXPECT_EQ(last["via"], "data_dir");
  const auto at_end = offsets_of(last["input_positions"]);
  for (const auto& [partition, offset] : at_backup)
    EXPECT_LE(offset, at_end.at(partition)) << "partition " << partition;
  EXPECT_LT(sum(at_backup), sum(at_end)) << "events were still being applied at the backup";

  const json r = run_json({kBin, "restore", "--from", tmp / "b", "--data-dir", restored, "--json"},
                          tmp / "r", &code);
  ASSERT_EQ(code, 0);
  EXPECT_EQ(r["input_positions"], taken["input_positions"]);
  EXPECT_EQ(mode_of(restored), 0700u);
  EXPECT_EQ(mode_of(restored + "/auth/internal.secret"), 0600u);
  size_t in_backup = 0;
  expect_restored_at(data, restored, at_backup, &in_backup);
  EXPECT_GT(in_backup, 0u);
  EXPECT_EQ(run({kBin, "list", kProgram, "--data-dir", restored}, tmp / "list").code, 0);

  // The restored dir serves, with the original's keys: a token of the
  // original data dir works there.
  auto again = testing::start_serve_embedded(kBin, kWorkflows, restored, tmp / "serve2");
  ASSERT_FALSE(again.ready.http.empty()) << again.proc->err();
  httplib::Client c(again.ready.http);
  c.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "ops"));
  EXPECT_EQ(testing::get_json(c, "/v1/info").status, 200);
  expect_refusals(tmp, tmp / "b", restored);
  again.proc->signal(SIGTERM);
  EXPECT_EQ(again.proc->wait(), 0) << again.proc->err();
}

// Writes the summer workflow into `dir` as `name`, changed by `edit`.
void write_workflow(const std::string& dir, const std::string& name,
                    const std::function<void(json&)>& edit) {
  std::ifstream in(kWorkflows + "/" + kProgram + ".json");
  json doc = json::parse(in);
  edit(doc);
  std::ofstream(dir + "/" + name) << doc.dump(2);
}

TEST(Fingerprints, AChangedWorkflowUnderAUsedVersionIsRefusedAndANewVersionLoads) {
  TempDir tmp;
  const std::string data = tmp / "data", wf = tmp / "wf";
  fs::create_directories(wf);
  fs::create_directories(data);
  fs::permissions(data, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  write_workflow(wf, "summer.json", [](json&) {});
  auto serve = testing::start_serve_embedded(kBin, wf, data, tmp / "serve");
  ASSERT_FALSE(serve.ready.http.empty()) << serve.proc->err();
  EXPECT_EQ(mode_of(data), 0700u) << "a data dir others could read is made private";
  EXPECT_NE(serve.proc->err().find("had mode 0755"), std::string::npos) << serve.proc->err();
  httplib::Client c(serve.ready.http);
  c.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "ops"));
  const json before = testing::get_json(c, "/v1/workflows").body;
  const std::string sha = before["workflows"][0]["versions"][0]["sha256"];
  serve.proc->signal(SIGTERM);
  ASSERT_EQ(serve.proc->wait(), 0);

  write_workflow(wf, "summer.json", [](json& d) { d["title"] = "Summer internship (edited)"; });
  const auto refused =
      run({kBin, "serve", "--data-dir", data, "--workflows", wf, "--http-port", "0"}, tmp / "s2");
  EXPECT_EQ(refused.code, 1);
  for (const std::string& part : {std::string(kProgram), std::string("version 1"),
                                  wf + "/summer.json", sha, std::string("bump \"version\"")})
    EXPECT_NE(refused.err.find(part), std::string::npos) << part << " not in " << refused.err;

  // The change as version 2, beside the old file: both load.
  write_workflow(wf, "summer.json", [](json&) {});
  write_workflow(wf, "summer-v2.json", [](json& d) {
    d["title"] = "Summer internship (edited)";
    d["version"] = 2;
  });
  auto third = testing::start_serve_embedded(kBin, wf, data, tmp / "serve3");
  ASSERT_FALSE(third.ready.http.empty()) << third.proc->err();
  httplib::Client c3(third.ready.http);
  c3.set_bearer_token_auth(testing::token_for(kBin, data, "admin", "ops"));
  const json after = testing::get_json(c3, "/v1/workflows").body;
  ASSERT_EQ(after["workflows"][0]["versions"].size(), 2u) << after.dump();
  EXPECT_EQ(after["workflows"][0]["versions"][0]["sha256"], sha);
  third.proc->signal(SIGTERM);
  EXPECT_EQ(third.proc->wait(), 0);
}

}  // namespace
}  // namespace stagewise
