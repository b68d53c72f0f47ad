#pragma once

#include "common/cloudevent.h"
#include "common/reasons.h"
#include "store/store.h"
#include "workflow/engine.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

/// The output events of DESIGN.md §4, as outbox records. Every id is
/// deterministic so consumers can drop duplicates of an at-least-once relay.
namespace stagewise::processor {

inline constexpr std::string_view kSource = "stagewise";
inline constexpr std::string_view kStageChanged = "stagewise.application.stage_changed";
inline constexpr std::string_view kNotification = "stagewise.notification.requested";
inline constexpr std::string_view kRejected = "stagewise.event.rejected";
inline constexpr std::string_view kErasedNotice = "stagewise.application.erased";

/// `stagewise.application.stage_changed` for an applied event that created
/// the application or moved its stage.
store::OutboxRecord stage_changed(const std::string& topic, const workflow::Applied& applied,
                                  const CloudEvent& cause);

/// `stagewise.application.erased` on the status topic (DESIGN.md §14), so
/// that downstream systems erase their copies: ids and stage only.
store::OutboxRecord erased_notice(const std::string& topic, const workflow::Applied& applied,
                                  const CloudEvent& cause);

/// `stagewise.notification.requested`, the `index`-th of this event.
store::OutboxRecord notification(const std::string& topic, const workflow::Applied& applied,
                                 const workflow::Notification& n, size_t index,
                                 const CloudEvent& cause);

/// The history entry of an applied event read at topic/partition/offset.
/// The same, taking the event's data instead of copying it (the rest of
/// `ev` stays as it was).
store::HistoryEntry history_entry(const workflow::Applied& applied, CloudEvent&& ev,
                                  const std::string& topic, int32_t partition, int64_t offset);
store::HistoryEntry history_entry(const workflow::Applied& applied, const CloudEvent& ev,
                                  const std::string& topic, int32_t partition, int64_t offset);

/// `stagewise.notification.requested` for a due reminder timer.
store::OutboxRecord reminder(const std::string& topic, const store::TimerRecord& timer,
                             int64_t now_ms);

/// Where an input came from (a rejected one's dead letter names it).
struct InputRef {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string_view key;
  std::string_view value;
  const Headers* headers = nullptr;
  int64_t timestamp_ms = -1;  ///< the Kafka message's (when produced); -1 unknown
};

/// How much of a rejected original a dead letter carries and the store keeps.
struct DeadLetterLimits {
  size_t excerpt_bytes = 64 * 1024;  ///< of the value, in the published event
  size_t keep_bytes = 8 << 20;       ///< of the value, in the store
};

/// A rejected input: the `stagewise.event.rejected` event to publish and the
/// record the store keeps.
struct Rejection {
  store::OutboxRecord record;
  store::DeadLetter kept;
};

/// `stagewise.event.rejected` (DESIGN.md §4). Its data carries the original's
/// headers and key (each at most 1 KiB, 64 headers), at most
/// `excerpt_bytes` of its value (UTF-8 text, or base64 with "encoding":
/// "base64" when not text or when escaping would bloat it), its `length`,
/// its `sha256`, and `truncated` when the excerpt is not the whole value:
/// the event stays publishable whatever came in, and the whole original is
/// in the store (GET /v1/deadletters/{id}). The id derives from topic,
/// partition and offset.
Rejection dead_letter(const std::string& topic, const InputRef& input, Reason reason,
                      const std::string& message, const std::string& event_id,
                      const std::string& subject, int64_t now_ms,
                      const DeadLetterLimits& limits = {});

/// Base64 (RFC 4648, with padding).
std::string base64(std::string_view bytes);

}  // namespace stagewise::processor
