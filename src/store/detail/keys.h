#pragma once

// The store's key layout and small helpers, shared by the files that make up
// Store (store.cpp, partitions.cpp). Internal: nothing outside src/store/
// includes it.

#include "common/result.h"
#include "store/codec.h"
#include "store/store.h"

#include <nlohmann/json.hpp>
#include <rocksdb/status.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace stagewise::store::detail {

using nlohmann::json;

enum Cf : size_t {
  kDefault,
  kApplications,
  kHistory,
  kStageIndex,
  kOutbox,
  kDedupe,
  kMeta,
  kIntake,
  kTimers,
  kDeadLetters,
  kKeys,  // per-application data keys, wrapped (data_keys.h)
  kCount
};
inline const char* const kCfNames[kCount] = {"default", "applications", "history", "stage_index",
                                             "outbox",  "dedupe",       "meta",    "intake",
                                             "timers",  "deadletters",  "keys"};

// Keys are built for prefix scans: big-endian numbers sort numerically.
inline void put_be64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}
inline uint64_t get_be64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}
inline std::string be64(uint64_t v) {
  std::string s;
  put_be64(s, v);
  return s;
}

inline std::string join_key(std::initializer_list<std::string_view> parts) {
  std::string k;
  for (const auto p : parts) {
    if (!k.empty()) k.push_back('\0');
    k.append(p);
  }
  return k;
}

inline std::string history_key(const std::string& id, uint64_t seq) {
  std::string k = id;
  k.push_back('\0');
  put_be64(k, seq);
  return k;
}

inline std::string stage_key(const std::string& program, const std::string& stage,
                             const std::string& id) {
  return join_key({program, stage, id});
}

inline std::string position_key(const std::string& topic, int32_t partition) {
  std::string k = "input/" + topic + "/";
  put_be64(k, static_cast<uint64_t>(partition));
  return k;
}

// Dedupe: "k" + source \0 id -> the seq it was applied as (be64). Entries
// older than the retention read as unseen and are dropped by compaction.
// Stores written before held "" values plus an "s" + seq -> key index; open()
// converts them.
inline const std::string kDedupeByKey = "k";
inline const std::string kMetaDedupeNext = "dedupe/next";
// Intake: "q" + seq -> record (arrival order), "k" + source \0 id -> seq.
inline const std::string kIntakeBySeq = "q";
inline const std::string kIntakeByKey = "k";
inline const std::string kDedupeBySeq = "s";  // the earlier layout's index, converted

// Dead letters: "i" + id -> be64(seq) + record, "s" + be64(seq) -> be64(seq)
// + id (newest first listing); both dropped by compaction once past the
// retention. Parked outbox records: "p" + be64(outbox seq) -> record, kept.
inline const std::string kDeadById = "i";
inline const std::string kDeadBySeq = "s";
inline const std::string kParked = "p";
inline const std::string kMetaDeadNext = "deadletters/next";

inline uint64_t record_bytes(const OutboxRecord& r) {
  uint64_t n = r.topic.size() + r.key.size() + r.value.size() + 64;
  for (const auto& [k, v] : r.headers) n += k.size() + v.size();
  return n;
}

// Timers: "d" + partition + due + application \0 kind index -> record (firing
// order per partition), "a" + application \0 + the "d" key -> "" (per
// application, to cancel and to list).
inline const std::string kTimerByDue = "d";
inline const std::string kTimerByApp = "a";

inline std::string be32(uint32_t v) {
  std::string s;
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
  return s;
}

// 'd' deadline, 'r' reminder, 'e' erasure (retention).
inline char kind_letter(workflow::Timer::Kind k) {
  return k == workflow::Timer::Kind::deadline   ? 'd'
         : k == workflow::Timer::Kind::reminder ? 'r'
                                                : 'e';
}

inline std::string timer_due_key(const TimerRecord& t) {
  std::string k = kTimerByDue + be32(static_cast<uint32_t>(t.partition));
  put_be64(k, static_cast<uint64_t>(t.timer.due_ms));
  k += t.application;
  k.push_back('\0');
  k.push_back(kind_letter(t.timer.kind));
  k += be32(static_cast<uint32_t>(t.timer.index));
  return k;
}

inline std::string timer_app_key(const std::string& application, const std::string& due_key) {
  std::string k = kTimerByApp + application;
  k.push_back('\0');
  return k + due_key;
}

// Meta: where this copy of an input partition stands (a Lineage).
inline std::string lineage_key(int32_t partition) {
  return "meta/lineage/" + be32(static_cast<uint32_t>(partition));
}
inline const std::string kMetaStoreId = "meta/store_id";

// Meta: the audit's round seals, per partition in round order.
inline const std::string kAuditPrefix = "audit/";
inline std::string audit_prefix(int32_t partition) {
  return kAuditPrefix + be32(static_cast<uint32_t>(partition));
}
inline std::string audit_key(int32_t partition, uint64_t number) {
  return audit_prefix(partition) + be64(number);
}

inline std::string encode(const json& j) {
  const auto bytes = json::to_msgpack(j);
  return std::string(bytes.begin(), bytes.end());
}

inline Result<json> decode(const std::string& bytes, const std::string& what) {
  // from_msgpack recurses once per level: bound the depth first.
  if (!codec::msgpack_depth_within(bytes, codec::kMaxMsgpackDepth))
    return make_error(Errc::corruption, what + " nests deeper than the store ever writes");
  json j = json::from_msgpack(bytes, true, false);
  if (j.is_discarded()) return make_error(Errc::corruption, what + " is not valid msgpack");
  return j;
}

inline Error from_status(const rocksdb::Status& s, const std::string& what) {
  if (s.IsNotFound()) return make_error(Errc::not_found, what + " not found");
  if (s.IsCorruption()) return make_error(Errc::corruption, what + ": " + s.ToString());
  return make_error(Errc::io_error, what + ": " + s.ToString());
}

/// An application as stored: the binary encoding, or a legacy msgpack map.
inline Result<workflow::Application> read_application(std::string_view bytes,
                                                      const std::string& id) {
  workflow::Application a;
  if (codec::is_application(bytes)) {
    if (!codec::decode(bytes, a))
      return make_error(Errc::corruption, "application \"" + id + "\" is not well-formed");
    return a;
  }
  auto j = decode(std::string(bytes), "application \"" + id + "\"");
  if (!j) return j.error();
  try {
    return workflow::application_from_json(*j);
  } catch (const std::exception& e) {
    return make_error(Errc::corruption, "application \"" + id + "\": " + e.what());
  }
}

}  // namespace stagewise::store::detail
