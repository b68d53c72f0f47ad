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
  popts.max_event_bytes = cfg.processor.max_event_bytes;
  processor::Processor proc(registry, **store, popts);
  if (auto r = proc.start(); !r) {
    std::cerr << "stagewise serve: cannot start the processor: " << r.error().message << "\n";
    return 1;
  }
  auto intake = processor::Intake::create(props, topics.events);
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
  api::Server http(ctx);
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
  while (!stop) stop = wait_signal(signals, 1000);

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
