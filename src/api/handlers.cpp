// The handlers of the HTTP API and the route table that names who may call
// each (DESIGN.md §10, §11). Reads are scoped by auth::scope_of: what is
// outside a caller's scope answers 404, as if it did not exist.
#include "api/dashboard.h"
#include "api/detail/replies.h"
#include "api/forward.h"
#include "api/graph_svg.h"
#include "api/metrics.h"
#include "api/openapi.h"
#include "api/routes.h"
#include "auth/scope.h"
#include "common/time.h"
#include "workflow/graph.h"

#include <cerrno>
#include <cstdlib>

namespace stagewise::api {

void post_events(const Call& c, const httplib::Request& req, httplib::Response& res);
// Reviews (reviews.cpp, DESIGN.md §12).
void get_conflicts(const Call& c, const httplib::Request& req, httplib::Response& res);
void get_reviewers(const Call& c, const httplib::Request& req, httplib::Response& res);
void get_reviewer(const Call& c, const httplib::Request& req, httplib::Response& res);
void get_ranking(const Call& c, const httplib::Request& req, httplib::Response& res);
void post_assignments(const Call& c, const httplib::Request& req, httplib::Response& res);
nlohmann::json assigned_conflicts(const Context& ctx, const workflow::Application& app);
// Reports (reports.cpp, DESIGN.md §13).
void get_funnel_report(const Call& c, const httplib::Request& req, httplib::Response& res);
void get_time_report(const Call& c, const httplib::Request& req, httplib::Response& res);
void get_hub_report(const Call& c, const httplib::Request& req, httplib::Response& res);
void get_fairness(const Call& c, const httplib::Request& req, httplib::Response& res);
void get_reviewer_fairness(const Call& c, const httplib::Request& req, httplib::Response& res);
// The audit (audit.cpp, DESIGN.md §14).
void get_audit_head(const Call& c, const httplib::Request& req, httplib::Response& res);
void get_audit_rounds(const Call& c, const httplib::Request& req, httplib::Response& res);
void get_application_audit(const Call& c, const httplib::Request& req, httplib::Response& res);
// Admin operations (admin.cpp, issue 15).
void post_backup(const Call& c, const httplib::Request& req, httplib::Response& res);

namespace detail {

auth::Scope scope_in_store(const Context& ctx, const auth::Principal& who, const std::string& id,
                           workflow::Application* out) {
  auto app = ctx.store->application(id);
  if (!app) return auth::Scope::none;
  const workflow::Workflow* wf = ctx.registry->find(app->program, app->workflow_version);
  const auto scope = wf != nullptr ? auth::scope_of(who, *app, *wf) : auth::Scope::none;
  if (out != nullptr && scope != auth::Scope::none) *out = std::move(*app);
  return scope;
}

std::optional<uint64_t> count_param(const httplib::Request& req, const char* name,
                                    uint64_t fallback, uint64_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || end != v.c_str() + v.size() || errno != 0) return std::nullopt;
  return std::min<uint64_t>(n, max);
}

}  // namespace detail

// The program named in the path, when the caller may see it; otherwise the
// answer (404 unknown, 403 outside the token's programs) is written.
const workflow::Workflow* program_in_scope(const Call& c, const std::string& program,
                                           httplib::Response& res) {
  const workflow::Workflow* wf = c.ctx.registry->latest(program);
  if (wf == nullptr) {
    detail::fail(res, 404, "not_found", "no program \"" + program + "\"");
    return nullptr;
  }
  if (c.who != nullptr && !c.who->may_program(program)) {
    detail::fail(res, 403, "forbidden", "your token does not cover program \"" + program + "\"");
    return nullptr;
  }
  return wf;
}

// Another process's application: its owner answers (forward.h).
std::optional<Visible> visible(const Call& c, const httplib::Request& req, const std::string& id,
                               httplib::Response& res) {
  auto app = c.ctx.store->application(id);
  if (!app) {
    if (app.error().is_not_found())
      detail::fail(res, 404, "not_found", "no application \"" + id + "\"");
    else if (app.error().code == Errc::unavailable && !forward_to_owner(c.ctx, req, res, id))
      detail::fail(res, 503, "not_owner", app.error().message);
    else if (app.error().code != Errc::unavailable)
      detail::fail(res, 500, "store_error", app.error().message);
    return std::nullopt;
  }
  const workflow::Workflow* wf = c.ctx.registry->find(app->program, app->workflow_version);
  const auto scope = wf != nullptr ? auth::scope_of(*c.who, *app, *wf) : auth::Scope::none;
  if (scope == auth::Scope::none) {
    detail::fail(res, 404, "not_found", "no application \"" + id + "\"");
    return std::nullopt;
  }
  return Visible{std::move(*app), scope};
}

namespace {

using auth::Role;
using detail::fail;
using detail::reply;
using nlohmann::json;

void healthz(const Call&, const httplib::Request&, httplib::Response& res) {
  reply(res, 200, {{"status", "ok"}});
}

// Ready once the assigned partitions are taken over (restored when need
// be); says which they are and which one is being restored.
void readyz(const Call& c, const httplib::Request&, httplib::Response& res) {
  const auto* p = c.ctx.processor;
  const bool ready = p == nullptr || p->ready();
  json out = {{"ready", ready}};
  if (p != nullptr) {
    out["partitions"] = p->owned_partitions();
    const int32_t restoring = p->takeover_stats().restoring.load();
    out["restoring"] = restoring >= 0 ? json(restoring) : json();
  }
  reply(res, ready ? 200 : 503, out);
}

void metrics(const Call& c, const httplib::Request&, httplib::Response& res) {
  const auto* p = c.ctx.processor;
  std::string text = metrics_text(p ? &p->stats() : nullptr, p ? p->relay_stats() : nullptr,
                                  p ? p->timer_stats() : nullptr, c.ctx.store);
  if (p != nullptr) text += partition_metrics_text(*p) + review_metrics_text(*p);
  text += operator_metrics_text(c.ctx);
  res.set_content(text, "text/plain; version=0.0.4");
}

// The dashboard's files: static, no data (the page reads the API with the
// token it is given). Only its own scripts and styles run, in no frame.
void dashboard(const Call&, const httplib::Request& req, httplib::Response& res) {
  const auto asset = dashboard_asset(req.path);
  if (!asset) return fail(res, 404, "not_found", "no such file: " + req.path);
  res.set_header(
      "Content-Security-Policy",
      "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
      "frame-ancestors 'none'; form-action 'self'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-cache");
  res.set_content(std::string(asset->bytes), std::string(asset->content_type));
}

// Open like /healthz: the document says what the source says, no data, and
// client generators and API browsers fetch it without credentials.
void openapi(const Call&, const httplib::Request&, httplib::Response& res) {
  res.set_content(std::string(openapi_document()), "application/json");
}

// Paths and addresses only for admins.
void info(const Call& c, const httplib::Request&, httplib::Response& res) {
  json out = c.ctx.info;
  if (const auto* p = c.ctx.processor; p != nullptr) {
    json lag = json::object();
    for (const auto& [partition, behind] : p->partition_lag())
      lag[std::to_string(partition)] = behind;
    out["partitions"] = {
        {"count", p->partitions()}, {"owned", p->owned_partitions()}, {"lag", lag}};
  }
  if (c.ctx.members != nullptr) {
    json members = json::array();
    for (const auto& m : c.ctx.members->others())
      members.push_back({{"id", m.id}, {"url", m.url}, {"partitions", m.partitions}});
    out["members"] = std::move(members);
    out["member_id"] = c.ctx.members->self_id();
  }
  if (c.who->role != Role::admin)
    for (const char* k : {"data_dir", "bootstrap_servers", "group_id", "members"}) out.erase(k);
  out["you"] = {{"sub", c.who->sub}, {"role", auth::role_name(c.who->role)}};
  reply(res, 200, out);
}

void workflows(const Call& c, const httplib::Request&, httplib::Response& res) {
  reply(res, 200, workflows_view(*c.ctx.registry));
}

void graph(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string program = req.matches[1];
  const std::string format = req.has_param("format") ? req.get_param_value("format") : "mermaid";
  if (format != "mermaid" && format != "dot" && format != "svg")
    return fail(res, 400, "invalid_argument", "format must be mermaid, dot or svg");
  const workflow::Workflow* wf = c.ctx.registry->latest(program);
  if (req.has_param("version")) {
    const auto v = detail::count_param(req, "version", 0, 1'000'000);
    if (!v) return fail(res, 400, "invalid_argument", "version must be an integer");
    wf = c.ctx.registry->find(program, static_cast<int>(*v));
  }
  if (wf == nullptr) return fail(res, 404, "not_found", "no workflow for \"" + program + "\"");
  if (format == "svg") {
    const auto svg = render_svg(workflow::to_dot(*wf));
    if (!svg) return fail(res, 503, "unavailable", svg.error().message);
    res.set_content(*svg, "image/svg+xml");
  } else if (format == "dot") {
    res.set_content(workflow::to_dot(*wf), "text/vnd.graphviz");
  } else {
    res.set_content(workflow::to_mermaid(*wf), "text/plain; charset=utf-8");
  }
}

void application(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  const auto v = visible(c, req, id, res);
  if (!v) return;
  auto timers = c.ctx.store->timers_of(id);
  json view = application_view(v->app, timers ? *timers : std::vector<store::TimerRecord>{});
  // Assigned reviewers who conflict with it now (a profile changed since).
  if (v->scope == auth::Scope::full) view["conflicts_flagged"] = assigned_conflicts(c.ctx, v->app);
  reply(res, 200,
        erased_view(auth::redact_application(v->scope, view, c.who->sub),
                    workflow::is_erased(v->app)));
}

void history(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  const auto v = visible(c, req, id, res);
  if (!v) return;
  auto h = c.ctx.store->history(id);
  if (!h) return fail(res, 500, "store_error", h.error().message);
  reply(res, 200,
        erased_view(auth::redact_history(v->scope, history_view(*h)), workflow::is_erased(v->app)));
}

// Whether the caller sees application `id` in a list (hub admins see their
// hub's only).
bool listed(const Call& c, const std::string& id) {
  return c.who->role != Role::hub_admin ||
         detail::scope_in_store(c.ctx, *c.who, id) != auth::Scope::none;
}

void list(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string program = req.matches[1];
  const workflow::Workflow* wf = program_in_scope(c, program, res);
  if (wf == nullptr) return;
  const auto limit = detail::count_param(req, "limit", 100, 10'000);
  if (!limit || *limit == 0)
    return fail(res, 400, "invalid_argument", "limit must be a positive integer");
  std::vector<std::string> stages;
  if (req.has_param("stage")) {
    stages.push_back(req.get_param_value("stage"));
    if (!wf->state(stages[0]))
      return fail(res, 400, "invalid_argument",
                  "program \"" + program + "\" has no stage \"" + stages[0] + "\"");
  } else {
    stages = wf->state_order;
  }
  json apps = json::array();
  for (const auto& stage : stages) {
    auto ids =
        c.ctx.store->list_stage(program, stage, *limit - apps.size(), req.get_param_value("after"));
    if (!ids) return fail(res, 500, "store_error", ids.error().message);
    for (const auto& id : *ids)
      if (listed(c, id)) apps.push_back({{"id", id}, {"stage", stage}});
    if (apps.size() >= *limit) break;
  }
  const auto g = gather_parts(c.ctx, req, res, {{"applications", apps}});
  if (!g) return;
  for (const auto& a : g->answers)
    for (const auto& app : a.value("applications", json::array())) apps.push_back(app);
  // Every owner listed its first `limit` in stage order, then id order.
  std::map<std::string, size_t> rank;
  for (size_t i = 0; i < stages.size(); ++i) rank[stages[i]] = i;
  std::sort(apps.begin(), apps.end(), [&](const json& a, const json& b) {
    const auto ra = rank[a.value("stage", "")], rb = rank[b.value("stage", "")];
    return ra != rb ? ra < rb : a.value("id", "") < b.value("id", "");
  });
  if (apps.size() > *limit)
    apps.erase(apps.begin() + static_cast<std::ptrdiff_t>(*limit), apps.end());
  reply(res, 200, {{"program", program}, {"applications", apps}});
}

void deadlines(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string program = req.matches[1];
  if (program_in_scope(c, program, res) == nullptr) return;
  int64_t before = now_ms() + 7LL * 24 * 3600 * 1000;
  if (req.has_param("before")) {
    const auto t = parse_rfc3339_ms(req.get_param_value("before"));
    if (!t)
      return fail(res, 400, "invalid_argument",
                  "before must be an RFC 3339 time, e.g. 2026-04-01T00:00:00Z");
    before = *t;
  }
  auto due = c.ctx.store->timers_due_before(before, 100000);
  if (!due) return fail(res, 500, "store_error", due.error().message);
  json list = json::array();
  for (const auto& t : *due)
    if (t.program == program) list.push_back(timer_view(t));
  const auto g = gather_parts(c.ctx, req, res, {{"deadlines", list}});
  if (!g) return;
  for (const auto& a : g->answers)
    for (const auto& t : a.value("deadlines", json::array())) list.push_back(t);
  std::stable_sort(list.begin(), list.end(), [](const json& a, const json& b) {
    return a.value("due", "") < b.value("due", "");  // RFC 3339 in UTC sorts as text
  });
  reply(res, 200,
        {{"program", program}, {"before", format_rfc3339_ms(before)}, {"deadlines", list}});
}

void funnel(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string program = req.matches[1];
  const workflow::Workflow* wf = program_in_scope(c, program, res);
  if (wf == nullptr) return;
  auto counts = c.ctx.store->stage_counts(program);
  if (!counts) return fail(res, 500, "store_error", counts.error().message);
  const auto g = gather_parts(c.ctx, req, res, {{"counts", *counts}});
  if (!g) return;
  for (const auto& a : g->answers) {
    const json their = a.value("counts", json::object());  // items() would outlive a temporary
    for (const auto& [stage, n] : their.items())
      if (n.is_number_unsigned()) (*counts)[stage] += n.get<uint64_t>();
  }
  reply(res, 200, funnel_view(*wf, *counts));
}

void dead_letters(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const auto limit = detail::count_param(req, "limit", 100, 1000);
  const auto before = detail::count_param(req, "before", 0, UINT64_MAX);
  if (!limit || !before)
    return fail(res, 400, "invalid_argument", "limit and before must be whole numbers");
  auto list = c.ctx.store->dead_letters(*limit, *before);
  if (!list) return fail(res, 500, "store_error", list.error().message);
  json out = json::array();
  for (const auto& d : *list) out.push_back(dead_letter_view(d, false));
  reply(res, 200, {{"deadletters", std::move(out)}});
}

void dead_letter(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  auto d = c.ctx.store->dead_letter(id);
  if (!d) {
    if (d.error().is_not_found())
      return fail(res, 404, "not_found", "no dead letter \"" + id + "\" is kept");
    return fail(res, 500, "store_error", d.error().message);
  }
  reply(res, 200, dead_letter_view(*d, true));
}

void parked(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const auto limit = detail::count_param(req, "limit", 100, 1000);
  const auto after = detail::count_param(req, "after", 0, UINT64_MAX);
  if (!limit || !after)
    return fail(res, 400, "invalid_argument", "limit and after must be whole numbers");
  auto list = c.ctx.store->parked(*limit, *after);
  if (!list) return fail(res, 500, "store_error", list.error().message);
  json out = json::array();
  for (const auto& p : *list) out.push_back(parked_view(p));
  reply(res, 200, {{"parked", std::move(out)}});
}

}  // namespace

const std::vector<Route>& route_table() {
  const std::vector<Role> office = {Role::admin, Role::program_manager, Role::service};
  const std::vector<Role> office_and_hubs = {Role::admin, Role::program_manager, Role::service,
                                             Role::hub_admin};
  static const std::vector<Route> table = {
      {"GET", "/healthz", "/healthz", Access::open, {}, healthz, "Liveness"},
      {"GET", "/readyz", "/readyz", Access::open, {}, readyz, "Readiness: partitions assigned"},
      {"GET", "/metrics", "/metrics", Access::metrics, {}, metrics, "Prometheus metrics"},
      {"GET", "/", "/", Access::open, {}, dashboard, "The dashboard (signs in with a token)"},
      {"GET",
       "/assets/app.js",
       "/assets/app.js",
       Access::open,
       {},
       dashboard,
       "The dashboard's script"},
      {"GET",
       "/assets/app.css",
       "/assets/app.css",
       Access::open,
       {},
       dashboard,
       "The dashboard's style sheet"},
      {"GET",
       R"(/v1/openapi\.json)",
       "/v1/openapi.json",
       Access::open,
       {},
       openapi,
       "This API's OpenAPI 3.1 document"},
      {"GET", "/v1/info", "/v1/info", Access::token, {}, info, "Version, topics, workflows"},
      {"GET", "/v1/workflows", "/v1/workflows", Access::token, {}, workflows, "Loaded workflows"},
      {"GET",
       R"(/v1/workflows/([^/]+)/graph)",
       "/v1/workflows/{program}/graph",
       Access::token,
       {},
       graph,
       "A workflow drawn as mermaid, dot or SVG (laid out by Graphviz)"},
      {"GET",
       R"(/v1/applications/([^/]+))",
       "/v1/applications/{id}",
       Access::token,
       {},
       application,
       "An application, as the caller may see it"},
      {"GET",
       R"(/v1/applications/([^/]+)/history)",
       "/v1/applications/{id}/history",
       Access::token,
       {},
       history,
       "How an application got where it is"},
      {"GET",
       R"(/v1/applications/([^/]+)/audit)",
       "/v1/applications/{id}/audit",
       Access::token,
       {},
       get_application_audit,
       "A history entry's inclusion proof: its chain hash, Merkle path and round (?sequence=)"},
      {"GET", "/v1/audit/head", "/v1/audit/head", Access::token, office, get_audit_head,
       "The latest round digest of every partition and their combined digest, to pin"},
      {"GET", "/v1/audit/rounds", "/v1/audit/rounds", Access::token, office, get_audit_rounds,
       "A partition's round digests after a round (?partition=&after=&limit=)"},
      {"GET", R"(/v1/applications/([^/]+)/conflicts)", "/v1/applications/{id}/conflicts",
       Access::token, office, get_conflicts,
       "Reviewers with a conflict of interest, with reason and evidence"},
      {"GET", "/v1/reviewers", "/v1/reviewers", Access::token, office, get_reviewers,
       "The reviewer pool (?program=)"},
      {"GET",
       R"(/v1/reviewers/([^/]+))",
       "/v1/reviewers/{id}",
       Access::token,
       {},
       get_reviewer,
       "One reviewer's profile (program managers; the reviewer itself)"},
      {"POST",
       R"(/v1/programs/([^/]+)/assignments)",
       "/v1/programs/{program}/assignments",
       Access::token,
       {Role::program_manager},
       post_assignments,
       "Assign reviewers: conflict-free, within loads, fair first (?stage=, ?dry_run=true)"},
      {"GET", R"(/v1/programs/([^/]+)/ranking)", "/v1/programs/{program}/ranking", Access::token,
       office, get_ranking, "Applications ranked by calibrated review scores (?stage=)"},
      {"GET", R"(/v1/programs/([^/]+)/applications)", "/v1/programs/{program}/applications",
       Access::token, office_and_hubs, list, "Applications of a program by stage"},
      {"GET", R"(/v1/programs/([^/]+)/deadlines)", "/v1/programs/{program}/deadlines",
       Access::token, office, deadlines, "Pending deadlines and reminders"},
      {"GET", R"(/v1/programs/([^/]+)/funnel)", "/v1/programs/{program}/funnel", Access::token,
       office, funnel, "Applications per stage"},
      {"GET", R"(/v1/programs/([^/]+)/reports/funnel)", "/v1/programs/{program}/reports/funnel",
       Access::token, office, get_funnel_report,
       "The funnel: applications now and ever in each stage, conversion (filters; format=csv)"},
      {"GET", R"(/v1/programs/([^/]+)/reports/time-in-stage)",
       "/v1/programs/{program}/reports/time-in-stage", Access::token, office, get_time_report,
       "Time in stage: p50, p90, max; applications waiting longer than ?over="},
      {"GET", R"(/v1/programs/([^/]+)/reports/hubs)", "/v1/programs/{program}/reports/hubs",
       Access::token, office_and_hubs, get_hub_report,
       "Per hub university: applications, stages, outcomes (a hub admin sees its own)"},
      {"GET", R"(/v1/programs/([^/]+)/fairness)", "/v1/programs/{program}/fairness", Access::token,
       office, get_fairness,
       "Fairness by stage for a self-identification attribute: rates, impact ratios, "
       "four-fifths flags, small groups suppressed"},
      {"GET", R"(/v1/programs/([^/]+)/fairness/reviewers)",
       "/v1/programs/{program}/fairness/reviewers", Access::token, office, get_reviewer_fairness,
       "Each reviewer's mean score per group against its own mean, small groups suppressed"},
      {"GET",
       "/v1/deadletters",
       "/v1/deadletters",
       Access::token,
       {Role::admin},
       dead_letters,
       "Kept dead letters, newest first"},
      {"GET",
       R"(/v1/deadletters/(.+))",
       "/v1/deadletters/{id}",
       Access::token,
       {Role::admin},
       dead_letter,
       "One dead letter with its original"},
      {"GET",
       "/v1/outbox/parked",
       "/v1/outbox/parked",
       Access::token,
       {Role::admin},
       parked,
       "Outputs the broker refused for good"},
      {"POST",
       "/v1/admin/backup",
       "/v1/admin/backup",
       Access::token,
       {Role::admin},
       post_backup,
       "Write a consistent backup of the store and its key files to a new dir on the server"},
      {"POST",
       "/v1/events",
       "/v1/events",
       Access::token,
       {},
       post_events,
       "Send events as the token's actor"},
  };
  return table;
}

}  // namespace stagewise::api
