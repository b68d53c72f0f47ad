// `stagewise replay` (DESIGN.md §5.4, §10; issue 15): a store rebuilt from
// the recorded input log by the real processor, and `--verify D` compares
// it with an existing store application by application.
#include "auth/secret.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/processor_options.h"
#include "cli/progress.h"
#include "common/json_limits.h"
#include "common/log.h"
#include "common/time.h"
#include "privacy/keys.h"
#include "replay/compare.h"
#include "replay/rebuild.h"
#include "store/workflow_versions.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

namespace stagewise::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kName = "stagewise replay: ";

// Why the flags cannot work together, if they cannot (exit 2).
std::optional<std::string> usage_problem(const ReplayFlags& f) {
  if (f.from.empty() == f.topic.empty())
    return "give the log to replay: --from FILE or --topic TOPIC (one of them)";
  if (!f.topic.empty() && f.bootstrap.empty())
    return "--topic needs --bootstrap-servers HOSTS of the cluster that holds it";
  return std::nullopt;
}

Result<void> check_empty(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  if (!fs::is_directory(dir, ec))
    return make_error(Errc::invalid_argument, "--data-dir " + dir + " is not a directory");
  if (!fs::is_empty(dir, ec))
    return make_error(Errc::invalid_argument,
                      "--data-dir " + dir +
                          " is not empty: replay builds a new store; give a new or empty dir "
                          "(it never writes into an existing store)");
  return {};
}

// The key the original's intake and timers signed their events with: a
// replay without it would refuse them (DESIGN.md §11) and diverge.
Result<std::string> internal_key(const Config& cfg, const ReplayFlags& f) {
  if (!cfg.auth.internal_secret_file.empty())
    return auth::read_secret(cfg.auth.internal_secret_file);
  const std::string home = !f.secrets_dir.empty() ? f.secrets_dir : f.verify;
  if (home.empty())
    return make_error(Errc::invalid_argument,
                      "which internal key signed the original's events? pass --secrets-dir DIR "
                      "(the original serve's --secrets-dir, or its data dir), or --verify DIR");
  const std::string file = home + "/auth/internal.secret";
  std::error_code ec;
  if (!fs::exists(file, ec))
    return make_error(Errc::not_found, "no internal key " + file +
                                           ": pass --secrets-dir with the dir holding "
                                           "auth/internal.secret of the original serve");
  return auth::read_secret(file);
}

// A workflow changed under a version the original used decides otherwise.
Result<void> same_workflows(const store::Store& original, const workflow::Registry& registry,
                            const std::string& dir) {
  for (const auto* wf : registry.all()) {
    auto recorded = store::recorded_fingerprint(original, wf->program, wf->version);
    if (!recorded) {
      if (recorded.error().is_not_found()) continue;
      return recorded.error();
    }
    if (*recorded != store::workflow_fingerprint(*wf))
      return make_error(Errc::invalid_argument,
                        "workflow " + wf->program + " version " + std::to_string(wf->version) +
                            " (" + wf->file + ") is not the one " + dir + " ran (fingerprint " +
                            *recorded + "): replay with the original's workflows (--workflows)");
  }
  return {};
}

struct Source {
  std::function<Result<void>(const replay::Each&)> read;
  uint64_t total = 0;
  int32_t partitions = 0;  ///< the topic's, or the recorded messages'; 0: unknown
  std::string name;
};

Result<Source> source_of(const ReplayFlags& f, const Config& cfg) {
  Source s;
  if (!f.from.empty()) {
    auto facts = replay::scan_file(f.from);
    if (!facts) return facts.error();
    s.total = facts->messages;
    s.partitions = facts->partitions;
    s.name = f.from;
    s.read = [file = f.from](const replay::Each& each) { return replay::read_file(file, each); };
    return s;
  }
  kafka::Properties props = cfg.kafka.properties;
  props["bootstrap.servers"] = f.bootstrap;
  auto extent = replay::topic_extent(props, f.topic);
  if (!extent) return extent.error();
  s.total = extent->total();
  s.partitions = extent->partitions();
  s.name = f.topic + " at " + f.bootstrap;
  s.read = [props, e = *extent](const replay::Each& each) {
    return replay::read_topic(props, e, each);
  };
  return s;
}

// --write FILE: every message read, as a recorded line (docs/replay.md).
Source also_write(Source s, std::ofstream& out, const std::string& topic) {
  auto read = std::move(s.read);
  s.read = [read, &out, topic](const replay::Each& each) {
    return read([&](replay::LogRecord&& r) -> Result<void> {
      out << replay::format_line(r, topic) << "\n";
      if (!out) return make_error(Errc::io_error, "cannot write the --write file");
      return each(std::move(r));
    });
  };
  return s;
}

}  // namespace

namespace {

struct Setup {
  Config cfg;
  workflow::Registry registry;
  std::string key;
  std::unique_ptr<store::Store> original;  ///< --verify's, read-only
};

// Config, workflows, the internal key and the store to verify against;
// the exit code when something is wrong.
std::optional<int> set_up(const ReplayFlags& f, Setup& s) {
  try {
    s.cfg = load_config(f.config_file);
  } catch (const std::exception& e) {
    std::cerr << kName << e.what() << "\n";
    return 2;
  }
  if (!f.workflows.empty()) s.cfg.workflows.dir = f.workflows;
  // The original logged each rejection already; the summary counts them,
  // and one line each would break the progress line. Errors (a gap) show.
  init_logging("error", s.cfg.log.format);
  std::vector<workflow::Problem> problems;
  s.registry = workflow::Registry::load({s.cfg.workflows.dir}, problems);
  for (const auto& p : problems) std::cerr << p.to_string() << "\n";
  if (!problems.empty()) return 1;
  auto key = internal_key(s.cfg, f);
  if (!key) {
    std::cerr << kName << key.error().message << "\n";
    return key.error().code == Errc::invalid_argument ? 2 : 1;
  }
  s.key = std::move(*key);
  if (auto r = check_empty(f.data_dir); !r) {
    std::cerr << kName << r.error().message << "\n";
    return 1;
  }
  if (f.verify.empty()) return std::nullopt;
  // Its personal data opens under its own key file, or the secrets dir's.
  store::Store::Options o = local_store_options(f.verify);
  if (o.kek.empty() && !f.secrets_dir.empty()) o.kek = privacy::kek_of(f.secrets_dir).value_or("");
  auto st = store::Store::open(f.verify, o);
  if (!st) {
    std::cerr << kName << "cannot read --verify " << f.verify << ": " << st.error().message
              << " (pass the data dir of stagewise serve)\n";
    return 1;
  }
  s.original = std::move(*st);
  if (auto r = same_workflows(*s.original, s.registry, f.verify); !r) {
    std::cerr << kName << r.error().message << "\n";
    return 1;
  }
  return std::nullopt;
}

Result<std::unique_ptr<store::Store>> new_store(const ReplayFlags& f, const Setup& s) {
  if (auto r = auth::private_dir(f.data_dir); !r) return r.error();
  store::Store::Options o;
  o.sync = false;  // a replay that fails is run again into a new dir
  o.dedupe_retention = s.cfg.processor.dedupe_retention;
  o.deadletter_retention = s.cfg.processor.deadletter_retention;
  // Sealed as serve seals: under the key file serve on this dir would use.
  auto secret =
      !s.cfg.auth.data_secret_file.empty()
          ? auth::read_secret(s.cfg.auth.data_secret_file)
          : auth::ensure_secret(f.secrets_dir.empty() ? f.data_dir : f.secrets_dir, "data.secret");
  if (!secret) return secret.error();
  o.kek = privacy::kek_from_secret(*secret);
  auto st = store::Store::open(f.data_dir, o);
  if (!st) return st.error();
  if (auto r = store::pin_workflows(**st, s.registry); !r) return r.error();
  return st;
}

Result<replay::Rebuilt> run_rebuild(const ReplayFlags& f, Setup& s, store::Store& st) {
  auto src = source_of(f, s.cfg);
  if (!src) return src.error();
  // A topic knows its partition count; a file's is inferred, and --partitions wins.
  const bool from_topic = !f.topic.empty();
  if (from_topic && f.partitions > 0 && f.partitions != src->partitions)
    return make_error(Errc::invalid_argument, "--partitions " + std::to_string(f.partitions) +
                                                  ", but " + src->name + " has " +
                                                  std::to_string(src->partitions) + " partitions");
  const int32_t partitions = from_topic || (src->partitions > 0 && f.partitions == 0)
                                 ? src->partitions
                             : f.partitions > 0 ? f.partitions
                                                : s.cfg.kafka.partitions;
  std::ofstream out;
  replay::RebuildOptions o;
  o.processor = processor_options(s.cfg, s.key);
  o.partitions = partitions;
  if (!f.write_to.empty()) {
    out.open(f.write_to);
    if (!out) return make_error(Errc::io_error, "cannot write " + f.write_to);
    *src = also_write(std::move(*src), out, o.processor.topics.events);
  }
  ProgressBar bar({"events"}, !f.json);
  const uint64_t total = src->total;
  o.progress = [&](uint64_t consumed) { bar.update(consumed, total, "replaying"); };
  auto rebuilt = replay::rebuild(s.registry, st, src->read, std::move(o));
  bar.end(rebuilt.ok());
  if (rebuilt && !f.write_to.empty() && !out.flush())
    return make_error(Errc::io_error, "cannot write " + f.write_to);
  return rebuilt;
}

json rebuilt_json(const ReplayFlags& f, const replay::Rebuilt& r) {
  json ends = json::object();
  for (const auto& [p, o] : r.ends) ends[std::to_string(p)] = o;
  return {{"from", f.from.empty() ? "topic " + f.topic : f.from},
          {"data_dir", f.data_dir},
          {"messages", r.messages},
          {"applied", r.applied},
          {"rejected", r.rejected},
          {"duplicates", r.duplicates},
          {"ends", ends}};
}

}  // namespace

namespace {

// One line naming the application and the field, never their values
// unless asked (they may be personal data; logs and terminals keep them).
std::string describe(const replay::Difference& d, const std::string& store_dir, bool values) {
  const std::string app = "application " + escape_unsafe(d.application);
  switch (d.kind) {
    case replay::Difference::Kind::only_in_replay:
      return app + ": only in the replay, not in " + store_dir;
    case replay::Difference::Kind::only_in_store:
      return app + ": only in " + store_dir + ", not in the replay";
    case replay::Difference::Kind::differs:
      break;
  }
  std::string line = app + ": " + escape_unsafe(d.path) + " differs";
  if (values)
    line +=
        ": replay " + escape_unsafe(d.replay.dump()) + ", store " + escape_unsafe(d.store.dump());
  else
    line += " (values not shown; --show-values prints them)";
  return line;
}

json verify_json(const ReplayFlags& f, const replay::Comparison& c) {
  json j = {{"store", f.verify},
            {"equal", c.equal()},
            {"applications", c.applications},
            {"history_entries", c.history_entries},
            {"differing", c.differing}};
  if (c.first) {
    const auto& d = *c.first;
    const char* kind = d.kind == replay::Difference::Kind::differs          ? "differs"
                       : d.kind == replay::Difference::Kind::only_in_replay ? "only_in_replay"
                                                                            : "only_in_store";
    j["first"] = {{"application", d.application}, {"kind", kind}, {"path", d.path}};
    if (f.show_values) {
      j["first"]["replay"] = d.replay;
      j["first"]["store"] = d.store;
    }
  }
  return j;
}

// Exit 0 when the stores agree, 1 when they do not or cannot be read.
int verify(const ReplayFlags& f, const store::Store& replayed, const store::Store& original,
           json& out) {
  ProgressBar bar({"applications", 1, false}, !f.json);
  replay::CompareOptions o;
  o.fired_before_ms = now_ms();
  o.progress = [&](uint64_t done, uint64_t total) { bar.update(done, total, "verifying"); };
  auto c = replay::compare(replayed, original, o);
  bar.end(c.ok());
  if (!c) {
    std::cerr << kName << "cannot compare: " << c.error().message << "\n";
    return 1;
  }
  out["verify"] = verify_json(f, *c);
  if (!f.json) {
    if (c->first) std::cout << describe(*c->first, f.verify, f.show_values) << "\n";
    if (c->equal())
      std::cout << "same: " << c->applications << " applications, " << c->history_entries
                << " history entries as in " << f.verify << "\n";
    else
      std::cout << "DIFFERENT: " << c->differing << " of " << c->applications
                << " applications differ from " << f.verify << " (the first above)\n";
  }
  return c->equal() ? 0 : 1;
}

}  // namespace

int run_replay(const ReplayFlags& f) {
  if (auto why = usage_problem(f)) {
    std::cerr << kName << *why << "\n";
    return 2;
  }
  Setup s;
  if (auto code = set_up(f, s)) return *code;
  auto st = new_store(f, s);
  if (!st) {
    std::cerr << kName << "cannot make the store in " << f.data_dir << ": " << st.error().message
              << "\n";
    return 1;
  }
  auto rebuilt = run_rebuild(f, s, **st);
  if (!rebuilt) {
    std::cerr << kName << rebuilt.error().message << "\n";
    return 1;
  }
  json out = {{"replay", rebuilt_json(f, *rebuilt)}};
  if (!f.json)
    std::cout << "replayed " << rebuilt->messages << " messages into " << f.data_dir << ": "
              << rebuilt->applied << " applied, " << rebuilt->rejected << " rejected, "
              << rebuilt->duplicates << " duplicates\n";
  const int code = s.original ? verify(f, **st, *s.original, out) : 0;
  if (f.json) std::cout << out.dump(2) << "\n";
  return code;
}

}  // namespace stagewise::cli
