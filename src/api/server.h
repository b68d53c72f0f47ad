#pragma once

#include "api/http_limits.h"
#include "auth/tokens.h"
#include "cluster/members.h"
#include "common/result.h"
#include "processor/intake.h"
#include "processor/processor.h"
#include "reports/book.h"
#include "store/store.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace stagewise::api {

class HttpServer;
class HttpMetrics;

/// What the HTTP server serves from; all referenced objects outlive it.
struct Context {
  const workflow::Registry* registry = nullptr;
  store::Store* store = nullptr;
  processor::Processor* processor = nullptr;  ///< may be null (read-only server)
  processor::Intake* intake = nullptr;        ///< may be null: POST /v1/events answers 503
  nlohmann::json info;                        ///< served by GET /v1/info
  int max_events_per_request = 1000;          ///< http.max_events_per_request
  int max_json_depth = 32;                    ///< processor.max_json_depth
  /// Checks bearer tokens; null: every route but the open ones answers 401.
  const auth::Verifier* verifier = nullptr;
  std::map<std::string, std::vector<std::string>> services;  ///< auth.services
  std::string internal_key;   ///< signs the intake's events (auth/signature.h)
  std::string metrics_token;  ///< auth.metrics_token; empty: /metrics is open
  /// Requests that may wait for outcomes (?wait) at once: a wait holds an
  /// HTTP worker, so more than half of them would let waiting callers
  /// starve everyone else. Beyond it, the 202 comes without waiting.
  int max_waiting_requests = 8;
  std::shared_ptr<std::atomic<int>> waiting = std::make_shared<std::atomic<int>>(0);
  /// The other serve processes sharing the input (null: this one alone).
  const cluster::Directory* members = nullptr;
  /// The reports' rows of this process's applications (DESIGN.md §13);
  /// null: the reports answer 503.
  reports::Book* reports = nullptr;
  /// reports.min_cell: the smallest group a fairness report shows; a caller
  /// may ask for more, never for less.
  uint64_t min_cell = 5;
  /// The server's requests, for /metrics (set by the Server).
  const HttpMetrics* http_metrics = nullptr;
  /// The data dir `store` lives in (POST /v1/admin/backup copies its key
  /// files and refuses targets inside it); empty: backups answer 503.
  std::string data_dir;
};

/// The HTTP API of DESIGN.md §10, served within `limits` (see HttpServer).
/// Thread safety: start()/stop() from one thread; requests are served on
/// the server's own threads.
class Server {
 public:
  explicit Server(Context ctx, const HttpLimits& limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds host:port (port 0 picks a free one) and serves in the background.
  /// Returns the bound port.
  Result<int> start(const std::string& host, int port);
  void stop();

 private:
  void routes();
  Context ctx_;
  std::unique_ptr<HttpMetrics> http_metrics_;
  std::unique_ptr<HttpServer> http_;
  std::thread thread_;
};

/// Prometheus text of the partitions this process owns, their lag, and
/// what taking them over did (DESIGN.md §9).
std::string partition_metrics_text(const processor::Processor& p);

/// Prometheus text of the reviews: conflicts found after assignment, the pool.
std::string review_metrics_text(const processor::Processor& p);

/// Prometheus text exposition of the processor's counters.
std::string metrics_text(const processor::Stats* stats, const processor::RelayStats* relay,
                         const processor::TimerStats* timers, const store::Store* store);

}  // namespace stagewise::api
