#pragma once

// Backups of a data dir (issue 15, DESIGN.md §10, §14): a consistent online
// copy of the store (state, history, input offsets, outbox, dedupe ids) and
// the key material the data dir holds, and the restore that makes a working
// data dir of it.
//
// A backup dir holds `store/` (a RocksDB checkpoint), `auth/` (the data
// dir's key files, 0600) and `manifest.json`, written last: every file with
// its size and SHA-256, the input offsets the store had reached, the store's
// id. A dir without a readable manifest is not a finished backup.
#include "common/result.h"
#include "store/store.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace stagewise::backup {

/// How far a long step has come: `done` of `total` bytes.
struct Progress {
  std::string step;  ///< "checkpoint", "hashing", "verifying", "copying"
  uint64_t done = 0;
  uint64_t total = 0;
};
using OnProgress = std::function<void(const Progress&)>;

/// Why `to` may not receive a backup of `data_dir`: empty when it may. It
/// must be an absolute path without `.` or `..` parts, outside the data dir
/// (and not holding it), and be missing or an empty dir only its owner may
/// enter (an existing dir's mode is never changed); its parent must exist.
std::string check_target(const std::string& to, const std::string& data_dir);

/// Writes a backup of `store`, the open store of `data_dir`, into `to`
/// (made 0700): the checkpoint, `data_dir`/auth's key files, the manifest.
/// Thread-safe with the store's commits; one backup at a time per store is
/// the caller's business. On failure what was written to `to` is removed.
/// Returns a summary: to, files, bytes, keys, input_positions, sequence,
/// store_id, created.
Result<nlohmann::json> write(store::Store& store, const std::string& data_dir,
                             const std::string& to, const OnProgress& progress = {});

/// Checks backup `from` against its manifest: every file present, of its
/// size and SHA-256. Returns the manifest; an error names the file and
/// what is wrong with it.
Result<nlohmann::json> verify(const std::string& from, const OnProgress& progress = {});

/// Makes `data_dir` (0700; key files 0600) from backup `from`, after
/// verify(). `data_dir` must be missing or empty; with `force` an existing
/// data dir that no process holds is replaced. The restored store is
/// opened before it takes the data dir's place, and must hold the
/// manifest's input offsets. Returns a summary: from, data_dir, files,
/// bytes, keys, input_positions.
Result<nlohmann::json> restore(const std::string& from, const std::string& data_dir, bool force,
                               const OnProgress& progress = {});

}  // namespace stagewise::backup
