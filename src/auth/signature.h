#pragma once

#include "common/cloudevent.h"

#include <string>
#include <string_view>

namespace stagewise::auth {

/// The extension attributes stagewise's own producers (the HTTP intake, the
/// timers) add to an event: who was authenticated, and an HMAC-SHA256 over
/// the event's identity, actor, principal and data under the internal key.
/// A Kafka producer without the key cannot make an event pass for one of
/// stagewise's own, nor change the data of one in flight.
inline constexpr std::string_view kAuthSub = "authsub";
inline constexpr std::string_view kAuthRole = "authrole";
inline constexpr std::string_view kAuthSig = "authsig";

/// The signature of `e` as it stands (its authsub/authrole included).
std::string event_signature(std::string_view key, const CloudEvent& e);

/// Whether `e` carries a valid signature under `key`.
bool signature_valid(std::string_view key, const CloudEvent& e);

}  // namespace stagewise::auth
