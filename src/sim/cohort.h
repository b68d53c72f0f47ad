#pragma once

#include "workflow/workflow.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

/// A deterministic, seeded cohort generator for any workflow (the demo, the
/// end-to-end tests and the benchmarks). It drives the pure engine: every
/// good event it emits was applied by workflow::apply, so the engine's final
/// state of each application is the oracle the pipeline must reach.
namespace stagewise::sim {

struct CohortOptions {
  std::string program;
  int applicants = 100;
  uint64_t seed = 1;
  /// Share of all events that are bad (malformed JSON, missing or invalid
  /// attributes, events the engine rejects: not accepted in the stage,
  /// unauthorized, unknown application, late); in [0, 1).
  double bad_fraction = 0.0;
  /// The cohort's timeline: submissions spread over the call window (the
  /// first 60 % of the span), then each application walks until
  /// `start_ms + span_ms`, the horizon. No event is later than the horizon,
  /// except deadlines due within one hour after it (see Cohort).
  int64_t start_ms = 1'772'323'200'000;  // 2026-03-01T00:00:00Z
  int64_t span_ms = 45LL * 24 * 3600 * 1000;
};

/// One Kafka message of the cohort: key = application id, value = a
/// CloudEvent in structured JSON mode (or, for some bad events, not even JSON).
struct SimEvent {
  std::string key;
  std::string value;
  bool bad = false;
};

/// A generated cohort.
///
/// `events` are in time order, the applications interleaved; each
/// application's event times strictly increase. Ids are deterministic: an
/// application's good events are "<application>-e<N>" from source
/// "stagewise-sim"; a deadline the walk lets lapse is the very event the
/// server's timer would fire (source "stagewise.timers", id
/// "deadline/<application>/<stage>/<entered ms>", actorrole system), so
/// whichever of the two reaches the processor first applies and the other is
/// dropped as a duplicate.
///
/// `expected_stage` is where each application stands once the good events
/// are applied in order, as seen by a server whose clock is at the horizon:
/// every deadline due before the horizon has lapsed (the walk emits it), and
/// deadlines due up to one hour after it are emitted too, so that no timer
/// of a server started at the horizon fires within that hour and moves an
/// application the oracle does not know about. Bad events never change state.
struct Cohort {
  std::vector<SimEvent> events;
  /// Oracle from the engine, per application id.
  std::map<std::string, std::string> expected_stage;
  /// Applications per stage (every state of the workflow, zero included).
  std::map<std::string, uint64_t> per_stage;
  uint64_t bad_events = 0;
  int64_t first_ms = 0;  ///< time of the earliest event
  int64_t last_ms = 0;   ///< time of the latest event
};

/// Generates the cohort of `options.program` (its latest workflow version).
/// Same registry and options: byte-identical output. Throws
/// std::invalid_argument naming the program when it is unknown, or when the
/// options are out of range.
Cohort generate(const workflow::Registry& registry, const CohortOptions& options);

/// The id prefix of a program's applications ("summer-research-internship"
/// → "sri"); application ids are "<prefix>-<seed>-<index>".
std::string id_prefix(const std::string& program);

}  // namespace stagewise::sim
