#include "store/changelog.h"

#include "store/codec.h"

#include <charconv>
#include <cstdio>

namespace stagewise::store::changelog {
namespace {

enum Tag : uint8_t { kBundle = 0x21, kMarker = 0x22, kLineage = 0x23, kTimers = 0x24 };

void write_marker(codec::Writer& w, const RoundMarker& m) {
  w.str(m.owner);
  w.varint(m.epoch);
  w.varint(m.round);
  w.svarint(m.next_offset);
}

void read_marker(codec::Reader& r, RoundMarker& m) {
  m.owner = r.str();
  m.epoch = r.varint();
  m.round = r.varint();
  m.next_offset = r.svarint();
}

}  // namespace

std::string app_key(std::string_view id) {
  return "a/" + std::string(id);
}

std::string history_key(std::string_view id, uint64_t seq) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(seq));
  return "h/" + std::string(id) + "/" + hex;
}

std::string timers_key(std::string_view id) {
  return "t/" + std::string(id);
}

std::string data_key_key(std::string_view id) {
  return "k/" + std::string(id);
}

std::string reviewer_key(std::string_view id) {
  return "r/" + std::string(id);
}

std::string audit_key(int32_t partition, uint64_t number) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(number));
  return "u/" + std::to_string(partition) + "/" + hex;
}

Key parse_key(std::string_view key) {
  Key k;
  if (key.size() < 3 || key[1] != '/') return k;
  const char kind = key[0];
  std::string_view rest = key.substr(2);
  if (kind == 'h' || kind == 'u') {
    // The id may hold '/' no more than any other id character (ids refuse
    // it), but parse from the end all the same.
    const auto slash = rest.rfind('/');
    if (slash == std::string_view::npos || rest.size() - slash - 1 != 16) return k;
    const auto hex = rest.substr(slash + 1);
    if (std::from_chars(hex.data(), hex.data() + hex.size(), k.seq, 16).ec != std::errc()) return k;
    rest = rest.substr(0, slash);
  } else if (kind != 'a' && kind != 't' && kind != 'r' && kind != 'k') {
    return k;
  }
  if (rest.empty()) return k;
  k.kind = kind;
  k.id = std::string(rest);
  return k;
}

void encode(std::string& out, const Bundle& b) {
  codec::Writer w(out);
  w.u8(kBundle);
  w.svarint(b.partition);
  w.varint(b.epoch);
  w.varint(b.entries.size());
  for (const auto& e : b.entries) {
    w.str(e.key);
    w.u8(e.value ? 1 : 0);
    if (e.value) w.str(*e.value);
  }
  w.u8(b.marker ? 1 : 0);
  if (b.marker) write_marker(w, *b.marker);
}

bool decode(std::string_view in, Bundle& b) {
  codec::Reader r(in);
  if (r.u8() != kBundle) return false;
  b.partition = static_cast<int32_t>(r.svarint());
  b.epoch = r.varint();
  const uint64_t n = r.varint();
  b.entries.clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    ChangelogEntry e;
    e.key = r.str();
    if (r.u8() == 1) e.value = r.str();
    b.entries.push_back(std::move(e));
  }
  b.marker.reset();
  if (r.u8() == 1) {
    RoundMarker m;
    read_marker(r, m);
    b.marker = std::move(m);
  }
  return r.ok() && r.done();
}

void encode(std::string& out, const RoundMarker& m) {
  codec::Writer w(out);
  w.u8(kMarker);
  write_marker(w, m);
}

bool decode(std::string_view in, RoundMarker& m) {
  codec::Reader r(in);
  if (r.u8() != kMarker) return false;
  read_marker(r, m);
  return r.ok() && r.done();
}

void encode(std::string& out, const Lineage& l) {
  codec::Writer w(out);
  w.u8(kLineage);
  w.varint(l.epoch);
  w.varint(l.round);
  w.svarint(l.next_offset);
}

bool decode(std::string_view in, Lineage& l) {
  codec::Reader r(in);
  if (r.u8() != kLineage) return false;
  l.known = true;
  l.epoch = r.varint();
  l.round = r.varint();
  l.next_offset = r.svarint();
  return r.ok() && r.done();
}

void encode(std::string& out, const std::vector<TimerRecord>& timers) {
  codec::Writer w(out);
  w.u8(kTimers);
  w.varint(timers.size());
  std::string one;
  for (const auto& t : timers) {
    one.clear();
    codec::encode(one, t);
    w.str(one);
  }
}

bool decode(std::string_view in, std::vector<TimerRecord>& timers) {
  codec::Reader r(in);
  if (r.u8() != kTimers) return false;
  const uint64_t n = r.varint();
  timers.clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    TimerRecord t;
    if (!codec::decode(r.str(), t)) return false;
    timers.push_back(std::move(t));
  }
  return r.ok() && r.done();
}

}  // namespace stagewise::store::changelog
