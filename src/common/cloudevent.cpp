#include "common/cloudevent.h"

#include "common/json_limits.h"
#include "common/simd_json.h"
#include "common/time.h"

#include <algorithm>
#include <array>

namespace stagewise {
namespace {

using nlohmann::json;
using simd::Member;
using Members = std::vector<Member>;

DecodeError fail(Reason r, std::string msg, std::string id = {}) {
  return DecodeError{r, std::move(msg), std::move(id)};
}

// An attribute's text: UTF-8, no controls or bidi formatting, bounded.
std::optional<DecodeError> check_text(std::string_view name, std::string_view v, size_t max_bytes,
                                      const std::string& id) {
  if (v.size() > max_bytes)
    return fail(Reason::invalid_attribute,
                "attribute \"" + std::string(name) + "\" is " + std::to_string(v.size()) +
                    " bytes; at most " + std::to_string(max_bytes) + " are accepted",
                id);
  if (has_unsafe_characters(v))
    return fail(Reason::invalid_attribute,
                "attribute \"" + std::string(name) +
                    "\" must be UTF-8 without control or bidirectional formatting characters",
                id);
  return std::nullopt;
}

// Extension attribute names: lowercase letters and digits (CloudEvents 1.0).
bool valid_extension_name(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (const char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace

bool valid_subject(std::string_view id, size_t max_bytes) {
  return !id.empty() && id.size() <= max_bytes && is_plain_token(id);
}

std::optional<DecodeError> check_time(const CloudEvent& e, int64_t reference_ms,
                                      const TimeWindow& window) {
  // A producer sets the reference (the message timestamp): keep the sums in
  // range whatever it says (±292 million years).
  constexpr int64_t kLimit = int64_t{1} << 61;
  reference_ms = std::clamp(reference_ms, -kLimit, kLimit);
  if (e.time_ms > reference_ms + std::min(window.max_ahead_ms, kLimit))
    return fail(Reason::invalid_attribute,
                "attribute \"time\" (" + e.time + ") lies more than " +
                    std::to_string(window.max_ahead_ms / 3'600'000) +
                    " h after the event was sent (" + format_rfc3339_ms(reference_ms) +
                    "); check the sender's clock (processor.max_clock_skew)",
                e.id);
  if (e.actorrole != "system" && e.time_ms < reference_ms - std::min(window.max_behind_ms, kLimit))
    return fail(Reason::invalid_attribute,
                "attribute \"time\" (" + e.time + ") lies more than " +
                    std::to_string(window.max_behind_ms / 86'400'000) +
                    " days before the event was sent (" + format_rfc3339_ms(reference_ms) +
                    "); backdated events are refused (processor.max_backdate)",
                e.id);
  return std::nullopt;
}

bool is_known_role(std::string_view role) {
  static constexpr std::array<std::string_view, 7> kRoles = {
      "applicant", "reviewer", "program_manager", "hub_admin", "admin", "service", "system"};
  for (const auto r : kRoles)
    if (r == role) return true;
  return false;
}

namespace {

// An object's members as a parsed nlohmann object holds them: sorted by
// key, a repeated key's last value kept.
void settle(Members& members) {
  std::stable_sort(members.begin(), members.end(),
                   [](const Member& a, const Member& b) { return a.key < b.key; });
  size_t kept = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    if (i + 1 < members.size() && members[i + 1].key == members[i].key) continue;
    if (kept != i) members[kept] = std::move(members[i]);
    ++kept;
  }
  members.resize(kept);
}

const Member* find(const Members& members, std::string_view key) {
  const auto it = std::lower_bound(members.begin(), members.end(), key,
                                   [](const Member& m, std::string_view k) { return m.key < k; });
  return it != members.end() && it->key == key ? &*it : nullptr;
}

Members members_of(const json& object) {
  Members out;
  out.reserve(object.size());
  for (auto it = object.begin(); it != object.end(); ++it) {
    Member m;
    m.key = it.key();
    if (it->is_null()) m.kind = Member::Kind::null;
    if (it->is_string()) {
      m.kind = Member::Kind::string;
      m.text = it->get_ref<const std::string&>();
    }
    if (m.key == "data") m.tree = *it;
    out.push_back(std::move(m));
  }
  return out;
}

// The id to name in errors: only when it is itself presentable.
std::string presentable_id(const Members& members, const EnvelopeLimits& limits) {
  const Member* m = find(members, "id");
  if (m == nullptr || m->kind != Member::Kind::string) return {};
  return m->text.size() <= limits.max_id_bytes && !has_unsafe_characters(m->text)
             ? std::string(m->text)
             : std::string();
}

// The required attributes (DESIGN.md §4), each a bounded, presentable string.
std::optional<DecodeError> required_attributes(const Members& members, const EnvelopeLimits& limits,
                                               const std::string& id, CloudEvent& e) {
  struct Required {
    const char* name;
    std::string* out;
  };
  std::string specversion;
  const std::array<Required, 6> required = {{{"specversion", &specversion},
                                             {"id", &e.id},
                                             {"source", &e.source},
                                             {"type", &e.type},
                                             {"subject", &e.subject},
                                             {"time", &e.time}}};
  for (const auto& r : required) {
    const Member* m = find(members, r.name);
    if (m == nullptr || m->kind == Member::Kind::null)
      return fail(Reason::missing_attribute,
                  std::string("required attribute \"") + r.name +
                      "\" is missing; every event needs specversion, id, source, type, subject "
                      "(the application id) and time",
                  id);
    if (m->kind != Member::Kind::string || m->text.empty())
      return fail(Reason::invalid_attribute,
                  std::string("attribute \"") + r.name + "\" must be a non-empty string", id);
    *r.out = m->text;
  }
  if (specversion != "1.0")
    return fail(
        Reason::invalid_attribute,
        "attribute \"specversion\" must be \"1.0\", got \"" + utf8_prefix(specversion, 32) + "\"",
        id);
  if (auto bad = check_text("id", e.id, limits.max_id_bytes, id)) return bad;
  if (auto bad = check_text("source", e.source, limits.max_id_bytes, id)) return bad;
  if (auto bad = check_text("type", e.type, limits.max_name_bytes, id)) return bad;
  if (auto bad = check_text("time", e.time, 64, id)) return bad;
  if (!valid_subject(e.subject, limits.max_subject_bytes))
    return fail(Reason::invalid_attribute,
                "attribute \"subject\" (the application id) must be 1 to " +
                    std::to_string(limits.max_subject_bytes) +
                    " bytes of UTF-8 without white space, control or bidirectional formatting "
                    "characters, or any of / \\ ? # % (it must be readable back at "
                    "/v1/applications/{id})",
                id);
  const auto t = parse_rfc3339_ms(e.time);
  if (!t)
    return fail(Reason::invalid_attribute,
                "attribute \"time\" is not an RFC 3339 timestamp (e.g. "
                "\"2026-03-01T12:00:00Z\"): \"" +
                    e.time + "\"",
                id);
  e.time_ms = *t;
  return std::nullopt;
}

// Where an extension stagewise reads goes; null for the ones it carries.
std::string* extension_field(std::string_view key, CloudEvent& e) {
  return key == "datacontenttype" ? &e.datacontenttype
         : key == "program"       ? &e.program
         : key == "actorid"       ? &e.actorid
         : key == "actorrole"     ? &e.actorrole
         : key == "authsub"       ? &e.authsub
         : key == "authrole"      ? &e.authrole
         : key == "authsig"       ? &e.authsig
                                  : nullptr;
}

// One optional attribute: data, datacontenttype, or an extension (the ones
// stagewise reads are checked; others are carried, not interpreted).
std::optional<DecodeError> optional_attribute(Member& m, const EnvelopeLimits& limits,
                                              const std::string& id, CloudEvent& e) {
  const std::string_view key = m.key;
  if (key == "data") {
    e.data = std::move(m.tree);
    return std::nullopt;
  }
  if (key == "data_base64")
    return fail(Reason::invalid_attribute,
                "\"data_base64\" is not supported: event data must be JSON", id);
  if (key == "specversion" || key == "id" || key == "source" || key == "type" || key == "subject" ||
      key == "time" || key == "dataschema")
    return std::nullopt;
  const bool content_type = key == "datacontenttype";
  if (!content_type && !valid_extension_name(key))
    return fail(Reason::invalid_attribute,
                "attribute name \"" + utf8_prefix(key, 32) +
                    "\" is invalid: CloudEvents attribute names are lowercase letters and digits",
                id);
  std::string* out = extension_field(key, e);
  if (out == nullptr) return std::nullopt;
  if (m.kind != Member::Kind::string)
    return fail(Reason::invalid_attribute,
                "attribute \"" + std::string(key) + "\" must be a string", id);
  *out = m.text;
  if (auto bad = check_text(key, *out, limits.max_name_bytes, id)) return bad;
  if (content_type && out->find("json") == std::string::npos)
    return fail(Reason::invalid_attribute, "datacontenttype \"" + *out + "\" is not JSON", id);
  return std::nullopt;
}

// The event an object's members make, validated.
DecodeResult decode_members(Members& members, const EnvelopeLimits& limits) {
  settle(members);
  const std::string id = presentable_id(members, limits);
  CloudEvent e;
  if (auto bad = required_attributes(members, limits, id, e)) return *bad;
  for (auto& m : members)
    if (auto bad = optional_attribute(m, limits, id, e)) return *bad;
  if (!e.program.empty() && !valid_subject(e.program, limits.max_name_bytes))
    return fail(Reason::invalid_attribute,
                "attribute \"program\" must be a program id without white space or / \\ ? # %", id);
  if (!e.authrole.empty() && !is_known_role(e.authrole))
    return fail(Reason::invalid_attribute, "attribute \"authrole\" is not a role", id);
  if (!e.actorrole.empty() && !is_known_role(e.actorrole))
    return fail(Reason::invalid_attribute,
                "actorrole \"" + e.actorrole +
                    "\" is unknown; use applicant, reviewer, program_manager, hub_admin, admin, "
                    "service or system",
                id);
  return e;
}

DecodeError too_deep(int max_depth, std::string id = {}) {
  return fail(Reason::malformed_json,
              "the event nests objects and arrays more than " + std::to_string(max_depth) +
                  " deep (processor.max_json_depth); flatten its data",
              std::move(id));
}

}  // namespace

DecodeResult decode_json(const json& j, const EnvelopeLimits& limits) {
  if (!j.is_object())
    return fail(Reason::malformed_json,
                "event must be a JSON object, got " + std::string(j.type_name()));
  Members members = members_of(j);
  return decode_members(members, limits);
}

DecodeResult decode_structured(std::string_view value, const EnvelopeLimits& limits) {
  if (!json_depth_within(value, limits.max_depth)) return too_deep(limits.max_depth);
  Members members;
  if (simd::object_members(value, "data", members)) return decode_members(members, limits);
  // Not an object simdjson reads: nlohmann names what is wrong, or reads it.
  const json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return fail(Reason::malformed_json,
                "value is not valid JSON; send a CloudEvent in structured mode "
                "(content-type application/cloudevents+json)");
  return decode_json(j, limits);
}

DecodeResult decode_kafka(const Headers& headers, std::string_view value,
                          const EnvelopeLimits& limits) {
  bool binary = false;
  for (const auto& [k, v] : headers)
    if (k == "ce_specversion") binary = true;
  if (!binary) return decode_structured(value, limits);

  json j = json::object();
  for (const auto& [k, v] : headers) {
    const bool ce = k.rfind("ce_", 0) == 0;
    if (!ce && k != "content-type") continue;
    // Header bytes are arbitrary: only presentable text becomes an attribute.
    if (!is_utf8(k) || !is_utf8(v))
      return fail(Reason::invalid_attribute, "binary-mode header values must be UTF-8");
    j[ce ? k.substr(3) : std::string("datacontenttype")] = v;
  }
  std::string id;
  if (const auto it = j.find("id");
      it != j.end() && it->get_ref<const std::string&>().size() <= limits.max_id_bytes)
    id = it->get<std::string>();
  if (!value.empty()) {
    bool deep = false;
    json data = parse_json_bounded(value, limits.max_depth - 1, &deep);
    if (deep) return too_deep(limits.max_depth, id);
    if (data.is_discarded())
      return fail(Reason::malformed_json, "binary-mode event data is not valid JSON", id);
    j["data"] = std::move(data);
  }
  return decode_json(j, limits);
}

DecodeResult decode_input(const Headers& headers, std::string_view value, int64_t max_bytes,
                          const EnvelopeLimits& limits) {
  if (static_cast<int64_t>(value.size()) > max_bytes)
    return fail(Reason::oversized,
                "event is " + std::to_string(value.size()) + " bytes; the limit is " +
                    std::to_string(max_bytes) +
                    " (processor.max_event_bytes): keep documents outside the event and send "
                    "their uri");
  return decode_kafka(headers, value, limits);
}

json to_json(const CloudEvent& e) {
  json j = {{"specversion", "1.0"}, {"id", e.id},           {"source", e.source},
            {"type", e.type},       {"subject", e.subject}, {"time", e.time}};
  if (!e.program.empty()) j["program"] = e.program;
  if (!e.actorid.empty()) j["actorid"] = e.actorid;
  if (!e.actorrole.empty()) j["actorrole"] = e.actorrole;
  if (!e.authsub.empty()) j["authsub"] = e.authsub;
  if (!e.authrole.empty()) j["authrole"] = e.authrole;
  if (!e.authsig.empty()) j["authsig"] = e.authsig;
  if (!e.datacontenttype.empty()) j["datacontenttype"] = e.datacontenttype;
  if (!e.data.is_null()) j["data"] = e.data;
  return j;
}

}  // namespace stagewise
