// Store::checkpoint (issue 15): a consistent online copy of the store for
// `stagewise backup`, with RocksDB's Checkpoint.
#include "store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/utilities/checkpoint.h>

#include <memory>

namespace stagewise::store {

Result<uint64_t> Store::checkpoint(const std::string& dir) const {
  if (options_.read_only)
    return make_error(Errc::invalid_argument,
                      "a read-only store cannot take a checkpoint; open it for writing");
  rocksdb::Checkpoint* raw = nullptr;
  if (const auto s = rocksdb::Checkpoint::Create(db_.get(), &raw); !s.ok())
    return make_error(Errc::io_error, "cannot start a checkpoint: " + s.ToString());
  const std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  uint64_t sequence = 0;
  // 0: flush the memtables first, so the copy needs no log replay to open.
  if (const auto s = cp->CreateCheckpoint(dir, 0, &sequence); !s.ok())
    return make_error(Errc::io_error, "cannot write a checkpoint to " + dir + ": " + s.ToString());
  return sequence;
}

}  // namespace stagewise::store
