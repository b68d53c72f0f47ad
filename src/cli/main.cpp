#include "cli/commands.h"
#include "common/log.h"

#include <CLI/CLI.hpp>

#include <iostream>

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

}  // namespace

int main(int argc, char** argv) {
  using namespace stagewise::cli;
  // Diagnostics (ours and librdkafka's) go to stderr, never into the JSON a
  // command prints on stdout; `serve` sets its configured level and format.
  stagewise::init_logging("warn", "text");
  CLI::App app{
      "stagewise: tracks applications through multi-stage programs, driven by events "
      "on Kafka"};
  app.require_subcommand(1);
  app.set_version_flag("--version", STAGEWISE_VERSION);

  ServeFlags serve_flags;
  auto* serve_cmd = app.add_subcommand("serve", "Run the processor and the HTTP API");
  serve_cmd->add_option("--config", serve_flags.config_file, "Config file (JSON)");
  serve_cmd->add_option("--data-dir", serve_flags.data_dir, "Where the state is stored");
  serve_cmd->add_option("--workflows", serve_flags.workflows, "Folder of workflow files");
  serve_cmd
      ->add_option("--bootstrap-servers", serve_flags.bootstrap,
                   "Kafka bootstrap servers; empty: start the embedded cluster")
      ->each([&](const std::string&) { serve_flags.bootstrap_set = true; });
  serve_cmd->add_option("--http-port", serve_flags.http_port, "HTTP port; 0 picks a free one");

  int partitions = 8;
  auto* broker_cmd = app.add_subcommand("broker", "Run only the embedded Kafka cluster");
  broker_cmd->add_option("--partitions", partitions, "Partitions per topic")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));

  SubmitFlags submit_flags;
  auto* submit_cmd = app.add_subcommand(
      "submit", "Send CloudEvents (one JSON object per line) to the input topic");
  submit_cmd->add_option("FILE", submit_flags.file, "File of JSON lines, or - for stdin")
      ->required();
  submit_cmd->add_option("--bootstrap-servers", submit_flags.bootstrap,
                         "Kafka bootstrap servers (default: those of the server on --data-dir)");
  submit_cmd->add_option("--data-dir", submit_flags.target.data_dir, "Data dir of a running serve")
      ->capture_default_str();
  submit_cmd
      ->add_option("--max-lag", submit_flags.max_lag,
                   "Wait while the processor is more than this many events behind")
      ->capture_default_str();
  submit_cmd->add_option("--group", submit_flags.group, "Consumer group of the processor")
      ->capture_default_str();
  submit_cmd->add_flag("--rebase-time", submit_flags.rebase_time,
                       "Shift every event's time by the same amount so that the latest is now "
                       "(replay a recorded cohort as if it just happened)");

  Target target;
  std::string id, program, stage;
  size_t limit = 100;
  auto* status_cmd = app.add_subcommand("status", "Where an application stands");
  status_cmd->add_option("ID", id, "Application id")->required();
  add_target(status_cmd, target);
  auto* history_cmd = app.add_subcommand("history", "How an application got where it is");
  history_cmd->add_option("ID", id, "Application id")->required();
  add_target(history_cmd, target);
  auto* list_cmd = app.add_subcommand("list", "Applications of a program, by stage");
  list_cmd->add_option("PROGRAM", program, "Program")->required();
  list_cmd->add_option("--stage", stage, "Only this stage");
  list_cmd->add_option("--limit", limit, "At most this many")->capture_default_str();
  add_target(list_cmd, target);
  auto* funnel_cmd = app.add_subcommand("funnel", "How many applications are in each stage");
  funnel_cmd->add_option("PROGRAM", program, "Program")->required();
  add_target(funnel_cmd, target);

  auto* wf_cmd = app.add_subcommand("workflows", "Check workflow files");
  wf_cmd->require_subcommand(1);
  std::vector<std::string> paths;
  bool validate_json = false;
  auto* validate_cmd = wf_cmd->add_subcommand("validate", "Validate workflow files or folders");
  validate_cmd->add_option("PATH", paths, "Files or folders")->required();
  validate_cmd->add_flag("--json", validate_json, "Print JSON");

  std::string graph_program, graph_format = "mermaid", graph_dir = "workflows";
  int graph_version = 0;
  auto* graph_cmd = wf_cmd->add_subcommand("graph", "Draw a program's workflow");
  graph_cmd->add_option("PROGRAM", graph_program, "Program id, or a workflow file")->required();
  graph_cmd->add_option("--format", graph_format, "mermaid or dot")
      ->capture_default_str()
      ->check(CLI::IsMember({"mermaid", "dot"}));
  graph_cmd->add_option("--workflows", graph_dir, "Folder of workflow files")
      ->capture_default_str();
  graph_cmd->add_option("--version", graph_version, "Version (default: the latest)");

  TokenFlags token_flags;
  auto* token_cmd = app.add_subcommand(
      "token", "Print a bearer token signed with the data dir's secret (zero-config auth)");
  token_cmd->add_option("--data-dir", token_flags.data_dir, "Data dir of stagewise serve")
      ->capture_default_str();
  token_cmd
      ->add_option("--role", token_flags.role,
                   "applicant, reviewer, program_manager, hub_admin, admin or service")
      ->required();
  token_cmd->add_option("--sub", token_flags.sub, "The actor id the token stands for")->required();
  token_cmd->add_option("--program", token_flags.programs, "A program it covers (repeatable)");
  token_cmd->add_option("--university", token_flags.university,
                        "For hub_admin: the hub university it co-manages");
  token_cmd->add_option("--application", token_flags.applications,
                        "For applicants: an application it may read (repeatable)");
  token_cmd->add_option("--ttl", token_flags.ttl, "How long it is valid (ISO-8601)")
      ->capture_default_str();

  std::string rule, data;
  auto* eval_cmd = app.add_subcommand("eval-guard", "Evaluate a JsonLogic guard against data");
  eval_cmd->add_option("RULE_JSON", rule, "The rule, as JSON")->required();
  eval_cmd->add_option("DATA_JSON", data, "The data, as JSON")->required();

  SimulateFlags sim_flags;
  auto* sim_cmd = app.add_subcommand(
      "simulate",
      "Send a seeded cohort of one program through the pipeline; print the expected funnel");
  sim_cmd->add_option("--program", sim_flags.program, "Program")->required();
  sim_cmd->add_option("--applicants", sim_flags.applicants, "Applications in the cohort")
      ->capture_default_str()
      ->check(CLI::Range(0, 10'000'000));
  sim_cmd->add_option("--seed", sim_flags.seed, "Seed: the same seed gives the same cohort")
      ->capture_default_str();
  sim_cmd->add_option("--rate", sim_flags.rate, "Events per second; 0 sends as fast as possible")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sim_cmd
      ->add_option("--bad-fraction", sim_flags.bad_fraction,
                   "Share of bad events (malformed, missing attributes, not accepted)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.95));
  sim_cmd->add_option("--days", sim_flags.days, "Length of the cohort's timeline, ending now")
      ->capture_default_str()
      ->check(CLI::Range(1, 3650));
  sim_cmd->add_option("--data-dir", sim_flags.data_dir, "Data dir of a running serve")
      ->capture_default_str();
  sim_cmd->add_option("--bootstrap-servers", sim_flags.bootstrap,
                      "Kafka bootstrap servers (default: those of the server on --data-dir)");
  sim_cmd->add_option("--workflows", sim_flags.workflows,
                      "Folder of workflow files (default: the configured one)");
  sim_cmd
      ->add_option("--max-lag", sim_flags.max_lag,
                   "Wait while the processor is more than this many events behind")
      ->capture_default_str();
  sim_cmd->add_flag("--json", sim_flags.json, "Print the summary as one JSON object");
  sim_cmd->add_flag("--dry-run", sim_flags.dry_run, "Generate and summarise; send nothing");
  sim_cmd->add_option("--write", sim_flags.write_to,
                      "Also write the cohort to FILE, one message value per line (bad ones too)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (*serve_cmd) return serve(serve_flags);
  if (*broker_cmd) return broker(partitions);
  if (*submit_cmd) return submit(submit_flags);
  if (*status_cmd) return status(target, id);
  if (*history_cmd) return history(target, id);
  if (*list_cmd) return list(target, program, stage, limit);
  if (*funnel_cmd) return funnel(target, program);
  if (*validate_cmd) return workflows_validate(paths, validate_json);
  if (*graph_cmd) return workflows_graph(graph_program, graph_format, graph_dir, graph_version);
  if (*eval_cmd) return eval_guard(rule, data);
  if (*token_cmd) return token(token_flags);
  if (*sim_cmd) return simulate(sim_flags);
  return 2;
}
