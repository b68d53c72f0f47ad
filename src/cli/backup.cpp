// `stagewise backup` and `stagewise restore` (issue 15, DESIGN.md §10).
#include "backup/backup.h"

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/progress.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>

namespace stagewise::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// A backup's steps on the progress line (bytes, shown as MB).
class ProgressLine {
 public:
  backup::OnProgress callback() {
    return [this](const backup::Progress& p) { show(p); };
  }
  void show(const backup::Progress& p) {
    if (p.total == 0)
      bar_.text(p.step + "...");
    else
      bar_.update(p.done, p.total, p.step);
  }
  // A step whose progress only the server knows: the time it has taken.
  void waiting(const std::string& what, Clock::time_point since) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - since).count();
    bar_.text(what + " " + std::to_string(s) + " s");
  }
  void end() { bar_.end(); }

 private:
  ProgressBar bar_{{"MB", 1e6, false}};
};

std::string absolute_path(const std::string& p) {
  std::error_code ec;
  std::string out = fs::absolute(p, ec).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string positions_text(const json& positions) {
  std::string out;
  for (const auto& p : positions)
    out += "  " + p.value("topic", "") + "/" + std::to_string(p.value("partition", 0)) +
           " next offset " + std::to_string(p.value("next_offset", int64_t{0})) + "\n";
  return out.empty() ? "  (none: nothing was consumed yet)\n" : out;
}

// Key files the server on `data_dir` uses outside the data dir: a backup
// of the data dir does not hold them.
std::vector<std::string> keys_outside(const std::string& data_dir) {
  std::vector<std::string> out;
  const json s = read_serve_file(data_dir);
  if (!s.is_object()) return out;
  const std::string inside = absolute_path(data_dir) + "/auth/";
  for (const char* key : {"token_secret", "internal_secret"})
    if (s.contains(key) && s[key].is_string() && !s[key].get<std::string>().empty() &&
        absolute_path(s[key].get<std::string>()).rfind(inside, 0) != 0)
      out.push_back(s[key].get<std::string>());
  return out;
}

// Asks the server at `url` to write the backup; {status, body}.
std::pair<int, json> backup_by_server(const Target& t, const std::string& url,
                                      const std::string& to, ProgressLine& progress) {
  const std::string token = !t.token.empty() ? t.token : local_admin_token(t.data_dir);
  auto call = std::async(std::launch::async, [&] {
    return http_call(url, "POST", "/v1/admin/backup", token, json{{"to", to}}.dump(), 24 * 3600);
  });
  const auto start = Clock::now();
  while (call.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready)
    progress.waiting("the server is writing the backup...", start);
  return call.get();
}

// The backup written through the server on the data dir, then checked here
// when the target is on this machine. Exit code.
int backup_via_server(const BackupFlags& f, const std::string& url, const std::string& to,
                      json& out) {
  ProgressLine progress;
  const auto [status, body] = backup_by_server(f.target, url, to, progress);
  progress.end();
  if (status != 200) {
    const std::string why = status == 0
                                ? "no answer from the server at " + url + " (is it running?)"
                            : body.is_object() && body.contains("error")
                                ? body["error"].value("message", "error")
                                : "the server answered " + std::to_string(status);
    std::cerr << "stagewise backup: " << why << "\n";
    return 1;
  }
  out = body;
  out["via"] = url;
  std::error_code ec;
  if (fs::exists(to + "/manifest.json", ec)) {
    auto checked = backup::verify(to, progress.callback());
    progress.end();
    if (!checked) {
      std::cerr << "stagewise backup: the backup does not check out: " << checked.error().message
                << "\n";
      return 1;
    }
    out["verified"] = true;
  }
  return 0;
}

// No server runs on the data dir: open its store and write the backup.
int backup_direct(const BackupFlags& f, const std::string& to, json& out) {
  std::error_code ec;
  if (!fs::exists(f.target.data_dir + "/CURRENT", ec)) {
    std::cerr << "stagewise backup: no store in " << f.target.data_dir
              << " (no CURRENT file): pass the --data-dir of stagewise serve\n";
    return 1;
  }
  auto st = store::Store::open(f.target.data_dir, local_store_options(f.target.data_dir, false));
  if (!st) {
    std::cerr << "stagewise backup: " << st.error().message << "\n";
    return 1;
  }
  ProgressLine progress;
  auto written = backup::write(**st, f.target.data_dir, to, progress.callback());
  progress.end();
  if (!written) {
    std::cerr << "stagewise backup: " << written.error().message << "\n";
    return 1;
  }
  out = std::move(*written);
  out["via"] = "data_dir";
  out["verified"] = true;  // hashed from the files just written
  return 0;
}

}  // namespace

int run_backup(const BackupFlags& f) {
  const std::string to = absolute_path(f.to);
  const std::string url = server_url(f.target);
  json out;
  const int code = url.empty() ? backup_direct(f, to, out) : backup_via_server(f, url, to, out);
  if (code != 0) return code;
  const auto outside = keys_outside(f.target.data_dir);
  if (!outside.empty()) out["keys_not_copied"] = outside;
  if (f.target.json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "backup of " << f.target.data_dir << " written to " << to << ": " << out["files"]
              << " files, " << out["bytes"] << " bytes, keys " << out["keys"].dump()
              << "\ninput offsets in the backup:\n"
              << positions_text(out["input_positions"]);
  }
  for (const auto& k : outside)
    std::cerr << "stagewise backup: the key file " << k
              << " is kept outside the data dir and is not in the backup: back it up too\n";
  return 0;
}

int run_restore(const RestoreFlags& f) {
  ProgressLine progress;
  auto restored = backup::restore(f.from, f.data_dir, f.force, progress.callback());
  progress.end();
  if (!restored) {
    std::cerr << "stagewise restore: " << restored.error().message << "\n";
    return 1;
  }
  if (f.json) {
    std::cout << restored->dump(2) << "\n";
    return 0;
  }
  std::cout << "restored " << f.from << " (taken " << (*restored)["created"].get<std::string>()
            << ") into " << f.data_dir << ": " << (*restored)["files"] << " files, "
            << (*restored)["bytes"] << " bytes, keys " << (*restored)["keys"].dump()
            << "\ninput offsets: processing resumes after\n"
            << positions_text((*restored)["input_positions"])
            << "start it with: stagewise serve --data-dir " << f.data_dir << "\n";
  return 0;
}

}  // namespace stagewise::cli
