// Issue 15, end to end with the real binary: a cohort through `serve` on a
// broker, one application erased mid-review over HTTP; `stagewise replay`
// of the input topic (and of the file it wrote) rebuilds the same store,
// the erasure included (DESIGN.md §5.4), and `--verify` names an
// application whose event was changed in the log.
#include "privacy/keys.h"
#include "store/store.h"
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <sstream>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::eventually;
using testing::run;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
constexpr const char* kProgram = "summer-research-internship";

class Replay : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = testing::start_broker(kBin, tmp_ / "broker", 4);
    ASSERT_FALSE(broker_.bootstrap.empty()) << broker_.proc->err();
    serve_ = testing::start_serve(kBin, kWorkflows, data(), broker_.bootstrap, tmp_ / "serve");
    ASSERT_FALSE(serve_.ready.http.empty()) << serve_.proc->err();
  }
  std::string data() const { return tmp_ / "data"; }
  bool caught_up() {
    return eventually(
        [&] { return testing::metric(serve_.ready.http, "stagewise_input_lag") == 0.0; }, 60);
  }
  // Erases an application in review as its applicant would; its id.
  std::string erase_one_in_review() {
    httplib::Client admin(serve_.ready.http);
    admin.set_bearer_token_auth(testing::token_for(kBin, data(), "admin", "ops"));
    std::string id;
    eventually([&] {
      const auto list = testing::get_json(
          admin, std::string("/v1/programs/") + kProgram + "/applications?stage=review");
      if (list.status != 200 || list.body["applications"].empty()) return false;
      id = list.body["applications"][0]["id"];
      return true;
    });
    if (id.empty()) return "";
    const std::string owner = testing::get_json(admin, "/v1/applications/" + id).body["owner"];
    httplib::Client as_owner(serve_.ready.http);
    as_owner.set_bearer_token_auth(testing::token_for(kBin, data(), "applicant", owner));
    const json erase = testing::event("erase-" + id, "application.erased", id, "applicant");
    auto res = as_owner.Post("/v1/events", erase.dump(), "application/cloudevents+json");
    if (!res || res->status != 202) return "";
    const bool erased = eventually(
        [&] { return testing::get_json(admin, "/v1/applications/" + id).body.contains("erased"); });
    return erased ? id : "";
  }
  testing::RunResult replay(const std::vector<std::string>& extra, const std::string& scratch) {
    std::vector<std::string> args = {kBin, "replay", "--workflows", kWorkflows};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, tmp_ / scratch);
  }

  TempDir tmp_;
  testing::BrokerProcess broker_;
  testing::ServeProcess serve_;
};

std::unique_ptr<store::Store> open_read_only(const std::string& dir) {
  // Sealed personal data opens under the dir's own key file.
  auto s = store::Store::open(dir, {.read_only = true, .kek = privacy::kek_of(dir).value_or("")});
  EXPECT_TRUE(s.ok()) << s.error().message;
  return s.ok() ? std::move(*s) : nullptr;
}

// The log with the time of `id`'s submission one second earlier.
std::string change_submission(const std::string& log, const std::string& out_file, std::string* id,
                              const std::string& not_this) {
  std::ifstream in(log);
  std::ofstream out(out_file);
  bool changed = false;
  for (std::string line; std::getline(in, line);) {
    json rec = json::parse(line);
    json ev = json::parse(rec["payload"].get<std::string>(), nullptr, false);
    if (!changed && ev.is_object() && ev["type"] == "application.submitted" &&
        ev["subject"] != not_this) {
      *id = ev["subject"];
      std::string t = ev["time"];  // ...:SS.mmmZ or ...:SSZ: move the seconds back by one
      const size_t colon = t.rfind(':');
      const int s = std::stoi(t.substr(colon + 1, 2));
      const int earlier = s == 0 ? 1 : s - 1;
      t.replace(colon + 1, 2, (earlier < 10 ? "0" : "") + std::to_string(earlier));
      ev["time"] = t;
      rec["payload"] = ev.dump();
      changed = true;
    }
    out << rec.dump() << "\n";
  }
  return changed ? out_file : "";
}

TEST_F(Replay, TheInputLogRebuildsTheSameStoreWithTheErasureAndAChangedEventIsNamed) {
  const auto sim = run({kBin, "simulate", "--program", kProgram, "--applicants", "60", "--seed",
                        "21", "--data-dir", data(), "--workflows", kWorkflows, "--json"},
                       tmp_ / "sim");
  ASSERT_EQ(sim.code, 0) << sim.err;
  ASSERT_TRUE(caught_up());
  const std::string erased = erase_one_in_review();
  ASSERT_FALSE(erased.empty()) << "no application in review could be erased";
  ASSERT_TRUE(caught_up());
  serve_.proc->signal(SIGTERM);
  ASSERT_EQ(serve_.proc->wait_for(60), 0) << serve_.proc->err();

  // The input topic, as the broker holds it.
  auto r =
      replay({"--topic", "stagewise.events", "--bootstrap-servers", broker_.bootstrap, "--data-dir",
              tmp_ / "replayed", "--verify", data(), "--write", tmp_ / "log", "--json"},
             "r1");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json out = json::parse(r.out, nullptr, false);
  EXPECT_EQ(out["verify"]["equal"], true) << r.out;
  EXPECT_GE(out["verify"]["applications"].get<int>(), 60);
  EXPECT_EQ(testing::mode_of(tmp_ / "replayed"), 0700u);
  {
    auto original = open_read_only(data()), replayed = open_read_only(tmp_ / "replayed");
    ASSERT_TRUE(original && replayed);
    const auto app = replayed->application(erased);
    ASSERT_TRUE(app.ok());
    EXPECT_TRUE(app->facts.contains("erased")) << "erased in the replay too";
    EXPECT_EQ(app->stage, original->application(erased)->stage);
    EXPECT_EQ(replayed->history(erased)->back().type, "application.erased");
  }

  // The file it wrote replays alike.
  r = replay({"--from", tmp_ / "log", "--data-dir", tmp_ / "from-file", "--verify", data()}, "r2");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("same: "), std::string::npos) << r.out;

  // One event changed in the log: that application is named, with the
  // field, and its values only when asked.
  std::string changed;
  const std::string log = change_submission(tmp_ / "log", tmp_ / "changed", &changed, erased);
  ASSERT_FALSE(log.empty());
  r = replay({"--from", log, "--data-dir", tmp_ / "r3", "--verify", data()}, "r3");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("application " + changed + ": created_at differs"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("replay \""), std::string::npos) << "no values without --show-values";
  r = replay(
      {"--from", log, "--data-dir", tmp_ / "r4", "--verify", data(), "--show-values", "--json"},
      "r4");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  const json first = json::parse(r.out, nullptr, false)["verify"]["first"];
  EXPECT_EQ(first["application"], changed);
  EXPECT_EQ(first["path"], "created_at");
  EXPECT_NE(first["replay"], first["store"]);
}

TEST_F(Replay, RefusesADataDirInUseAMissingKeyAndFlagsThatDoNotFit) {
  serve_.proc->signal(SIGTERM);
  ASSERT_EQ(serve_.proc->wait_for(60), 0);
  std::ofstream(tmp_ / "empty.log").close();
  auto r = replay({"--from", tmp_ / "empty.log", "--data-dir", data(), "--verify", data()}, "used");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(data() + " is not empty"), std::string::npos) << r.err;
  r = replay({"--from", tmp_ / "empty.log", "--data-dir", tmp_ / "new"}, "nokey");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--secrets-dir"), std::string::npos) << r.err;
  EXPECT_EQ(replay({"--data-dir", tmp_ / "new", "--verify", data()}, "nolog").code, 2);
  EXPECT_EQ(replay({"--topic", "stagewise.events", "--data-dir", tmp_ / "new"}, "nobs").code, 2);
}

}  // namespace
}  // namespace stagewise
