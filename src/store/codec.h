#pragma once

// The store's value encoding: a tag byte, then fields as varints and
// length-prefixed strings, with semi-structured parts (facts, event data) as
// msgpack. Written straight from the C++ structs: no intermediate JSON tree,
// no copy of the facts. Values written before this encoding (a msgpack map,
// whose first byte is never a tag below) are still read.

#include "audit/chain.h"
#include "store/store.h"
#include "workflow/engine.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace stagewise::store::codec {

/// First byte of each kind of value. Legacy msgpack maps start with 0x80..0x8f
/// or 0xde/0xdf, so the tags cannot be mistaken for them.
enum Tag : uint8_t {
  kApplication = 1,
  kHistory = 2,
  kOutbox = 3,
  kTimer = 4,
  kDeadLetter = 5,
  kParked = 6,
  kHistory2 = 7,       ///< kHistory and the authenticated principal
  kOutbox2 = 8,        ///< kOutbox and the partition, bundle flag
  kApplication2 = 9,   ///< kApplication, its stays and self-identification
  kApplication3 = 10,  ///< kApplication2 and the audit's history head
  kSealed = 11,        ///< a history entry sealed in its chain: round, chain hash, then kHistory2
  kAuditRound = 12,    ///< audit::Round
  /// An application sealed under its data key: the tag, then
  /// privacy::seal of its kApplication3 encoding (Store, data_keys.h).
  kSealedApplication = 13,
  kHistory3 = 14,  ///< kHistory2 with the event's data sealed under the data key
};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void varint(uint64_t v);
  /// Zig-zag, for values that may be negative.
  void svarint(int64_t v) {
    varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void str(std::string_view s);
  /// The value as msgpack, length-prefixed.
  void json(const nlohmann::json& j);

 private:
  std::string& out_;
};

/// Reads what Writer wrote; every read checks the bounds and sets ok() false
/// instead of reading past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  uint8_t u8();
  uint64_t varint();
  int64_t svarint() {
    const uint64_t v = varint();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  std::string str();
  /// Refuses (ok() false) msgpack nested deeper than kMaxMsgpackDepth.
  nlohmann::json json();
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  /// What is left, taken whole.
  std::string_view rest() {
    const std::string_view s = in_;
    in_ = {};
    return s;
  }

 private:
  std::string_view take(uint64_t n);
  std::string_view in_;
  bool ok_ = true;
};

/// Deepest nesting of arrays and maps read back from msgpack: events nest at
/// most processor.max_json_depth (at most 512) and facts a few levels more.
inline constexpr int kMaxMsgpackDepth = 1024;

/// Whether the nesting of arrays and maps in the msgpack `bytes` stays within
/// `max_depth`. Scans the bytes once without building anything or recursing,
/// so it is safe on any input: call it before from_msgpack, which recurses
/// once per level, as do copying and destroying the tree it builds. Bytes
/// that are not msgpack pass when nothing before the fault nests too deep
/// (the parser refuses them).
bool msgpack_depth_within(std::string_view bytes, int max_depth);

/// Whether `bytes` is in this encoding (rather than a legacy msgpack map).
inline bool tagged(std::string_view bytes, Tag tag) {
  return !bytes.empty() && static_cast<uint8_t>(bytes[0]) == tag;
}

/// Written as kApplication3; applications written as kApplication or
/// kApplication2 are still read (without stays, self-identification or head).
void encode(std::string& out, const workflow::Application& app);
inline bool is_application(std::string_view bytes) {
  return tagged(bytes, kApplication) || tagged(bytes, kApplication2) ||
         tagged(bytes, kApplication3);
}
inline bool is_sealed_application(std::string_view bytes) {
  return tagged(bytes, kSealedApplication);
}
/// False when the bytes are not a well-formed application.
bool decode(std::string_view in, workflow::Application& app);

/// Written as kHistory2 (the body a sealed entry wraps); entries written
/// as kHistory are still read, and sealed ones (with their round and chain).
void encode(std::string& out, const HistoryEntry& h);
/// Written as kHistory3: `h` with `sealed_data` (privacy::seal of the
/// msgpack of h.data) in place of its data.
void encode(std::string& out, const HistoryEntry& h, std::string_view sealed_data);
/// A kHistory3 entry reads with null data, and its sealed data in
/// `sealed_data` when given.
bool decode(std::string_view in, HistoryEntry& h, std::string* sealed_data = nullptr);
inline bool is_history(std::string_view bytes) {
  return tagged(bytes, kHistory) || tagged(bytes, kHistory2) || tagged(bytes, kHistory3) ||
         tagged(bytes, kSealed);
}

/// msgpack `bytes` read back as the Reader reads them (depth-checked first);
/// false when they are not msgpack.
bool from_msgpack(std::string_view bytes, nlohmann::json& out);

/// A stored history value taken apart: a sealed one has its round, its
/// chain hash and the body the hash covers; a legacy one is all body.
struct SealedView {
  bool sealed = false;
  uint64_t round = 0;
  std::string chain;
  std::string_view body;
};
/// Wraps `body` (a kHistory2 encoding) as sealed in `round` with `chain`.
void seal(std::string& out, uint64_t round, std::string_view chain, std::string_view body);
/// False when the bytes are neither a sealed nor a legacy history value.
bool unseal(std::string_view stored, SealedView& view);

void encode(std::string& out, const audit::Round& round);
bool decode(std::string_view in, audit::Round& round);

/// The record without its seq (that is the key).
void encode(std::string& out, const OutboxRecord& r);
bool decode(std::string_view in, OutboxRecord& r);

void encode(std::string& out, const TimerRecord& t);
bool decode(std::string_view in, TimerRecord& t);

void encode(std::string& out, const DeadLetter& d);
bool decode(std::string_view in, DeadLetter& d);

void encode(std::string& out, const ParkedRecord& p);
bool decode(std::string_view in, ParkedRecord& p);

}  // namespace stagewise::store::codec
