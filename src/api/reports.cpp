// The program office's reports over HTTP (DESIGN.md §13): funnel, time in
// stage, hubs, fairness by stage and by reviewer, as JSON or CSV. Each
// process tallies its own applications; the one asked gathers the others'
// tallies (forward.h) and finishes the report, suppression included.
#include "reports/reports.h"

#include "api/detail/replies.h"
#include "api/forward.h"
#include "api/routes.h"
#include "common/time.h"
#include "reports/csv.h"
#include "workflow/self_identification.h"

#include <algorithm>

namespace stagewise::api {
namespace {

using auth::Role;
using detail::fail;
using nlohmann::json;

// The filters and options of a report request; nullopt when one is wrong
// (400 written, naming it).
std::optional<reports::Query> query_of(const Call& c, const httplib::Request& req,
                                       httplib::Response& res, bool attribute_needed) {
  reports::Query q;
  q.now_ms = now_ms();
  q.min_cell = c.ctx.min_cell;
  for (const char* k : {"from", "to"}) {
    if (!req.has_param(k)) continue;
    const auto t = reports::parse_bound(req.get_param_value(k), std::string_view(k) == "to");
    if (!t) {
      fail(res, 400, "invalid_argument",
           std::string(k) + " must be a day (2026-03-01) or an RFC 3339 time");
      return std::nullopt;
    }
    (std::string_view(k) == "from" ? q.filter.from_ms : q.filter.to_ms) = *t;
  }
  q.filter.cycle = req.get_param_value("cycle");
  q.filter.hub = req.get_param_value("hub");
  if (q.filter.cycle.size() > 64 || q.filter.hub.size() > 256) {
    fail(res, 400, "invalid_argument", "cycle is at most 64 bytes, hub at most 256");
    return std::nullopt;
  }
  if (c.who->role == Role::hub_admin) q.filter.hub = c.who->university;
  q.attribute = req.get_param_value("attribute");
  if (attribute_needed && !workflow::valid_self_identification_key(q.attribute)) {
    fail(res, 400, "invalid_argument",
         "attribute must name a self-identification answer (1 to 64 letters, digits, '_', '-' "
         "or '.'), e.g. attribute=gender");
    return std::nullopt;
  }
  if (req.has_param("min_cell")) {
    const auto m = detail::count_param(req, "min_cell", 0, 1'000'000);
    if (!m) {
      fail(res, 400, "invalid_argument", "min_cell must be a whole number");
      return std::nullopt;
    }
    q.min_cell = std::max<uint64_t>(q.min_cell, *m);  // never fewer than reports.min_cell
  }
  if (req.has_param("over")) {
    const auto over = parse_iso8601_duration_ms(req.get_param_value("over"));
    if (!over || *over <= 0) {
      fail(res, 400, "invalid_argument", "over must be an ISO 8601 duration, e.g. P14D or PT36H");
      return std::nullopt;
    }
    q.threshold_ms = *over;
  }
  return q;
}

// The tally of every process's applications of `wf` that `q` admits;
// nullopt when the answer is written already (a peer's part, an error).
std::optional<reports::Tally> tally_all(const Call& c, const httplib::Request& req,
                                        httplib::Response& res, const workflow::Workflow& wf,
                                        const reports::Query& q) {
  if (c.ctx.reports == nullptr) {
    fail(res, 503, "unavailable", "this server keeps no reports");
    return std::nullopt;
  }
  if (auto r = c.ctx.reports->refresh(*c.ctx.store, *c.ctx.registry); !r) {
    fail(res, 500, "store_error", r.error().message);
    return std::nullopt;
  }
  reports::Tally t;
  c.ctx.reports->each(wf.program, [&](const reports::Row& row) {
    if (q.filter.admits(row)) t.add(row, wf, q);
  });
  const auto g = gather_parts(c.ctx, req, res, {{"tally", reports::to_json(t)}});
  if (!g) return std::nullopt;
  try {
    for (const auto& a : g->answers) t.merge(reports::tally_from_json(a.at("tally")));
  } catch (const json::exception& e) {
    fail(res, 502, "bad_part", std::string("another process sent a malformed part: ") + e.what());
    return std::nullopt;
  }
  return t;
}

// Writes `report` as JSON, or as CSV when ?format=csv or Accept asks for it.
void answer(const httplib::Request& req, httplib::Response& res, std::string_view kind,
            const json& report) {
  const std::string format = req.get_param_value("format");
  const bool csv =
      format == "csv" || (format.empty() && req.get_header_value("Accept") == "text/csv");
  if (!csv) return detail::reply(res, 200, report);
  res.status = 200;
  res.set_header("Content-Disposition", "attachment; filename=\"" +
                                            report.value("program", "report") + "-" +
                                            std::string(kind) + ".csv\"");
  res.set_content(reports::to_csv(kind, report), "text/csv; charset=utf-8");
}

// One report: scope, query, tallies, finish, format.
void report(const Call& c, const httplib::Request& req, httplib::Response& res,
            std::string_view kind) {
  const workflow::Workflow* wf = program_in_scope(c, req.matches[1], res);
  if (wf == nullptr) return;
  const std::string format = req.get_param_value("format");
  if (!format.empty() && format != "json" && format != "csv")
    return fail(res, 400, "invalid_argument", "format must be json or csv");
  const auto q = query_of(c, req, res, reports::needs_attribute(kind));
  if (!q) return;
  const auto t = tally_all(c, req, res, *wf, *q);
  if (!t) return;
  answer(req, res, kind, reports::finish(kind, *wf, *t, *q));
}

}  // namespace

void get_funnel_report(const Call& c, const httplib::Request& req, httplib::Response& res) {
  report(c, req, res, "funnel");
}
void get_time_report(const Call& c, const httplib::Request& req, httplib::Response& res) {
  report(c, req, res, "time-in-stage");
}
void get_hub_report(const Call& c, const httplib::Request& req, httplib::Response& res) {
  report(c, req, res, "hubs");
}
void get_fairness(const Call& c, const httplib::Request& req, httplib::Response& res) {
  report(c, req, res, "fairness");
}
void get_reviewer_fairness(const Call& c, const httplib::Request& req, httplib::Response& res) {
  report(c, req, res, "reviewers");
}

}  // namespace stagewise::api
