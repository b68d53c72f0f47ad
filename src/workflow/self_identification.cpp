#include "workflow/self_identification.h"

#include <algorithm>
#include <vector>

namespace stagewise::workflow {
namespace {

using nlohmann::json;

std::string check_value(const std::string& field, const json& v, const SelfIdLimits& limits) {
  if (v.is_null() || v.is_boolean() || v.is_number()) return {};
  if (v.is_string()) {
    if (v.get_ref<const std::string&>().size() > limits.max_value_bytes)
      return field + " is longer than " + std::to_string(limits.max_value_bytes) + " bytes";
    return {};
  }
  if (v.is_array()) {
    if (v.size() > limits.max_choices)
      return field + " lists more than " + std::to_string(limits.max_choices) + " choices";
    for (const auto& item : v)
      if (!item.is_string() || item.get_ref<const std::string&>().size() > limits.max_value_bytes)
        return field + " must list strings of at most " + std::to_string(limits.max_value_bytes) +
               " bytes";
    return {};
  }
  return field + " must be a string, a boolean, a number, a list of strings or null";
}

}  // namespace

bool valid_self_identification_key(const std::string& k, size_t max_bytes) {
  if (k.empty() || k.size() > max_bytes) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool has_self_identification(const json& data) {
  return data.is_object() && data.contains(kSelfIdentification);
}

std::string check_self_identification(const json& answers, const SelfIdLimits& limits) {
  const std::string base = "data.self_identification";
  if (!answers.is_object())
    return base + " must be an object of answers, e.g. {\"gender\": \"decline to state\"}";
  if (answers.size() > limits.max_attributes)
    return base + " holds more than " + std::to_string(limits.max_attributes) + " answers";
  for (const auto& [k, v] : answers.items()) {
    if (!valid_self_identification_key(k, limits.max_key_bytes))
      return base + " key \"" + k.substr(0, limits.max_key_bytes) + "\" must be 1 to " +
             std::to_string(limits.max_key_bytes) + " letters, digits, '_', '-' or '.'";
    if (auto bad = check_value(base + "." + k, v, limits); !bad.empty()) return bad;
  }
  return {};
}

void merge_self_identification(json& kept, const json& answers) {
  if (!kept.is_object()) kept = json::object();
  kept.merge_patch(answers);
}

void drop_self_identification(json& data) {
  if (data.is_object()) data.erase(std::string(kSelfIdentification));
}

std::string self_identified_group(const json& answers, const std::string& attribute) {
  if (!answers.is_object()) return "unknown";
  const auto it = answers.find(attribute);
  if (it == answers.end() || it->is_null()) return "unknown";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
  if (it->is_number()) return it->dump();
  if (it->is_array()) {
    std::vector<std::string> choices;
    for (const auto& c : *it)
      if (c.is_string()) choices.push_back(c.get<std::string>());
    if (choices.empty()) return "unknown";
    std::sort(choices.begin(), choices.end());
    choices.erase(std::unique(choices.begin(), choices.end()), choices.end());
    std::string out;
    for (const auto& c : choices) out += (out.empty() ? "" : " + ") + c;
    return out;
  }
  return "unknown";
}

}  // namespace stagewise::workflow
