#include "backup/backup.h"

#include "backup/files.h"
#include "common/digest.h"
#include "common/time.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace stagewise::backup {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kFormat = "stagewise-backup";
constexpr int kFormatVersion = 1;
constexpr uint64_t kMaxManifestBytes = 64ull << 20;
constexpr size_t kMaxKeyFiles = 64;
constexpr uint64_t kMaxKeyFileBytes = 1 << 20;
constexpr size_t kMaxPathBytes = 512;

// Counts bytes of one step and tells the caller.
struct Counter {
  const OnProgress& on;
  Progress p;
  void add(size_t n) {
    p.done += n;
    if (on) on(p);
  }
  void start() {
    if (on) on(p);
  }
};

std::string without_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// True when `a` is `b` or lies under it (both canonical).
bool within(const fs::path& a, const fs::path& b) {
  const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return ib == b.end();
}

json positions_json(const std::vector<store::InputPosition>& positions) {
  json out = json::array();
  for (const auto& p : positions)
    out.push_back({{"topic", p.topic}, {"partition", p.partition}, {"next_offset", p.next_offset}});
  return out;
}

// What the store in `dir` says of itself, opened read-only: its id and
// input offsets. Opening it is also the proof that the copy is a store.
Result<json> store_facts(const std::string& dir) {
  store::Store::Options o;
  o.read_only = true;
  auto st = store::Store::open(dir, o);
  if (!st) return st.error();
  auto positions = (*st)->input_positions();
  if (!positions) return positions.error();
  return json{{"store_id", (*st)->id()}, {"input_positions", positions_json(*positions)}};
}

// The data dir's key files (auth/), 0600 in `to`/auth (0700).
Result<json> copy_keys(const std::string& data_dir, const std::string& to) {
  json keys = json::array();
  const std::string from = data_dir + "/auth";
  std::error_code ec;
  if (!fs::is_directory(from, ec)) return keys;
  auto files = detail::list_files(from, "");
  if (!files) return files.error();
  if (files->size() > kMaxKeyFiles)
    return make_error(Errc::invalid_argument, from + " holds more than " +
                                                  std::to_string(kMaxKeyFiles) +
                                                  " files; only key files belong there");
  if (auto r = detail::make_private_dir(to + "/auth"); !r) return r.error();
  for (const auto& name : *files) {
    if (name.find('/') != std::string::npos || name.ends_with(".new")) continue;
    if (fs::file_size(from + "/" + name, ec) > kMaxKeyFileBytes)
      return make_error(Errc::invalid_argument, from + "/" + name + " is larger than 1 MiB; " +
                                                    "only key files belong in " + from);
    if (auto r = detail::copy_file(from + "/" + name, to + "/auth/" + name, 0600); !r)
      return r.error();
    keys.push_back("auth/" + name);
  }
  return keys;
}

// Each file's size and SHA-256, as the manifest lists them.
Result<json> describe(const std::string& root, const std::vector<std::string>& files,
                      const OnProgress& on) {
  Counter c{on, {"hashing", 0, 0}};
  std::error_code ec;
  for (const auto& f : files) c.p.total += fs::file_size(root + "/" + f, ec);
  c.start();
  json out = json::array();
  for (const auto& f : files) {
    const std::string path = root + "/" + f;
    const uint64_t bytes = fs::file_size(path, ec);
    if (ec) return make_error(Errc::io_error, "cannot read " + path + ": " + ec.message());
    auto sha = sha256_file_hex(path, [&c](size_t n) { c.add(n); });
    if (!sha) return sha.error();
    out.push_back({{"path", f}, {"bytes", bytes}, {"sha256", *sha}});
  }
  return out;
}

uint64_t total_bytes(const json& files) {
  uint64_t n = 0;
  for (const auto& f : files) n += f.value("bytes", uint64_t{0});
  return n;
}

json summary_of(const json& manifest) {
  return {{"files", manifest["files"].size()}, {"bytes", manifest["bytes"]},
          {"keys", manifest["keys"]},          {"input_positions", manifest["input_positions"]},
          {"store_id", manifest["store_id"]},  {"sequence", manifest["sequence"]},
          {"created", manifest["created"]}};
}

Result<json> write_unchecked(store::Store& store, const std::string& data_dir,
                             const std::string& to, const OnProgress& on) {
  if (auto r = detail::make_private_dir(to); !r) return r.error();
  if (on) on({"checkpoint", 0, 0});
  auto sequence = store.checkpoint(to + "/store");
  if (!sequence) return sequence.error();
  if (auto r = detail::make_private_dir(to + "/store"); !r) return r.error();
  auto keys = copy_keys(data_dir, to);
  if (!keys) return keys.error();
  auto facts = store_facts(to + "/store");
  if (!facts) return facts.error();
  auto files = detail::list_files(to + "/store", "store/");
  if (!files) return files.error();
  for (const auto& k : *keys) files->push_back(k.get<std::string>());
  auto described = describe(to, *files, on);
  if (!described) return described.error();
  json manifest = {{"format", kFormat},
                   {"version", kFormatVersion},
                   {"created", format_rfc3339_ms(now_ms())},
                   {"store_id", (*facts)["store_id"]},
                   {"sequence", *sequence},
                   {"input_positions", (*facts)["input_positions"]},
                   {"keys", *keys},
                   {"bytes", total_bytes(*described)},
                   {"files", *described}};
  if (auto r = detail::write_file_atomically(to + "/manifest.json", manifest.dump(2) + "\n", 0600);
      !r)
    return r.error();
  json out = summary_of(manifest);
  out["to"] = to;
  return out;
}

// Removes what a failed backup wrote into `to`, which was missing or empty.
void remove_partial(const std::string& to, bool existed) {
  std::error_code ec;
  if (!existed) {
    fs::remove_all(to, ec);
    return;
  }
  for (const auto& entry : fs::directory_iterator(to, ec)) fs::remove_all(entry.path(), ec);
}

// Why a path listed in a manifest may not be used: empty when it may.
std::string bad_path(const std::string& path) {
  if (path.empty() || path.size() > kMaxPathBytes) return "is empty or too long";
  if (!path.starts_with("store/") && !path.starts_with("auth/"))
    return "is outside store/ and auth/";
  for (const unsigned char c : path)
    if (c < 0x20 || c == 0x7f || c == '\\') return "holds a control character or a backslash";
  for (const auto& part : fs::path(path))
    if (part == "." || part == ".." || part.empty()) return "holds \".\", \"..\" or an empty part";
  return "";
}

// manifest.json of backup `from`, its form checked (not yet its files).
Result<json> read_manifest(const std::string& from) {
  const std::string path = from + "/manifest.json";
  std::error_code ec;
  if (!fs::exists(path, ec))
    return make_error(Errc::not_found, path + " is missing: " + from +
                                           " is not a finished stagewise backup (a backup "
                                           "writes its manifest last)");
  if (fs::file_size(path, ec) > kMaxManifestBytes)
    return make_error(Errc::invalid_argument, path + " is larger than 64 MiB: not a manifest");
  std::ifstream in(path);
  const json m = json::parse(in, nullptr, false);
  if (m.is_discarded() || !m.is_object())
    return make_error(Errc::corruption, path + " is not JSON: the backup is damaged");
  if (m.value("format", "") != kFormat || !m.contains("version") || m["version"] != kFormatVersion)
    return make_error(Errc::invalid_argument, path +
                                                  " is not a stagewise backup manifest of "
                                                  "version 1 (\"format\", \"version\")");
  for (const char* key : {"files", "keys", "input_positions"})
    if (!m.contains(key) || !m[key].is_array())
      return make_error(Errc::corruption, path + " has no \"" + key + "\" list");
  bool has_current = false;
  for (const auto& f : m["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("bytes") ||
        !f["bytes"].is_number_unsigned() || !f.contains("sha256") || !f["sha256"].is_string())
      return make_error(Errc::corruption, path +
                                              ": an entry of \"files\" lacks path, bytes "
                                              "or sha256: the backup is damaged");
    const std::string p = f["path"];
    if (auto why = bad_path(p); !why.empty())
      return make_error(Errc::corruption, path + ": the file " + p + " " + why);
    has_current = has_current || p == "store/CURRENT";
  }
  if (!has_current)
    return make_error(Errc::corruption, path + " lists no store/CURRENT: not a store backup");
  return m;
}

// One listed file: present, of its size and SHA-256.
Result<void> check_file(const std::string& from, const json& f, Counter& c) {
  const std::string rel = f["path"];
  const std::string path = from + "/" + rel;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return make_error(Errc::not_found, "the backup in " + from + " is incomplete: " + rel +
                                           ", listed in manifest.json, is missing");
  const uint64_t bytes = fs::file_size(path, ec);
  if (bytes != f["bytes"].get<uint64_t>())
    return make_error(Errc::corruption, "the backup in " + from + " is damaged: " + rel + " has " +
                                            std::to_string(bytes) + " bytes, manifest.json says " +
                                            std::to_string(f["bytes"].get<uint64_t>()));
  auto sha = sha256_file_hex(path, [&c](size_t n) { c.add(n); });
  if (!sha) return sha.error();
  if (*sha != f["sha256"].get<std::string>())
    return make_error(Errc::corruption, "the backup in " + from + " is damaged: " + rel +
                                            " does not have the SHA-256 manifest.json gives it");
  return {};
}

// Why backup `from` may not be restored into `data_dir`: empty when it may.
std::string check_restore_target(const std::string& from, const std::string& data_dir, bool force) {
  std::error_code ec, ec2;
  const fs::path a = fs::weakly_canonical(from, ec), b = fs::weakly_canonical(data_dir, ec2);
  if (ec || ec2) return "cannot resolve " + from + " or " + data_dir;
  if (within(a, b) || within(b, a))
    return "the data dir " + data_dir + " and the backup " + from + " overlap: restore elsewhere";
  if (detail::missing_or_empty(data_dir)) return "";
  if (!force)
    return "the data dir " + data_dir +
           " is not empty: restore into a new or empty dir, or pass --force to replace it "
           "(what it holds is deleted)";
  if (!fs::exists(data_dir + "/CURRENT", ec) && !fs::exists(data_dir + "/auth", ec))
    return data_dir +
           " does not look like a stagewise data dir (no CURRENT, no auth/): not "
           "replacing it, even with --force";
  if (detail::store_in_use(data_dir))
    return "a process (stagewise serve?) is using the data dir " + data_dir + ": stop it first";
  return "";
}

// Copies the backup's files into the new dir `dir` and opens the store.
Result<void> fill(const std::string& from, const json& manifest, const std::string& dir,
                  const OnProgress& on) {
  if (auto r = detail::make_private_dir(dir); !r) return r.error();
  if (!manifest["keys"].empty())
    if (auto r = detail::make_private_dir(dir + "/auth"); !r) return r.error();
  Counter c{on, {"copying", 0, manifest.value("bytes", uint64_t{0})}};
  c.start();
  for (const auto& f : manifest["files"]) {
    const std::string rel = f["path"];
    const std::string to = rel.starts_with("store/") ? dir + "/" + rel.substr(6) : dir + "/" + rel;
    std::error_code ec;
    fs::create_directories(fs::path(to).parent_path(), ec);
    if (auto r = detail::copy_file(from + "/" + rel, to, 0600, [&c](size_t n) { c.add(n); }); !r)
      return r.error();
  }
  if (auto r = detail::sync_dir(dir); !r) return r.error();
  auto facts = store_facts(dir);
  if (!facts)
    return make_error(facts.error().code,
                      "the restored store does not open: " + facts.error().message);
  if ((*facts)["input_positions"] != manifest["input_positions"])
    return make_error(Errc::corruption,
                      "the restored store's input offsets are not those of manifest.json");
  return {};
}

// Puts the filled dir `staging` in the place of `data_dir`.
Result<void> swap_in(const std::string& staging, const std::string& data_dir) {
  std::error_code ec;
  if (fs::exists(data_dir, ec)) fs::remove_all(data_dir, ec);
  if (ec) return make_error(Errc::io_error, "cannot remove " + data_dir + ": " + ec.message());
  fs::rename(staging, data_dir, ec);
  if (ec)
    return make_error(Errc::io_error,
                      "cannot move " + staging + " to " + data_dir + ": " + ec.message());
  return detail::sync_dir(fs::path(data_dir).parent_path().string());
}

}  // namespace

std::string check_target(const std::string& given, const std::string& data_dir) {
  if (given.empty() || given.size() > 1024)
    return "the backup target must be a path of 1 to 1024 bytes";
  for (const unsigned char c : given)
    if (c < 0x20 || c == 0x7f) return "the backup target holds a control character";
  const std::string to = without_trailing_slashes(given);
  const fs::path p(to);
  if (!p.is_absolute()) return "the backup target " + to + " is relative: give an absolute path";
  for (const auto& part : p)
    if (part == "." || part == "..")
      return "the backup target " + to + " holds \".\" or \"..\": give the path without them";
  std::error_code ec, ec2;
  const fs::path target = fs::weakly_canonical(p, ec);
  const fs::path data = fs::weakly_canonical(data_dir, ec2);
  if (ec || ec2) return "cannot resolve the backup target " + to + " or the data dir " + data_dir;
  if (within(target, data) || within(data, target))
    return "the backup target " + to + " is inside the data dir " + data_dir +
           " (or holds it): pick a dir outside it";
  if (!fs::is_directory(target.parent_path(), ec))
    return "the parent of the backup target " + to + " does not exist: create it first";
  if (!detail::missing_or_empty(to))
    return "the backup target " + to + " exists and is not empty: pick a new dir";
  // An existing dir is never made private here: it may be a system's.
  if (const auto mode = fs::status(to, ec).permissions();
      fs::exists(to, ec) &&
      (mode & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none)
    return "the backup target " + to + " exists and others may enter it: give a new dir " +
           "(it is made 0700) or chmod 700 it first";
  return "";
}

Result<json> write(store::Store& store, const std::string& data_dir, const std::string& given,
                   const OnProgress& progress) {
  if (auto why = check_target(given, data_dir); !why.empty())
    return make_error(Errc::invalid_argument, why);
  const std::string to = without_trailing_slashes(given);
  std::error_code ec;
  const bool existed = fs::exists(to, ec);
  auto r = write_unchecked(store, data_dir, to, progress);
  if (!r) remove_partial(to, existed);
  return r;
}

Result<json> verify(const std::string& given, const OnProgress& progress) {
  const std::string from = without_trailing_slashes(given);
  auto manifest = read_manifest(from);
  if (!manifest) return manifest.error();
  Counter c{progress, {"verifying", 0, total_bytes((*manifest)["files"])}};
  c.start();
  for (const auto& f : (*manifest)["files"])
    if (auto r = check_file(from, f, c); !r) return r.error();
  return manifest;
}

Result<json> restore(const std::string& given_from, const std::string& given_dir, bool force,
                     const OnProgress& progress) {
  const std::string from = without_trailing_slashes(given_from);
  const std::string data_dir = without_trailing_slashes(given_dir);
  auto manifest = verify(from, progress);
  if (!manifest) return manifest.error();
  if (auto why = check_restore_target(from, data_dir, force); !why.empty())
    return make_error(Errc::invalid_argument, why);
  std::error_code ec;
  const fs::path parent = fs::absolute(data_dir, ec).parent_path();
  fs::create_directories(parent, ec);
  const std::string staging = data_dir + ".restoring-" + std::to_string(::getpid());
  fs::remove_all(staging, ec);
  auto r = fill(from, *manifest, staging, progress);
  if (r) r = swap_in(staging, data_dir);
  if (!r) {
    fs::remove_all(staging, ec);
    return r.error();
  }
  json out = summary_of(*manifest);
  out["from"] = from;
  out["data_dir"] = data_dir;
  return out;
}

}  // namespace stagewise::backup
