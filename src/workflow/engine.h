#pragma once

#include "common/cloudevent.h"
#include "common/reasons.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace stagewise::workflow {

/// Where one application stands, and what it has accumulated.
/// A stage an application has been in (DESIGN.md §13, the reports): when
/// it first entered it, how long its stays there lasted in all (the stay
/// in progress is not counted until it ends), how many times it entered.
struct StageStay {
  std::string stage;
  int64_t first_ms = 0;
  int64_t spent_ms = 0;
  uint32_t visits = 0;
  bool operator==(const StageStay&) const = default;
};

struct Application {
  std::string id;
  std::string program;
  int workflow_version = 0;
  std::string stage;
  int64_t stage_entered_ms = 0;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  uint64_t sequence = 0;  ///< number of events applied to it; the last history entry's sequence
  /// profile, documents, reviews, reviewers, interview, decision, offer,
  /// onboarding, reports, withdrawal, notes: see workflows/README.md.
  nlohmann::json facts = nlohmann::json::object();
  /// Every stage entered, in the order first entered (bounded by the
  /// workflow's stages). Empty for applications stored before it existed.
  std::vector<StageStay> stays;
  /// Voluntary self-identification (self_identification.h): kept apart from
  /// the facts, which are what views show; used only in aggregates.
  nlohmann::json self_identification = nlohmann::json::object();
  /// The audit's head (DESIGN.md §14): the chain hash of the last history
  /// entry, 32 bytes, empty before the first sealed one. The store keeps
  /// it; the engine carries it over unchanged.
  std::string history_head;

  bool operator==(const Application&) const = default;
};

/// Whether `application.erased` was applied to it (DESIGN.md §14): its
/// personal data is gone, its stages and times stay.
inline bool is_erased(const Application& app) {
  return app.facts.contains("erased");
}

nlohmann::json to_json(const Application& a);
/// Inverse of to_json; throws nlohmann::json::exception on a malformed value.
Application application_from_json(const nlohmann::json& j);

struct Notification {
  std::string recipient;
  std::string template_name;
  std::string stage;
  int64_t due_ms = 0;  ///< the stage's deadline, 0 when it has none
};

/// A timer to keep for an application while it stays in a stage: its
/// deadline (fires `stage.deadline_passed`) or a reminder (a notification).
struct Timer {
  /// retention: erases the application (DESIGN.md §14, Workflow::retention).
  enum class Kind { deadline, reminder, retention };
  Kind kind = Kind::deadline;
  int index = 0;  ///< the reminder's position in the stage's list; 0 for the deadline
  int64_t due_ms = 0;
  std::string stage;
  int64_t stage_entered_ms = 0;  ///< identifies this stay in the stage
  std::string recipient;         ///< reminders
  std::string template_name;     ///< reminders
  int64_t deadline_ms = 0;       ///< reminders: the stage's deadline, 0 when none
};

/// The event was applied: `next` is the new state (sequence advanced).
struct Applied {
  Application next;
  std::optional<std::string> from;  ///< nullopt when the event created the application
  std::string to;
  bool moved = false;
  int transition = -1;  ///< index of the transition that fired, -1 when none
  std::vector<Notification> notifications;
  /// The application entered a stage: its earlier timers are void, `timers`
  /// are the new stage's.
  bool reset_timers = false;
  std::vector<Timer> timers;
  /// Why nothing moved, when that needs saying (e.g. a stale deadline).
  std::string note;
};

/// The deadline event a timer fires; `stage.deadline_passed` whose data
/// names the stay it was set for, so a late one is recognised as stale.
CloudEvent deadline_event(const Application& app, const Timer& timer, int64_t fired_ms);
/// The erasure a retention timer fires: `application.erased` from the
/// system, at the timer's due time, with an id that names it.
CloudEvent retention_event(const Application& app, const Timer& timer, int64_t fired_ms);

struct Rejected {
  Reason reason;
  std::string message;
};

using Outcome = std::variant<Applied, Rejected>;

/// What one application may accumulate: each list fact (documents, notes,
/// reports, reviews, reviewers) holds at most `max_list_items`; an event
/// that would add one more is rejected as invalid_data.
struct Limits {
  size_t max_list_items = 200;
};

/// Reviewer profiles (reference data, DESIGN.md §12) the engine checks a
/// reviewer's conflicts of interest against when it is assigned. The
/// processor passes its reviewer pool; without one only the applicant's
/// declared conflicts are checked.
class ReviewerDirectory {
 public:
  virtual ~ReviewerDirectory() = default;
  /// The reviewer's profile; nullptr when unknown. Valid during the call
  /// to apply() it is consulted in.
  virtual const nlohmann::json* profile(const std::string& reviewer) const = 0;
};

/// Applies one event. Pure: no clock, no I/O; time is the event's time.
/// `current` is nullptr for an unknown application. Picks the workflow:
/// the latest version of the event's program for a new application, the
/// application's own version otherwise. Never throws.
Outcome apply(const Registry& registry, const Application* current, const CloudEvent& event,
              const Limits& limits = {}, const ReviewerDirectory* reviewers = nullptr);

/// Applies one event with a known workflow (same contract as above).
Outcome apply(const Workflow& wf, const Application* current, const CloudEvent& event,
              const Limits& limits = {}, const ReviewerDirectory* reviewers = nullptr);

/// Applies one event to an application the caller gives up: the same
/// outcome as above, without copying the application (an accepted event
/// changes it and moves it into Applied::next). `current` is unspecified
/// after the call, whatever the outcome: keep another copy (the store's)
/// to fall back on when the event is rejected.
Outcome apply(const Registry& registry, Application&& current, const CloudEvent& event,
              const Limits& limits = {}, const ReviewerDirectory* reviewers = nullptr);
Outcome apply(const Workflow& wf, Application&& current, const CloudEvent& event,
              const Limits& limits = {}, const ReviewerDirectory* reviewers = nullptr);

/// The document guards are evaluated against (DESIGN.md §6); with `needs`,
/// only the members it lists (the engine passes the workflow's guard_reads).
nlohmann::json guard_context(const Workflow& wf, const Application& app, const CloudEvent& event,
                             const ContextNeeds* needs = nullptr);

/// The review aggregate guards see as application.reviews.
nlohmann::json review_aggregate(const Workflow& wf, const Application& app);

}  // namespace stagewise::workflow
