// `stagewise assign` and `stagewise ranking` (DESIGN.md §12): ask the running
// server, which sees every process's applications and the reviewer pool.
#include "cli/client.h"
#include "cli/commands.h"

#include <cstdio>
#include <iostream>

namespace stagewise::cli {
namespace {

using nlohmann::json;

// The server and a token for it (without --token, one of `role` minted from
// the data dir's secret); empty url (and a message) when none runs.
std::pair<std::string, std::string> server_and_token(const Target& t, auth::Role role,
                                                     const std::string& program) {
  const std::string url = server_url(t);
  if (url.empty()) {
    std::cerr << "stagewise: no server runs on " << t.data_dir
              << "; start `stagewise serve` or pass --server URL\n";
    return {};
  }
  const std::string token = !t.token.empty()   ? t.token
                            : t.server.empty() ? local_token(t.data_dir, role, {program})
                                               : "";
  return {url, token};
}

std::string fixed(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void print_assignment(const json& body) {
  const json& f = body["figures"];
  std::cout << (body.value("dry_run", false) ? "plan (dry run, nothing sent)" : "assigned") << ": "
            << f["assignments"] << " reviews to " << f["applications"] << " applications from "
            << f["reviewers_used"] << " of " << body["pool"] << " reviewers\n"
            << "affinity: total " << fixed(f["total_affinity"].get<double>()) << ", mean "
            << fixed(f["mean_affinity"].get<double>()) << ", weakest pair "
            << fixed(f["min_pair_affinity"].get<double>()) << ", worst-off application (mean) "
            << fixed(f["worst_application_mean"].get<double>()) << "\n";
  for (const auto& a : body["assignments"])
    std::cout << "  " << a["application"].get<std::string>() << "  <-  "
              << a["reviewer"].get<std::string>() << "  (" << fixed(a["affinity"].get<double>())
              << ")\n";
}

void print_uncovered(const json& body) {
  std::cerr << "stagewise: no assignment: some applications cannot get all their reviewers "
               "(nothing was assigned)\n";
  for (const auto& u : body.value("uncovered", json::array()))
    std::cerr << "  " << u.value("application", "") << ": " << u.value("reason", "") << " - "
              << u.value("message", "") << "\n";
}

void print_ranking(const json& body) {
  std::cout << "rank  application            reviews  raw    calibrated  spread  flag\n";
  for (const auto& a : body["applications"]) {
    char line[256];
    std::snprintf(line, sizeof line, "%4d  %-22s %7zu  %5.2f  %10s  %6.2f  %s\n",
                  a["rank"].get<int>(), a["application"].get<std::string>().c_str(),
                  a["reviews"].get<size_t>(), a["raw_mean"].get<double>(),
                  a["calibrated"].is_null() ? "-" : fixed(a["calibrated"].get<double>(), 2).c_str(),
                  a["spread"].get<double>(), a["disagreement"].get<bool>() ? "disagree" : "");
    std::cout << line;
  }
  std::cout << "\nreviewer               count  mean   sd     leniency\n";
  for (const auto& r : body["reviewers"]) {
    char line[256];
    std::snprintf(line, sizeof line, "%-22s %5zu  %5.2f  %5.2f  %+6.2f%s\n",
                  r["reviewer"].get<std::string>().c_str(), r["count"].get<size_t>(),
                  r["mean"].get<double>(), r["sd"].get<double>(), r["leniency"].get<double>(),
                  r["standardised"].get<bool>() ? "" : "  (too few reviews: not standardised)");
    std::cout << line;
  }
}

int failed(int status, const json& body) {
  const std::string msg = body.is_object() && body.contains("message")
                              ? body["message"].get<std::string>()
                              : "request failed with status " + std::to_string(status);
  std::cerr << "stagewise: " << msg << "\n";
  return 1;
}

}  // namespace

int assign(const Target& t, const std::string& program, const std::string& stage, bool dry_run) {
  const auto [url, token] = server_and_token(t, auth::Role::program_manager, program);
  if (url.empty()) return 1;
  std::string path = "/v1/programs/" + url_encode(program) +
                     "/assignments?dry_run=" + (dry_run ? "true" : "false");
  if (!stage.empty()) path += "&stage=" + url_encode(stage);
  const auto [status, body] = http_call(url, "POST", path, token, "", 120);
  if (status == 0) return failed(0, json{{"message", "cannot reach the server at " + url}});
  if (status == 409) {
    if (t.json) std::cout << body.dump(2) << "\n";
    print_uncovered(body);
    return 2;
  }
  if (status >= 400) return failed(status, body.value("error", json::object()));
  if (t.json)
    std::cout << body.dump(2) << "\n";
  else
    print_assignment(body);
  return 0;
}

int ranking(const Target& t, const std::string& program, const std::string& stage) {
  const auto [url, token] = server_and_token(t, auth::Role::admin, program);
  if (url.empty()) return 1;
  std::string path = "/v1/programs/" + url_encode(program) + "/ranking";
  if (!stage.empty()) path += "?stage=" + url_encode(stage);
  const auto [status, body] = http_call(url, "GET", path, token, "", 120);
  if (status == 0) return failed(0, json{{"message", "cannot reach the server at " + url}});
  if (status >= 400) return failed(status, body.value("error", json::object()));
  if (t.json)
    std::cout << body.dump(2) << "\n";
  else
    print_ranking(body);
  return 0;
}

}  // namespace stagewise::cli
