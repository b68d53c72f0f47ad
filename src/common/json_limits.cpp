#include "common/json_limits.h"

#include "common/simd_json.h"

#include <cstdint>
#include <cstdio>

namespace stagewise {
namespace {

// Decodes the code point at s[i] (valid UTF-8 assumed by callers that
// checked it); returns its length, 0 when the bytes there are not UTF-8.
size_t code_point(std::string_view s, size_t i, uint32_t& cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if ((c & 0xe0) == 0xc0)
    n = 1, cp = c & 0x1f;
  else if ((c & 0xf0) == 0xe0)
    n = 2, cp = c & 0x0f;
  else if ((c & 0xf8) == 0xf0)
    n = 3, cp = c & 0x07;
  else
    return 0;
  for (size_t k = 1; k <= n; ++k) {
    if (i + k >= s.size()) return 0;
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
      cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n + 1;
}

// Controls, bidirectional formatting, and the line and paragraph separators
// some viewers break lines at.
bool unsafe(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
         cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

bool json_depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

nlohmann::json parse_json_bounded(std::string_view text, int max_depth, bool* too_deep) {
  if (too_deep != nullptr) *too_deep = false;
  if (!json_depth_within(text, max_depth)) {
    if (too_deep != nullptr) *too_deep = true;
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  // simdjson when it reads the text (the same tree, faster), else nlohmann,
  // which gives the same tree or a discarded one for invalid JSON.
  if (auto tree = simd::parse(text)) return std::move(*tree);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

bool is_utf8(std::string_view s) {
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = code_point(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

bool has_unsafe_characters(std::string_view s) {
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = code_point(s, i, cp);
    if (n == 0) return true;
    if (unsafe(cp)) return true;
    i += n;
  }
  return false;
}

bool is_plain_token(std::string_view s) {
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = code_point(s, i, cp);
    if (n == 0 || unsafe(cp)) return false;
    switch (cp) {
      case ' ':
      case '/':
      case '\\':
      case '?':
      case '#':
      case '%':
      case 0x00a0:
      case 0x1680:
      case 0x180e:
      case 0x202f:
      case 0x205f:
      case 0x2060:
      case 0x3000:
      case 0xfeff:
        return false;
      default:
        if (cp >= 0x2000 && cp <= 0x200d) return false;  // spaces and invisible joiners
    }
    i += n;
  }
  return true;
}

std::string escape_unsafe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  uint32_t cp = 0;
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    const size_t n = code_point(s, i, cp);
    if (n == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(s[i]));
      out += buf;
      ++i;
      continue;
    }
    if (!unsafe(cp)) {
      out.append(s.substr(i, n));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else {
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    }
    i += n;
  }
  return out;
}

}  // namespace stagewise
