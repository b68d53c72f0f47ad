// `stagewise report PROGRAM [KIND]` (DESIGN.md §13): the program office's
// reports from the server running on the data dir (it gathers every
// process's part), or, when none runs, from the data dir itself.
#include "cli/client.h"
#include "cli/commands.h"
#include "common/config.h"
#include "common/time.h"
#include "reports/book.h"
#include "reports/csv.h"
#include "reports/reports.h"
#include "workflow/self_identification.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace stagewise::cli {
namespace {

using nlohmann::json;

std::string path_of(const ReportFlags& f) {
  std::string path = "/v1/programs/" + url_encode(f.program) +
                     (f.kind == "fairness"    ? "/fairness"
                      : f.kind == "reviewers" ? "/fairness/reviewers"
                                              : "/reports/" + f.kind);
  std::string query;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) query += (query.empty() ? "?" : "&") + std::string(k) + "=" + url_encode(v);
  };
  add("attribute", f.attribute);
  add("from", f.from);
  add("to", f.to);
  add("cycle", f.cycle);
  add("hub", f.hub);
  add("over", f.over);
  if (f.min_cell > 0) add("min_cell", std::to_string(f.min_cell));
  return path + query;
}

// The query as the server would read it; an error message when a flag is wrong.
std::string query_of(const ReportFlags& f, reports::Query& q) {
  q.now_ms = now_ms();
  q.attribute = f.attribute;
  q.filter.cycle = f.cycle;
  q.filter.hub = f.hub;
  // The floor the server would apply: its config file's reports.min_cell,
  // STAGEWISE_REPORTS_MIN_CELL, else the default.
  Config config;
  try {
    if (!f.config.empty()) config = load_config(f.config);
    apply_env_overrides(config);
  } catch (const std::exception& e) {
    return e.what();
  }
  q.min_cell = std::max<uint64_t>(static_cast<uint64_t>(config.reports.min_cell), f.min_cell);
  if (!f.from.empty() && !(q.filter.from_ms = reports::parse_bound(f.from, false)))
    return "--from must be a day (2026-03-01) or an RFC 3339 time";
  if (!f.to.empty() && !(q.filter.to_ms = reports::parse_bound(f.to, true)))
    return "--to must be a day (2026-03-31) or an RFC 3339 time";
  if (!f.over.empty()) {
    const auto over = parse_iso8601_duration_ms(f.over);
    if (!over || *over <= 0) return "--over must be an ISO 8601 duration, e.g. P14D";
    q.threshold_ms = *over;
  }
  return {};
}

// The report read from the data dir: {status, body}.
std::pair<int, json> from_data_dir(const ReportFlags& f) {
  auto err = [](int status, const std::string& code, const std::string& message) {
    return std::pair<int, json>{status, {{"error", {{"code", code}, {"message", message}}}}};
  };
  reports::Query q;
  if (auto bad = query_of(f, q); !bad.empty()) return err(400, "invalid_argument", bad);
  std::vector<workflow::Problem> problems;
  const auto registry = workflow::Registry::load({f.workflows}, problems);
  const auto* wf = registry.latest(f.program);
  if (wf == nullptr)
    return err(404, "not_found", "no workflow for \"" + f.program + "\" in " + f.workflows);
  auto st = store::Store::open(f.target.data_dir, local_store_options(f.target.data_dir));
  if (!st)
    return err(500, "store_error",
               "no server answers and the data dir cannot be read: " + st.error().message);
  reports::Book book;
  if (auto r = book.refresh(**st, registry); !r) return err(500, "store_error", r.error().message);
  reports::Tally t;
  book.each(f.program, [&](const reports::Row& row) {
    if (q.filter.admits(row)) t.add(row, *wf, q);
  });
  return {200, reports::finish(f.kind, *wf, t, q)};
}

// A cell as people read it: fractions to three places, null as "-".
std::string text_of(const json& v) {
  if (v.is_null()) return "-";
  if (!v.is_number_float()) return reports::csv_field(v);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v.get<double>());
  return buf;
}

// A table in aligned columns.
void print_table(const reports::Table& table) {
  std::vector<size_t> width;
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : table) {
    auto& out = cells.emplace_back();
    for (size_t i = 0; i < row.size(); ++i) {
      out.push_back(text_of(row[i]));
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], out.back().size());
    }
  }
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i)
      line += row[i] + std::string(i + 1 < row.size() ? width[i] - row[i].size() + 2 : 0, ' ');
    std::cout << line << "\n";
  }
}

}  // namespace

int report(const ReportFlags& f) {
  if (reports::needs_attribute(f.kind) && !workflow::valid_self_identification_key(f.attribute)) {
    std::cerr << "stagewise: the " << f.kind
              << " report needs --attribute: a self-identification answer (1 to 64 letters, "
                 "digits, '_', '-' or '.'), e.g. gender\n";
    return 2;
  }
  std::pair<int, json> result;
  if (const std::string url = server_url(f.target); !url.empty()) {
    const std::string token = !f.target.token.empty()   ? f.target.token
                              : f.target.server.empty() ? local_admin_token(f.target.data_dir)
                                                        : "";
    result = http_call(url, "GET", path_of(f), token);
  }
  if (result.first == 0 && f.target.server.empty()) result = from_data_dir(f);
  const auto& [status, body] = result;
  if (status != 200) {
    std::cerr << "stagewise: "
              << (body.contains("error") ? body["error"].value("message", "error")
                                         : "no answer from " + f.target.server)
              << "\n";
    return status == 400 ? 2 : 1;
  }
  if (f.target.json)
    std::cout << body.dump(2) << "\n";
  else if (f.csv)
    std::cout << reports::to_csv(f.kind, body);
  else
    print_table(reports::to_table(f.kind, body));
  return 0;
}

}  // namespace stagewise::cli
