// Kafka intake: any value and headers decode to an event or a DecodeError,
// and a decoded event survives what the processor does with it next.

#include "check.h"
#include "common/cloudevent.h"
#include "common/json_limits.h"
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

bool same_tree(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type() || a != b) return false;
  if (a.is_structured())
    for (auto ai = a.begin(), bi = b.begin(); ai != a.end(); ++ai, ++bi)
      if (!same_tree(*ai, *bi)) return false;
  return true;
}

// Structured events are read with simdjson (common/simd_json.h): the result
// must be what nlohmann's tree gives, error for error, number type for type.
void same_as_nlohmann(std::string_view text, const EnvelopeLimits& limits) {
  if (!json_depth_within(text, limits.max_depth)) return;  // one check, before either parser
  const DecodeResult fast = decode_structured(text, limits);
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto bounded = parse_json_bounded(text, limits.max_depth);
  FUZZ_CHECK(
      bounded.is_discarded() == j.is_discarded() && (j.is_discarded() || same_tree(bounded, j)),
      "a bounded parse (simdjson) and nlohmann read different trees");
  if (j.is_discarded()) {
    const auto* err = std::get_if<DecodeError>(&fast);
    FUZZ_CHECK(err != nullptr && err->reason == Reason::malformed_json,
               "simdjson read text nlohmann does not");
    return;
  }
  const DecodeResult slow = decode_json(j, limits);
  FUZZ_CHECK(fast.index() == slow.index(), "simdjson and nlohmann decode differently");
  if (const auto* a = std::get_if<DecodeError>(&fast)) {
    const auto& b = std::get<DecodeError>(slow);
    FUZZ_CHECK(a->reason == b.reason && a->message == b.message && a->event_id == b.event_id,
               "simdjson and nlohmann refuse differently");
    return;
  }
  const auto& a = std::get<CloudEvent>(fast);
  const auto& b = std::get<CloudEvent>(slow);
  same_event(a, b);
  FUZZ_CHECK(a.authsub == b.authsub && a.authrole == b.authrole && a.authsig == b.authsig &&
                 same_tree(a.data, b.data),
             "simdjson and nlohmann read different attributes or data");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const fuzz::Message m = fuzz::split_message(in);
  const EnvelopeLimits defaults;
  use(decode_kafka(m.headers, m.value, defaults), m, defaults);
  use(decode_structured(m.value, defaults), m, defaults);
  same_as_nlohmann(m.value, defaults);
  // Tight limits reach the length and depth checks with short inputs.
  const EnvelopeLimits tight{
      .max_depth = 3, .max_id_bytes = 8, .max_subject_bytes = 6, .max_name_bytes = 12};
  use(decode_kafka(m.headers, m.value, tight), m, tight);
  return 0;
}
