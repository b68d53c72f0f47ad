// Kafka intake: any value and headers decode to an event or a DecodeError,
// and a decoded event survives what the processor does with it next.

#include "check.h"
#include "common/cloudevent.h"
#include "framing.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

namespace {

using namespace stagewise;

void same_event(const CloudEvent& a, const CloudEvent& b) {
  FUZZ_CHECK(a.id == b.id && a.source == b.source && a.type == b.type && a.subject == b.subject &&
                 a.time == b.time && a.time_ms == b.time_ms && a.program == b.program &&
                 a.actorid == b.actorid && a.actorrole == b.actorrole &&
                 a.datacontenttype == b.datacontenttype && a.data == b.data,
             "an event re-read from its structured form differs");
}

void use(const DecodeResult& result, const fuzz::Message& m, const EnvelopeLimits& limits) {
  const auto* e = std::get_if<CloudEvent>(&result);
  if (e == nullptr) return;
  // Re-publishing writes the structured form: it must read back as the same event.
  const std::string text = to_json(*e).dump();
  const DecodeResult again = decode_structured(text, limits);
  const auto* back = std::get_if<CloudEvent>(&again);
  FUZZ_CHECK(back != nullptr, "the structured form of a decoded event does not decode");
  same_event(*e, *back);
  const TimeWindow window;
  (void)check_time(*e, m.timestamp.value_or(e->time_ms), window);
  (void)check_time(*e, 1'790'000'000'000, window);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const fuzz::Message m = fuzz::split_message(in);
  const EnvelopeLimits defaults;
  use(decode_kafka(m.headers, m.value, defaults), m, defaults);
  use(decode_structured(m.value, defaults), m, defaults);
  // Tight limits reach the length and depth checks with short inputs.
  const EnvelopeLimits tight{
      .max_depth = 3, .max_id_bytes = 8, .max_subject_bytes = 6, .max_name_bytes = 12};
  use(decode_kafka(m.headers, m.value, tight), m, tight);
  return 0;
}
