// Workflow loading: any document is either a workflow or a list of problems,
// and a workflow that loads can be drawn, registered and driven.

#include "check.h"
#include "common/json_limits.h"
#include "common/time.h"
#include "workflow/engine.h"
#include "workflow/graph.h"
#include "workflow/workflow.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace {

using namespace stagewise;
using namespace stagewise::workflow;

CloudEvent event_for(const Workflow& wf, const std::string& type, const std::string& role,
                     int64_t time_ms) {
  CloudEvent e;
  e.id = "e-" + std::to_string(time_ms);
  e.source = "fuzz";
  e.type = type;
  e.subject = "APP-1";
  e.time_ms = time_ms;
  e.time = format_rfc3339_ms(time_ms);
  e.program = wf.program;
  e.actorid = "someone";
  e.actorrole = role;
  e.data = nlohmann::json::object();
  return e;
}

// Submits an application and sends each transition's event once, in file
// order, as the first role the transition allows.
void drive(const Registry& registry, const Workflow& wf) {
  int64_t t = 1'790'000'000'000;
  Outcome first = apply(registry, nullptr, event_for(wf, "application.submitted", "applicant", t));
  auto* applied = std::get_if<Applied>(&first);
  if (applied == nullptr) return;
  Application app = applied->next;
  for (const auto& tr : wf.transitions) {
    t += 60'000;
    const std::string role = tr.roles.empty() ? "admin" : tr.roles.front();
    Outcome next = apply(wf, &app, event_for(wf, tr.on, role, t));
    if (auto* a = std::get_if<Applied>(&next)) app = std::move(a->next);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json doc = parse_json_bounded(text, kMaxWorkflowDepth);
  if (doc.is_discarded()) return 0;
  std::vector<Problem> problems;
  std::optional<Workflow> wf = parse_workflow(doc, "fuzz.json", problems);
  FUZZ_CHECK(wf.has_value() == problems.empty(),
             "a workflow loaded with problems, or failed without");
  for (const auto& p : problems) (void)p.to_string();
  if (!wf) return 0;
  (void)to_mermaid(*wf);
  (void)to_dot(*wf);
  for (const auto& tr : wf->transitions) {
    (void)guard_summary(tr.guard_source);
    if (tr.guard) (void)tr.guard->evaluate(nlohmann::json::object());
  }
  Registry registry;
  registry.add(*wf, problems);
  FUZZ_CHECK(problems.empty(), "adding the first workflow to a registry is a problem");
  registry.add(*wf, problems);
  FUZZ_CHECK(problems.size() == 1, "a duplicate (program, version) is not reported");
  FUZZ_CHECK(registry.latest(wf->program) != nullptr, "a registered workflow is not found");
  drive(registry, *wf);
  return 0;
}
