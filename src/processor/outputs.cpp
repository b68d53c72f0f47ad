#include "processor/outputs.h"

#include "common/digest.h"
#include "common/json_limits.h"
#include "common/json_out.h"
#include "common/time.h"

#include <utility>

namespace stagewise::processor {
namespace {

using nlohmann::json;

const Headers kCloudEventHeaders = {{"content-type", "application/cloudevents+json"}};

json envelope(std::string_view id, std::string_view type, std::string_view subject,
              const std::string& time, json data) {
  json e = {{"specversion", "1.0"},   {"id", id},     {"source", kSource},
            {"type", type},           {"time", time}, {"datacontenttype", "application/json"},
            {"data", std::move(data)}};
  if (!subject.empty()) e["subject"] = subject;
  return e;
}

store::OutboxRecord record(const std::string& topic, std::string key, const json& event) {
  store::OutboxRecord r;
  r.topic = topic;
  r.key = std::move(key);
  r.value = event.dump();
  r.headers = kCloudEventHeaders;
  return r;
}

}  // namespace

// The two outputs of nearly every event are written directly (JsonOut), in
// the sorted key order of nlohmann::json::dump(), so they are byte for byte
// what building and dumping the object would give.
namespace {

void cause_out(JsonOut& o, const CloudEvent& cause) {
  o.key("cause").begin();
  o.key("actorid").str_or_null(cause.actorid);
  o.key("id").str(cause.id);
  o.key("type").str(cause.type);
  o.end();
}

// The envelope up to data's first members (application, cause), then after
// data's last.
void envelope_head(JsonOut& o, std::string_view application, const CloudEvent& cause) {
  o.begin();
  o.key("data").begin();
  o.key("application").str(application);
  cause_out(o, cause);
}
void envelope_tail(JsonOut& o, std::string_view id, std::string_view type, std::string_view subject,
                   std::string_view program, std::string_view time) {
  o.end();  // data
  o.key("datacontenttype").str("application/json");
  o.key("id").str(id);
  o.key("program").str(program);
  o.key("source").str(kSource);
  o.key("specversion").str("1.0");
  o.key("subject").str(subject);
  o.key("time").str(time);
  o.key("type").str(type);
  o.end();
}

store::OutboxRecord direct_record(const std::string& topic, const std::string& key,
                                  std::string value) {
  store::OutboxRecord r;
  r.topic = topic;
  r.key = key;
  r.value = std::move(value);
  r.headers = kCloudEventHeaders;
  return r;
}

}  // namespace

store::OutboxRecord stage_changed(const std::string& topic, const workflow::Applied& a,
                                  const CloudEvent& cause) {
  const auto& app = a.next;
  const std::string id = app.id + "/" + std::to_string(app.sequence) + "/stage_changed";
  std::string v;
  JsonOut o(v);
  envelope_head(o, app.id, cause);
  o.key("from").str_or_null(a.from.value_or(""));
  o.key("program").str(app.program);
  o.key("sequence").num(static_cast<int64_t>(app.sequence));
  o.key("to").str(a.to);
  o.key("workflow_version").num(app.workflow_version);
  envelope_tail(o, id, kStageChanged, app.id, app.program, cause.time);
  return direct_record(topic, app.id, std::move(v));
}

store::OutboxRecord erased_notice(const std::string& topic, const workflow::Applied& a,
                                  const CloudEvent& cause) {
  const auto& app = a.next;
  const std::string id = app.id + "/" + std::to_string(app.sequence) + "/erased";
  std::string v;
  JsonOut o(v);
  envelope_head(o, app.id, cause);
  o.key("program").str(app.program);
  o.key("sequence").num(static_cast<int64_t>(app.sequence));
  o.key("stage").str(app.stage);
  envelope_tail(o, id, kErasedNotice, app.id, app.program, cause.time);
  return direct_record(topic, app.id, std::move(v));
}

store::OutboxRecord notification(const std::string& topic, const workflow::Applied& a,
                                 const workflow::Notification& n, size_t index,
                                 const CloudEvent& cause) {
  const auto& app = a.next;
  const std::string id =
      app.id + "/" + std::to_string(app.sequence) + "/notification/" + std::to_string(index);
  std::string v;
  JsonOut o(v);
  envelope_head(o, app.id, cause);
  o.key("due").str_or_null(n.due_ms ? format_rfc3339_ms(n.due_ms) : "");
  o.key("program").str(app.program);
  o.key("recipient").str(n.recipient);
  o.key("stage").str(n.stage);
  o.key("template").str(n.template_name);
  envelope_tail(o, id, kNotification, app.id, app.program, cause.time);
  return direct_record(topic, app.id, std::move(v));
}

store::HistoryEntry history_entry(const workflow::Applied& applied, const CloudEvent& ev,
                                  const std::string& topic, int32_t partition, int64_t offset) {
  store::HistoryEntry h;
  h.sequence = applied.next.sequence;
  h.id = ev.id;
  h.source = ev.source;
  h.type = ev.type;
  h.time = ev.time;
  h.actorid = ev.actorid;
  h.actorrole = ev.actorrole;
  h.authsub = ev.authsub;
  h.authrole = ev.authrole;
  h.from = applied.from;
  h.to = applied.to;
  h.transition = applied.transition;
  h.note = applied.note;
  h.data = ev.data;
  h.topic = topic;
  h.partition = partition;
  h.offset = offset;
  return h;
}

store::HistoryEntry history_entry(const workflow::Applied& applied, CloudEvent&& ev,
                                  const std::string& topic, int32_t partition, int64_t offset) {
  nlohmann::json data = std::move(ev.data);
  ev.data = nullptr;
  store::HistoryEntry h = history_entry(applied, std::as_const(ev), topic, partition, offset);
  h.data = std::move(data);
  return h;
}

store::OutboxRecord reminder(const std::string& topic, const store::TimerRecord& t,
                             int64_t now_ms) {
  const auto& tm = t.timer;
  const std::string id = t.application + "/reminder/" + tm.stage + "/" +
                         std::to_string(tm.stage_entered_ms) + "/" + std::to_string(tm.index);
  json data = {{"application", t.application},
               {"program", t.program},
               {"recipient", tm.recipient},
               {"template", tm.template_name},
               {"stage", tm.stage},
               {"due", tm.deadline_ms ? json(format_rfc3339_ms(tm.deadline_ms)) : json()},
               {"reminder_due", format_rfc3339_ms(tm.due_ms)},
               {"cause", {{"id", nullptr}, {"type", "reminder"}, {"actorid", nullptr}}}};
  json e = envelope(id, kNotification, t.application, format_rfc3339_ms(now_ms), std::move(data));
  e["program"] = t.program;
  return record(topic, t.application, e);
}

namespace {

// At most `max` bytes of `bytes`: as text unless it is not UTF-8 or JSON
// escaping would make it larger than base64 (a control byte takes six
// characters); `base64` tells which.
std::string excerpt(std::string_view bytes, size_t max, bool& base64_encoded) {
  const std::string cut = utf8_prefix(bytes, max);
  size_t escaped = 0;
  for (const unsigned char c : cut) escaped += c < 0x20 ? 6 : 1;
  base64_encoded = !is_utf8(cut) || escaped > cut.size() + cut.size() / 3;
  return base64_encoded ? base64(bytes.substr(0, std::min(bytes.size(), max))) : std::string(cut);
}

}  // namespace

Rejection dead_letter(const std::string& topic, const InputRef& in, Reason reason,
                      const std::string& message, const std::string& event_id,
                      const std::string& subject, int64_t now_ms, const DeadLetterLimits& limits) {
  constexpr size_t kSmall = 1024, kMaxHeaders = 64;
  const std::string id = "deadletter/" + in.topic + "/" + std::to_string(in.partition) + "/" +
                         std::to_string(in.offset);
  json original = json::object();
  json headers = json::object();
  if (in.headers != nullptr)
    for (size_t i = 0; i < in.headers->size() && i < kMaxHeaders; ++i) {
      const auto& [k, v] = (*in.headers)[i];
      headers[is_utf8(k) ? std::string(utf8_prefix(k, 256)) : base64(k.substr(0, 256))] =
          is_utf8(v) ? json(std::string(utf8_prefix(v, kSmall)))
                     : json(base64(v.substr(0, kSmall)));
    }
  original["headers"] = std::move(headers);
  bool b64 = false;
  // An erased application's inputs may carry the personal data it lost:
  // neither published nor kept (DESIGN.md §14).
  const bool withheld = reason == Reason::application_erased;
  original["value"] = withheld ? json() : json(excerpt(in.value, limits.excerpt_bytes, b64));
  if (withheld) original["withheld"] = "the application was erased";
  if (b64 && !withheld) original["encoding"] = "base64";
  if (!in.key.empty()) {
    original["key"] = excerpt(in.key, kSmall, b64);
    if (b64) original["key_encoding"] = "base64";
  }
  original["length"] = in.value.size();
  const std::string digest = sha256_hex(in.value);
  original["sha256"] = digest;
  original["truncated"] = in.value.size() > limits.excerpt_bytes;
  json data = {
      {"reason", reason_code(reason)},
      {"message", message},
      {"event_id", event_id.empty() ? json() : json(event_id)},
      {"source", {{"topic", in.topic}, {"partition", in.partition}, {"offset", in.offset}}},
      {"original", std::move(original)}};
  json e = envelope(id, kRejected, is_utf8(subject) ? subject : "", format_rfc3339_ms(now_ms),
                    std::move(data));
  Rejection out;
  out.record = record(topic, std::string(in.key), e);
  store::DeadLetter& d = out.kept;
  d.id = id;
  d.reason = std::string(reason_code(reason));
  d.message = message;
  d.event_id = event_id;
  d.subject = subject;
  d.topic = in.topic;
  d.partition = in.partition;
  d.offset = in.offset;
  d.time_ms = now_ms;
  d.length = in.value.size();
  d.sha256 = digest;
  d.key = std::string(in.key);
  if (in.headers != nullptr && !withheld) d.headers = *in.headers;
  d.kept = !withheld && in.value.size() <= limits.keep_bytes;
  if (d.kept) d.original = std::string(in.value);
  return out;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n =
        (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63],
            kAlphabet[n & 63]};
  }
  if (i < bytes.size()) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= uint8_t(bytes[i + 1]) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace stagewise::processor
