#pragma once

#include <cstdint>
#include <string_view>

namespace stagewise {

/// The input partition an application lives in (DESIGN.md §9): CRC-32 of
/// its id modulo the partition count, exactly what librdkafka's default
/// partitioner (`consistent_random`, for a non-empty key) picks for a
/// message keyed by the id. Every event of an application must arrive in
/// that partition; every process computes it alike, to know who owns what.
/// `partitions` must be positive.
int32_t partition_of(std::string_view application_id, int32_t partitions);

}  // namespace stagewise
