#include "store/detail/packing.h"

#include <lz4.h>

namespace stagewise::store::detail {
namespace {
// Below this, the size field and LZ4's literal run outweigh what it finds.
constexpr size_t kMinPacked = 96;
}  // namespace

void pack(std::string& out, std::string_view plain) {
  out.clear();
  if (plain.size() < kMinPacked || plain.size() > kMaxUnpacked) {
    out.assign(plain);
    return;
  }
  const int bound = LZ4_compressBound(static_cast<int>(plain.size()));
  out.resize(1 + 10 + static_cast<size_t>(bound));
  size_t n = 0;
  out[n++] = static_cast<char>(kPacked);
  for (uint64_t v = plain.size();; v >>= 7) {
    out[n++] = static_cast<char>((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    if (v < 0x80) break;
  }
  const int z =
      LZ4_compress_default(plain.data(), out.data() + n, static_cast<int>(plain.size()), bound);
  if (z <= 0 || n + static_cast<size_t>(z) >= plain.size()) {
    out.assign(plain);
    return;
  }
  out.resize(n + static_cast<size_t>(z));
}

std::optional<std::string> unpack(std::string&& plain) {
  if (plain.empty() || static_cast<uint8_t>(plain[0]) != kPacked) return std::move(plain);
  uint64_t size = 0;
  size_t n = 1;
  for (int shift = 0;; shift += 7) {
    if (n >= plain.size() || shift > 63) return std::nullopt;
    const auto b = static_cast<uint8_t>(plain[n++]);
    size |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  if (size > kMaxUnpacked) return std::nullopt;
  std::string out(size, '\0');
  const int got = LZ4_decompress_safe(plain.data() + n, out.data(),
                                      static_cast<int>(plain.size() - n), static_cast<int>(size));
  if (got < 0 || static_cast<uint64_t>(got) != size) return std::nullopt;
  return out;
}

}  // namespace stagewise::store::detail
