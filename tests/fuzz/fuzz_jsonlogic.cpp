// Guards: any rule either compiles or is refused with errors, and a compiled
// rule evaluates against any data without throwing (Rule::evaluate's contract).

#include "check.h"
#include "common/json_limits.h"
#include "framing.h"
#include "workflow/jsonlogic.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace stagewise;
using namespace stagewise::workflow;

// Rules come from workflow files (bounded by kMaxWorkflowDepth, well past
// the compiler's own limit, so that limit is exercised too); data stands
// for the guard context, which holds event data bounded by the envelope.
constexpr int kRuleDepth = 2 * jsonlogic::kMaxNesting;
constexpr int kDataDepth = 600;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(bytes), size);
  const fuzz::RuleCase c = fuzz::split_rule_case(in);
  const nlohmann::json rule = parse_json_bounded(c.rule, kRuleDepth);
  if (rule.is_discarded()) return 0;
  nlohmann::json data = parse_json_bounded(c.data, kDataDepth);
  if (data.is_discarded()) data = nullptr;

  std::vector<jsonlogic::CompileError> errors;
  const auto compiled = jsonlogic::compile(rule, errors, "/guard");
  FUZZ_CHECK(compiled.has_value() == errors.empty(), "compile's result and errors disagree");
  for (const auto& e : errors)
    FUZZ_CHECK(e.pointer.rfind("/guard", 0) == 0, "an error's pointer lacks the base pointer");
  if (!compiled) return 0;
  FUZZ_CHECK(compiled->source() == rule, "the compiled rule's source is not the rule");
  const nlohmann::json out = compiled->evaluate(data);
  (void)jsonlogic::truthy(out);
  // What a rule returns is printed (stagewise eval-guard): it must be valid UTF-8.
  (void)out.dump();
  (void)jsonlogic::truthy(data);
  return 0;
}
