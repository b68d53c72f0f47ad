#pragma once

#include "auth/principal.h"
#include "common/config.h"

#include <cstdint>
#include <string>
#include <vector>

/// The `stagewise` subcommands. Each returns the process exit code:
/// 0 ok, 1 failure, 2 usage (DESIGN.md §10).
namespace stagewise::cli {

struct ServeFlags {
  std::string config_file;
  std::string data_dir;
  std::string workflows;
  std::string bootstrap;
  bool bootstrap_set = false;
  int http_port = -1;  ///< -1: from config
  /// Where the HS256 token secret and the internal key are kept (made when
  /// missing); processes sharing the input share it. Empty: the data dir.
  std::string secrets_dir;
};
int serve(const ServeFlags& flags);

int broker(int partitions);

/// Where a query or submit command finds stagewise: an explicit server URL,
/// else the server recorded in the data dir, else the data dir itself.
struct Target {
  std::string server;
  std::string data_dir = "./stagewise-data";
  bool json = false;
  /// Bearer token for the server (--token, STAGEWISE_TOKEN); empty: one is
  /// minted from the data dir's secret when the server runs on that dir.
  std::string token;
};

struct SubmitFlags {
  Target target;
  std::string bootstrap;
  std::string file;
  int batch = 500;
  std::string group = "stagewise";  ///< whose lag to respect
  int64_t max_lag = 20'000;
  bool rebase_time = false;  ///< shift event times so that the latest is now
};
int submit(const SubmitFlags& flags);

/// `stagewise audit verify [ID...|--all] --data-dir D`.
struct AuditFlags {
  std::vector<std::string> ids;
  bool all = false;
  std::string data_dir = "./stagewise-data";
  bool json = false;
};
int audit_verify(const AuditFlags& flags);

/// `stagewise simulate`: a seeded cohort of one program sent to the input topic.
struct SimulateFlags {
  std::string program;
  int applicants = 100;
  uint64_t seed = 1;
  double rate = 0;  ///< events per second; 0: as fast as the broker takes them
  double bad_fraction = 0;
  int days = 45;  ///< the cohort's timeline: it ends now and starts this many days ago
  std::string data_dir = "./stagewise-data";
  std::string bootstrap;
  std::string workflows;            ///< empty: the configured workflows folder
  std::string group = "stagewise";  ///< whose lag to respect
  int64_t max_lag = 20'000;
  bool json = false;
  bool dry_run = false;  ///< generate and summarise, send nothing
  std::string write_to;  ///< also write the cohort here, one message value per line
};
int simulate(const SimulateFlags& flags);

/// `stagewise assign PROGRAM`: the server assigns reviewers (DESIGN.md §12);
/// exit 2 when coverage is impossible (nothing assigned).
int assign(const Target& t, const std::string& program, const std::string& stage, bool dry_run);
/// `stagewise ranking PROGRAM`: applications by calibrated review score.
int ranking(const Target& t, const std::string& program, const std::string& stage);

int status(const Target& t, const std::string& id);
int history(const Target& t, const std::string& id);
int list(const Target& t, const std::string& program, const std::string& stage, size_t limit);
int funnel(const Target& t, const std::string& program);

int workflows_validate(const std::vector<std::string>& paths, bool json);
int workflows_graph(const std::string& program, const std::string& format, const std::string& dir,
                    int version);
int eval_guard(const std::string& rule, const std::string& data);

/// `stagewise token`: an HS256 token signed with the data dir's secret.
struct TokenFlags {
  std::string data_dir = "./stagewise-data";
  std::string role;
  std::string sub;
  std::vector<std::string> programs;
  std::string university;
  std::vector<std::string> applications;
  std::string ttl = "PT8H";
};
int token(const TokenFlags& flags);

/// A five-minute admin token from the secret of the server on `data_dir`
/// (empty when it cannot be read): how the query commands ask a server
/// running on the same data dir.
std::string local_admin_token(const std::string& data_dir);
/// The same, for `role` and `programs` (sub "stagewise-cli"): reviewers are
/// assigned by program managers, never by an admin (workflows/README.md).
std::string local_token(const std::string& data_dir, auth::Role role,
                        const std::vector<std::string>& programs = {});

/// `stagewise report PROGRAM [KIND]` (DESIGN.md §13).
struct ReportFlags {
  Target target;
  std::string program;
  std::string kind = "funnel";  ///< funnel, time-in-stage, fairness, reviewers, hubs
  std::string attribute, from, to, cycle, hub, over;
  uint64_t min_cell = 0;  ///< 0: the server's reports.min_cell
  bool csv = false;
  std::string workflows = "workflows";  ///< read without a server
  std::string config;                   ///< read without a server: its reports.min_cell
};
int report(const ReportFlags& flags);

/// `stagewise backup --to DIR`: a consistent copy of the data dir's store
/// and key files, written by the server that runs on it (while it applies
/// events), or from the data dir itself when none runs (issue 15).
struct BackupFlags {
  Target target;
  std::string to;
};
int run_backup(const BackupFlags& flags);

/// `stagewise restore --from DIR --data-dir D`: a working data dir from a
/// backup, after checking every file of it.
struct RestoreFlags {
  std::string from;
  std::string data_dir;
  bool force = false;  ///< replace a data dir that is not empty
  bool json = false;
};
int run_restore(const RestoreFlags& flags);

/// `stagewise replay --from FILE|--topic T --data-dir EMPTY [--verify D]`
/// (DESIGN.md §5.4): a new store rebuilt from the recorded input log by the
/// processor, compared with store D application by application.
struct ReplayFlags {
  std::string from;          ///< a log file (docs/replay.md)
  std::string topic;         ///< or the input topic of a cluster
  std::string bootstrap;     ///< that cluster
  std::string data_dir;      ///< new or empty
  std::string verify;        ///< the store to compare with; empty: none
  std::string secrets_dir;   ///< holds auth/internal.secret; empty: --verify's dir
  std::string config_file;   ///< the original serve's (limits, trust, partitions)
  std::string workflows;     ///< empty: the config's
  int partitions = 0;        ///< of the input; 0: the topic's, else the config's
  std::string write_to;      ///< also write the log read here, one recorded message a line
  bool show_values = false;  ///< print the differing values (may be personal data)
  bool json = false;
};
int run_replay(const ReplayFlags& flags);

/// The file `serve` writes into its data dir while it runs.
std::string serve_file(const std::string& data_dir);

}  // namespace stagewise::cli
