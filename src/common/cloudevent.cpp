#include "common/cloudevent.h"

#include "common/time.h"

#include <array>

namespace stagewise {
namespace {

using nlohmann::json;

DecodeError fail(Reason r, std::string msg, std::string id = {}) {
  return DecodeError{r, std::move(msg), std::move(id)};
}

bool valid_id_text(std::string_view s) {
  for (const unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

// Extension attribute names: lowercase letters and digits (CloudEvents 1.0).
bool valid_extension_name(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (const char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace

bool is_known_role(std::string_view role) {
  static constexpr std::array<std::string_view, 5> kRoles = {"applicant", "reviewer",
                                                             "program_manager", "admin", "system"};
  for (const auto r : kRoles)
    if (r == role) return true;
  return false;
}

DecodeResult decode_json(const json& j) {
  if (!j.is_object())
    return fail(Reason::malformed_json,
                "event must be a JSON object, got " + std::string(j.type_name()));
  std::string id;
  if (auto it = j.find("id"); it != j.end() && it->is_string()) id = it->get<std::string>();

  CloudEvent e;
  struct Required {
    const char* name;
    std::string* out;
  };
  const std::array<Required, 6> required = {{{"specversion", nullptr},
                                             {"id", &e.id},
                                             {"source", &e.source},
                                             {"type", &e.type},
                                             {"subject", &e.subject},
                                             {"time", &e.time}}};
  for (const auto& r : required) {
    const auto it = j.find(r.name);
    if (it == j.end() || it->is_null())
      return fail(Reason::missing_attribute,
                  std::string("required attribute \"") + r.name +
                      "\" is missing; every event needs specversion, id, source, type, subject "
                      "(the application id) and time",
                  id);
    if (!it->is_string() || it->get_ref<const std::string&>().empty())
      return fail(Reason::invalid_attribute,
                  std::string("attribute \"") + r.name + "\" must be a non-empty string", id);
    if (r.out != nullptr) *r.out = it->get<std::string>();
  }
  if (j["specversion"].get_ref<const std::string&>() != "1.0")
    return fail(Reason::invalid_attribute,
                "attribute \"specversion\" must be \"1.0\", got \"" +
                    j["specversion"].get<std::string>() + "\"",
                id);
  if (e.subject.size() > kMaxIdBytes || !valid_id_text(e.subject))
    return fail(Reason::invalid_attribute,
                "attribute \"subject\" (the application id) must be at most 256 bytes without "
                "control characters",
                id);
  if (!valid_id_text(e.id) || !valid_id_text(e.source))
    return fail(Reason::invalid_attribute,
                "attributes \"id\" and \"source\" must not contain control characters", id);
  const auto t = parse_rfc3339_ms(e.time);
  if (!t)
    return fail(Reason::invalid_attribute,
                "attribute \"time\" is not an RFC 3339 timestamp (e.g. "
                "\"2026-03-01T12:00:00Z\"): \"" +
                    e.time + "\"",
                id);
  e.time_ms = *t;

  for (const auto& [key, value] : j.items()) {
    if (key == "data") {
      e.data = value;
      continue;
    }
    if (key == "data_base64")
      return fail(Reason::invalid_attribute,
                  "\"data_base64\" is not supported: event data must be JSON", id);
    if (key == "specversion" || key == "id" || key == "source" || key == "type" ||
        key == "subject" || key == "time" || key == "dataschema")
      continue;
    if (key == "datacontenttype") {
      if (!value.is_string())
        return fail(Reason::invalid_attribute, "attribute \"datacontenttype\" must be a string",
                    id);
      e.datacontenttype = value.get<std::string>();
      if (e.datacontenttype.find("json") == std::string::npos)
        return fail(Reason::invalid_attribute,
                    "datacontenttype \"" + e.datacontenttype + "\" is not JSON", id);
      continue;
    }
    if (!valid_extension_name(key))
      return fail(Reason::invalid_attribute,
                  "attribute name \"" + key +
                      "\" is invalid: CloudEvents attribute names are lowercase letters and "
                      "digits",
                  id);
    std::string* out = key == "program"     ? &e.program
                       : key == "actorid"   ? &e.actorid
                       : key == "actorrole" ? &e.actorrole
                                            : nullptr;
    if (out == nullptr) continue;  // other extensions are carried, not interpreted
    if (!value.is_string())
      return fail(Reason::invalid_attribute, "attribute \"" + key + "\" must be a string", id);
    *out = value.get<std::string>();
  }
  if (!e.actorrole.empty() && !is_known_role(e.actorrole))
    return fail(Reason::invalid_attribute,
                "actorrole \"" + e.actorrole +
                    "\" is unknown; use applicant, reviewer, program_manager, admin or system",
                id);
  return e;
}

DecodeResult decode_structured(std::string_view value) {
  json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return fail(Reason::malformed_json,
                "value is not valid JSON; send a CloudEvent in structured mode "
                "(content-type application/cloudevents+json)");
  return decode_json(j);
}

DecodeResult decode_kafka(const Headers& headers, std::string_view value) {
  bool binary = false;
  for (const auto& [k, v] : headers)
    if (k == "ce_specversion") binary = true;
  if (!binary) return decode_structured(value);

  json j = json::object();
  for (const auto& [k, v] : headers) {
    if (k.rfind("ce_", 0) == 0)
      j[k.substr(3)] = v;
    else if (k == "content-type")
      j["datacontenttype"] = v;
  }
  if (!value.empty()) {
    json data = json::parse(value, nullptr, false);
    if (data.is_discarded()) {
      std::string id = j.contains("id") ? j["id"].get<std::string>() : "";
      return fail(Reason::malformed_json, "binary-mode event data is not valid JSON", id);
    }
    j["data"] = std::move(data);
  }
  return decode_json(j);
}

json to_json(const CloudEvent& e) {
  json j = {{"specversion", "1.0"}, {"id", e.id},           {"source", e.source},
            {"type", e.type},       {"subject", e.subject}, {"time", e.time}};
  if (!e.program.empty()) j["program"] = e.program;
  if (!e.actorid.empty()) j["actorid"] = e.actorid;
  if (!e.actorrole.empty()) j["actorrole"] = e.actorrole;
  if (!e.datacontenttype.empty()) j["datacontenttype"] = e.datacontenttype;
  if (!e.data.is_null()) j["data"] = e.data;
  return j;
}

}  // namespace stagewise
