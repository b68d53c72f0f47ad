#pragma once

// Compression of what is sealed (DESIGN.md §14, docs/audit.md
// "Encryption"). Ciphertext does not compress, so RocksDB's block
// compression gains nothing on sealed values: they are compressed here,
// before sealing. A packed plaintext starts with kPacked (0xc1, never the
// first byte of msgpack nor of a tagged store encoding), then the size of
// the original as a varint, then an LZ4 block; a plaintext that starts with
// anything else is the original itself (short values, values written
// before packing existed, values LZ4 cannot shorten).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stagewise::store::detail {

inline constexpr uint8_t kPacked = 0xc1;
/// Larger originals are refused on unpacking (a bound on what one corrupt
/// size field can make the reader allocate); values are far smaller.
inline constexpr size_t kMaxUnpacked = size_t{256} << 20;

/// `plain` packed into `out` (replaced) when that makes it shorter, else
/// copied as is.
void pack(std::string& out, std::string_view plain);

/// The original of a plaintext pack() made; nullopt when it is packed but
/// malformed.
std::optional<std::string> unpack(std::string&& plain);

}  // namespace stagewise::store::detail
