#include "api/server.h"

#include "api/detail/replies.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "api/routes.h"
#include "api/views.h"
#include "common/reasons.h"
#include "common/time.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <openssl/crypto.h>
#include <sstream>

namespace stagewise::api {
namespace {

using detail::fail;
using nlohmann::json;

// The bearer token of a request; empty when there is none.
std::string bearer(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (h.size() <= kScheme.size() || h.compare(0, kScheme.size(), kScheme) != 0) return {};
  return h.substr(kScheme.size());
}

bool equal_secrets(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Authenticates and authorizes one request for `route`, then runs it: 401
// without a valid token, 403 for a role the route does not admit.
void guarded(const Context& ctx, const Route& route, const httplib::Request& req,
             httplib::Response& res) {
  if (route.access == Access::open) return route.handler(Call{ctx}, req, res);
  const std::string token = bearer(req);
  if (route.access == Access::metrics) {
    if (!ctx.metrics_token.empty() && !equal_secrets(token, ctx.metrics_token)) {
      res.set_header("WWW-Authenticate", "Bearer");
      return fail(res, 401, "unauthorized", "/metrics wants the bearer token auth.metrics_token");
    }
    return route.handler(Call{ctx}, req, res);
  }
  if (token.empty() || ctx.verifier == nullptr) {
    res.set_header("WWW-Authenticate", "Bearer");
    return fail(res, 401, "unauthorized",
                "send Authorization: Bearer <token> (stagewise token mints one for a data dir)");
  }
  const auto who = ctx.verifier->verify(token, now_ms());
  if (!who) {
    res.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    return fail(res, 401, "unauthorized", who.error().message);
  }
  if (!route.roles.empty() &&
      std::find(route.roles.begin(), route.roles.end(), who->role) == route.roles.end())
    return fail(res, 403, "forbidden",
                "role " + std::string(auth::role_name(who->role)) + " may not " +
                    std::string(route.method) + " " + std::string(route.path));
  route.handler(Call{ctx, &*who}, req, res);
}

}  // namespace

Server::Server(Context ctx, const HttpLimits& limits)
    : ctx_(std::move(ctx)),
      http_metrics_(std::make_unique<HttpMetrics>(route_table())),
      http_(std::make_unique<HttpServer>(limits)) {
  ctx_.http_metrics = http_metrics_.get();
  // Without it every keep-alive answer waits on the client's delayed ACK
  // (measured: 27 ms per GET, 0.14 ms with it).
  http_->set_tcp_nodelay(true);
  routes();
}

Server::~Server() {
  stop();
}

// Registers every route of the table behind its guard, and the answers to
// errors and unknown paths.
void Server::routes() {
  auto& s = *http_;
  const auto& table = route_table();
  for (size_t i = 0; i < table.size(); ++i) {
    const Route& route = table[i];
    auto handler = [this, &route, i](const httplib::Request& req, httplib::Response& res) {
      const RequestTimer timer(*http_metrics_, i, req, res);
      guarded(ctx_, route, req, res);
    };
    const std::string pattern(route.pattern);
    if (route.method == "GET")
      s.Get(pattern, handler);
    else
      s.Post(pattern, handler);
  }
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
  // A request no route took (unknown path or method) has no matches: a
  // route's were set when its pattern matched. The routes' own are counted
  // by their RequestTimer.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!req.matches.empty()) return;
    http_metrics_->record(HttpMetrics::kOther, req.method, res.status,
                          HttpServer::request_started());
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

std::string review_metrics_text(const processor::Processor& p) {
  const auto* c = p.conflict_stats();
  if (c == nullptr) return {};
  std::ostringstream o;
  o << "# HELP stagewise_review_conflicts_flagged Assigned reviewers who conflict with their "
       "application now (this process's applications not yet decided).\n"
    << "# TYPE stagewise_review_conflicts_flagged gauge\nstagewise_review_conflicts_flagged "
    << c->flagged.load() << '\n'
    << "# HELP stagewise_review_conflicts_found_total Conflicts of interest found after the "
       "assignment (a profile changed since).\n"
    << "# TYPE stagewise_review_conflicts_found_total counter\n"
       "stagewise_review_conflicts_found_total "
    << c->found.load() << '\n'
    << "# HELP stagewise_reviewers Reviewers this process knows.\n"
    << "# TYPE stagewise_reviewers gauge\nstagewise_reviewers " << p.reviewers().size() << '\n';
  return o.str();
}

std::string partition_metrics_text(const processor::Processor& p) {
  std::ostringstream o;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n"
      << name << ' ' << v << '\n';
  };
  const auto lag = p.partition_lag();
  o << "# HELP stagewise_partitions_owned Input partitions this process owns.\n"
    << "# TYPE stagewise_partitions_owned gauge\nstagewise_partitions_owned " << lag.size() << '\n';
  o << "# HELP stagewise_partition_lag Input events not yet processed, per owned partition.\n"
    << "# TYPE stagewise_partition_lag gauge\n";
  for (const auto& [partition, behind] : lag)
    o << "stagewise_partition_lag{partition=\"" << partition << "\"} " << behind << '\n';
  const auto& t = p.takeover_stats();
  counter("stagewise_partition_restores_total", "Partitions restored from the changelog.",
          t.restored);
  counter("stagewise_partition_restored_records_total", "Changelog records restored.",
          t.restored_records);
  o << "# HELP stagewise_partition_restore_seconds_total Time spent restoring partitions.\n"
    << "# TYPE stagewise_partition_restore_seconds_total counter\n"
    << "stagewise_partition_restore_seconds_total "
    << static_cast<double>(t.restore_ms.load()) / 1000.0 << '\n';
  counter("stagewise_partition_reseeds_total", "Changelogs re-seeded from a local copy.",
          t.reseeded);
  counter("stagewise_partition_copies_kept_total", "Local copies found current on assignment.",
          t.kept);
  counter("stagewise_partition_copies_dropped_total", "Stale local copies dropped.", t.dropped);
  o << "# HELP stagewise_partition_restoring The partition being restored now (-1: none).\n"
    << "# TYPE stagewise_partition_restoring gauge\nstagewise_partition_restoring "
    << t.restoring.load() << '\n';
  if (const auto* relay = p.relay_stats()) {
    counter("stagewise_changelog_messages_total", "Changelog messages acknowledged by Kafka.",
            relay->mirrored);
    counter("stagewise_changelog_rounds_dropped_total",
            "Changelog rounds not sent: the partition had moved on.", relay->mirror_dropped);
  }
  return o.str();
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
    counter("stagewise_partitions_lost_total",
            "Input partitions taken away when the group session ran out.", st->partitions_lost);
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
