// End to end (issue 15): a simulated cohort through the real binary; the
// audit head is served and published; an entry's proof checks out from its
// bytes' digest to the pinned head; `stagewise audit verify --all` passes,
// and fails naming the application and sequence once RocksDB's own `ldb`
// changed one byte of a stored history entry.
#include "audit/chain.h"
#include "common/time.h"
#include "support/files.h"
#include "support/kafka_fixture.h"
#include "support/openapi_answers.h"
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::eventually;
using testing::JsonReply;
using testing::Process;
using testing::run;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";
const std::string kLdb = STAGEWISE_LDB;

std::string bytes_of(const json& hex) {
  return audit::unhex(hex.get<std::string>()).value_or("not hex");
}

// Checks a proof the way an outside party would, with nothing but hashes:
// entry -> leaf -> root -> round digest.
::testing::AssertionResult proof_holds(const json& p) {
  const std::string chain =
      audit::sha256(bytes_of(p["entry"]["prev"]) + bytes_of(p["entry"]["digest"]));
  if (chain != bytes_of(p["entry"]["chain"])) return ::testing::AssertionFailure() << "chain";
  const std::string leaf =
      audit::leaf_hash({p["application"].get<std::string>(), p["sequence"].get<uint64_t>(), chain});
  if (leaf != bytes_of(p["leaf"])) return ::testing::AssertionFailure() << "leaf";
  std::vector<audit::Step> path;
  for (const auto& s : p["path"]) path.push_back({s["side"] == "left", bytes_of(s["hash"])});
  const json& r = p["round"];
  if (audit::root_from_path(leaf, path) != bytes_of(r["root"]))
    return ::testing::AssertionFailure() << "root";
  const auto time = parse_rfc3339_ms(r["time"].get<std::string>());
  if (!time ||
      audit::round_digest(r["partition"].get<int32_t>(), r["round"].get<uint64_t>(), *time,
                          bytes_of(r["prev"]), bytes_of(r["root"])) != bytes_of(r["digest"]))
    return ::testing::AssertionFailure() << "round digest";
  return ::testing::AssertionSuccess();
}

// The history column family as `ldb --hex scan` prints it: key -> value (hex).
std::map<std::string, std::string> ldb_history(const std::string& data,
                                               const std::string& scratch) {
  const auto r = run({kLdb, "--db=" + data, "--column_family=history", "--hex", "scan"}, scratch);
  EXPECT_EQ(r.code, 0) << r.err;
  std::map<std::string, std::string> out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto sep = line.find(" : ");
    if (sep != std::string::npos) out[line.substr(0, sep)] = line.substr(sep + 3);
  }
  return out;
}

class Audit : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::start_serve_embedded(kBin, kWorkflows, data(), tmp_ / "serve");
    serve_ = std::move(s.proc);
    ready_ = s.ready;
    ASSERT_FALSE(ready_.http.empty()) << serve_->err();
  }
  // A simulated cohort of the summer program; the events it sent.
  uint64_t cohort(int applicants, int seed) {
    const auto sim =
        run({kBin, "simulate", "--program", "summer-research-internship", "--applicants",
             std::to_string(applicants), "--seed", std::to_string(seed), "--data-dir", data(),
             "--workflows", kWorkflows, "--json"},
            tmp_ / "sim");
    EXPECT_EQ(sim.code, 0) << sim.err;
    return json::parse(sim.out, nullptr, false).value("events", uint64_t{0});
  }
  std::string data() const { return tmp_ / "data"; }
  testing::RunResult verify(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {kBin, "audit", "verify", "--data-dir", data()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, tmp_ / ("verify" + std::to_string(runs_++)));
  }

  TempDir tmp_;
  std::unique_ptr<Process> serve_;
  testing::ReadyLine ready_;
  int runs_ = 0;
};

TEST_F(Audit, ACohortVerifiesItsProofsHoldAndOneChangedByteIsNamed) {
  const uint64_t events = cohort(40, 4);
  ASSERT_GT(events, 0u);
  httplib::Client http(ready_.http);
  http.set_bearer_token_auth(testing::token_for(kBin, data(), "admin", "e2e-admin"));
  testing::AnswerLog log;
  json head;
  ASSERT_TRUE(eventually(
      [&] {
        head = log.get(http, "/v1/audit/head").body;
        uint64_t sealed = 0;
        for (const auto& p : head.value("partitions", json::array()))
          sealed += p["entries"].get<uint64_t>() > 0 ? 1 : 0;
        auto all = verify({"--all", "--json"});
        return sealed > 0 && all.code == 0 &&
               json::parse(all.out, nullptr, false).value("sealed", uint64_t{0}) == events;
      },
      60))
      << head.dump() << verify({"--all"}).out;

  // An applicant's proof of its own latest entry holds, and its round is
  // the pinned head or chains to it through the rounds after it.
  const std::string id = "sri-4-0001";
  const auto own = testing::token_for(kBin, data(), "applicant", "applicant-" + id);
  httplib::Client as_owner(ready_.http);
  as_owner.set_bearer_token_auth(own);
  const auto proof = log.get(as_owner, "/v1/applications/" + id + "/audit");
  ASSERT_EQ(proof.status, 200) << proof.body;
  EXPECT_TRUE(proof_holds(proof.body)) << proof.body.dump(2);
  const json& round = proof.body["round"];
  head = log.get(http, "/v1/audit/head").body;
  std::string pinned;
  for (const auto& p : head["partitions"])
    if (p["partition"] == round["partition"]) pinned = p["digest"];
  const auto later = log.get(http, "/v1/audit/rounds?partition=" + round["partition"].dump() +
                                       "&after=" + round["round"].dump() + "&limit=1000");
  ASSERT_EQ(later.status, 200);
  std::string digest = round["digest"];
  for (const auto& r : later.body["rounds"]) {
    EXPECT_EQ(r["prev"], digest);
    digest = r["digest"];
  }
  EXPECT_EQ(digest, pinned);
  EXPECT_EQ(log.get(http, "/v1/audit/rounds?partition=x").status, 400);
  EXPECT_EQ(log.get(as_owner, "/v1/applications/" + id + "/audit?sequence=0").status, 400);
  EXPECT_EQ(log.get(as_owner, "/v1/audit/head").status, 403);
  EXPECT_TRUE(log.conform(tmp_ / "answers"));

  // Every round was published for outside parties too.
  const auto published = testing::read_topic(ready_.bootstrap, "stagewise.audit", 8);
  bool found = false;
  for (const auto& m : published)
    found = found || (m.json()["digest"] == round["digest"] && m.key == round["partition"].dump());
  EXPECT_TRUE(found) << published.size() << " audit messages";

  // Stopped, then one byte of a stored entry changed with RocksDB's ldb.
  serve_->signal(SIGTERM);
  ASSERT_EQ(serve_->wait_for(60), 0);
  auto r = verify({"--all"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto history = ldb_history(data(), tmp_ / "scan");
  std::string key, value;
  const std::string seq2 = "0000000000000002";
  for (const auto& [k, v] : history)
    if (k.size() > seq2.size() && k.ends_with(seq2)) std::tie(key, value) = std::tie(k, v);
  ASSERT_FALSE(key.empty()) << history.size() << " entries";
  const auto raw_key = audit::unhex(key.substr(2));
  ASSERT_TRUE(raw_key.has_value());
  const std::string app = raw_key->substr(0, raw_key->size() - 9);
  char& c = value[value.size() - 8];
  c = c == '0' ? '1' : '0';
  const auto put =
      run({kLdb, "--db=" + data(), "--column_family=history", "--hex", "put", key, value},
          tmp_ / "put");
  ASSERT_EQ(put.code, 0) << put.err;
  r = verify({"--all"});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("BROKEN application " + app + ", entry 2:"), std::string::npos) << r.out;
  r = verify({app});
  EXPECT_EQ(r.code, 1) << r.out;
  r = verify({});
  EXPECT_EQ(r.code, 2) << "neither applications nor --all";
}

// Issue 15: an application erased mid-review. No read shows its personal
// data, its earlier dead letter loses its original, later events for it
// are refused with a clear reason and withheld, and the audit verifies.
TEST_F(Audit, AnErasedApplicationShowsNoPersonalDataAnywhereAndTheAuditStillVerifies) {
  ASSERT_GT(cohort(30, 6), 0u);
  httplib::Client http(ready_.http);
  http.set_bearer_token_auth(testing::token_for(kBin, data(), "admin", "e2e-admin"));
  testing::AnswerLog log;
  std::string id, other;
  ASSERT_TRUE(eventually([&] {
    const auto list =
        log.get(http, "/v1/programs/summer-research-internship/applications?stage=review");
    if (list.status != 200 || list.body["applications"].size() < 2) return false;
    id = list.body["applications"][0]["id"];
    other = list.body["applications"][1]["id"];
    return true;
  }));
  const std::string other_email =
      log.get(http, "/v1/applications/" + other).body["profile"]["email"];
  const auto before = log.get(http, "/v1/applications/" + id);
  ASSERT_EQ(before.status, 200);
  const std::string name = before.body["profile"]["name"], email = before.body["profile"]["email"];
  const std::string owner = before.body["owner"];

  // A reviewer's forged update, dead-lettered with its original kept.
  testing::InputProducer kafka(ready_.bootstrap);
  json forged =
      testing::event("forged", "application.updated", id, "reviewer", {{"name", "Forged " + name}});
  forged["actorid"] = "rev-x";
  ASSERT_TRUE(kafka.produce(1, {id, forged.dump()}));
  ASSERT_TRUE(kafka.flush());
  std::string kept_id;
  ASSERT_TRUE(eventually([&] {
    const auto dls = log.get(http, "/v1/deadletters");
    for (const auto& d : dls.body.value("deadletters", json::array()))
      if (d["event_id"] == "forged") kept_id = d["id"];
    return !kept_id.empty();
  }));
  ASSERT_TRUE(log.get(http, "/v1/deadletters/" + kept_id).body["kept"].get<bool>());

  // The applicant asks; the HTTP intake sends it as the token's owner.
  httplib::Client as_owner(ready_.http);
  as_owner.set_bearer_token_auth(testing::token_for(kBin, data(), "applicant", owner));
  auto res = as_owner.Post(
      "/v1/events",
      testing::event("erase-" + id, "application.erased", id, "applicant", nullptr, 50).dump(),
      "application/cloudevents+json");
  log.add("POST", "/v1/events", res);
  ASSERT_TRUE(res && res->status == 202) << (res ? res->body : "no answer");
  JsonReply after;
  ASSERT_TRUE(eventually([&] {
    after = log.get(http, "/v1/applications/" + id);
    return after.status == 200 && after.body.contains("erased");
  }));
  EXPECT_EQ(after.body["profile"], "erased");
  EXPECT_EQ(after.body["stage"], before.body["stage"]) << "the stages and times stay";
  const auto history = log.get(http, "/v1/applications/" + id + "/history");
  const auto kept = log.get(http, "/v1/deadletters/" + kept_id);
  EXPECT_FALSE(kept.body["kept"].get<bool>());
  for (const auto& read : {after.body.dump(), history.body.dump(), kept.body.dump(),
                           log.get(as_owner, "/v1/applications/" + id).body.dump()}) {
    EXPECT_EQ(read.find(name), std::string::npos) << read;
    EXPECT_EQ(read.find(email), std::string::npos) << read;
  }
  // The status events never carried it, and one tells downstream systems
  // to erase their copies.
  json notice;
  for (const auto& m : testing::read_topic(ready_.bootstrap, "stagewise.status", 8))
    if (m.key == id) {
      EXPECT_EQ(m.value.find(name), std::string::npos) << m.value;
      if (m.json()["type"] == "stagewise.application.erased") notice = m.json();
    }
  ASSERT_FALSE(notice.is_null()) << "no stagewise.application.erased on the status topic";
  EXPECT_EQ(notice["data"]["application"], id);
  EXPECT_EQ(notice["data"]["stage"], before.body["stage"]);

  // Later events are refused, naming why, and what they said is not kept.
  json late = testing::event("late", "application.updated", id, "applicant",
                             {{"name", name}, {"phone", "+1 555 0100"}}, 55);
  late["actorid"] = owner;
  ASSERT_TRUE(kafka.produce(2, {id, late.dump()}));
  ASSERT_TRUE(kafka.flush());
  json refused;
  ASSERT_TRUE(eventually([&] {
    for (const auto& m : testing::read_topic(ready_.bootstrap, "stagewise.deadletter", 8))
      if (m.json()["data"]["event_id"] == "late") refused = m.json();
    return !refused.is_null();
  }));
  EXPECT_EQ(refused["data"]["reason"], "application_erased");
  EXPECT_EQ(refused.dump().find("555 0100"), std::string::npos) << refused.dump();
  EXPECT_TRUE(log.conform(tmp_ / "answers"));

  // The erasure is in the chain like any event: everything verifies.
  const auto proof = log.get(http, "/v1/applications/" + id + "/audit");
  ASSERT_EQ(proof.status, 200);
  EXPECT_TRUE(proof_holds(proof.body));
  serve_->signal(SIGTERM);
  ASSERT_EQ(serve_->wait_for(60), 0);
  const auto r = verify({"--all"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;

  // At rest: no file of the data dir holds the erased applicant's profile,
  // nor a live applicant's, in clear (sealed under their own keys). The
  // name is not checked: the forged event's dead letter published an
  // excerpt, and that outbox record's bytes stay until RocksDB compacts it
  // (docs/audit.md, "Encryption").
  for (const auto& text : {email, other_email})
    EXPECT_EQ(testing::file_holding(data(), text), "") << text;
}

}  // namespace
}  // namespace stagewise
