#include "api/views.h"

#include "common/json_limits.h"
#include "common/time.h"
#include "processor/outputs.h"
#include "store/workflow_versions.h"

namespace stagewise::api {

using nlohmann::json;

json timer_view(const store::TimerRecord& t) {
  const bool reminder = t.timer.kind == workflow::Timer::Kind::reminder;
  const bool deadline = t.timer.kind == workflow::Timer::Kind::deadline;
  json j = {{"application", t.application},
            {"program", t.program},
            {"kind", deadline   ? "deadline"
                     : reminder ? "reminder"
                                : "retention"},
            {"stage", t.timer.stage},
            {"due", format_rfc3339_ms(t.timer.due_ms)}};
  if (reminder) {
    j["recipient"] = t.timer.recipient;
    j["template"] = t.timer.template_name;
  }
  return j;
}

json application_view(const workflow::Application& app,
                      const std::vector<store::TimerRecord>& timers) {
  json j = {{"id", app.id},
            {"program", app.program},
            {"workflow_version", app.workflow_version},
            {"stage", app.stage},
            {"stage_entered_at", format_rfc3339_ms(app.stage_entered_ms)},
            {"sequence", app.sequence},
            {"created_at", format_rfc3339_ms(app.created_ms)},
            {"updated_at", format_rfc3339_ms(app.updated_ms)}};
  for (const auto& [k, v] : app.facts.items()) j[k] = v;
  json pending = json::array();
  for (const auto& t : timers) pending.push_back(timer_view(t));
  j["deadlines"] = std::move(pending);
  return j;
}

json erased_view(json view, bool erased) {
  if (!erased) return view;
  if (view.contains("profile")) view["profile"] = kErasedValue;
  if (view.contains("notes")) view["notes"] = kErasedValue;
  if (auto d = view.find("documents"); d != view.end() && d->is_array())
    for (auto& doc : *d)
      if (doc.is_object()) doc["name"] = kErasedValue;
  if (auto h = view.find("events"); h != view.end() && h->is_array())
    for (auto& e : *h)
      if (e.is_object() && e.contains("data") && e.value("type", "") != "application.erased")
        e["data"] = kErasedValue;
  return view;
}

namespace {
json bytes_view(const std::string& bytes) {
  if (is_utf8(bytes)) return {{"value", bytes}};
  return {{"value", processor::base64(bytes)}, {"encoding", "base64"}};
}
}  // namespace

json dead_letter_view(const store::DeadLetter& d, bool with_original) {
  json j = {{"id", d.id},
            {"reason", d.reason},
            {"message", d.message},
            {"event_id", d.event_id.empty() ? json() : json(d.event_id)},
            {"application", d.subject.empty() ? json() : json(d.subject)},
            {"source", {{"topic", d.topic}, {"partition", d.partition}, {"offset", d.offset}}},
            {"time", format_rfc3339_ms(d.time_ms)},
            {"length", d.length},
            {"sha256", d.sha256},
            {"kept", d.kept}};
  if (!with_original) return j;
  json original = d.kept ? bytes_view(d.original) : json::object();
  original["key"] = bytes_view(d.key)["value"];
  json headers = json::object();
  for (const auto& [k, v] : d.headers)
    headers[is_utf8(k) ? k : processor::base64(k)] = bytes_view(v)["value"];
  original["headers"] = std::move(headers);
  j["original"] = std::move(original);
  return j;
}

json parked_view(const store::ParkedRecord& p) {
  json j = {{"seq", p.seq},
            {"topic", p.record.topic},
            {"key", p.record.key},
            {"reason", p.reason},
            {"time", format_rfc3339_ms(p.time_ms)},
            {"length", p.record.value.size()}};
  j.update(bytes_view(p.record.value));
  return j;
}

json history_view(const std::vector<store::HistoryEntry>& entries) {
  json events = json::array();
  for (const auto& h : entries) {
    json e = {{"sequence", h.sequence},
              {"id", h.id},
              {"type", h.type},
              {"time", h.time},
              {"from", h.from ? json(*h.from) : json()},
              {"to", h.to},
              {"source", h.source},
              {"actorid", h.actorid},
              {"actorrole", h.actorrole},
              {"transition", h.transition >= 0 ? json(h.transition) : json()}};
    if (!h.data.is_null()) e["data"] = h.data;
    if (!h.note.empty()) e["note"] = h.note;
    // Who was authenticated: the token's sub and role (for the HTTP intake;
    // stagewise's own for its timers); events from a Kafka producer are
    // vouched for by their source.
    if (!h.authsub.empty()) {
      e["authsub"] = h.authsub;
      e["authrole"] = h.authrole;
    }
    events.push_back(std::move(e));
  }
  return {{"events", std::move(events)}};
}

json workflows_view(const workflow::Registry& registry) {
  json programs = json::object();
  for (const auto* wf : registry.all()) {
    json& p = programs[wf->program];
    if (p.is_null()) p = {{"program", wf->program}, {"versions", json::array()}};
    p["title"] = wf->title;  // the latest version's title wins
    p["latest"] = wf->version;
    json states = json::array();
    for (const auto& name : wf->state_order) states.push_back(name);
    p["versions"].push_back({{"version", wf->version},
                             {"title", wf->title},
                             {"file", wf->file},
                             {"initial", wf->initial},
                             {"states", states},
                             {"transitions", wf->transitions.size()},
                             {"sha256", store::workflow_fingerprint(*wf)}});
  }
  json list = json::array();
  for (auto& [name, p] : programs.items()) list.push_back(std::move(p));
  return {{"workflows", std::move(list)}};
}

json funnel_view(const workflow::Workflow& wf, const std::map<std::string, uint64_t>& counts) {
  json stages = json::array();
  uint64_t total = 0;
  for (const auto& name : wf.state_order) {
    const workflow::State& st = wf.states.at(name);
    const auto it = counts.find(name);
    const uint64_t n = it == counts.end() ? 0 : it->second;
    total += n;
    stages.push_back({{"stage", name}, {"terminal", st.terminal}, {"count", n}});
  }
  return {{"program", wf.program}, {"total", total}, {"stages", std::move(stages)}};
}

json error_view(const std::string& code, const std::string& message) {
  return {{"error", {{"code", code}, {"message", message}}}};
}

}  // namespace stagewise::api
