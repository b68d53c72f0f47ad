#pragma once

// The hot path's JSON reader: simdjson (Debian libsimdjson-dev) parses an
// input event several times faster than nlohmann's lexer, and the envelope's
// attributes are read straight from its document without building a tree;
// only the member that must stay JSON (an event's `data`) becomes one.
//
// Both functions accept exactly what nlohmann accepts, or refuse: on any
// input simdjson does not read (invalid JSON, a number outside 64 bits, a
// byte-order mark) or that is over 64 KiB (what a parser keeps per thread
// is bounded so), they answer "no" and the caller parses with nlohmann,
// which gives the precise error or the same value (tests/fuzz/fuzz_envelope
// checks the two agree). Callers check depth first (json_depth_within).

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>
#include <vector>

namespace stagewise::simd {

/// One member of a JSON object, as the envelope decoder reads it.
struct Member {
  enum class Kind { null, string, other };
  std::string_view key;
  Kind kind = Kind::other;
  std::string_view text;  ///< the value, when a string
  nlohmann::json tree;    ///< the value as a tree, only for the member named `tree_key`
};

/// The members of `text` when it is a JSON object simdjson reads, in
/// document order (duplicates included); false otherwise. The views stay
/// valid until the next call on this thread.
bool object_members(std::string_view text, std::string_view tree_key, std::vector<Member>& out);

/// `text` as a tree, as nlohmann::json::parse would build it (non-negative
/// integers unsigned, a repeated key's last value); nullopt when simdjson
/// does not read it.
std::optional<nlohmann::json> parse(std::string_view text);

}  // namespace stagewise::simd
