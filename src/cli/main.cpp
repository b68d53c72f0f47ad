#include "cli/commands.h"
#include "common/log.h"

#include <CLI/CLI.hpp>

#include <functional>
#include <iostream>
#include <memory>
#include <utility>
#include <vector>

namespace {

void add_target(CLI::App* cmd, stagewise::cli::Target& t) {
  cmd->add_option("--data-dir", t.data_dir,
                  "Data dir of stagewise serve: asks the server running on it, or reads it "
                  "directly when none runs")
      ->capture_default_str();
  cmd->add_option("--server", t.server, "URL of a running server, e.g. http://127.0.0.1:8080");
  cmd->add_option("--token", t.token,
                  "Bearer token for the server (default: $STAGEWISE_TOKEN, or one minted from "
                  "--data-dir's secret)")
      ->envname("STAGEWISE_TOKEN");
  cmd->add_flag("--json", t.json, "Print JSON");
}

// Each command registers its options and says what to run once parsed;
// the flags live in the action, which outlives parsing.
using Action = std::function<int()>;
using Commands = std::vector<std::pair<CLI::App*, Action>>;
using namespace stagewise::cli;

void add_serve(CLI::App& app, Commands& out) {
  auto f = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the processor and the HTTP API");
  cmd->add_option("--config", f->config_file, "Config file (JSON)");
  cmd->add_option("--data-dir", f->data_dir, "Where the state is stored");
  cmd->add_option("--workflows", f->workflows, "Folder of workflow files");
  cmd->add_option("--bootstrap-servers", f->bootstrap,
                  "Kafka bootstrap servers; empty: start the embedded cluster")
      ->each([f](const std::string&) { f->bootstrap_set = true; });
  cmd->add_option("--http-port", f->http_port, "HTTP port; 0 picks a free one");
  cmd->add_option("--secrets-dir", f->secrets_dir,
                  "Where the token secret and internal key are kept, made when missing; "
                  "processes sharing the input give the same (default: the data dir)");
  out.emplace_back(cmd, [f] { return serve(*f); });
}

void add_broker(CLI::App& app, Commands& out) {
  auto partitions = std::make_shared<int>(8);
  auto* cmd = app.add_subcommand("broker", "Run only the embedded Kafka cluster");
  cmd->add_option("--partitions", *partitions, "Partitions per topic")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  out.emplace_back(cmd, [partitions] { return broker(*partitions); });
}

void add_submit(CLI::App& app, Commands& out) {
  auto f = std::make_shared<SubmitFlags>();
  auto* cmd = app.add_subcommand("submit",
                                 "Send CloudEvents (one JSON object per line) to the input topic");
  cmd->add_option("FILE", f->file, "File of JSON lines, or - for stdin")->required();
  cmd->add_option("--bootstrap-servers", f->bootstrap,
                  "Kafka bootstrap servers (default: those of the server on --data-dir)");
  cmd->add_option("--data-dir", f->target.data_dir, "Data dir of a running serve")
      ->capture_default_str();
  cmd->add_option("--max-lag", f->max_lag,
                  "Wait while the processor is more than this many events behind")
      ->capture_default_str();
  cmd->add_option("--group", f->group, "Consumer group of the processor")->capture_default_str();
  cmd->add_flag("--rebase-time", f->rebase_time,
                "Shift every event's time by the same amount so that the latest is now "
                "(replay a recorded cohort as if it just happened)");
  out.emplace_back(cmd, [f] { return submit(*f); });
}

// status, history, list, funnel: queries of a server or a data dir.
void add_queries(CLI::App& app, Commands& out) {
  struct Query {
    Target target;
    std::string id, program, stage;
    size_t limit = 100;
  };
  auto q = std::make_shared<Query>();
  auto* status_cmd = app.add_subcommand("status", "Where an application stands");
  status_cmd->add_option("ID", q->id, "Application id")->required();
  add_target(status_cmd, q->target);
  auto* history_cmd = app.add_subcommand("history", "How an application got where it is");
  history_cmd->add_option("ID", q->id, "Application id")->required();
  add_target(history_cmd, q->target);
  auto* list_cmd = app.add_subcommand("list", "Applications of a program, by stage");
  list_cmd->add_option("PROGRAM", q->program, "Program")->required();
  list_cmd->add_option("--stage", q->stage, "Only this stage");
  list_cmd->add_option("--limit", q->limit, "At most this many")->capture_default_str();
  add_target(list_cmd, q->target);
  auto* funnel_cmd = app.add_subcommand("funnel", "How many applications are in each stage");
  funnel_cmd->add_option("PROGRAM", q->program, "Program")->required();
  add_target(funnel_cmd, q->target);
  out.emplace_back(status_cmd, [q] { return status(q->target, q->id); });
  out.emplace_back(history_cmd, [q] { return history(q->target, q->id); });
  out.emplace_back(list_cmd, [q] { return list(q->target, q->program, q->stage, q->limit); });
  out.emplace_back(funnel_cmd, [q] { return funnel(q->target, q->program); });
}

void add_reviews(CLI::App& app, Commands& out) {
  struct Flags {
    Target target;
    std::string program, stage;
    bool dry_run = false;
  };
  auto f = std::make_shared<Flags>();
  auto* assign_cmd = app.add_subcommand(
      "assign", "Assign reviewers: conflict-free, within loads, the worst-off first");
  assign_cmd->add_option("PROGRAM", f->program, "Program")->required();
  assign_cmd->add_option("--stage", f->stage, "Only this review stage");
  assign_cmd->add_flag("--dry-run", f->dry_run, "Print the plan, send nothing");
  add_target(assign_cmd, f->target);
  auto* ranking_cmd =
      app.add_subcommand("ranking", "Applications ranked by calibrated review scores");
  ranking_cmd->add_option("PROGRAM", f->program, "Program")->required();
  ranking_cmd->add_option("--stage", f->stage, "Rank the applications in this stage");
  add_target(ranking_cmd, f->target);
  out.emplace_back(assign_cmd, [f] { return assign(f->target, f->program, f->stage, f->dry_run); });
  out.emplace_back(ranking_cmd, [f] { return ranking(f->target, f->program, f->stage); });
}

void add_audit(CLI::App& app, Commands& out) {
  auto f = std::make_shared<AuditFlags>();
  auto* cmd = app.add_subcommand("audit", "Check the tamper-evident history (DESIGN.md §14)");
  cmd->require_subcommand(1);
  auto* verify = cmd->add_subcommand(
      "verify",
      "Recompute every hash chain and round digest; exit 1 naming the first broken entry");
  verify->add_option("ID", f->ids, "Applications to check");
  verify->add_flag("--all", f->all, "Check every application and every partition's rounds");
  verify->add_option("--data-dir", f->data_dir, "Data dir of stagewise serve (read-only)")
      ->capture_default_str();
  verify->add_flag("--json", f->json, "Print JSON");
  out.emplace_back(verify, [f] { return audit_verify(*f); });
}

void add_report(CLI::App& app, Commands& out) {
  auto f = std::make_shared<ReportFlags>();
  auto* cmd = app.add_subcommand(
      "report", "The program office's reports: funnel, time in stage, fairness, hubs");
  cmd->add_option("PROGRAM", f->program, "Program")->required();
  cmd->add_option("KIND", f->kind, "funnel, time-in-stage, fairness, reviewers or hubs")
      ->capture_default_str()
      ->check(CLI::IsMember({"funnel", "time-in-stage", "fairness", "reviewers", "hubs"}));
  cmd->add_option("--attribute", f->attribute,
                  "fairness, reviewers: the self-identification answer to compare groups by");
  cmd->add_option("--from", f->from, "Submitted on or after this day or time");
  cmd->add_option("--to", f->to, "Submitted before this time, or on or before this day");
  cmd->add_option("--cycle", f->cycle, "Only this cycle (the profile's, else the year)");
  cmd->add_option("--hub", f->hub, "Only this hub university");
  cmd->add_option("--over", f->over, "time-in-stage: flag waits longer than this (e.g. P14D)");
  cmd->add_option("--min-cell", f->min_cell,
                  "Hide groups smaller than this (never below the server's reports.min_cell)");
  cmd->add_flag("--csv", f->csv, "Print CSV");
  cmd->add_option("--workflows", f->workflows, "Workflows folder, to read a data dir directly")
      ->capture_default_str();
  cmd->add_option("--config", f->config,
                  "The server's config file, for its reports.min_cell when reading a data dir");
  add_target(cmd, f->target);
  out.emplace_back(cmd, [f] { return report(*f); });
}

void add_workflows(CLI::App& app, Commands& out) {
  struct Flags {
    std::vector<std::string> paths;
    bool json = false;
    std::string program, format = "mermaid", dir = "workflows";
    int version = 0;
  };
  auto f = std::make_shared<Flags>();
  auto* wf_cmd = app.add_subcommand("workflows", "Check workflow files");
  wf_cmd->require_subcommand(1);
  auto* validate_cmd = wf_cmd->add_subcommand("validate", "Validate workflow files or folders");
  validate_cmd->add_option("PATH", f->paths, "Files or folders")->required();
  validate_cmd->add_flag("--json", f->json, "Print JSON");
  auto* graph_cmd = wf_cmd->add_subcommand("graph", "Draw a program's workflow");
  graph_cmd->add_option("PROGRAM", f->program, "Program id, or a workflow file")->required();
  graph_cmd->add_option("--format", f->format, "mermaid or dot")
      ->capture_default_str()
      ->check(CLI::IsMember({"mermaid", "dot"}));
  graph_cmd->add_option("--workflows", f->dir, "Folder of workflow files")->capture_default_str();
  graph_cmd->add_option("--version", f->version, "Version (default: the latest)");
  out.emplace_back(validate_cmd, [f] { return workflows_validate(f->paths, f->json); });
  out.emplace_back(graph_cmd,
                   [f] { return workflows_graph(f->program, f->format, f->dir, f->version); });
}

void add_token(CLI::App& app, Commands& out) {
  auto f = std::make_shared<TokenFlags>();
  auto* cmd = app.add_subcommand(
      "token", "Print a bearer token signed with the data dir's secret (zero-config auth)");
  cmd->add_option("--data-dir", f->data_dir, "Data dir of stagewise serve")->capture_default_str();
  cmd->add_option("--role", f->role,
                  "applicant, reviewer, program_manager, hub_admin, admin or service")
      ->required();
  cmd->add_option("--sub", f->sub, "The actor id the token stands for")->required();
  cmd->add_option("--program", f->programs, "A program it covers (repeatable)");
  cmd->add_option("--university", f->university, "For hub_admin: the hub university it co-manages");
  cmd->add_option("--application", f->applications,
                  "For applicants: an application it may read (repeatable)");
  cmd->add_option("--ttl", f->ttl, "How long it is valid (ISO-8601)")->capture_default_str();
  out.emplace_back(cmd, [f] { return token(*f); });
}

void add_eval_guard(CLI::App& app, Commands& out) {
  auto args = std::make_shared<std::pair<std::string, std::string>>();
  auto* cmd = app.add_subcommand("eval-guard", "Evaluate a JsonLogic guard against data");
  cmd->add_option("RULE_JSON", args->first, "The rule, as JSON")->required();
  cmd->add_option("DATA_JSON", args->second, "The data, as JSON")->required();
  out.emplace_back(cmd, [args] { return eval_guard(args->first, args->second); });
}

void add_simulate(CLI::App& app, Commands& out) {
  auto f = std::make_shared<SimulateFlags>();
  auto* cmd = app.add_subcommand(
      "simulate",
      "Send a seeded cohort of one program through the pipeline; print the expected funnel");
  cmd->add_option("--program", f->program, "Program")->required();
  cmd->add_option("--applicants", f->applicants, "Applications in the cohort")
      ->capture_default_str()
      ->check(CLI::Range(0, 10'000'000));
  cmd->add_option("--seed", f->seed, "Seed: the same seed gives the same cohort")
      ->capture_default_str();
  cmd->add_option("--rate", f->rate, "Events per second; 0 sends as fast as possible")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--bad-fraction", f->bad_fraction,
                  "Share of bad events (malformed, missing attributes, not accepted)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.95));
  cmd->add_option("--days", f->days, "Length of the cohort's timeline, ending now")
      ->capture_default_str()
      ->check(CLI::Range(1, 3650));
  cmd->add_option("--data-dir", f->data_dir, "Data dir of a running serve")->capture_default_str();
  cmd->add_option("--bootstrap-servers", f->bootstrap,
                  "Kafka bootstrap servers (default: those of the server on --data-dir)");
  cmd->add_option("--workflows", f->workflows,
                  "Folder of workflow files (default: the configured one)");
  cmd->add_option("--max-lag", f->max_lag,
                  "Wait while the processor is more than this many events behind")
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "Print the summary as one JSON object");
  cmd->add_flag("--dry-run", f->dry_run, "Generate and summarise; send nothing");
  cmd->add_option("--write", f->write_to,
                  "Also write the cohort to FILE, one message value per line (bad ones too)");
  out.emplace_back(cmd, [f] { return simulate(*f); });
}

void add_backup(CLI::App& app, Commands& out) {
  auto b = std::make_shared<BackupFlags>();
  auto* backup_cmd = app.add_subcommand(
      "backup",
      "Write a consistent backup of a data dir (store, input offsets, key files) while serve "
      "runs on it");
  backup_cmd->add_option("--to", b->to, "A new or empty dir for the backup (made 0700)")
      ->required();
  add_target(backup_cmd, b->target);
  auto r = std::make_shared<RestoreFlags>();
  auto* restore_cmd =
      app.add_subcommand("restore", "Make a data dir from a backup, after checking every file");
  restore_cmd->add_option("--from", r->from, "The backup dir")->required();
  restore_cmd->add_option("--data-dir", r->data_dir, "The data dir to make (new or empty)")
      ->required();
  restore_cmd->add_flag("--force", r->force,
                        "Replace a data dir that is not empty (no process may be using it)");
  restore_cmd->add_flag("--json", r->json, "Print JSON");
  out.emplace_back(backup_cmd, [b] { return run_backup(*b); });
  out.emplace_back(restore_cmd, [r] { return run_restore(*r); });
}

void add_replay(CLI::App& app, Commands& out) {
  auto f = std::make_shared<ReplayFlags>();
  auto* cmd = app.add_subcommand(
      "replay",
      "Rebuild a store from the recorded input log with the processor; --verify compares it "
      "with an existing store, application by application");
  cmd->add_option("--from", f->from,
                  "Log file: one message value per line (simulate --write), or recorded "
                  "messages as kcat -J or replay --write print them");
  cmd->add_option("--topic", f->topic, "Or read this topic, from its start to its end now");
  cmd->add_option("--bootstrap-servers", f->bootstrap, "Kafka cluster holding --topic");
  cmd->add_option("--data-dir", f->data_dir, "A new or empty dir for the rebuilt store (made 0700)")
      ->required();
  cmd->add_option("--verify", f->verify,
                  "Data dir of the store to compare with (read-only, also while serve runs)");
  cmd->add_option("--secrets-dir", f->secrets_dir,
                  "Dir holding auth/internal.secret of the original serve (default: --verify)");
  cmd->add_option("--config", f->config_file, "The original serve's config file");
  cmd->add_option("--workflows", f->workflows, "Folder of workflow files (default: the config's)");
  cmd->add_option("--partitions", f->partitions,
                  "Input partitions of the original (default: the topic's, else the config's)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--write", f->write_to, "Also write the log read to FILE, one message a line");
  cmd->add_flag("--show-values", f->show_values,
                "Print the values that differ (they may be personal data)");
  cmd->add_flag("--json", f->json, "Print JSON");
  out.emplace_back(cmd, [f] { return run_replay(*f); });
}

}  // namespace

int main(int argc, char** argv) {
  // Diagnostics (ours and librdkafka's) go to stderr, never into the JSON a
  // command prints on stdout; `serve` sets its configured level and format.
  stagewise::init_logging("warn", "text");
  CLI::App app{
      "stagewise: tracks applications through multi-stage programs, driven by events "
      "on Kafka"};
  app.require_subcommand(1);
  app.set_version_flag("--version", STAGEWISE_VERSION);
  Commands commands;
  for (auto add :
       {add_serve, add_broker, add_submit, add_queries, add_reviews, add_report, add_audit,
        add_workflows, add_token, add_eval_guard, add_simulate, add_backup, add_replay})
    add(app, commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  for (const auto& [cmd, run] : commands)
    if (*cmd) return run();
  return 2;
}
