#include "api/metrics.h"

#include "api/http_server.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <sys/resource.h>

namespace stagewise::api {
namespace {

using metrics::escape_label;
using metrics::format_value;
using metrics::Histogram;
using metrics::write_family;
using SteadyClock = std::chrono::steady_clock;

// From half a millisecond (a read served from the cache) to 10 s (a wait
// for outcomes, a slow disk).
const std::vector<double> kRequestBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};

// Methods of requests no route took; any other counts as "other".
constexpr std::array<std::string_view, 8> kMethods = {"GET",    "HEAD",  "POST",    "PUT",
                                                      "DELETE", "PATCH", "OPTIONS", "other"};

constexpr int kMinStatus = 100, kMaxStatus = 599;

}  // namespace

struct HttpMetrics::Series {
  Series(std::string_view m, std::string_view r)
      : labels("method=\"" + escape_label(m) + "\",route=\"" + escape_label(r) + "\""),
        duration(kRequestBuckets) {}
  std::string labels;
  Histogram duration;
  std::array<std::atomic<uint64_t>, kMaxStatus - kMinStatus + 1> by_status{};
};

HttpMetrics::HttpMetrics(const std::vector<Route>& routes) : routes_(routes.size()) {
  for (const Route& r : routes) {
    series_.push_back(std::make_unique<Series>(r.method, r.path));
    series_.push_back(std::make_unique<Series>("HEAD", r.path));  // GET routes answer HEAD too
  }
  for (const auto m : kMethods) series_.push_back(std::make_unique<Series>(m, "other"));
}

HttpMetrics::~HttpMetrics() = default;

HttpMetrics::Series& HttpMetrics::series(size_t route, std::string_view method) {
  if (route < routes_) return *series_[2 * route + (method == "HEAD" ? 1 : 0)];
  size_t m = 0;
  while (m + 1 < kMethods.size() && kMethods[m] != method) ++m;
  return *series_[2 * routes_ + m];
}

void HttpMetrics::record(size_t route, std::string_view method, int status,
                         SteadyClock::time_point started) {
  Series& s = series(route, method);
  const int st = status < kMinStatus || status > kMaxStatus ? 500 : status;
  s.by_status[static_cast<size_t>(st - kMinStatus)].fetch_add(1, std::memory_order_relaxed);
  s.duration.observe(std::chrono::duration<double>(SteadyClock::now() - started).count());
}

void HttpMetrics::write(std::ostream& o) const {
  write_family(o, "stagewise_http_requests_total", "counter",
               "HTTP requests answered, by method, route (as documented; other: no route) and "
               "status.");
  for (const auto& s : series_)
    for (size_t i = 0; i < s->by_status.size(); ++i)
      if (const uint64_t n = s->by_status[i].load(std::memory_order_relaxed); n > 0)
        o << "stagewise_http_requests_total{" << s->labels << ",status=\"" << i + kMinStatus
          << "\"} " << n << '\n';
  write_family(o, "stagewise_http_request_duration_seconds", "histogram",
               "Time from a request's head arriving to its answer, by method and route.");
  for (const auto& s : series_)
    if (s->duration.snapshot().count() > 0)
      metrics::write_histogram(o, "stagewise_http_request_duration_seconds", s->labels,
                               s->duration);
}

RequestTimer::RequestTimer(HttpMetrics& metrics, size_t route, const httplib::Request& req,
                           const httplib::Response& res)
    : metrics_(metrics),
      route_(route),
      req_(req),
      res_(res),
      started_(HttpServer::request_started()),
      exceptions_(std::uncaught_exceptions()) {}

RequestTimer::~RequestTimer() {
  // httplib answers 200 when a handler set no status.
  const int status =
      std::uncaught_exceptions() > exceptions_ ? 500 : (res_.status == -1 ? 200 : res_.status);
  metrics_.record(route_, req_.method, status, started_);
}

namespace {

// stagewise_applications{program,stage}: every stage of every loaded
// workflow (0 when empty), and stages of older versions that still hold
// applications. Names come from workflow files, never from applicants.
void write_stages(std::ostream& o, const workflow::Registry& registry, const store::Store& store) {
  write_family(o, "stagewise_applications", "gauge",
               "Applications now in each stage of each program (this process's partitions).");
  std::set<std::string> programs;
  for (const auto* wf : registry.all()) programs.insert(wf->program);
  for (const auto& program : programs) {
    auto counts = store.stage_counts(program);
    if (!counts) continue;  // a store error shows as a missing series, not a wrong 0
    for (const auto& stage : registry.latest(program)->state_order) counts->try_emplace(stage, 0);
    for (const auto& [stage, n] : *counts)
      o << "stagewise_applications{program=\"" << escape_label(program) << "\",stage=\""
        << escape_label(stage) << "\"} " << n << '\n';
  }
}

void write_latency(std::ostream& o, const processor::Stats& st) {
  write_family(o, "stagewise_event_age_seconds", "histogram",
               "Time from an applied event's time attribute to its being durable (0 when the "
               "time lies ahead).");
  metrics::write_histogram(o, "stagewise_event_age_seconds", "", st.event_age);
  write_family(o, "stagewise_event_queue_seconds", "histogram",
               "Time from an applied event's Kafka message being produced to its being durable.");
  metrics::write_histogram(o, "stagewise_event_queue_seconds", "", st.event_queue);
}

// The fields of /proc/self/stat after the command name, from field 3 on.
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  const std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t end = line.rfind(')');  // the name may hold spaces and parentheses
  std::vector<std::string> fields;
  if (end == std::string::npos) return fields;
  std::istringstream rest(line.substr(end + 1));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

// Seconds since the epoch at which the system booted (/proc/stat btime).
double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

size_t open_fds() {
  std::error_code ec;
  size_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return n;
}

}  // namespace

std::string process_metrics_text() {
  std::ostringstream o;
  auto sample = [&](const char* name, const char* type, const char* help, double v) {
    write_family(o, name, type, help);
    o << name << ' ' << format_value(v) << '\n';
  };
  const auto f = stat_fields();
  // Fields 14, 15 (utime, stime: clock ticks), 22 (starttime: ticks after
  // boot), 23 (vsize: bytes), 24 (rss: pages); proc(5).
  if (f.size() > 21) {
    const auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    sample("process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.",
           (std::stod(f[11]) + std::stod(f[12])) / ticks);
    sample("process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.",
           boot_time() + std::stod(f[19]) / ticks);
    sample("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
           std::stod(f[20]));
    sample("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           std::stod(f[21]) * page);
  }
  sample("process_open_fds", "gauge", "Number of open file descriptors.",
         static_cast<double>(open_fds()));
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0)
    sample("process_max_fds", "gauge", "Maximum number of open file descriptors.",
           nofile.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                            : static_cast<double>(nofile.rlim_cur));
  return o.str();
}

std::string operator_metrics_text(const Context& ctx) {
  std::ostringstream o;
  if (ctx.http_metrics != nullptr) ctx.http_metrics->write(o);
  if (ctx.processor != nullptr) write_latency(o, ctx.processor->stats());
  if (ctx.registry != nullptr && ctx.store != nullptr) write_stages(o, *ctx.registry, *ctx.store);
  const std::string version =
      ctx.info.is_object() ? ctx.info.value("version", "unknown") : "unknown";
  write_family(o, "stagewise_build_info", "gauge",
               "Always 1; the version of stagewise this process runs, as GET /v1/info says.");
  o << "stagewise_build_info{version=\"" << escape_label(version) << "\"} 1\n";
  return o.str() + process_metrics_text();
}

}  // namespace stagewise::api
