#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

// Matching people and institutions by name (DESIGN.md §12): the comparison
// key of a name, ORCID recognition, and a safe excerpt of user text for
// messages. Pure functions; thread-safe; none throws (except std::bad_alloc).
namespace stagewise::reviews {

/// The comparison key of a person's or an institution's name: two names are
/// "the same" when their keys are equal (and not empty). Unicode NFD,
/// combining marks (general category Mn) dropped, full case folding
/// ("Straße" and "STRASSE" agree), then every run of separators becomes one
/// space and the ends are trimmed. Separators: whitespace (Unicode
/// White_Space), '.', ',', '\'', '-', and also U+2018/U+2019 (typographic
/// apostrophes, as in "O’Brien") and the other dashes (category Pd).
/// So "José  Álvarez-López" and "jose alvarez lopez" have the same key.
/// Invalid UTF-8 is never an error: such a string is folded byte-wise
/// (ASCII letters lower-cased, the ASCII separators mapped as above).
/// Letters that carry no decomposable accent stay distinct ("ł" is not "l").
std::string fold_name(std::string_view utf8);

/// The ORCID iD in `s`, normalised to its bare form "dddd-dddd-dddd-dddX"
/// (check character upper-case), or nullopt when `s` is not one. Accepts the
/// bare form and the prefixes "https://orcid.org/", "http://orcid.org/" and
/// "orcid.org/" (prefix case-insensitive), with surrounding ASCII whitespace.
/// The check digit is not verified: a mistyped iD is still an iD, so it can
/// never silently fall back to matching by name.
std::optional<std::string> orcid_of(std::string_view s);

/// `s` made fit for a one-line message: at most `max_bytes` bytes (cut on a
/// character boundary, "..." appended when cut), invalid UTF-8 bytes shown as
/// '?', control characters as ' '. The result is always valid UTF-8, so it
/// can be serialised to JSON. `max_bytes` below 4 is taken as 4.
std::string excerpt(std::string_view s, std::size_t max_bytes = 80);

}  // namespace stagewise::reviews
