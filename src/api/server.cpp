#include "api/server.h"

#include "api/http_server.h"
#include "api/views.h"
#include "common/json_limits.h"
#include "common/reasons.h"
#include "common/time.h"
#include "workflow/graph.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <sstream>

namespace stagewise::api {
namespace {

using nlohmann::json;

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void fail(httplib::Response& res, int status, const std::string& code, const std::string& msg) {
  reply(res, status, error_view(code, msg));
}

const char* kDashboard = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stagewise</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}h2{margin-top:1.5em}</style>
</head><body><h1>stagewise</h1><div id="info">loading…</div><div id="programs"></div>
<script>
async function load(){
  const info = await (await fetch('/v1/info')).json();
  document.getElementById('info').textContent =
    'version ' + info.version + ' · bootstrap ' + info.bootstrap_servers;
  const wf = await (await fetch('/v1/workflows')).json();
  const root = document.getElementById('programs'); root.innerHTML = '';
  for (const p of wf.workflows) {
    const f = await (await fetch('/v1/programs/' + encodeURIComponent(p.program) + '/funnel')).json();
    const h = document.createElement('h2'); h.textContent = p.title + ' (' + p.program + ')';
    const t = document.createElement('table');
    t.innerHTML = '<tr><th>stage</th><th>applications</th></tr>' + f.stages.map(s =>
      '<tr><td>' + s.stage + (s.terminal ? ' ■' : '') + '</td><td>' + s.count + '</td></tr>').join('');
    root.append(h, t);
  }
}
load(); setInterval(load, 2000);
</script></body></html>)HTML";

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

// Reads the body of POST /v1/events: one event or an array, bounded in
// depth and count. False (with the answer written) when it is refused.
bool read_events(const Context& c, const httplib::Request& req, httplib::Response& res,
                 std::vector<json>& events) {
  if (!json_content_type(req.get_header_value("Content-Type"))) {
    fail(res, 415, "unsupported_media_type",
         "send the events as application/json or application/cloudevents+json");
    return false;
  }
  bool deep = false;
  // One level more than an event may have: the array around a batch.
  json body = parse_json_bounded(req.body, c.max_json_depth + 1, &deep);
  if (deep) {
    fail(res, 400, "malformed_json",
         "the body nests objects and arrays more than " + std::to_string(c.max_json_depth) +
             " deep (processor.max_json_depth); flatten the events' data");
    return false;
  }
  if (body.is_discarded()) {
    fail(res, 400, "malformed_json",
         "the body is not valid JSON: send one CloudEvent object or an array of them");
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

// A whole-number query parameter, `fallback` when absent, at most `max`;
// nullopt when malformed.
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

// POST /v1/events: 202 when every event was taken; otherwise each event says
// whether it was, and the status names the worst problem: 413 an event too
// large, 400 an invalid one, 503 busy or unavailable.
void post_events(const Context& c, const httplib::Request& req, httplib::Response& res) {
  if (c.intake == nullptr) return fail(res, 503, "unavailable", "this server does not take events");
  std::vector<json> events;
  if (!read_events(c, req, res, events)) return;
  const int wait_ms = wait_param(req);
  if (wait_ms < 0)
    return fail(res, 400, "invalid_argument", "wait must be a number of seconds, 0 to 60");
  const auto results = c.intake->submit(events, 10000, wait_ms);
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
  json body_out = error_view(oversized     ? "oversized"
                             : any_invalid ? "invalid_event"
                             : busy        ? "busy"
                                           : "unavailable",
                             results.size() == 1 ? out[0]["error"]["message"].get<std::string>()
                                                 : "some events were not accepted; see events");
  body_out["events"] = out;
  reply(res, status, body_out);
}

}  // namespace

Server::Server(Context ctx, const HttpLimits& limits)
    : ctx_(std::move(ctx)), http_(std::make_unique<HttpServer>(limits)) {
  // Without it every keep-alive answer waits on the client's delayed ACK
  // (measured: 27 ms per GET, 0.14 ms with it).
  http_->set_tcp_nodelay(true);
  routes();
}

Server::~Server() {
  stop();
}

void Server::routes() {
  auto& s = *http_;
  const Context& c = ctx_;

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}});
  });
  s.Get("/readyz", [&c](const httplib::Request&, httplib::Response& res) {
    const bool ready = c.processor == nullptr || c.processor->ready();
    reply(res, ready ? 200 : 503, {{"ready", ready}});
  });
  s.Get("/metrics", [&c](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(c.processor ? &c.processor->stats() : nullptr,
                                 c.processor ? c.processor->relay_stats() : nullptr,
                                 c.processor ? c.processor->timer_stats() : nullptr, c.store),
                    "text/plain; version=0.0.4");
  });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kDashboard, "text/html; charset=utf-8");
  });
  s.Get("/v1/info",
        [&c](const httplib::Request&, httplib::Response& res) { reply(res, 200, c.info); });
  s.Get("/v1/workflows", [&c](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, workflows_view(*c.registry));
  });
  s.Get(R"(/v1/workflows/([^/]+)/graph)", [&c](const httplib::Request& req,
                                               httplib::Response& res) {
    const std::string program = req.matches[1];
    const std::string format = req.has_param("format") ? req.get_param_value("format") : "mermaid";
    if (format != "mermaid" && format != "dot")
      return fail(res, 400, "invalid_argument", "format must be mermaid or dot");
    const workflow::Workflow* wf = c.registry->latest(program);
    if (req.has_param("version")) {
      int v = 0;
      try {
        v = std::stoi(req.get_param_value("version"));
      } catch (const std::exception&) {
        return fail(res, 400, "invalid_argument", "version must be an integer");
      }
      wf = c.registry->find(program, v);
    }
    if (wf == nullptr) return fail(res, 404, "not_found", "no workflow for \"" + program + "\"");
    if (format == "dot")
      res.set_content(workflow::to_dot(*wf), "text/vnd.graphviz");
    else
      res.set_content(workflow::to_mermaid(*wf), "text/plain; charset=utf-8");
  });
  s.Get(R"(/v1/applications/([^/]+))", [&c](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    auto app = c.store->application(id);
    if (!app) {
      if (app.error().is_not_found())
        return fail(res, 404, "not_found", "no application \"" + id + "\"");
      return fail(res, 500, "store_error", app.error().message);
    }
    auto timers = c.store->timers_of(id);
    reply(res, 200, application_view(*app, timers ? *timers : std::vector<store::TimerRecord>{}));
  });
  s.Get(R"(/v1/applications/([^/]+)/history)",
        [&c](const httplib::Request& req, httplib::Response& res) {
          const std::string id = req.matches[1];
          auto h = c.store->history(id);
          if (!h) return fail(res, 500, "store_error", h.error().message);
          if (h->empty()) return fail(res, 404, "not_found", "no application \"" + id + "\"");
          reply(res, 200, history_view(*h));
        });
  s.Get(R"(/v1/programs/([^/]+)/applications)",
        [&c](const httplib::Request& req, httplib::Response& res) {
          const std::string program = req.matches[1];
          const workflow::Workflow* wf = c.registry->latest(program);
          if (wf == nullptr) return fail(res, 404, "not_found", "no program \"" + program + "\"");
          size_t limit = 100;
          if (req.has_param("limit")) {
            try {
              limit = std::stoul(req.get_param_value("limit"));
            } catch (const std::exception&) {
              return fail(res, 400, "invalid_argument", "limit must be a positive integer");
            }
          }
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
            auto ids = c.store->list_stage(program, stage, limit - apps.size(),
                                           req.get_param_value("after"));
            if (!ids) return fail(res, 500, "store_error", ids.error().message);
            for (const auto& id : *ids) apps.push_back({{"id", id}, {"stage", stage}});
            if (apps.size() >= limit) break;
          }
          reply(res, 200, {{"program", program}, {"applications", apps}});
        });
  s.Get(R"(/v1/programs/([^/]+)/deadlines)",
        [&c](const httplib::Request& req, httplib::Response& res) {
          const std::string program = req.matches[1];
          if (c.registry->latest(program) == nullptr)
            return fail(res, 404, "not_found", "no program \"" + program + "\"");
          int64_t before = now_ms() + 7LL * 24 * 3600 * 1000;
          if (req.has_param("before")) {
            const auto t = parse_rfc3339_ms(req.get_param_value("before"));
            if (!t)
              return fail(res, 400, "invalid_argument",
                          "before must be an RFC 3339 time, e.g. 2026-04-01T00:00:00Z");
            before = *t;
          }
          auto due = c.store->timers_due_before(before, 100000);
          if (!due) return fail(res, 500, "store_error", due.error().message);
          json list = json::array();
          for (const auto& t : *due)
            if (t.program == program) list.push_back(timer_view(t));
          reply(res, 200,
                {{"program", program},
                 {"before", format_rfc3339_ms(before)},
                 {"deadlines", std::move(list)}});
        });
  s.Get(R"(/v1/programs/([^/]+)/funnel)",
        [&c](const httplib::Request& req, httplib::Response& res) {
          const std::string program = req.matches[1];
          const workflow::Workflow* wf = c.registry->latest(program);
          if (wf == nullptr) return fail(res, 404, "not_found", "no program \"" + program + "\"");
          auto counts = c.store->stage_counts(program);
          if (!counts) return fail(res, 500, "store_error", counts.error().message);
          reply(res, 200, funnel_view(*wf, *counts));
        });
  s.Get("/v1/deadletters", [&c](const httplib::Request& req, httplib::Response& res) {
    const auto limit = count_param(req, "limit", 100, 1000);
    const auto before = count_param(req, "before", 0, UINT64_MAX);
    if (!limit || !before)
      return fail(res, 400, "invalid_argument", "limit and before must be whole numbers");
    auto list = c.store->dead_letters(*limit, *before);
    if (!list) return fail(res, 500, "store_error", list.error().message);
    json out = json::array();
    for (const auto& d : *list) out.push_back(dead_letter_view(d, false));
    reply(res, 200, {{"deadletters", std::move(out)}});
  });
  s.Get(R"(/v1/deadletters/(.+))", [&c](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    auto d = c.store->dead_letter(id);
    if (!d) {
      if (d.error().is_not_found())
        return fail(res, 404, "not_found", "no dead letter \"" + id + "\" is kept");
      return fail(res, 500, "store_error", d.error().message);
    }
    reply(res, 200, dead_letter_view(*d, true));
  });
  s.Get("/v1/outbox/parked", [&c](const httplib::Request& req, httplib::Response& res) {
    const auto limit = count_param(req, "limit", 100, 1000);
    const auto after = count_param(req, "after", 0, UINT64_MAX);
    if (!limit || !after)
      return fail(res, 400, "invalid_argument", "limit and after must be whole numbers");
    auto list = c.store->parked(*limit, *after);
    if (!list) return fail(res, 500, "store_error", list.error().message);
    json out = json::array();
    for (const auto& p : *list) out.push_back(parked_view(p));
    reply(res, 200, {{"parked", std::move(out)}});
  });
  s.Post("/v1/events",
         [&c](const httplib::Request& req, httplib::Response& res) { post_events(c, req, res); });
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        fail(res, 500, "internal", what);
      });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty())
      fail(res, 404, "not_found", "no such endpoint: " + req.method + " " + req.path);
  });
}

Result<int> Server::start(const std::string& host, int port) {
  int bound = port;
  if (port == 0) {
    bound = http_->bind_to_any_port(host.c_str());
    if (bound < 0) return make_error(Errc::unavailable, "cannot bind an HTTP port on " + host);
  } else if (!http_->bind_to_port(host.c_str(), port)) {
    return make_error(Errc::unavailable, "cannot listen on " + host + ":" + std::to_string(port) +
                                             " (in use? pass --http-port 0 to pick a free one)");
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return bound;
}

void Server::stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string metrics_text(const processor::Stats* st, const processor::RelayStats* relay,
                         const processor::TimerStats* timers, const store::Store* store) {
  std::ostringstream o;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n"
      << name << ' ' << v << '\n';
  };
  if (st != nullptr) {
    counter("stagewise_events_consumed_total", "Input messages read from Kafka.", st->consumed);
    counter("stagewise_events_applied_total", "Input events applied to an application.",
            st->applied);
    counter("stagewise_stage_changes_total", "Applied events that moved a stage.", st->moved);
    counter("stagewise_events_duplicate_total", "Input events ignored as already applied.",
            st->duplicates);
    o << "# HELP stagewise_events_rejected_total Input events dead-lettered, by reason.\n"
      << "# TYPE stagewise_events_rejected_total counter\n";
    for (size_t i = 0; i < processor::kReasonCount; ++i)
      o << "stagewise_events_rejected_total{reason=\"" << reason_code(static_cast<Reason>(i))
        << "\"} " << st->rejected[i] << '\n';
    counter("stagewise_batches_total", "Store batches committed.", st->batches);
    counter("stagewise_input_log_resets_total", "Input logs found reset (new broker log).",
            st->log_resets);
    counter("stagewise_input_gaps_total", "Gaps of trimmed, never consumed input.", st->gaps);
    counter("stagewise_input_gap_messages_total", "Input messages lost to gaps.", st->gap_messages);
    counter("stagewise_consumer_errors_total", "Errors reported by the Kafka consumer.",
            st->consumer_errors);
  }
  if (relay != nullptr) {
    counter("stagewise_outbox_published_total", "Output events acknowledged by Kafka.",
            relay->published);
    counter("stagewise_outbox_publish_failures_total", "Output deliveries that failed (retried).",
            relay->publish_failures);
    counter("stagewise_outbox_parked_total",
            "Output events the broker refused for good, set aside (GET /v1/outbox/parked).",
            relay->parked);
  }
  if (timers != nullptr) {
    counter("stagewise_timers_deadlines_fired_total", "Deadline events produced into the log.",
            timers->deadlines_fired);
    counter("stagewise_timers_reminders_fired_total", "Reminder notifications requested.",
            timers->reminders_fired);
    counter("stagewise_timers_reminders_stale_total",
            "Reminders dropped: the application had left the stage.", timers->reminders_stale);
    counter("stagewise_timers_late_total", "Timers fired more than a second after due.",
            timers->late);
    o << "# HELP stagewise_timers_late_seconds_max Largest lateness of a fired timer.\n"
      << "# TYPE stagewise_timers_late_seconds_max gauge\nstagewise_timers_late_seconds_max "
      << static_cast<double>(timers->late_ms_max.load()) / 1000.0 << '\n';
  }
  if (store != nullptr) {
    o << "# HELP stagewise_timers_pending Pending timers (estimate).\n"
      << "# TYPE stagewise_timers_pending gauge\nstagewise_timers_pending "
      << store->timers_pending_estimate() << '\n';
    o << "# HELP stagewise_outbox_parked Output events set aside for good, kept in the store.\n"
      << "# TYPE stagewise_outbox_parked gauge\nstagewise_outbox_parked " << store->parked_count()
      << '\n';
    o << "# HELP stagewise_intake_pending Accepted HTTP events not yet processed.\n"
      << "# TYPE stagewise_intake_pending gauge\nstagewise_intake_pending " << store->intake_count()
      << '\n';
  }
  if (st != nullptr)
    o << "# HELP stagewise_input_lag Input events on the broker not yet processed.\n"
      << "# TYPE stagewise_input_lag gauge\nstagewise_input_lag " << st->lag << '\n';
  if (store != nullptr)
    o << "# HELP stagewise_store_bytes Approximate size of the store.\n"
      << "# TYPE stagewise_store_bytes gauge\nstagewise_store_bytes " << store->disk_bytes()
      << '\n';
  return o.str();
}

}  // namespace stagewise::api
