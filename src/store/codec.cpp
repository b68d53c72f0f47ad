#include "store/codec.h"

#include <optional>
#include <type_traits>
#include <vector>

namespace stagewise::store::codec {

namespace {

// What the type byte of a msgpack value says: the bytes before its payload
// (type byte, then any length or count, then any ext type), how many of
// them give the payload's length (str, bin, ext) or the container's count,
// and whether it is an array or a map.
enum class Shape : uint8_t { kScalar, kArray, kMap, kUnused };
struct Head {
  uint8_t before;
  uint8_t len_bytes;
  Shape shape;
};

Head head_of(uint8_t b) {
  constexpr Shape S = Shape::kScalar;
  // clang-format off
  static constexpr Head kTyped[32] = {  // 0xc0..0xdf
      {1, 0, S}, {1, 0, Shape::kUnused}, {1, 0, S}, {1, 0, S},  // nil, (unused), false, true
      {2, 1, S}, {3, 2, S}, {5, 4, S},                          // bin 8, 16, 32
      {3, 1, S}, {4, 2, S}, {6, 4, S},                          // ext 8, 16, 32
      {5, 0, S}, {9, 0, S},                                     // float 32, 64
      {2, 0, S}, {3, 0, S}, {5, 0, S}, {9, 0, S},               // uint 8, 16, 32, 64
      {2, 0, S}, {3, 0, S}, {5, 0, S}, {9, 0, S},               // int 8, 16, 32, 64
      {3, 0, S}, {4, 0, S}, {6, 0, S}, {10, 0, S}, {18, 0, S},  // fixext 1, 2, 4, 8, 16
      {2, 1, S}, {3, 2, S}, {5, 4, S},                          // str 8, 16, 32
      {3, 2, Shape::kArray}, {5, 4, Shape::kArray},             // array 16, 32
      {3, 2, Shape::kMap}, {5, 4, Shape::kMap},                 // map 16, 32
  };
  // clang-format on
  if (b <= 0x7f || b >= 0xe0) return {1, 0, S};                        // fixint
  if (b <= 0x8f) return {1, 0, Shape::kMap};                           // fixmap
  if (b <= 0x9f) return {1, 0, Shape::kArray};                         // fixarray
  if (b <= 0xbf) return {static_cast<uint8_t>(1 + (b & 0x1f)), 0, S};  // fixstr
  return kTyped[b - 0xc0];
}

}  // namespace

bool msgpack_depth_within(std::string_view bytes, int max_depth) {
  // Values still to read in each open container, innermost last.
  std::vector<uint64_t> open;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const auto b = static_cast<uint8_t>(bytes[pos]);
    const Head h = head_of(b);
    const size_t left = bytes.size() - pos;
    // Invalid or truncated from here on: the parser refuses it before any deeper level.
    if (h.shape == Shape::kUnused || left < h.before) return true;
    uint64_t n = 0;  // the count or length that follows the type byte
    for (size_t i = 1; i <= h.len_bytes; ++i) n = (n << 8) | static_cast<uint8_t>(bytes[pos + i]);
    if (h.shape == Shape::kScalar) {
      if (left - h.before < n) return true;
      pos += h.before + n;
    } else {
      if (static_cast<int>(open.size()) >= max_depth) return false;
      if (h.len_bytes == 0) n = b & 0x0f;  // fixmap, fixarray
      if (h.shape == Shape::kMap) n *= 2;  // keys are values too
      pos += h.before;
      if (n > 0) {
        open.push_back(n);
        continue;
      }
    }
    // A value is complete, and with it every container it was the last value of.
    while (!open.empty() && --open.back() == 0) open.pop_back();
    if (open.empty()) return true;  // the top-level value is complete
  }
  return true;
}

void Writer::varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void Writer::str(std::string_view s) {
  varint(s.size());
  out_.append(s);
}

void Writer::json(const nlohmann::json& j) {
  // Length first, then the msgpack bytes written in place.
  std::string bytes;
  nlohmann::json::to_msgpack(j, bytes);
  str(bytes);
}

std::string_view Reader::take(uint64_t n) {
  if (!ok_ || n > in_.size()) {
    ok_ = false;
    return {};
  }
  const std::string_view s = in_.substr(0, n);
  in_.remove_prefix(n);
  return s;
}

uint8_t Reader::u8() {
  const auto s = take(1);
  return ok_ ? static_cast<uint8_t>(s[0]) : 0;
}

uint64_t Reader::varint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    const uint8_t b = u8();
    if (!ok_) return 0;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  ok_ = false;
  return 0;
}

std::string Reader::str() {
  const uint64_t n = varint();
  return std::string(take(n));
}

nlohmann::json Reader::json() {
  const uint64_t n = varint();
  const auto bytes = take(n);
  if (!ok_) return {};
  nlohmann::json j;
  if (!from_msgpack(bytes, j)) ok_ = false;
  return j;
}

bool from_msgpack(std::string_view bytes, nlohmann::json& out) {
  if (!msgpack_depth_within(bytes, kMaxMsgpackDepth)) return false;
  out = nlohmann::json::from_msgpack(bytes.begin(), bytes.end(), true, false);
  return !out.is_discarded();
}

// Each value's fields, listed once for both directions: Out writes them,
// In reads them back into the same members.
namespace {

struct Out {
  Writer w;
  const std::string_view* sealed_data = nullptr;  // kHistory3: written in place of the data
  void text(const std::string& v) { w.str(v); }
  template <class T>
  void uint(const T& v) {
    w.varint(static_cast<uint64_t>(v));
  }
  template <class T>
  void sint(const T& v) {
    w.svarint(static_cast<int64_t>(v));
  }
  void doc(const nlohmann::json& v) { w.json(v); }
  void data(const nlohmann::json& v) {
    if (sealed_data != nullptr)
      w.str(*sealed_data);
    else
      w.json(v);
  }
  void opt(const std::optional<std::string>& v) {
    w.u8(v ? 1 : 0);
    if (v) w.str(*v);
  }
  void kind(const workflow::Timer::Kind& k) { w.u8(static_cast<uint8_t>(k)); }
  void headers(const Headers& hs) {
    w.varint(hs.size());
    for (const auto& [k, v] : hs) {
      w.str(k);
      w.str(v);
    }
  }
};

struct In {
  Reader r;
  bool sealed = false;                 // kHistory3: the data field holds sealed bytes
  std::string* sealed_data = nullptr;  // where they go
  void text(std::string& v) { v = r.str(); }
  template <class T>
  void uint(T& v) {
    v = static_cast<T>(r.varint());
  }
  template <class T>
  void sint(T& v) {
    v = static_cast<T>(r.svarint());
  }
  void doc(nlohmann::json& v) { v = r.json(); }
  void data(nlohmann::json& v) {
    if (!sealed) {
      v = r.json();
      return;
    }
    v = nullptr;
    std::string bytes = r.str();
    if (sealed_data != nullptr) *sealed_data = std::move(bytes);
  }
  void opt(std::optional<std::string>& v) {
    if (r.u8() == 1)
      v = r.str();
    else
      v.reset();
  }
  void kind(workflow::Timer::Kind& k) {
    const uint8_t v = r.u8();
    k = v == 0   ? workflow::Timer::Kind::deadline
        : v == 2 ? workflow::Timer::Kind::retention
                 : workflow::Timer::Kind::reminder;
  }
  void headers(Headers& hs) {
    const uint64_t n = r.varint();
    hs.clear();
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      std::string k = r.str();
      hs.emplace_back(std::move(k), r.str());
    }
  }
};

template <class IO, class A>
void fields(IO& io, A& a) requires std::is_same_v<std::remove_const_t<A>, workflow::Application> {
  io.text(a.id);
  io.text(a.program);
  io.sint(a.workflow_version);
  io.text(a.stage);
  io.sint(a.stage_entered_ms);
  io.sint(a.created_ms);
  io.sint(a.updated_ms);
  io.uint(a.sequence);
  io.doc(a.facts);
}

template <class IO, class H>
void fields(IO& io, H& h) requires std::is_same_v<std::remove_const_t<H>, HistoryEntry> {
  io.uint(h.sequence);
  io.text(h.id);
  io.text(h.source);
  io.text(h.type);
  io.text(h.time);
  io.text(h.actorid);
  io.text(h.actorrole);
  io.opt(h.from);
  io.text(h.to);
  io.sint(h.transition);
  io.text(h.note);
  io.data(h.data);
  io.text(h.topic);
  io.sint(h.partition);
  io.sint(h.offset);
}

template <class IO, class R>
void fields(IO& io, R& rec) requires std::is_same_v<std::remove_const_t<R>, OutboxRecord> {
  io.text(rec.topic);
  io.text(rec.key);
  io.text(rec.value);
  io.headers(rec.headers);
}

template <class IO, class T>
void fields(IO& io, T& t) requires std::is_same_v<std::remove_const_t<T>, TimerRecord> {
  io.text(t.application);
  io.text(t.program);
  io.sint(t.partition);
  io.kind(t.timer.kind);
  io.sint(t.timer.index);
  io.sint(t.timer.due_ms);
  io.text(t.timer.stage);
  io.sint(t.timer.stage_entered_ms);
  io.text(t.timer.recipient);
  io.text(t.timer.template_name);
  io.sint(t.timer.deadline_ms);
}

template <class IO, class D>
void fields(IO& io, D& d) requires std::is_same_v<std::remove_const_t<D>, DeadLetter> {
  io.uint(d.seq);
  io.text(d.id);
  io.text(d.reason);
  io.text(d.message);
  io.text(d.event_id);
  io.text(d.subject);
  io.text(d.topic);
  io.sint(d.partition);
  io.sint(d.offset);
  io.sint(d.time_ms);
  io.uint(d.length);
  io.text(d.sha256);
  io.text(d.key);
  io.headers(d.headers);
  io.uint(d.kept);
  io.text(d.original);
}

template <class IO, class P>
void fields(IO& io, P& p) requires std::is_same_v<std::remove_const_t<P>, ParkedRecord> {
  io.uint(p.seq);
  fields(io, p.record);
  io.text(p.reason);
  io.sint(p.time_ms);
}

template <class V>
void write(std::string& out, Tag tag, const V& v) {
  Out o{Writer(out)};
  o.w.u8(tag);
  fields(o, v);
}

template <class V>
bool read(std::string_view bytes, Tag tag, V& v) {
  In i{Reader(bytes)};
  if (i.r.u8() != tag) return false;
  fields(i, v);
  return i.r.ok() && i.r.done();
}

}  // namespace

void encode(std::string& out, const workflow::Application& a) {
  Out o{Writer(out)};
  o.w.u8(kApplication3);
  fields(o, a);
  o.w.varint(a.stays.size());
  for (const auto& s : a.stays) {
    o.text(s.stage);
    o.sint(s.first_ms);
    o.sint(s.spent_ms);
    o.uint(s.visits);
  }
  o.doc(a.self_identification);
  o.text(a.history_head);
}
bool decode(std::string_view in, workflow::Application& a) {
  In i{Reader(in)};
  const uint8_t tag = i.r.u8();
  if (tag != kApplication && tag != kApplication2 && tag != kApplication3) return false;
  fields(i, a);
  a.stays.clear();
  a.self_identification = nlohmann::json::object();
  a.history_head.clear();
  if (tag != kApplication) {
    const uint64_t n = i.r.varint();
    for (uint64_t k = 0; k < n && i.r.ok(); ++k) {
      workflow::StageStay s;
      i.text(s.stage);
      i.sint(s.first_ms);
      i.sint(s.spent_ms);
      i.uint(s.visits);
      a.stays.push_back(std::move(s));
    }
    i.doc(a.self_identification);
  }
  if (tag == kApplication3) i.text(a.history_head);
  return i.r.ok() && i.r.done();
}
void encode(std::string& out, const HistoryEntry& h) {
  Out o{Writer(out)};
  o.w.u8(kHistory2);
  fields(o, h);
  o.text(h.authsub);
  o.text(h.authrole);
}
void encode(std::string& out, const HistoryEntry& h, std::string_view sealed_data) {
  Out o{Writer(out), &sealed_data};
  o.w.u8(kHistory3);
  fields(o, h);
  o.text(h.authsub);
  o.text(h.authrole);
}
bool decode(std::string_view in, HistoryEntry& h, std::string* sealed_data) {
  SealedView view;
  if (tagged(in, kSealed)) {
    if (!unseal(in, view) || tagged(view.body, kSealed) || !decode(view.body, h, sealed_data))
      return false;
    h.round = view.round;
    h.chain = std::move(view.chain);
    return true;
  }
  h.round = 0;
  h.chain.clear();
  In i{Reader(in)};
  const uint8_t tag = i.r.u8();
  if (tag != kHistory && tag != kHistory2 && tag != kHistory3) return false;
  i.sealed = tag == kHistory3;
  i.sealed_data = sealed_data;
  fields(i, h);
  h.authsub.clear();
  h.authrole.clear();
  if (tag != kHistory) {
    i.text(h.authsub);
    i.text(h.authrole);
  }
  return i.r.ok() && i.r.done();
}
void seal(std::string& out, uint64_t round, std::string_view chain, std::string_view body) {
  Writer w(out);
  w.u8(kSealed);
  w.varint(round);
  w.str(chain);
  out.append(body);
}

bool unseal(std::string_view stored, SealedView& view) {
  if (!tagged(stored, kSealed)) {
    view = SealedView{false, 0, {}, stored};
    const auto b = stored.empty() ? 0 : static_cast<uint8_t>(stored[0]);
    const bool legacy_map = (b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf;  // msgpack
    return is_history(stored) || legacy_map;
  }
  Reader r(stored);
  r.u8();
  view.sealed = true;
  view.round = r.varint();
  view.chain = r.str();
  view.body = r.rest();
  return r.ok() && view.chain.size() == audit::kHashBytes && !view.body.empty();
}

void encode(std::string& out, const audit::Round& round) {
  Writer w(out);
  w.u8(kAuditRound);
  w.svarint(round.partition);
  w.varint(round.number);
  w.svarint(round.time_ms);
  w.str(round.prev);
  w.str(round.root);
  w.str(round.digest);
  w.varint(round.leaves.size());
  for (const auto& l : round.leaves) {
    w.str(l.application);
    w.varint(l.sequence);
    w.str(l.chain);
  }
}

bool decode(std::string_view in, audit::Round& round) {
  Reader r(in);
  if (r.u8() != kAuditRound) return false;
  round.partition = static_cast<int32_t>(r.svarint());
  round.number = r.varint();
  round.time_ms = r.svarint();
  round.prev = r.str();
  round.root = r.str();
  round.digest = r.str();
  const uint64_t n = r.varint();
  round.leaves.clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    audit::Leaf l;
    l.application = r.str();
    l.sequence = r.varint();
    l.chain = r.str();
    round.leaves.push_back(std::move(l));
  }
  return r.ok() && r.done();
}

void encode(std::string& out, const OutboxRecord& r) {
  if (r.partition < 0 && !r.bundle) return write(out, kOutbox, r);
  Out o{Writer(out)};
  o.w.u8(kOutbox2);
  fields(o, r);
  o.sint(r.partition);
  o.w.u8(r.bundle ? 1 : 0);
}
bool decode(std::string_view in, OutboxRecord& r) {
  In i{Reader(in)};
  const uint8_t tag = i.r.u8();
  if (tag != kOutbox && tag != kOutbox2) return false;
  fields(i, r);
  r.partition = -1;
  r.bundle = false;
  if (tag == kOutbox2) {
    i.sint(r.partition);
    r.bundle = i.r.u8() == 1;
  }
  return i.r.ok() && i.r.done();
}
void encode(std::string& out, const TimerRecord& t) {
  write(out, kTimer, t);
}
bool decode(std::string_view in, TimerRecord& t) {
  return read(in, kTimer, t);
}

void encode(std::string& out, const DeadLetter& d) {
  write(out, kDeadLetter, d);
}
bool decode(std::string_view in, DeadLetter& d) {
  return read(in, kDeadLetter, d);
}
void encode(std::string& out, const ParkedRecord& p) {
  write(out, kParked, p);
}
bool decode(std::string_view in, ParkedRecord& p) {
  return read(in, kParked, p);
}

}  // namespace stagewise::store::codec
