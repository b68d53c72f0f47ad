#pragma once

// The audit's hashes (DESIGN.md §14, docs/audit.md): pure functions over
// bytes, SHA-256 by OpenSSL. Nothing here knows RocksDB or the processor.
//
// - An application's history is a hash chain: entry i's chain hash is
//   SHA-256(chain(i-1) || SHA-256(stored bytes of entry i)), starting from
//   genesis(application id). The application record holds the last one.
// - Each committed round seals, per input partition, the entries it wrote:
//   a Merkle tree (RFC 6962) over leaves (application, sequence, chain hash)
//   whose root is chained into the partition's round digests:
//   digest(r) = SHA-256("stagewise.audit.round" || partition || round ||
//   time || digest(r-1) || root(r)).
// Every hash is 32 raw bytes; hex() is for people and JSON.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stagewise::audit {

inline constexpr size_t kHashBytes = 32;

/// SHA-256 of `bytes`, 32 raw bytes.
std::string sha256(std::string_view bytes);

/// Where the chain of application `id` starts.
std::string genesis(std::string_view application_id);
/// The chain hash of an entry stored as `stored`, after `prev`.
std::string link(std::string_view prev, std::string_view stored);

/// One history entry as sealed in a round.
struct Leaf {
  std::string application;
  uint64_t sequence = 0;
  std::string chain;  ///< the entry's chain hash
  bool operator==(const Leaf&) const = default;
};
/// RFC 6962 leaf hash: SHA-256(0x00 || len(id) || id || sequence || chain).
std::string leaf_hash(const Leaf& leaf);
/// Sorts leaves by (application, sequence): the order a round keeps them in.
void sort_leaves(std::vector<Leaf>& leaves);

/// RFC 6962 Merkle tree hash over leaf hashes (SHA-256 of nothing when empty).
std::string merkle_root(const std::vector<std::string>& leaf_hashes);
/// One step of an inclusion proof: the sibling's hash and its side.
struct Step {
  bool left = false;  ///< the sibling is on the left
  std::string hash;
};
/// The audit path of leaf `index` (RFC 6962 PATH), from the leaf up.
std::vector<Step> merkle_path(const std::vector<std::string>& leaf_hashes, size_t index);
/// The root a leaf hash and its path lead to.
std::string root_from_path(std::string leaf_hash, const std::vector<Step>& path);

/// A committed round's seal of one partition.
struct Round {
  int32_t partition = 0;
  uint64_t number = 0;  ///< grows with every round that wrote history; gaps allowed
  int64_t time_ms = 0;  ///< when it was committed
  std::string prev;     ///< the partition's previous digest (zeros for its first round)
  std::string root;     ///< merkle_root of the leaves
  std::string digest;
  std::vector<Leaf> leaves;  ///< sorted by (application, sequence)
  bool operator==(const Round&) const = default;
};
/// The zeros a partition's first round follows.
std::string no_round();
std::string round_digest(int32_t partition, uint64_t number, int64_t time_ms, std::string_view prev,
                         std::string_view root);
/// Fills root and digest from the leaves (sorted first) and prev.
void seal(Round& round);

/// The digest over every partition's latest digest, in partition order:
/// SHA-256 of (partition, round, digest) for each; one value to pin.
struct Tip {
  int32_t partition = 0;
  uint64_t number = 0;
  std::string digest;
};
std::string combined(const std::vector<Tip>& tips);

std::string hex(std::string_view bytes);
/// Inverse of hex(); nullopt when `text` is not an even run of hex digits.
std::optional<std::string> unhex(std::string_view text);

}  // namespace stagewise::audit
