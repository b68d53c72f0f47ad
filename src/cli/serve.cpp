#include "api/server.h"
#include "cli/commands.h"
#include "common/log.h"
#include "kafka/kafka.h"
#include "processor/intake.h"
#include "processor/processor.h"
#include "store/store.h"
#include "workflow/workflow.h"

#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

namespace stagewise::cli {
namespace {

using nlohmann::json;

// Blocks SIGINT/SIGTERM in every thread started after this, so that the
// main thread alone takes them with sigtimedwait.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Waits up to `ms` for a stop signal; true when one came.
bool wait_signal(const sigset_t& set, int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  const int sig = sigtimedwait(&set, nullptr, &ts);
  return sig == SIGINT || sig == SIGTERM;
}

// A static group member id that is stable across restarts of this process
// (same host, same data dir) and distinct between processes.
std::string group_instance_id(const Config& cfg) {
  if (cfg.kafka.group_instance_id == "none") return "";
  if (!cfg.kafka.group_instance_id.empty()) return cfg.kafka.group_instance_id;
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  std::error_code ec;
  const std::string dir = std::filesystem::weakly_canonical(cfg.store.data_dir, ec).string();
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (const unsigned char c : dir) h = (h ^ c) * 1099511628211ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string("stagewise-") + host + "-" + hex;
}

}  // namespace

std::string serve_file(const std::string& data_dir) {
  return data_dir + "/serve.json";
}

int serve(const ServeFlags& flags) {
  const sigset_t signals = block_stop_signals();
  Config cfg;
  try {
    cfg = load_config(flags.config_file);
  } catch (const std::exception& e) {
    std::cerr << "stagewise serve: " << e.what() << "\n";
    return 2;
  }
  if (!flags.data_dir.empty()) cfg.store.data_dir = flags.data_dir;
  if (!flags.workflows.empty()) cfg.workflows.dir = flags.workflows;
  if (flags.bootstrap_set) cfg.kafka.bootstrap_servers = flags.bootstrap;
  if (flags.http_port >= 0) cfg.http.port = flags.http_port;
  init_logging(cfg.log.level, cfg.log.format);

  std::vector<workflow::Problem> problems;
  const auto registry = workflow::Registry::load({cfg.workflows.dir}, problems);
  if (!problems.empty()) {
    for (const auto& p : problems) std::cerr << p.to_string() << "\n";
    std::cerr << "stagewise serve: " << problems.size()
              << " problem(s) in the workflows; fix them (stagewise workflows validate "
              << cfg.workflows.dir << ") and start again\n";
    return 1;
  }
  for (const auto* wf : registry.all())
    spdlog::info("workflow {} v{} loaded from {}", wf->program, wf->version, wf->file);

  store::Store::Options sopts;
  sopts.sync = cfg.store.sync;
  sopts.dedupe_retention = cfg.processor.dedupe_retention;
  sopts.deadletter_retention = cfg.processor.deadletter_retention;
  sopts.outbox_tail_bytes = static_cast<uint64_t>(cfg.processor.outbox_tail_bytes);
  auto store = store::Store::open(cfg.store.data_dir, sopts);
  if (!store) {
    std::cerr << "stagewise serve: " << store.error().message << "\n";
    return 1;
  }

  kafka::Topics topics;
  std::unique_ptr<kafka::EmbeddedCluster> embedded;
  kafka::Properties props = cfg.kafka.properties;
  if (cfg.kafka.bootstrap_servers.empty()) {
    auto cluster = kafka::EmbeddedCluster::start(1, cfg.kafka.partitions, topics.all());
    if (!cluster) {
      std::cerr << "stagewise serve: " << cluster.error().message << "\n";
      return 1;
    }
    embedded = std::move(*cluster);
    props["bootstrap.servers"] = embedded->bootstrap();
    spdlog::info("embedded Kafka cluster (in memory) at {}", embedded->bootstrap());
  } else {
    props["bootstrap.servers"] = cfg.kafka.bootstrap_servers;
    if (auto r = kafka::ensure_topics(props, topics.all(), cfg.kafka.partitions, 15000); !r)
      spdlog::warn("could not create topics (they may exist already): {}", r.error().message);
  }
  const std::string bootstrap = props["bootstrap.servers"];

  processor::Options popts;
  popts.kafka = props;
  popts.topics = topics;
  popts.group_id = cfg.kafka.group_id;
  popts.batch_max_events = cfg.processor.batch_max_events;
  popts.batch_max_ms = cfg.processor.batch_max_ms;
  popts.cache_applications = cfg.processor.cache_applications;
  popts.max_event_bytes = cfg.processor.max_event_bytes;
  popts.envelope.max_depth = cfg.processor.max_json_depth;
  popts.time_window = {cfg.processor.max_clock_skew.ms, cfg.processor.max_backdate.ms};
  popts.engine.max_list_items = static_cast<size_t>(cfg.processor.max_list_items);
  popts.max_application_bytes = static_cast<size_t>(cfg.processor.max_application_bytes);
  popts.dead_letters = {static_cast<size_t>(cfg.processor.deadletter_excerpt_bytes),
                        static_cast<size_t>(cfg.processor.deadletter_keep_bytes)};
  popts.cache_bytes = static_cast<uint64_t>(cfg.processor.cache_bytes);
  popts.group_instance_id = group_instance_id(cfg);
  popts.transactional_id = cfg.kafka.transactional_id;
  processor::OutcomeBoard outcomes;
  popts.outcomes = &outcomes;
  processor::Processor proc(registry, **store, popts);
  if (auto r = proc.start(); !r) {
    std::cerr << "stagewise serve: cannot start the processor: " << r.error().message << "\n";
    return 1;
  }
  processor::Intake::Options iopts;
  iopts.kafka = props;
  iopts.topic = topics.events;
  iopts.store = store->get();
  iopts.outcomes = &outcomes;
  iopts.lag = [&proc] { return proc.lag(); };
  iopts.max_lag = cfg.processor.intake_max_lag;
  iopts.max_event_bytes = cfg.processor.max_event_bytes;
  iopts.envelope = popts.envelope;
  iopts.time_window = popts.time_window;
  auto intake = processor::Intake::create(iopts);
  if (!intake) {
    std::cerr << "stagewise serve: " << intake.error().message << "\n";
    return 1;
  }

  json wfs = json::array();
  for (const auto* wf : registry.all())
    wfs.push_back({{"program", wf->program}, {"version", wf->version}, {"title", wf->title}});
  api::Context ctx;
  ctx.registry = &registry;
  ctx.store = store->get();
  ctx.processor = &proc;
  ctx.intake = intake->get();
  ctx.max_events_per_request = cfg.http.max_events_per_request;
  ctx.max_json_depth = cfg.processor.max_json_depth;
  ctx.info = {{"name", "stagewise"},
              {"version", STAGEWISE_VERSION},
              {"bootstrap_servers", bootstrap},
              {"embedded_kafka", embedded != nullptr},
              {"group_id", cfg.kafka.group_id},
              {"topics",
               {{"events", topics.events},
                {"status", topics.status},
                {"notifications", topics.notifications},
                {"deadletter", topics.deadletter},
                {"changelog", topics.changelog}}},
              {"data_dir", cfg.store.data_dir},
              {"workflows", wfs}};
  api::Server http(ctx, api::http_limits(cfg.http));
  auto port = http.start(cfg.http.host, cfg.http.port);
  if (!port) {
    std::cerr << "stagewise serve: " << port.error().message << "\n";
    return 1;
  }
  const std::string url = "http://" + cfg.http.host + ":" + std::to_string(*port);

  // Ready once the consumer owns its partitions, so an event sent now is
  // applied promptly.
  bool stop = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!proc.ready() && !stop && std::chrono::steady_clock::now() < give_up)
    stop = wait_signal(signals, 50);
  if (!stop && !proc.ready())
    spdlog::warn("the consumer has no partitions after 60 s; serving anyway");

  {
    std::ofstream out(serve_file(cfg.store.data_dir));
    out << json({{"http", url}, {"bootstrap", bootstrap}, {"pid", getpid()}}).dump() << "\n";
  }
  if (!stop) {
    std::cout << "ready http=" << url << " bootstrap=" << bootstrap << std::endl;
    spdlog::info("ready: HTTP {} Kafka {}", url, bootstrap);
  }
  while (!stop && !proc.failed()) stop = wait_signal(signals, 1000);
  if (proc.failed()) {
    spdlog::critical("stopping: {}; exit 1, a restart resumes from what is durable",
                     proc.failure());
    http.stop();
    proc.stop();
    return 1;
  }

  spdlog::info("stopping: finishing the current batch");
  http.stop();
  proc.stop();
  std::error_code ec;
  std::filesystem::remove(serve_file(cfg.store.data_dir), ec);
  spdlog::info("stopped");
  return 0;
}

int broker(int partitions) {
  const sigset_t signals = block_stop_signals();
  kafka::Topics topics;
  auto cluster = kafka::EmbeddedCluster::start(1, partitions, topics.all());
  if (!cluster) {
    std::cerr << "stagewise broker: " << cluster.error().message << "\n";
    return 1;
  }
  std::cout << "bootstrap=" << (*cluster)->bootstrap() << std::endl;
  while (!wait_signal(signals, 1000)) {
  }
  return 0;
}

}  // namespace stagewise::cli
