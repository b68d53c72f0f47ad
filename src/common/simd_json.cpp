#include "common/simd_json.h"

#include <simdjson.h>

#include <cstdint>
#include <string>

namespace stagewise::simd {
namespace {

using nlohmann::json;
using simdjson::dom::element;
using simdjson::dom::element_type;

// Larger text goes to nlohmann: a parser keeps buffers of ~15 times the
// largest document it read, per thread (the HTTP intake's workers too), so
// what a client sends cannot make each thread hold megabytes.
constexpr size_t kMaxBytes = 64 << 10;

// One parser per thread: it keeps its buffers between events (a document's
// views are valid until the thread's next parse).
simdjson::dom::parser& parser() {
  thread_local simdjson::dom::parser p;
  return p;
}

// Depth is bounded by the callers' json_depth_within, so recursing is safe.
json tree_of(element e) {
  switch (e.type()) {
    case element_type::ARRAY: {
      json a = json::array();
      simdjson::dom::array array;
      if (e.get_array().get(array) != simdjson::SUCCESS) break;  // never: the type says so
      for (element child : array) a.push_back(tree_of(child));
      return a;
    }
    case element_type::OBJECT: {
      json o = json::object();
      simdjson::dom::object object;
      if (e.get_object().get(object) != simdjson::SUCCESS) break;
      // A repeated key keeps its last value, as nlohmann's parser does.
      for (auto field : object) o[std::string(field.key)] = tree_of(field.value);
      return o;
    }
    case element_type::INT64: {
      // nlohmann reads an integer without a sign as unsigned.
      const int64_t v = e.get_int64().value_unsafe();
      return v >= 0 ? json(static_cast<uint64_t>(v)) : json(v);
    }
    case element_type::UINT64:
      return json(e.get_uint64().value_unsafe());
    case element_type::DOUBLE:
      return json(e.get_double().value_unsafe());
    case element_type::STRING:
      return json(std::string(e.get_string().value_unsafe()));
    case element_type::BOOL:
      return json(e.get_bool().value_unsafe());
    case element_type::NULL_VALUE:
      break;
  }
  return json(nullptr);
}

// An integer written "-0": nlohmann keeps it signed, simdjson reads the
// same 0 as "0", so such text goes to nlohmann (a cheap scan; dates' "-0"
// is followed by a digit).
bool has_negative_zero(std::string_view text) {
  for (size_t at = text.find("-0"); at != std::string_view::npos; at = text.find("-0", at + 2)) {
    const char next = at + 2 < text.size() ? text[at + 2] : ' ';
    if (!(next >= '0' && next <= '9') && next != '.' && next != 'e' && next != 'E') return true;
  }
  return false;
}

bool parsed(std::string_view text, element& root) {
  return text.size() <= kMaxBytes && !has_negative_zero(text) &&
         parser().parse(text.data(), text.size()).get(root) == simdjson::SUCCESS;
}

}  // namespace

bool object_members(std::string_view text, std::string_view tree_key, std::vector<Member>& out) {
  out.clear();
  element root;
  simdjson::dom::object object;
  if (!parsed(text, root) || root.get_object().get(object) != simdjson::SUCCESS) return false;
  for (auto field : object) {
    Member m;
    m.key = field.key;
    if (field.value.is_null()) {
      m.kind = Member::Kind::null;
    } else if (field.value.is_string()) {
      m.kind = Member::Kind::string;
      m.text = field.value.get_string().value_unsafe();
    }
    if (m.key == tree_key) m.tree = tree_of(field.value);
    out.push_back(std::move(m));
  }
  return true;
}

std::optional<json> parse(std::string_view text) {
  element root;
  if (!parsed(text, root)) return std::nullopt;
  return tree_of(root);
}

}  // namespace stagewise::simd
