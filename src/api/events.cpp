// POST /v1/events: the events of an authenticated caller, made to speak for
// it (DESIGN.md §11) and handed to the durable intake.
#include "api/detail/replies.h"
#include "api/forward.h"
#include "api/routes.h"
#include "auth/scope.h"
#include "auth/signature.h"
#include "common/json_limits.h"
#include "common/partition.h"
#include "workflow/vocabulary.h"

#include <algorithm>
#include <set>

namespace stagewise::api {
namespace {

using auth::Role;
using detail::fail;
using detail::reply;
using nlohmann::json;

// Only JSON bodies: a browser form (urlencoded, multipart, text/plain) can
// be sent across origins without a preflight, so it must not post events.
bool json_content_type(const std::string& type) {
  const std::string media = type.substr(0, type.find(';'));
  std::string m;
  for (const char ch : media)
    if (ch != ' ') m.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  return m == "application/json" || m == "application/cloudevents+json" ||
         m == "application/cloudevents-batch+json";
}

// Reads the body: one event or an array, bounded in depth and count. False
// (with the answer written) when it is refused.
bool read_events(const Context& c, const httplib::Request& req, httplib::Response& res,
                 std::vector<json>& events) {
  if (!json_content_type(req.get_header_value("Content-Type"))) {
    fail(res, 415, "unsupported_media_type",
         "send the events as application/json or application/cloudevents+json");
    return false;
  }
  bool deep = false;
  // One level more than an event may have: the array around a batch, and
  // only for a batch.
  json body = parse_json_bounded(req.body, c.max_json_depth + 1, &deep);
  if (body.is_object() && !json_depth_within(req.body, c.max_json_depth)) deep = true;
  if (deep || body.is_discarded()) {
    fail(res, 400, "malformed_json",
         deep ? "the body nests objects and arrays more than " + std::to_string(c.max_json_depth) +
                    " deep (processor.max_json_depth); flatten the events' data"
              : "the body is not valid JSON: send one CloudEvent object or an array of them");
    return false;
  }
  if (body.is_array() && body.size() > static_cast<size_t>(c.max_events_per_request)) {
    fail(res, 413, "too_many_events",
         "the body holds " + std::to_string(body.size()) + " events; at most " +
             std::to_string(c.max_events_per_request) +
             " are taken per request (http.max_events_per_request): split the batch");
    return false;
  }
  if (body.is_array())
    events.assign(std::make_move_iterator(body.begin()), std::make_move_iterator(body.end()));
  else
    events.push_back(std::move(body));
  if (events.empty()) {
    fail(res, 400, "invalid_argument", "the array of events is empty");
    return false;
  }
  return true;
}

// `?wait=SECONDS` in milliseconds; -1 when malformed.
int wait_param(const httplib::Request& req) {
  if (!req.has_param("wait")) return 0;
  try {
    const double seconds = std::stod(req.get_param_value("wait"));
    if (!(seconds >= 0 && seconds <= 60)) return -1;
    return static_cast<int>(seconds * 1000);
  } catch (const std::exception&) {
    return -1;
  }
}

std::string text_of(const json& e, const char* key) {
  const auto it = e.find(key);
  return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The actor of `e` becomes the caller's: its own sub and role, or for a
// service token a role auth.services lets it act as. Empty, or why not.
std::string set_actor(const Call& c, json& e) {
  const auth::Principal& who = *c.who;
  const std::string id = text_of(e, "actorid"), role = text_of(e, "actorrole");
  if (who.role == Role::service) {
    const auto it = c.ctx.services.find(who.sub);
    const bool may = it != c.ctx.services.end() &&
                     std::find(it->second.begin(), it->second.end(), role) != it->second.end();
    if (!may)
      return "service \"" + who.sub + "\" may not act as \"" + role +
             "\" (auth.services lists the roles each service may act as)";
    if (id.empty()) return "a service names the actor it acts for in actorid";
    return {};
  }
  const std::string mine(auth::role_name(who.role));
  if ((!id.empty() && id != who.sub) || (!role.empty() && role != mine))
    return "the event says actor \"" + id + "\" (" + role + ") but your token is \"" + who.sub +
           "\" (" + mine + "); events are sent as the token's actor";
  e["actorid"] = who.sub;
  e["actorrole"] = mine;
  return {};
}

// Whether the caller may send `e` for its application and program. Events
// for an application it may not see are refused alike whether or not the
// application exists.
// Reference data (DESIGN.md §12): about a reviewer, not an application. A
// reviewer sends only its own profile. Anyone else bound to some programs
// touches only a reviewer all of whose pools (those it serves now, and
// those the event would give it) are theirs: a manager of one program can
// neither move another program's reviewer nor edit the evidence its
// conflict checks rely on, nor score its applications.
std::string check_reference_scope(const Call& c, const json& e) {
  const auth::Principal& who = *c.who;
  if (who.role == auth::Role::reviewer) {
    if (text_of(e, "subject") != who.sub) return "a reviewer updates only its own profile";
    return {};
  }
  if (who.role != auth::Role::program_manager && who.role != auth::Role::admin &&
      who.role != auth::Role::service)
    return "reviewer profiles and affinities are kept by program managers";
  std::set<std::string> pools;
  if (c.ctx.processor != nullptr)
    if (const auto held = c.ctx.processor->reviewers().get(text_of(e, "subject")))
      if (const auto it = held->profile.find("programs");
          it != held->profile.end() && it->is_array())
        for (const auto& p : *it)
          if (p.is_string()) pools.insert(p.get<std::string>());
  const json* data = e.contains("data") ? &e["data"] : nullptr;
  if (data != nullptr && data->is_object() && data->contains("programs") &&
      (*data)["programs"].is_array())
    for (const auto& p : (*data)["programs"])
      if (p.is_string()) pools.insert(p.get<std::string>());
  for (const auto& p : pools)
    if (!who.may_program(p))
      return "reviewer \"" + utf8_prefix(text_of(e, "subject"), 128) + "\" serves program \"" +
             utf8_prefix(p, 128) + "\", which your token does not cover";
  return {};
}

std::string check_scope(const Call& c, const json& e) {
  if (workflow::is_reference_type(text_of(e, "type"))) return check_reference_scope(c, e);
  const std::string subject = text_of(e, "subject");
  std::string program = text_of(e, "program");
  if (text_of(e, "type") != "application.submitted" && !subject.empty()) {
    workflow::Application app;
    if (detail::scope_in_store(c.ctx, *c.who, subject, &app) == auth::Scope::none)
      return "your token does not cover application \"" + utf8_prefix(subject, 128) + "\"";
    program = app.program;
  }
  if (!program.empty() && !c.who->may_program(program))
    return "your token does not cover program \"" + program + "\"";
  return {};
}

// Makes one event the caller's: actor, scope, a source of its own (ids are
// unique per source, so one caller cannot shadow another's events), who was
// authenticated, and the intake's signature over all of it.
std::string authorize(const Call& c, json& e) {
  if (!e.is_object()) return {};  // refused by the intake as malformed
  if (auto why = set_actor(c, e); !why.empty()) return why;
  if (auto why = check_scope(c, e); !why.empty()) return why;
  e["source"] = "stagewise.http/" + c.who->sub;
  e["authsub"] = c.who->sub;
  e["authrole"] = std::string(auth::role_name(c.who->role));
  e.erase("authsig");
  auto decoded = decode_json(e);
  if (auto* ev = std::get_if<CloudEvent>(&decoded))
    e["authsig"] = auth::event_signature(c.ctx.internal_key, *ev);
  return {};
}

void answer(const std::vector<processor::IntakeResult>& results, int wait_ms,
            httplib::Response& res) {
  json out = json::array();
  bool all_ok = true, any_invalid = false, busy = false, oversized = false;
  for (const auto& r : results) {
    json item = {{"id", r.id}, {"accepted", r.accepted}};
    if (!r.accepted) {
      all_ok = false;
      busy = busy || r.code == "busy";
      oversized = oversized || r.code == "oversized";
      any_invalid =
          any_invalid || (r.code != "timeout" && r.code != "unavailable" && r.code != "busy");
      item["error"] = {{"code", r.code}, {"message", r.error}};
    }
    if (wait_ms > 0 && r.accepted) item["outcome"] = r.outcome;
    out.push_back(std::move(item));
  }
  if (busy) res.set_header("Retry-After", "2");
  if (all_ok) {
    json ids = json::array();
    for (const auto& r : results) ids.push_back(r.id);
    return reply(res, 202, {{"accepted", results.size()}, {"ids", ids}, {"events", out}});
  }
  // Nothing is half-done silently: each event says whether it was taken.
  const int status = oversized ? 413 : any_invalid ? 400 : 503;
  json body = error_view(oversized     ? "oversized"
                         : any_invalid ? "invalid_event"
                         : busy        ? "busy"
                                       : "unavailable",
                         results.size() == 1 ? out[0]["error"]["message"].get<std::string>()
                                             : "some events were not accepted; see events");
  body["events"] = out;
  reply(res, status, body);
}

}  // namespace

std::string authorize_event(const Call& c, json& e) {
  return authorize(c, e);
}

// 202 when every event was taken; 403 (nothing taken) when one speaks for
// someone the token is not; otherwise each event says whether it was taken
// and the status names the worst problem: 413 an event too large, 400 an
// invalid one, 503 busy or unavailable.
// When every event belongs to applications one other process owns, that
// process takes the request (true: answered).
bool forward_wait(const Call& c, const httplib::Request& req, httplib::Response& res,
                  const std::vector<json>& events) {
  if (c.ctx.members == nullptr || events.empty()) return false;
  std::string first;
  for (const auto& e : events) {
    const std::string subject = text_of(e, "subject");
    if (subject.empty() || c.ctx.store->owns(subject)) return false;
    const int32_t n = c.ctx.store->partitions();
    const auto owner = c.ctx.members->owner_of(n > 0 ? partition_of(subject, n) : -1);
    if (!owner || (!first.empty() && owner->id != first)) return false;
    first = owner->id;
  }
  return forward_to_owner(c.ctx, req, res, text_of(events[0], "subject"));
}

void post_events(const Call& c, const httplib::Request& req, httplib::Response& res) {
  if (c.ctx.intake == nullptr)
    return fail(res, 503, "unavailable", "this server does not take events");
  std::vector<json> events;
  if (!read_events(c.ctx, req, res, events)) return;
  const int wait_ms = wait_param(req);
  if (wait_ms < 0)
    return fail(res, 400, "invalid_argument", "wait must be a number of seconds, 0 to 60");
  for (size_t i = 0; i < events.size(); ++i)
    if (auto why = authorize(c, events[i]); !why.empty())
      return fail(res, 403, "forbidden",
                  "event " + std::to_string(i) + " (" + utf8_prefix(text_of(events[i], "id"), 64) +
                      "): " + why);
  // Outcomes are known where the events are applied: a wait for events of
  // another process's applications is that process's to answer.
  if (wait_ms > 0 && forward_wait(c, req, res, events)) return;
  // A wait holds a worker: only so many at once; the rest are not awaited.
  const bool slot = wait_ms > 0 && c.ctx.waiting->fetch_add(1) < c.ctx.max_waiting_requests;
  const int waited = slot ? wait_ms : 0;
  if (wait_ms > 0 && !slot) res.set_header("Stagewise-Wait", "skipped: too many waiting requests");
  answer(c.ctx.intake->submit(events, 10000, waited), waited, res);
  if (wait_ms > 0) c.ctx.waiting->fetch_sub(1);
}

}  // namespace stagewise::api
