#include "common/partition.h"

#include <zlib.h>

namespace stagewise {

int32_t partition_of(std::string_view application_id, int32_t partitions) {
  // zlib's crc32 is the IEEE CRC-32 librdkafka's rd_crc32 computes; a test
  // checks that both pick the same partition.
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* bytes = reinterpret_cast<const Bytef*>(application_id.data());
  size_t left = application_id.size();
  while (left > 0) {  // zlib takes a uInt length
    const uInt n = left > (1u << 30) ? (1u << 30) : static_cast<uInt>(left);
    crc = crc32(crc, bytes, n);
    bytes += n;
    left -= n;
  }
  return static_cast<int32_t>(static_cast<uint32_t>(crc) % static_cast<uint32_t>(partitions));
}

}  // namespace stagewise
