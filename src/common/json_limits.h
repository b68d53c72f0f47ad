#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

namespace stagewise {

/// Whether the nesting of arrays and objects in `text` stays within
/// `max_depth`. Scans the bytes once without building anything (strings and
/// their escapes are skipped as the parser skips them), so it is safe on any
/// input: call it before parsing text from outside. nlohmann::json parses
/// without recursion, but copying, dumping and destroying a tree recurse, so
/// a deep document must never become a tree.
bool json_depth_within(std::string_view text, int max_depth);

/// Parses `text` when it is valid JSON no deeper than `max_depth`; otherwise
/// returns a discarded value and sets `too_deep` when depth was the reason.
/// The tree is nlohmann's, read with simdjson where it can (common/simd_json.h).
nlohmann::json parse_json_bounded(std::string_view text, int max_depth, bool* too_deep = nullptr);

/// Characters that must never reach an id, a path or a log line unescaped:
/// C0 and C1 controls, DEL, U+2028/U+2029 (line and paragraph separators),
/// and the Unicode bidirectional formatting
/// characters (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069),
/// which can make a log line or a screen show text in another order than it
/// is stored (CVE-2021-42574, "Trojan Source"). Expects valid UTF-8.
bool has_unsafe_characters(std::string_view utf8);

/// Whether `utf8` can serve as an id in a URL path and on a screen: valid
/// UTF-8, no unsafe character (above), no white space (ASCII or Unicode, so
/// an id cannot look like another) and none of `/ \ ? # %`.
bool is_plain_token(std::string_view utf8);

/// `text` with every unsafe character (above) and every invalid UTF-8 byte
/// written as a visible escape (\n, \t, \u001b, \u202e, \xff), so one log
/// entry stays one line and shows what it holds.
std::string escape_unsafe(std::string_view text);

/// At most `max_bytes` of `text`, cut where no UTF-8 sequence is split.
std::string utf8_prefix(std::string_view text, size_t max_bytes);

/// Whether the bytes are valid UTF-8 (no overlong forms or surrogates).
bool is_utf8(std::string_view bytes);

}  // namespace stagewise
