#pragma once

#include "common/config.h"
#include "processor/processor.h"

#include <string>

namespace stagewise::cli {

/// The processor's options `cfg` gives, as `serve` runs it: batches, cache,
/// limits, time window, dead letters, engine limits, and the input trust
/// (security.sources, events signed with `internal_key`). Kafka properties,
/// topics, group and outputs are the caller's; `replay` decides alike only
/// with the same config and key as the original serve.
processor::Options processor_options(const Config& cfg, const std::string& internal_key);

}  // namespace stagewise::cli
