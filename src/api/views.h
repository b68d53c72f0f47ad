#pragma once

#include "store/store.h"
#include "workflow/engine.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <vector>

/// The JSON shapes users see, shared by the HTTP API and the CLI reading a
/// data dir directly, so both answer alike (DESIGN.md §10).
namespace stagewise::api {

/// GET /v1/applications/{id}, with its pending deadlines and reminders.
nlohmann::json application_view(const workflow::Application& app,
                                const std::vector<store::TimerRecord>& timers = {});
/// One pending timer, as listed by the API.
nlohmann::json timer_view(const store::TimerRecord& t);
/// GET /v1/applications/{id}/history
nlohmann::json history_view(const std::vector<store::HistoryEntry>& entries);
/// An erased application's view (application_view or history_view, after
/// any redaction): its personal fields, and its history's event data, read
/// "erased" (DESIGN.md §14). Nothing changes when `erased` is false.
inline constexpr const char* kErasedValue = "erased";
nlohmann::json erased_view(nlohmann::json view, bool erased);
/// GET /v1/workflows
nlohmann::json workflows_view(const workflow::Registry& registry);
/// GET /v1/programs/{program}/funnel
nlohmann::json funnel_view(const workflow::Workflow& wf,
                           const std::map<std::string, uint64_t>& counts);
/// A kept dead letter: GET /v1/deadletters lists them without the original,
/// GET /v1/deadletters/{id} gives it whole ("value", base64 with
/// "encoding": "base64" when it is not UTF-8).
nlohmann::json dead_letter_view(const store::DeadLetter& d, bool with_original);
/// GET /v1/outbox/parked
nlohmann::json parked_view(const store::ParkedRecord& p);
/// {"error": {"code", "message"}}
nlohmann::json error_view(const std::string& code, const std::string& message);

}  // namespace stagewise::api
