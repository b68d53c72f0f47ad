#pragma once

#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

/// Pictures of a workflow for people: Mermaid and Graphviz renderings of the
/// states and transitions, with guards summarised in words a program manager
/// can read. Output is deterministic: the same workflow gives the same bytes.
namespace stagewise::workflow {

/// A one-line human reading of a JsonLogic guard, e.g.
/// `{"==": [{"var": "event.data.outcome"}, "admit"]}` → `event.data.outcome == "admit"`.
///
/// Renders literals as JSON (strings quoted, numbers and booleans as written),
/// `var` as its dotted path (`application.`/`event.` prefixes kept, a default
/// as `path (default X)`), comparisons, `in`, `before` and arithmetic infix
/// (`===` and `!==` read as `==` and `!=`), `and`/`or` with parentheses where
/// they nest, `!` as `not`, `!!` as `is truthy`, `if` as `if … then … else …`,
/// and min, max, cat, substr, merge, missing, missing_some, log and the date
/// operators as calls (`days_between(a, b)`). Anything else (map, filter, some,
/// unknown operators, objects with several keys) falls back to compact JSON,
/// cut to about 60 characters with "…". A null guard renders as `null`.
std::string guard_summary(const nlohmann::json& guard);

/// A Mermaid `stateDiagram-v2` of the workflow: one state per entry of
/// `state_order` (name, title, deadline), `[*] -->` the initial state, terminal
/// states `--> [*]`, one edge per transition labelled with its event type, its
/// roles and its guard summary. `"*"` transitions leave a single dashed
/// "any non-final stage" state. Labels use Mermaid entity codes (`#quot;`,
/// `#58;`, ...) for characters the syntax reserves.
std::string to_mermaid(const Workflow& wf);

/// A Graphviz `digraph` of the workflow: rounded boxes for states, a point as
/// the entry into the initial state, `peripheries=2` for terminal states, the
/// same edge labels as Mermaid (transition descriptions become tooltips) and
/// `"*"` transitions from one dashed "any non-final stage" node.
std::string to_dot(const Workflow& wf);

/// The stages in the order applications go through them: from the initial
/// stage along the transitions, by the longest way to each (edges back to a
/// stage already on the way are ignored, so loops do not reorder), stages
/// still open first, then the terminal ones, each by that distance, then in
/// file order; stages no transition reaches come last. `"*"` transitions
/// leave every open stage. The reports and the dashboard's funnel use it.
std::vector<std::string> flow_order(const Workflow& wf);

}  // namespace stagewise::workflow
