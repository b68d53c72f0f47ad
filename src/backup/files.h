#pragma once

// File helpers of the backups (internal to src/backup/).
#include "common/result.h"

#include <cstdint>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace stagewise::backup::detail {

/// Copies `from` to `to` (which must not exist) with `mode`, fsynced;
/// `on_bytes` is told each part's size.
Result<void> copy_file(const std::string& from, const std::string& to, mode_t mode,
                       const std::function<void(size_t)>& on_bytes = {});

/// Writes `text` to `path` through a temporary file renamed into place,
/// fsynced, with `mode`.
Result<void> write_file_atomically(const std::string& path, const std::string& text, mode_t mode);

/// Makes the dir `path` (its parent must exist) with mode 0700, or makes an
/// existing empty one 0700.
Result<void> make_private_dir(const std::string& path);

/// fsyncs a dir, so renames and new files in it are durable.
Result<void> sync_dir(const std::string& path);

/// Regular files under `dir`, recursively, as paths relative to it ('/'
/// separated), sorted; `prefix` is put before each.
Result<std::vector<std::string>> list_files(const std::string& dir, const std::string& prefix);

/// True when `path` does not exist or is an empty dir.
bool missing_or_empty(const std::string& path);

/// Whether a process holds the RocksDB lock of the store in `dir` (a
/// running serve); false when there is no lock file.
bool store_in_use(const std::string& dir);

}  // namespace stagewise::backup::detail
