#include "store/detail/packing.h"

#include "store/codec.h"

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
  codec::Writer w(out);
  w.u8(kPacked);
  w.varint(plain.size());
  const size_t n = out.size();
  out.resize(n + static_cast<size_t>(bound));
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
  codec::Reader r(std::string_view(plain).substr(1));
  const uint64_t size = r.varint();
  const std::string_view block = r.rest();
  if (!r.ok() || size > kMaxUnpacked) return std::nullopt;
  std::string out(size, '\0');
  const int got = LZ4_decompress_safe(block.data(), out.data(), static_cast<int>(block.size()),
                                      static_cast<int>(size));
  if (got < 0 || static_cast<uint64_t>(got) != size) return std::nullopt;
  return out;
}

}  // namespace stagewise::store::detail
