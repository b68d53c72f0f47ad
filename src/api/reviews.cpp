// Reviews over HTTP (DESIGN.md §12): the reviewer pool, computed conflicts
// of interest, the assignment of reviewers and the calibrated ranking. The
// reviews library decides; this file gathers the state it decides on
// (every process's applications of the program, forward.h) and, for an
// assignment, sends the chosen `reviewer.assigned` events through the
// intake, so they are in the history and replay alike.
#include "api/detail/replies.h"
#include "api/forward.h"
#include "api/routes.h"
#include "common/digest.h"
#include "common/time.h"
#include "reviews/assignment.h"
#include "reviews/conflicts.h"
#include "reviews/ranking.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>

namespace stagewise::api {
namespace {

using detail::fail;
using detail::reply;
using nlohmann::json;

// The processor's pool; an empty one where no processor runs (a read-only
// server knows no reviewers).
const reviews::ReviewerPool* pool_of(const Context& ctx) {
  static const reviews::ReviewerPool kEmpty;
  return ctx.processor != nullptr ? &ctx.processor->reviewers() : &kEmpty;
}

// The stages reviewers are assigned in: `?stage=` when given (it must ask
// for reviewers), else every stage whose review spec asks for some.
std::optional<std::vector<std::string>> review_stages(const workflow::Workflow& wf,
                                                      const httplib::Request& req,
                                                      httplib::Response& res) {
  std::vector<std::string> out;
  if (req.has_param("stage")) {
    const std::string stage = req.get_param_value("stage");
    const workflow::State* st = wf.state(stage);
    if (st == nullptr || !st->review || st->review->reviewers <= 0) {
      fail(res, 400, "invalid_argument",
           "stage \"" + stage + "\" of " + wf.program +
               " has no review spec asking for reviewers (\"review\": {\"reviewers\": N})");
      return std::nullopt;
    }
    out.push_back(stage);
    return out;
  }
  for (const auto& name : wf.state_order)
    if (const auto* st = wf.state(name); st && st->review && st->review->reviewers > 0)
      out.push_back(name);
  return out;
}

json string_list(const json& facts, const char* key) {
  json out = json::array();
  if (const auto it = facts.find(key); it != facts.end() && it->is_array())
    for (const auto& v : *it)
      if (v.is_string()) out.push_back(v);
  return out;
}

json profile_of(const workflow::Application& app) {
  const auto it = app.facts.find("profile");
  return it != app.facts.end() && it->is_object() ? *it : json::object();
}

// One application in a review stage as an assignment sees it; conflicts
// are computed only where reviewers are missing.
json assignment_item(const workflow::Application& app, const std::string& stage, int need,
                     const std::vector<reviews::PreparedReviewer>& pool, int64_t now) {
  const json on = string_list(app.facts, "reviewers");
  const int missing = std::max<int>(0, need - static_cast<int>(on.size()));
  json conflicted = json::array();
  if (missing > 0) {
    const auto side = reviews::prepare_application(app.id, app.facts);
    for (const auto& r : pool)
      if (!reviews::find_conflicts(side, r, now).empty()) conflicted.push_back(r.id());
  }
  return {{"id", app.id},
          {"stage", stage},
          {"sequence", app.sequence},
          {"missing", missing},
          {"reviewers", on},
          {"topics", string_list(profile_of(app), "topics")},
          {"conflicts", conflicted}};
}

// This process's applications in every review stage of the program (their
// reviewers count towards the loads); those in `targets` with the reviewers
// they still lack, their topics, and which pool reviewers conflict with them
// (computed here, where their profiles are). Refused before any check when
// the applications to fill times the pool pass the solver's bound.
Result<json> assignment_items(const Context& ctx, const workflow::Workflow& wf,
                              const std::vector<std::string>& targets) {
  // Each side is prepared once (names folded, dates parsed): an assignment
  // checks every application against every reviewer of the pool.
  std::vector<reviews::PreparedReviewer> pool;
  for (const auto& r : pool_of(ctx)->serving(wf.program))
    pool.push_back(reviews::prepare_reviewer(r->id, r->profile));
  const size_t width = std::max<size_t>(1, pool.size());
  const int64_t now = now_ms();
  json items = json::array();
  for (const auto& [stage, st] : wf.states) {
    if (!st.review || st.review->reviewers <= 0) continue;
    const bool target = std::find(targets.begin(), targets.end(), stage) != targets.end();
    auto ids = ctx.store->list_stage(wf.program, stage, reviews::kMaxAssignmentEdges);
    if (!ids) return ids.error();
    if (target && ids->size() * width > reviews::kMaxAssignmentEdges)
      return make_error(Errc::invalid_argument,
                        std::to_string(ids->size()) + " applications in \"" + stage + "\" and " +
                            std::to_string(pool.size()) +
                            " reviewers are more pairs than one assignment takes (" +
                            std::to_string(reviews::kMaxAssignmentEdges) + ")");
    for (const auto& id : *ids) {
      auto app = ctx.store->application(id);
      if (!app) continue;  // moved on since the listing
      items.push_back(assignment_item(*app, stage, target ? st.review->reviewers : 0, pool, now));
    }
  }
  return items;
}

// Every process's part: the arrays of `local` with the other processes'
// appended; nothing (the answer written) when the caller asked for this
// process's part only, or some partition had no answer.
std::optional<json> everyone(const Call& c, const httplib::Request& req, httplib::Response& res,
                             const json& local) {
  const auto g = gather_parts(c.ctx, req, res, local);
  if (!g) return std::nullopt;
  json all = local;
  for (const auto& a : g->answers)
    for (auto& [key, list] : all.items())
      if (const auto it = a.find(key); it != a.end() && it->is_array())
        for (const auto& item : *it) list.push_back(item);
  return all;
}

bool well_formed(const json& item) {
  return item.is_object() && item.contains("id") && item["id"].is_string() &&
         item.contains("missing") && item["missing"].is_number_integer() &&
         item["missing"].get<int64_t>() >= 0 && item["missing"].get<int64_t>() <= 1000 &&
         item.contains("sequence") && item["sequence"].is_number_unsigned();
}

// The problem the solver is given: applications short of reviewers, the
// program's pool with what each may still take (max_load minus the
// applications in review it is on), conflicts, imported affinities.
reviews::AssignmentProblem problem_of(const json& items, const reviews::ReviewerPool& pool,
                                      const std::string& program) {
  reviews::AssignmentProblem p;
  std::map<std::string, int> load;
  int missing_total = 0;
  for (const auto& item : items) {
    if (!well_formed(item)) continue;  // another process's answer, checked like any input
    const auto on = string_list(item, "reviewers").get<std::vector<std::string>>();
    for (const auto& r : on) ++load[r];
    const int missing = item["missing"].get<int>();
    if (missing <= 0) continue;
    missing_total += missing;
    reviews::Paper paper{item["id"], missing,
                         string_list(item, "topics").get<std::vector<std::string>>(), on};
    for (const auto& r : string_list(item, "conflicts"))
      p.conflicts.emplace(paper.id, r.get<std::string>());
    p.papers.push_back(std::move(paper));
  }
  for (const auto& r : pool.serving(program)) {
    const auto limit = reviews::max_load(r->profile, program);
    const int capacity = limit ? *limit - load[r->id] : missing_total;
    p.reviewers.push_back({r->id, reviews::topics(r->profile), capacity});
    for (const auto& paper : p.papers)
      if (const auto it = r->affinity.find(paper.id); it != r->affinity.end() && it->is_number())
        p.affinity[{paper.id, r->id}] = it->get<double>();
  }
  return p;
}

json figures_of(const reviews::AssignmentResult& r) {
  return {{"applications", r.papers},
          {"assignments", r.pairs.size()},
          {"reviewers_used", r.reviewers_used},
          {"total_affinity", r.total_affinity},
          {"mean_affinity", r.mean_affinity},
          {"min_pair_affinity", r.min_pair_affinity},
          {"worst_application_mean", r.worst_paper_mean}};
}

// The same pair planned on the same state of the application gets the same
// id; fields are length-prefixed, so no two pairs share one.
std::string plan_key(const reviews::Pair& pair, uint64_t sequence) {
  std::string key;
  for (const std::string& part : {pair.paper, pair.reviewer, std::to_string(sequence)})
    key += std::to_string(part.size()) + ":" + part;
  return sha256_hex(key).substr(0, 40);
}

// One reviewer.assigned per chosen pair, as the calling program manager.
// The id names the application's state it was planned on, so the same plan
// sent twice is applied once, and a later plan gets new ids.
std::vector<json> assignment_events(const json& items, const reviews::AssignmentResult& r,
                                    const std::string& program, const std::string& run) {
  std::map<std::string, uint64_t> sequence;
  for (const auto& item : items)
    if (well_formed(item)) sequence[item["id"]] = item["sequence"].get<uint64_t>();
  std::vector<json> events;
  const std::string time = format_rfc3339_ms(now_ms());
  for (const auto& pair : r.pairs)
    events.push_back(
        {{"specversion", "1.0"},
         {"id", "assign-" + plan_key(pair, sequence[pair.paper])},
         {"source", "stagewise.assign"},
         {"type", "reviewer.assigned"},
         {"subject", pair.paper},
         {"program", program},
         {"time", time},
         {"data",
          {{"reviewer", pair.reviewer}, {"affinity", pair.affinity}, {"assignment", run}}}});
  return events;
}

json uncovered_view(const std::vector<reviews::Uncovered>& list) {
  json out = json::array();
  for (const auto& u : list)
    out.push_back({{"application", u.paper},
                   {"missing", u.missing},
                   {"eligible", u.eligible},
                   {"reason", u.reason},
                   {"message", u.message}});
  return out;
}

json pairs_view(const std::vector<reviews::Pair>& pairs) {
  json out = json::array();
  for (const auto& p : pairs)
    out.push_back({{"application", p.paper}, {"reviewer", p.reviewer}, {"affinity", p.affinity}});
  return out;
}

// Sends the plan's events; false (the answer written) when the intake
// did not take every one of them.
bool send_plan(const Call& c, std::vector<json>& events, httplib::Response& res) {
  if (c.ctx.intake == nullptr) {
    fail(res, 503, "unavailable", "this server does not take events");
    return false;
  }
  for (auto& e : events)
    if (auto why = authorize_event(c, e); !why.empty()) {
      fail(res, 403, "forbidden", why);
      return false;
    }
  const auto results = c.ctx.intake->submit(events, 10000, 0);
  for (const auto& r : results)
    if (!r.accepted) {
      fail(res, 503, "unavailable",
           "the intake did not take assignment " + r.id + ": " + r.error +
               "; run the assignment again (events already taken are not sent twice)");
      return false;
    }
  return true;
}

json conflict_view(const reviews::Conflict& c, bool assigned) {
  return {{"reviewer", c.reviewer},
          {"reason", c.reason},
          {"evidence", c.evidence},
          {"assigned", assigned}};
}

// The rubric review scores are reduced with: the stage's, else the first
// the workflow declares.
std::vector<reviews::RubricCriterion> rubric_of(const workflow::Workflow& wf,
                                                const std::string& stage) {
  std::vector<reviews::RubricCriterion> out;
  if (const auto* spec = wf.review_spec(stage))
    for (const auto& c : spec->rubric) out.push_back({c.name, c.weight, c.min, c.max});
  return out;
}

// This process's part of a ranking: every review in the program (each
// reviewer is calibrated on all of them) and the applications to rank: those
// in `ranked_stages`, and with `reviewed`, every one with a review too.
Result<json> ranking_part(const Context& ctx, const workflow::Workflow& wf,
                          const std::vector<std::string>& ranked_stages, bool reviewed,
                          const std::vector<reviews::RubricCriterion>& rubric) {
  json reviews = json::array(), ranked = json::array();
  const std::set<std::string> rank_here(ranked_stages.begin(), ranked_stages.end());
  for (const auto& stage : wf.state_order) {
    auto ids = ctx.store->list_stage(wf.program, stage, 1'000'000);
    if (!ids) return ids.error();
    for (const auto& id : *ids) {
      auto app = ctx.store->application(id);
      if (!app) continue;
      const auto it = app->facts.find("reviews");
      const bool has_reviews = it != app->facts.end() && it->is_array() && !it->empty();
      if (rank_here.count(stage) || (reviewed && has_reviews)) ranked.push_back(id);
      if (!has_reviews) continue;
      for (const auto& r : *it) {
        if (!r.is_object() || !r.contains("reviewer") || !r["reviewer"].is_string()) continue;
        if (auto score = reviews::weighted_score(rubric, r.value("scores", json())))
          reviews.push_back({{"application", id}, {"reviewer", r["reviewer"]}, {"score", *score}});
      }
    }
  }
  return json{{"reviews", reviews}, {"ranked", ranked}};
}

json ranking_view(const reviews::Ranking& r) {
  json apps = json::array(), reviewers = json::array();
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(); };
  for (const auto& a : r.applications)
    apps.push_back({{"rank", a.rank},
                    {"application", a.application},
                    {"reviews", a.reviews},
                    {"raw_mean", a.raw_mean},
                    {"calibrated", opt(a.calibrated)},
                    {"calibrated_z", opt(a.calibrated_z)},
                    {"spread", a.spread},
                    {"range", a.range},
                    {"disagreement", a.disagreement}});
  for (const auto& s : r.reviewers)
    reviewers.push_back({{"reviewer", s.reviewer},
                         {"count", s.count},
                         {"mean", s.mean},
                         {"sd", s.sd},
                         {"leniency", s.leniency},
                         {"standardised", s.standardised}});
  return {{"program_mean", r.program_mean},
          {"program_sd", r.program_sd},
          {"reviews", r.reviews},
          {"applications", apps},
          {"reviewers", reviewers}};
}

bool office(const auth::Principal& who) {
  return who.role == auth::Role::admin || who.role == auth::Role::program_manager ||
         who.role == auth::Role::service;
}

// A reviewer's profile is its programs' office's: a token bound to some
// programs sees the reviewers serving one of them (and those in no pool).
bool may_see(const auth::Principal& who, const reviews::ReviewerRecord& r) {
  if (!office(who)) return false;
  const auto it = r.profile.find("programs");
  if (it == r.profile.end() || !it->is_array() || it->empty()) return true;
  for (const auto& p : *it)
    if (p.is_string() && who.may_program(p.get<std::string>())) return true;
  return false;
}

json reviewer_view(const reviews::ReviewerRecord& r) {
  return {{"id", r.id},           {"revision", r.revision},
          {"profile", r.profile}, {"affinity_scores", r.affinity.size()},
          {"updated", r.updated}, {"event", r.event}};
}

}  // namespace

// The assigned reviewers who conflict with `app` now: a conflict that came
// up after the assignment (a profile changed) is flagged on the application.
json assigned_conflicts(const Context& ctx, const workflow::Application& app) {
  json out = json::array();
  const auto* pool = pool_of(ctx);
  const json on = string_list(app.facts, "reviewers");
  const int64_t now = now_ms();
  for (const auto& r : on) {
    const auto rec = pool ? pool->get(r.get<std::string>()) : nullptr;
    static const json kNone = json::object();
    for (const auto& c :
         reviews::find_conflicts(app.id, app.facts, r, rec ? rec->profile : kNone, now))
      out.push_back({{"reviewer", c.reviewer}, {"reason", c.reason}});
  }
  return out;
}

// GET /v1/applications/{id}/conflicts: every reviewer of the program's pool
// (and every one assigned) that conflicts with the application, with the
// reason and the evidence, as of now.
void get_conflicts(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  auto stored = c.ctx.store->application(id);
  if (!stored && stored.error().code == Errc::unavailable && forward_to_owner(c.ctx, req, res, id))
    return;
  workflow::Application app;
  if (detail::scope_in_store(c.ctx, *c.who, id, &app) != auth::Scope::full)
    return fail(res, 404, "not_found", "no application \"" + id + "\"");
  const auto* pool = pool_of(c.ctx);
  if (pool == nullptr) return fail(res, 503, "unavailable", "no reviewer pool here");
  const json on = string_list(app.facts, "reviewers");
  std::set<std::string> assigned(on.begin(), on.end());
  std::map<std::string, reviews::ReviewerPtr> ask;
  for (const auto& r : pool->serving(app.program)) ask[r->id] = r;
  for (const auto& r : assigned)
    if (!ask.count(r)) ask[r] = pool->get(r);
  const int64_t now = now_ms();
  json list = json::array();
  static const json kNone = json::object();
  for (const auto& [rid, rec] : ask)
    for (const auto& found :
         reviews::find_conflicts(id, app.facts, rid, rec ? rec->profile : kNone, now))
      list.push_back(conflict_view(found, assigned.count(rid) > 0));
  reply(res, 200,
        {{"application", id},
         {"program", app.program},
         {"checked_at", format_rfc3339_ms(now)},
         {"pool", ask.size()},
         {"conflicts", list}});
}

// GET /v1/reviewers[?program=P]: the pool (program managers).
void get_reviewers(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const auto* pool = pool_of(c.ctx);
  if (pool == nullptr) return fail(res, 503, "unavailable", "no reviewer pool here");
  const std::string program = req.get_param_value("program");
  if (!program.empty() && !c.who->may_program(program))
    return fail(res, 403, "forbidden", "your token does not cover program \"" + program + "\"");
  json list = json::array();
  for (const auto& r : program.empty() ? pool->all() : pool->serving(program))
    if (may_see(*c.who, *r)) list.push_back(reviewer_view(*r));
  reply(res, 200, {{"program", program.empty() ? json() : json(program)}, {"reviewers", list}});
}

// GET /v1/reviewers/{id}: one reviewer (program managers; a reviewer itself).
void get_reviewer(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  const auto* pool = pool_of(c.ctx);
  const auto rec = pool ? pool->get(id) : nullptr;
  const bool self = c.who->role == auth::Role::reviewer && c.who->sub == id;
  if (rec == nullptr || !(self || (office(*c.who) && may_see(*c.who, *rec))))
    return fail(res, 404, "not_found", "no reviewer \"" + id + "\"");
  json view = reviewer_view(*rec);
  if (office(*c.who)) view["affinity"] = rec->affinity;
  reply(res, 200, view);
}

// GET /v1/programs/{program}/ranking[?stage=S]
void get_ranking(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const workflow::Workflow* wf = program_in_scope(c, req.matches[1], res);
  if (wf == nullptr) return;
  const auto stages = review_stages(*wf, req, res);
  if (!stages) return;
  if (stages->empty())
    return fail(res, 400, "invalid_argument", wf->program + " has no stage with reviewers");
  const auto rubric = rubric_of(*wf, stages->front());
  auto local = ranking_part(c.ctx, *wf, *stages, !req.has_param("stage"), rubric);
  if (!local) return fail(res, 500, "store_error", local.error().message);
  const auto all = everyone(c, req, res, *local);
  if (!all) return;
  std::vector<reviews::ReviewScore> scores;
  for (const auto& r : (*all)["reviews"])  // other processes' answers: checked like any input
    if (r.is_object() && r.value("score", json()).is_number())
      scores.push_back({r.value("application", ""), r.value("reviewer", ""), r["score"]});
  const auto ranked = string_list(*all, "ranked").get<std::vector<std::string>>();
  reviews::RankingOptions options;
  if (!rubric.empty())
    options.scale_min = rubric.front().min, options.scale_max = rubric.front().max;
  json body = ranking_view(reviews::rank_applications(scores, ranked, options));
  body["program"] = wf->program;
  body["stages"] = *stages;
  body["method"] = {{"score", "weighted mean of the rubric on its first criterion's scale"},
                    {"calibration",
                     "each reviewer's scores standardised over all its reviews in the program "
                     "(z = (s - mean) / sd); reviewers with fewer than " +
                         std::to_string(options.min_reviews) +
                         " reviews, or one score for all, use the program's mean and sd"},
                    {"calibrated", "program mean + mean z x program sd"},
                    {"disagreement", "range of raw scores >= " + json(options.disagreement).dump() +
                                         " of the scale's width"}};
  reply(res, 200, body);
}

// POST /v1/programs/{program}/assignments[?stage=S][&dry_run=true]
void post_assignments(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const workflow::Workflow* wf = program_in_scope(c, req.matches[1], res);
  if (wf == nullptr) return;
  if (pool_of(c.ctx) == nullptr) return fail(res, 503, "unavailable", "no reviewer pool here");
  const auto stages = review_stages(*wf, req, res);
  if (!stages) return;
  // One run at a time here: two plans made on the same state would both
  // be applied, each filling the same gaps.
  static std::atomic<bool> running{false};
  const detail::OneAtATime turn(running);
  if (!turn.acquired()) {
    res.set_header("Retry-After", "2");
    return fail(res, 409, "assignment_running", "an assignment is being made; try again shortly");
  }
  auto local = assignment_items(c.ctx, *wf, *stages);
  if (!local)
    return local.error().code == Errc::invalid_argument
               ? fail(res, 413, "too_large", local.error().message + "; assign one stage at a time")
               : fail(res, 500, "store_error", local.error().message);
  const auto all = everyone(c, req, res, {{"items", std::move(*local)}});
  if (!all) return;
  json items = (*all)["items"];
  std::sort(items.begin(), items.end(),
            [](const json& a, const json& b) { return a.value("id", "") < b.value("id", ""); });
  const auto problem = problem_of(items, *pool_of(c.ctx), wf->program);
  reviews::AssignmentResult result;
  try {
    result = reviews::solve_assignment(problem);
  } catch (const std::exception& e) {
    return fail(res, 413, "too_large", e.what());
  }
  const bool dry =
      req.get_param_value("dry_run") == "true" || req.get_param_value("dry_run") == "1";
  json body = {{"program", wf->program},
               {"stages", *stages},
               {"dry_run", dry},
               {"feasible", result.feasible},
               {"pool", problem.reviewers.size()},
               {"figures", figures_of(result)},
               {"assignments", pairs_view(result.pairs)},
               {"uncovered", uncovered_view(result.uncovered)}};
  if (!result.feasible) {
    body["error"] = "assignment_infeasible";
    body["message"] =
        "some applications cannot get all their reviewers; nothing was assigned (see uncovered)";
    return reply(res, 409, body);
  }
  if (!dry && !result.pairs.empty()) {
    const std::string run = "assign-" + format_rfc3339_ms(now_ms());
    auto events = assignment_events(items, result, wf->program, run);
    if (!send_plan(c, events, res)) return;
    body["assignment"] = run;
  }
  reply(res, dry ? 200 : 202, body);
}

}  // namespace stagewise::api
