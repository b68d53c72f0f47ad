// Stored values: any bytes read from the store either decode or are refused
// (never a crash, however corrupt), and what decodes re-encodes to a fixed
// point: decode -> encode -> decode -> encode gives the same bytes.

#include "check.h"
#include "store/codec.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace stagewise;
using namespace stagewise::store;

template <class V>
void round_trip(std::string_view in) {
  V first;
  if (!codec::decode(in, first)) return;
  std::string once;
  codec::encode(once, first);
  V second;
  FUZZ_CHECK(codec::decode(once, second), "a decoded value re-encodes to bytes that do not decode");
  std::string twice;
  codec::encode(twice, second);
  FUZZ_CHECK(once == twice, "decode -> encode is not a fixed point");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // The store picks the decoder by the tag byte; every decoder must refuse
  // another kind's bytes cleanly, so all four read every input.
  round_trip<workflow::Application>(in);
  round_trip<HistoryEntry>(in);
  round_trip<OutboxRecord>(in);
  round_trip<TimerRecord>(in);
  return 0;
}
