// End to end: `stagewise simulate` sends a seeded cohort through the real
// pipeline of a running `stagewise serve`, and the server's funnel ends up
// where the simulator's engine oracle says.
#include "support/stagewise_e2e.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace stagewise {
namespace {

using nlohmann::json;
using testing::eventually;
using testing::Process;
using testing::run;
using testing::TempDir;

const std::string kBin = STAGEWISE_BINARY;
const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";

std::map<std::string, uint64_t> funnel(httplib::Client& http, const std::string& program) {
  std::map<std::string, uint64_t> out;
  auto res = http.Get("/v1/programs/" + program + "/funnel");
  if (!res || res->status != 200) return out;
  const json body = json::parse(res->body, nullptr, false);
  if (!body.is_object() || !body.contains("stages")) return out;
  for (const auto& s : body["stages"]) out[s["stage"]] = s["count"].get<uint64_t>();
  return out;
}

double rejected_total(const std::string& http) {
  httplib::Client c(http);
  auto res = c.Get("/metrics");
  if (!res || res->status != 200) return -1;
  double sum = 0;
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("stagewise_events_rejected_total{", 0) == 0)
      sum += std::stod(line.substr(line.rfind(' ') + 1));
  return sum;
}

class Simulate : public ::testing::Test {
 protected:
  void SetUp() override {
    serve_ = std::make_unique<Process>(
        std::vector<std::string>{kBin, "serve", "--data-dir", tmp_ / "data", "--workflows",
                                 kWorkflows, "--http-port", "0"},
        tmp_ / "serve.out", tmp_ / "serve.err");
    ready_ = testing::parse_ready_line(serve_->wait_line("ready ", 90));
    ASSERT_FALSE(ready_.http.empty()) << serve_->err();
  }

  // Runs simulate against the server; its --json summary.
  json simulate(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {kBin,          "simulate", "--data-dir", tmp_ / "data",
                                     "--workflows", kWorkflows, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run(args, tmp_ / ("sim" + std::to_string(runs_++)));
    EXPECT_EQ(r.code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  TempDir tmp_;
  std::unique_ptr<Process> serve_;
  testing::ReadyLine ready_;
  int runs_ = 0;
};

TEST_F(Simulate, FunnelMatchesTheSimulatorsExpectation) {
  const std::string program = "summer-research-internship";
  const json s = simulate(
      {"--program", program, "--applicants", "60", "--seed", "3", "--bad-fraction", "0.1"});
  ASSERT_TRUE(s.is_object()) << s;
  EXPECT_EQ(s["sent"], s["events"]);
  EXPECT_GT(s["bad_events"].get<int>(), 0);
  std::map<std::string, uint64_t> expected;
  uint64_t total = 0;
  for (const auto& [stage, n] : s["expected"].items()) {
    expected[stage] = n.get<uint64_t>();
    total += expected[stage];
  }
  EXPECT_EQ(total, 60u);

  httplib::Client http(ready_.http);
  http.set_bearer_token_auth(testing::token_for(kBin, tmp_ / "data", "admin", "e2e"));
  EXPECT_TRUE(eventually([&] { return funnel(http, program) == expected; }, 60))
      << "funnel " << json(funnel(http, program)).dump() << "\nexpected " << json(expected).dump()
      << "\n"
      << serve_->err().substr(0, 4000);
  // Every bad event was dead-lettered, none more.
  EXPECT_TRUE(eventually([&] { return rejected_total(ready_.http) == s["bad_events"]; }, 30))
      << rejected_total(ready_.http) << " rejected, " << s["bad_events"] << " bad events sent";
}

TEST_F(Simulate, TwoProgramsShareOneServer) {
  const json a = simulate({"--program", "research-grant", "--applicants", "30", "--seed", "1"});
  const json b = simulate({"--program", "visiting-academics", "--applicants", "30", "--seed", "1"});
  httplib::Client http(ready_.http);
  http.set_bearer_token_auth(testing::token_for(kBin, tmp_ / "data", "admin", "e2e"));
  for (const auto& [program, s] :
       {std::pair{"research-grant", a}, std::pair{"visiting-academics", b}}) {
    std::map<std::string, uint64_t> expected;
    for (const auto& [stage, n] : s["expected"].items()) expected[stage] = n.get<uint64_t>();
    EXPECT_TRUE(eventually([&] { return funnel(http, program) == expected; }, 60))
        << program << ": " << json(funnel(http, program)).dump() << " expected "
        << json(expected).dump();
  }
  // The same cohort again: its ids are deterministic, so nothing applies twice.
  simulate({"--program", "research-grant", "--applicants", "30", "--seed", "1"});
  std::map<std::string, uint64_t> expected;
  for (const auto& [stage, n] : a["expected"].items()) expected[stage] = n.get<uint64_t>();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(funnel(http, "research-grant"), expected);
}

TEST_F(Simulate, UsageErrors) {
  auto r = run({kBin, "simulate", "--program", "astronaut-training", "--workflows", kWorkflows,
                "--data-dir", tmp_ / "data"},
               tmp_ / "bad-program");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("astronaut-training"), std::string::npos) << r.err;
  r = run({kBin, "simulate", "--program", "research-grant", "--workflows", kWorkflows, "--data-dir",
           tmp_ / "nowhere"},
          tmp_ / "no-server");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--bootstrap-servers"), std::string::npos) << r.err;
  r = run({kBin, "simulate"}, tmp_ / "no-flags");
  EXPECT_EQ(r.code, 2);
}

}  // namespace
}  // namespace stagewise
