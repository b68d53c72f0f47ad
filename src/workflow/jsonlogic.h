#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// JsonLogic (https://jsonlogic.com) compiled once, evaluated many times.
///
/// Semantics follow the reference implementation json-logic-js: JavaScript
/// truthiness, loose and strict equality with JavaScript coercions, numbers as
/// IEEE doubles (integral results are returned as JSON integers). Beyond the
/// standard operators, workflow rules may use duration_seconds, time_add,
/// seconds_between, days_between and before over RFC 3339 timestamps and
/// fixed-length ISO-8601 durations.
namespace stagewise::workflow::jsonlogic {

/// Deepest nesting of arrays and objects compile() accepts in a rule. Evaluation
/// recurses once per level: 511 nested operations take 1 to 3 MB of stack under
/// AddressSanitizer, well within a thread's default 8 MB.
inline constexpr int kMaxNesting = 512;

/// Limits of one evaluation, so that no rule over no data takes unbounded
/// time, memory or stack. Loops within loops multiply the work, an
/// accumulator that merges or concatenates itself doubles with each item,
/// and one that wraps itself deepens with each item (copying and destroying
/// a tree recurse). Past a limit, evaluate() stops and gives null.
inline constexpr int64_t kMaxSteps = 1'000'000;  ///< operations evaluated
/// Values built or copied (an array or object's members each count, a string
/// counts one more per 16 bytes).
inline constexpr int64_t kMaxCells = 2'000'000;
/// Deepest value an evaluation copies (out of the data or the rule) or builds
/// in a reduce accumulator (the only value that can grow across iterations).
inline constexpr int kMaxValueDepth = 2 * kMaxNesting;

/// One problem found while compiling a rule.
struct CompileError {
  /// JSON pointer (RFC 6901) of the offending node: the base pointer given to
  /// compile() followed by the node's position inside the rule, e.g.
  /// "/transitions/3/guard/and/1".
  std::string pointer;
  /// One sentence describing the problem.
  std::string message;
};

namespace detail {
struct Program;
struct Compiler;
}  // namespace detail

/// A compiled rule. Cheap to copy (the compiled tree is immutable and shared).
///
/// Thread safety: every member is const; one Rule may be evaluated from any
/// number of threads at once.
class Rule {
 public:
  /// A rule that always evaluates to null.
  Rule();

  /// Evaluates the rule against data. Never throws: operands of unexpected
  /// types give the result JavaScript would (NaN and infinities become null);
  /// an evaluation past the limits above, or an internal failure (e.g. out of
  /// memory), gives null.
  nlohmann::json evaluate(const nlohmann::json& data) const;

  /// The rule as it was given to compile() (null for a default-constructed Rule).
  const nlohmann::json& source() const;

 private:
  friend struct detail::Compiler;
  explicit Rule(std::shared_ptr<const detail::Program> program);

  std::shared_ptr<const detail::Program> program_;
};

/// Compiles a rule. On success returns the Rule and leaves errors untouched.
/// On failure returns std::nullopt and appends every problem found (not only
/// the first) to errors, each with a pointer prefixed by base_pointer.
///
/// Compile errors: an unknown operator; an object with more than one key; a
/// wrong number of arguments where the operator fixes it; a literal duration
/// given to duration_seconds or time_add that is not a fixed-length ISO-8601
/// duration; nesting deeper than kMaxNesting levels. An empty object is a literal.
/// Never throws.
std::optional<Rule> compile(const nlohmann::json& rule, std::vector<CompileError>& errors,
                            const std::string& base_pointer = "");

/// JavaScript truthiness as JsonLogic defines it: false, null, 0, NaN, "" and
/// [] are falsy; everything else (including "0" and {}) is truthy.
bool truthy(const nlohmann::json& v);

/// Every supported operator name, in a stable order.
const std::vector<std::string>& operator_names();

}  // namespace stagewise::workflow::jsonlogic
