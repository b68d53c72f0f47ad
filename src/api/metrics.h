#pragma once

#include "api/routes.h"
#include "common/histogram.h"

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace stagewise::api {

/// What operators watch besides the processor's counters (README
/// "Metrics"): HTTP requests, processing latency, applications per stage,
/// build and process.
///
/// HTTP requests are counted per method, route and status
/// (stagewise_http_requests_total) and timed per method and route
/// (stagewise_http_request_duration_seconds), from the arrival of the
/// request's head to the answer. `route` is a route's documented path
/// (Route::path), or `other` for requests no route took (unknown paths and
/// methods), so the series stay bounded whatever clients send.
///
/// Thread safety: record() from any number of threads at once, lock-free
/// (atomics only); write() from any thread.
class HttpMetrics {
 public:
  /// `routes` outlives this (the route table).
  explicit HttpMetrics(const std::vector<Route>& routes);
  ~HttpMetrics();
  HttpMetrics(const HttpMetrics&) = delete;
  HttpMetrics& operator=(const HttpMetrics&) = delete;

  static constexpr size_t kOther = static_cast<size_t>(-1);

  /// One answered request of routes[route] (kOther: of no route).
  void record(size_t route, std::string_view method, int status,
              std::chrono::steady_clock::time_point started);
  /// Both families in the Prometheus text format.
  void write(std::ostream& o) const;

 private:
  struct Series;
  Series& series(size_t route, std::string_view method);

  size_t routes_;
  std::vector<std::unique_ptr<Series>> series_;  // 2 per route (its method, HEAD), then other
};

/// Records a routed request when it goes out of scope: with the status its
/// handler set, or 500 when the handler threw (as the exception handler
/// answers).
class RequestTimer {
 public:
  RequestTimer(HttpMetrics& metrics, size_t route, const httplib::Request& req,
               const httplib::Response& res);
  ~RequestTimer();
  RequestTimer(const RequestTimer&) = delete;
  RequestTimer& operator=(const RequestTimer&) = delete;

 private:
  HttpMetrics& metrics_;
  size_t route_;
  const httplib::Request& req_;
  const httplib::Response& res_;
  std::chrono::steady_clock::time_point started_;
  int exceptions_;
};

/// HTTP requests, processing latency, applications per stage of each
/// program (this process's partitions), build info and the process's
/// memory, CPU and file descriptors.
std::string operator_metrics_text(const Context& ctx);

/// process_* as the Prometheus client libraries export them on Linux (from
/// /proc/self): resident and virtual memory, open and maximum file
/// descriptors, start time, CPU seconds.
std::string process_metrics_text();

}  // namespace stagewise::api
