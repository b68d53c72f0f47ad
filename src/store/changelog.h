#pragma once

// The changelog (DESIGN.md §9): each committed round's changes to one input
// partition's state, mirrored to the compacted `stagewise.changelog` topic,
// partition for partition, so that a process assigned the partition can
// rebuild exactly that state. See docs/scale-out.md.
//
// Messages: one per changed key, then the round's marker.
//   "a/ID"            the application (binary encoding; see codec.h)
//   "h/ID/SEQ"        one history entry (SEQ: 16 hex digits)
//   "t/ID"            the application's pending timers (a tombstone: none)
//   "k/ID"            its data key, wrapped (a tombstone: destroyed by an erasure)
//   "r/ID"            a reviewer's reference record (JSON; its id's partition)
//   "u/P/N"           the partition's audit round N (N: 16 hex digits; audit::Round)
//   "round"           the marker closing the round (RoundMarker)
// Dedupe ids are not mirrored: they are the (source, id) of the history
// entries, rebuilt from them on restore.

#include "store/store.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stagewise::store {

namespace changelog {

inline constexpr std::string_view kMarkerKey = "round";

std::string app_key(std::string_view id);
std::string history_key(std::string_view id, uint64_t seq);
std::string timers_key(std::string_view id);
std::string reviewer_key(std::string_view id);
std::string data_key_key(std::string_view id);
std::string audit_key(int32_t partition, uint64_t number);

/// A changelog key taken apart; kind is 'a', 'h', 't', 'r', 'k', 'u' or 0 when
/// unknown. For 'u', id is the partition and seq the round number.
struct Key {
  char kind = 0;
  std::string id;
  uint64_t seq = 0;
};
Key parse_key(std::string_view key);

void encode(std::string& out, const Bundle& b);
bool decode(std::string_view in, Bundle& b);
void encode(std::string& out, const RoundMarker& m);
bool decode(std::string_view in, RoundMarker& m);
void encode(std::string& out, const Lineage& l);
bool decode(std::string_view in, Lineage& l);
void encode(std::string& out, const std::vector<TimerRecord>& timers);
bool decode(std::string_view in, std::vector<TimerRecord>& timers);

}  // namespace changelog
}  // namespace stagewise::store
