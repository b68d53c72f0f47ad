#include "cli/processor_options.h"

namespace stagewise::cli {

processor::Options processor_options(const Config& cfg, const std::string& internal_key) {
  processor::Options o;
  o.group_id = cfg.kafka.group_id;
  o.batch_max_events = cfg.processor.batch_max_events;
  o.batch_max_ms = cfg.processor.batch_max_ms;
  o.cache_applications = cfg.processor.cache_applications;
  o.max_event_bytes = cfg.processor.max_event_bytes;
  o.envelope.max_depth = cfg.processor.max_json_depth;
  o.time_window = {cfg.processor.max_clock_skew.ms, cfg.processor.max_backdate.ms};
  o.engine.max_list_items = static_cast<size_t>(cfg.processor.max_list_items);
  o.max_application_bytes = static_cast<size_t>(cfg.processor.max_application_bytes);
  o.dead_letters = {static_cast<size_t>(cfg.processor.deadletter_excerpt_bytes),
                    static_cast<size_t>(cfg.processor.deadletter_keep_bytes)};
  o.cache_bytes = static_cast<uint64_t>(cfg.processor.cache_bytes);
  o.internal_key = internal_key;
  o.trust = auth::InputTrust({internal_key, cfg.security.sources});
  return o;
}

}  // namespace stagewise::cli
