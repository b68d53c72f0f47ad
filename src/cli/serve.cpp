#include "api/server.h"
#include "auth/jwks.h"
#include "auth/secret.h"
#include "auth/tokens.h"
#include "cli/commands.h"
#include "cli/processor_options.h"
#include "cluster/members.h"
#include "cluster/reviewers.h"
#include "common/log.h"
#include "kafka/kafka.h"
#include "privacy/keys.h"
#include "processor/intake.h"
#include "processor/processor.h"
#include "store/store.h"
#include "store/workflow_versions.h"
#include "workflow/workflow.h"

#include <spdlog/spdlog.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <sys/stat.h>
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

namespace {

// The keys of a serving process (DESIGN.md §11): the HS256 token secret
// (auth.hs256_secret_file, else made in the data dir), the identity
// provider's public keys, and the internal key that signs stagewise's own
// events.
struct Keys {
  std::string token_secret;
  std::string token_secret_file;
  std::vector<auth::Jwk> jwks;
  std::string internal;
  std::string internal_file;
  /// The key-encryption key of personal data at rest (privacy/keys.h).
  std::string kek;
};

Result<Keys> load_keys(const Config& cfg, const std::string& secrets_dir) {
  Keys k;
  if (auto r = auth::private_dir(cfg.store.data_dir); !r) return r.error();
  const std::string home = secrets_dir.empty() ? cfg.store.data_dir : secrets_dir;
  const std::string dir = home + "/auth/";
  k.token_secret_file =
      cfg.auth.hs256_secret_file.empty() ? dir + "token.secret" : cfg.auth.hs256_secret_file;
  auto token = cfg.auth.hs256_secret_file.empty() ? auth::ensure_secret(home, "token.secret")
                                                  : auth::read_secret(cfg.auth.hs256_secret_file);
  if (!token) return token.error();
  k.token_secret = std::move(*token);
  k.internal_file = cfg.auth.internal_secret_file.empty() ? dir + "internal.secret"
                                                          : cfg.auth.internal_secret_file;
  auto internal = cfg.auth.internal_secret_file.empty()
                      ? auth::ensure_secret(home, "internal.secret")
                      : auth::read_secret(cfg.auth.internal_secret_file);
  if (!internal) return internal.error();
  k.internal = std::move(*internal);
  auto data = cfg.auth.data_secret_file.empty() ? auth::ensure_secret(home, "data.secret")
                                                : auth::read_secret(cfg.auth.data_secret_file);
  if (!data) return data.error();
  k.kek = privacy::kek_from_secret(*data);
  if (!cfg.auth.jwks_file.empty()) {
    std::ifstream in(cfg.auth.jwks_file);
    if (!in) return make_error(Errc::io_error, "cannot read auth.jwks_file " + cfg.auth.jwks_file);
    std::stringstream ss;
    ss << in.rdbuf();
    auto keys = auth::parse_jwks(ss.str());
    if (!keys)
      return make_error(Errc::invalid_argument, cfg.auth.jwks_file + ": " + keys.error().message);
    k.jwks = std::move(*keys);
  }
  return k;
}

// The embedded cluster when no bootstrap servers are configured; the
// topics on a real cluster otherwise. Fills bootstrap.servers.
Result<std::unique_ptr<kafka::EmbeddedCluster>> start_kafka(const Config& cfg,
                                                            const kafka::Topics& topics,
                                                            kafka::Properties& props) {
  std::unique_ptr<kafka::EmbeddedCluster> embedded;
  if (cfg.kafka.bootstrap_servers.empty()) {
    auto cluster = kafka::EmbeddedCluster::start(1, cfg.kafka.partitions, topics.all());
    if (!cluster) return cluster.error();
    embedded = std::move(*cluster);
    props["bootstrap.servers"] = embedded->bootstrap();
    spdlog::info("embedded Kafka cluster (in memory) at {}", embedded->bootstrap());
  } else {
    props["bootstrap.servers"] = cfg.kafka.bootstrap_servers;
    // The changelog keeps the latest value per key (DESIGN.md §9).
    const std::map<std::string, kafka::Properties> configs = {
        {topics.changelog, {{"cleanup.policy", "compact"}}},
        {topics.members, {{"cleanup.policy", "compact"}}},
        {topics.reviewers, {{"cleanup.policy", "compact"}}}};
    if (auto r = kafka::ensure_topics(props, topics.all(), cfg.kafka.partitions, 15000, configs);
        !r)
      spdlog::warn("could not create topics (they may exist already): {}", r.error().message);
  }
  return embedded;
}

processor::Options serve_options(const Config& cfg, const kafka::Properties& props,
                                 const kafka::Topics& topics, const Keys& keys) {
  processor::Options o = processor_options(cfg, keys.internal);
  o.kafka = props;
  o.topics = topics;
  o.group_instance_id = group_instance_id(cfg);
  o.transactional_id = cfg.kafka.transactional_id;
  return o;
}

processor::Intake::Options intake_options(const Config& cfg, const processor::Options& popts,
                                          store::Store* store, processor::Processor& proc) {
  processor::Intake::Options o;
  o.kafka = popts.kafka;
  o.topic = popts.topics.events;
  o.deadletter_topic = popts.topics.deadletter;
  o.store = store;
  o.outcomes = popts.outcomes;
  o.lag = [&proc] { return proc.lag(); };
  o.max_lag = cfg.processor.intake_max_lag;
  o.max_event_bytes = cfg.processor.max_event_bytes;
  o.envelope = popts.envelope;
  o.time_window = popts.time_window;
  return o;
}

json info_of(const Config& cfg, const workflow::Registry& registry, const kafka::Topics& topics,
             const std::string& bootstrap, bool embedded) {
  json wfs = json::array();
  for (const auto* wf : registry.all())
    wfs.push_back({{"program", wf->program}, {"version", wf->version}, {"title", wf->title}});
  return {{"name", "stagewise"},
          {"version", STAGEWISE_VERSION},
          {"bootstrap_servers", bootstrap},
          {"embedded_kafka", embedded},
          {"group_id", cfg.kafka.group_id},
          {"topics",
           {{"events", topics.events},
            {"status", topics.status},
            {"notifications", topics.notifications},
            {"deadletter", topics.deadletter},
            {"changelog", topics.changelog},
            {"reviewers", topics.reviewers},
            {"audit", topics.audit}}},
          {"data_dir", cfg.store.data_dir},
          {"workflows", wfs}};
}

// Everything a serving process runs, built in order and torn down in
// reverse by run().
struct Serving {
  Config cfg;
  std::string secrets_dir;
  Keys keys;
  auth::Verifier verifier{auth::VerifierOptions{}};
  std::unique_ptr<store::Store> store;
  kafka::Topics topics;
  std::unique_ptr<kafka::EmbeddedCluster> embedded;
  std::string bootstrap;
  processor::OutcomeBoard outcomes;
  reviews::ReviewerPool reviewers;              // every reviewer (DESIGN.md §12)
  reports::Book reports;                        // the reports' rows (DESIGN.md §13)
  std::unique_ptr<cluster::Directory> members;  // with other processes only; outlives proc
  std::unique_ptr<processor::Processor> proc;
  std::unique_ptr<cluster::ReviewerFollower> follower;  // with other processes only
  std::unique_ptr<processor::Intake> intake;
  std::unique_ptr<api::Server> http;
  std::string url;
};

// What the HTTP server serves from.
api::Context context_of(Serving& s, const workflow::Registry& registry) {
  api::Context ctx;
  ctx.registry = &registry;
  ctx.store = s.store.get();
  ctx.processor = s.proc.get();
  ctx.intake = s.intake.get();
  ctx.max_events_per_request = s.cfg.http.max_events_per_request;
  ctx.max_json_depth = s.cfg.processor.max_json_depth;
  ctx.info = info_of(s.cfg, registry, s.topics, s.bootstrap, s.embedded != nullptr);
  ctx.verifier = &s.verifier;
  ctx.services = s.cfg.auth.services;
  ctx.internal_key = s.keys.internal;
  ctx.metrics_token = s.cfg.auth.metrics_token;
  ctx.max_waiting_requests = std::max(1, s.cfg.http.threads / 2);
  ctx.members = s.members.get();
  ctx.reports = &s.reports;
  ctx.min_cell = static_cast<uint64_t>(s.cfg.reports.min_cell);
  ctx.data_dir = s.cfg.store.data_dir;
  return ctx;
}

// The data dir is made 0700 (auth::private_dir, by load_keys); one that
// others could read before is said once, since its files may have been
// copied already.
void warn_if_shared(const std::string& data_dir) {
  struct stat st {};
  if (::stat(data_dir.c_str(), &st) != 0 || (st.st_mode & 0077) == 0) return;
  spdlog::warn("data dir {} had mode {:04o}: others could read it; made it 0700", data_dir,
               st.st_mode & 0777);
}

// Opens the store, Kafka, the processor, the intake and the HTTP server;
// the error names what could not start.
Result<void> start(Serving& s, const workflow::Registry& registry) {
  warn_if_shared(s.cfg.store.data_dir);
  auto keys = load_keys(s.cfg, s.secrets_dir);
  if (!keys) return keys.error();
  s.keys = std::move(*keys);
  s.verifier = auth::Verifier({.hs256_secret = s.keys.token_secret,
                               .keys = s.keys.jwks,
                               .issuer = s.cfg.auth.issuer,
                               .audience = s.cfg.auth.audience});
  store::Store::Options sopts;
  sopts.sync = s.cfg.store.sync;
  sopts.dedupe_retention = s.cfg.processor.dedupe_retention;
  sopts.deadletter_retention = s.cfg.processor.deadletter_retention;
  sopts.outbox_tail_bytes = static_cast<uint64_t>(s.cfg.processor.outbox_tail_bytes);
  sopts.kek = s.keys.kek;
  auto store = store::Store::open(s.cfg.store.data_dir, sopts);
  if (!store) return store.error();
  s.store = std::move(*store);
  s.store->publish_audit_to(s.topics.audit);
  if (auto r = store::pin_workflows(*s.store, registry); !r) return r.error();
  kafka::Properties props = s.cfg.kafka.properties;
  auto embedded = start_kafka(s.cfg, s.topics, props);
  if (!embedded) return embedded.error();
  s.embedded = std::move(*embedded);
  s.bootstrap = props["bootstrap.servers"];
  auto popts = serve_options(s.cfg, props, s.topics, s.keys);
  popts.outcomes = &s.outcomes;
  popts.reviewers = &s.reviewers;
  popts.reports = &s.reports;
  // A broker this process embeds dies with it: nobody could restore from
  // its changelog, so none is written (DESIGN.md §9, docs/scale-out.md).
  popts.changelog = s.embedded == nullptr;
  if (popts.changelog) {
    cluster::Directory::Options mo;
    mo.kafka = props;
    mo.topic = s.topics.members;
    mo.self_id = s.store->id();
    mo.owned = [&s] { return s.proc ? s.proc->owned_partitions() : std::vector<int32_t>{}; };
    s.members = std::make_unique<cluster::Directory>(std::move(mo));
    popts.on_owned_changed = [m = s.members.get()] { m->announce(); };
  }
  if (popts.changelog) {  // other processes apply some reviewers' events: know them first
    s.follower = std::make_unique<cluster::ReviewerFollower>(
        *s.store, s.reviewers,
        cluster::ReviewerFollower::Options{props, s.topics.reviewers, s.cfg.kafka.partitions});
    if (auto r = s.follower->start(); !r) return r;
    if (auto r = s.follower->catch_up(std::chrono::seconds(30)); !r)
      spdlog::warn("{}; going on with the reviewers known so far", r.error().message);
  }
  s.proc = std::make_unique<processor::Processor>(registry, *s.store, popts);
  if (auto r = s.proc->start(); !r)
    return make_error(r.error().code, "cannot start the processor: " + r.error().message);
  auto iopts = intake_options(s.cfg, popts, s.store.get(), *s.proc);
  if (s.members)
    iopts.owned_here = [st = s.store.get()](int32_t partition) {
      return st->owns_partition(partition);
    };
  auto intake = processor::Intake::create(std::move(iopts));
  if (!intake) return intake.error();
  s.intake = std::move(*intake);
  s.http = std::make_unique<api::Server>(context_of(s, registry), api::http_limits(s.cfg.http));
  auto port = s.http->start(s.cfg.http.host, s.cfg.http.port);
  if (!port) return port.error();
  s.url = "http://" + s.cfg.http.host + ":" + std::to_string(*port);
  if (s.members) {
    s.members->set_self_url(s.cfg.http.advertise.empty() ? s.url : s.cfg.http.advertise);
    if (auto r = s.members->start(); !r) return r;
  }
  return {};
}

// Where a query or a tool finds this server, and the key files it may use
// (paths only: the files are 0600 in a 0700 dir).
void write_serve_file(const Serving& s) {
  std::ofstream out(serve_file(s.cfg.store.data_dir));
  out << json({{"http", s.url},
               {"bootstrap", s.bootstrap},
               {"pid", getpid()},
               {"token_secret", s.keys.token_secret_file},
               {"internal_secret", s.keys.internal_file},
               {"issuer", s.cfg.auth.issuer},
               {"audience", s.cfg.auth.audience}})
             .dump()
      << "\n";
}

// Waits for the partitions, says ready, serves until a signal or a failure.
int run(Serving& s, const sigset_t& signals) {
  bool stop = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!s.proc->ready() && !stop && std::chrono::steady_clock::now() < give_up)
    stop = wait_signal(signals, 50);
  if (!stop && !s.proc->ready())
    spdlog::warn("the consumer has no partitions after 60 s; serving anyway");
  write_serve_file(s);
  if (!stop) {
    std::cout << "ready http=" << s.url << " bootstrap=" << s.bootstrap << std::endl;
    spdlog::info("ready: HTTP {} Kafka {}", s.url, s.bootstrap);
  }
  while (!stop && !s.proc->failed()) stop = wait_signal(signals, 1000);
  const bool failed = s.proc->failed();
  if (failed)
    spdlog::critical("stopping: {}; exit 1, a restart resumes from what is durable",
                     s.proc->failure());
  else
    spdlog::info("stopping: finishing the current batch");
  s.http->stop();
  s.proc->stop();
  if (s.members) s.members->stop();  // says it leaves: nobody forwards here any more
  std::error_code ec;
  std::filesystem::remove(serve_file(s.cfg.store.data_dir), ec);
  if (!failed) spdlog::info("stopped");
  return failed ? 1 : 0;
}

}  // namespace

int serve(const ServeFlags& flags) {
  const sigset_t signals = block_stop_signals();
  Serving s;
  try {
    s.cfg = load_config(flags.config_file);
  } catch (const std::exception& e) {
    std::cerr << "stagewise serve: " << e.what() << "\n";
    return 2;
  }
  if (!flags.data_dir.empty()) s.cfg.store.data_dir = flags.data_dir;
  if (!flags.workflows.empty()) s.cfg.workflows.dir = flags.workflows;
  if (flags.bootstrap_set) s.cfg.kafka.bootstrap_servers = flags.bootstrap;
  if (flags.http_port >= 0) s.cfg.http.port = flags.http_port;
  s.secrets_dir = flags.secrets_dir;
  init_logging(s.cfg.log.level, s.cfg.log.format);

  std::vector<workflow::Problem> problems;
  const auto registry = workflow::Registry::load({s.cfg.workflows.dir}, problems);
  if (!problems.empty()) {
    for (const auto& p : problems) std::cerr << p.to_string() << "\n";
    std::cerr << "stagewise serve: " << problems.size()
              << " problem(s) in the workflows; fix them (stagewise workflows validate "
              << s.cfg.workflows.dir << ") and start again\n";
    return 1;
  }
  for (const auto* wf : registry.all())
    spdlog::info("workflow {} v{} loaded from {}", wf->program, wf->version, wf->file);
  if (auto r = start(s, registry); !r) {
    std::cerr << "stagewise serve: " << r.error().message << "\n";
    return 1;
  }
  return run(s, signals);
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
