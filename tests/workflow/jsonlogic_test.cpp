#include "workflow/jsonlogic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace stagewise::workflow::jsonlogic {
namespace {

using nlohmann::json;

// JSON equality where numbers compare by value (1 == 1.0), at any depth.
bool same_json(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same_json(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& [key, value] : a.items()) {
      const auto it = b.find(key);
      if (it == b.end() || !same_json(value, *it)) return false;
    }
    return true;
  }
  return a == b;
}

std::string describe(const std::vector<CompileError>& errors) {
  std::string out;
  for (const auto& e : errors) out += "\n  " + e.pointer + ": " + e.message;
  return out;
}

// Compiles (asserting success) and evaluates.
json eval(const json& rule, const json& data = json::object()) {
  std::vector<CompileError> errors;
  const auto compiled = compile(rule, errors);
  EXPECT_TRUE(compiled.has_value()) << rule.dump() << " did not compile:" << describe(errors);
  if (!compiled) return "<did not compile>";
  return compiled->evaluate(data);
}

// Compiles expecting failure and returns the errors.
std::vector<CompileError> errors_of(const json& rule, const std::string& base = "") {
  std::vector<CompileError> errors;
  EXPECT_FALSE(compile(rule, errors, base).has_value()) << rule.dump() << " compiled";
  return errors;
}

testing::AssertionResult json_equal(const char* actual_expr, const char* /*expected_expr*/,
                                    const json& actual, const json& expected) {
  if (same_json(actual, expected)) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << actual_expr << "\n  gave     " << actual.dump() << "\n  expected " << expected.dump();
}

#define EXPECT_JSON(actual, expected) EXPECT_PRED_FORMAT2(json_equal, actual, expected)

TEST(JsonLogicConformance, PassesTheSharedSuite) {
  const std::string path = STAGEWISE_SOURCE_DIR "/../shared/conformance/jsonlogic/tests.json";
  std::ifstream in(path);
  ASSERT_TRUE(in.is_open()) << "cannot open " << path;
  const json suite = json::parse(in);
  ASSERT_TRUE(suite.is_array());

  std::string heading;
  int total = 0;
  int passed = 0;
  std::ostringstream failures;
  for (const json& item : suite) {
    if (item.is_string()) {
      heading = item.get<std::string>();
      continue;
    }
    ++total;
    const json& rule = item.at(0);
    const json& data = item.at(1);
    const json& expected = item.at(2);
    std::vector<CompileError> errors;
    const auto compiled = compile(rule, errors);
    if (!compiled) {
      failures << "\n[" << heading << "] " << rule.dump()
               << " did not compile:" << describe(errors);
      continue;
    }
    const json got = compiled->evaluate(data);
    if (same_json(got, expected)) {
      ++passed;
    } else {
      failures << "\n[" << heading << "] " << rule.dump() << " with data " << data.dump()
               << " gave " << got.dump() << ", expected " << expected.dump();
    }
  }
  std::cout << "jsonlogic conformance: " << passed << "/" << total << " passed" << std::endl;
  EXPECT_EQ(total, 277) << "the suite at " << path << " changed size";
  EXPECT_EQ(passed, total) << "failing cases:" << failures.str();
}

// --- Compile errors ---------------------------------------------------------------------------

TEST(JsonLogicCompile, UnknownOperatorNamesItWithItsPointerAndSuggestsAFix) {
  const json rule = json::parse(R"({"and": [true, {"vra": "x"}]})");
  const auto errors = errors_of(rule, "/transitions/3/guard");
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].pointer, "/transitions/3/guard/and/1");
  EXPECT_NE(errors[0].message.find("\"vra\""), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[0].message.find("did you mean \"var\""), std::string::npos) << errors[0].message;

  const auto far = errors_of(json::parse(R"({"frobnicate": [1]})"));
  ASSERT_EQ(far.size(), 1u);
  EXPECT_EQ(far[0].pointer, "");
  EXPECT_NE(far[0].message.find("\"frobnicate\""), std::string::npos);
  EXPECT_NE(far[0].message.find("use a JsonLogic operator"), std::string::npos) << far[0].message;
}

TEST(JsonLogicCompile, ObjectWithSeveralKeysIsAnError) {
  const auto errors = errors_of(json::parse(R"({"if": [{"==": [1, 1], "!=": [1, 2]}, 1, 2]})"));
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_EQ(errors[0].pointer, "/if/0");
  EXPECT_NE(errors[0].message.find("exactly one key"), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[0].message.find("\"!=\""), std::string::npos) << errors[0].message;
}

TEST(JsonLogicCompile, EmptyObjectIsALiteral) {
  EXPECT_JSON(eval(json::object()), json::object());
  EXPECT_JSON(eval(json::parse(R"({"!!": [{}]})")), true);
}

TEST(JsonLogicCompile, WrongArityIsAnErrorWhereTheOperatorFixesIt) {
  struct Case {
    const char* rule;
    const char* pointer;
    const char* says;
  };
  const Case cases[] = {
      {R"({"!": [true, false]})", "", "\"!\" takes exactly 1 argument, got 2"},
      {R"({"!": []})", "", "write [[]]"},
      {R"({"or": [{"!!": [1, 2]}]})", "/or/0", "\"!!\" takes exactly 1 argument, got 2"},
      {R"({"substr": ["abc"]})", "", "\"substr\" takes 2 or 3 arguments, got 1"},
      {R"({"substr": "abc"})", "", "\"substr\" takes 2 or 3 arguments, got 1"},
      {R"({"substr": ["abc", 1, 2, 3]})", "", "got 4"},
      {R"({"duration_seconds": ["P1D", "P2D"]})", "", "\"duration_seconds\" takes exactly 1"},
      {R"({"time_add": ["2026-01-01T00:00:00Z"]})", "", "\"time_add\" takes exactly 2"},
      {R"({"seconds_between": [1, 2, 3]})", "", "\"seconds_between\" takes exactly 2"},
      {R"({"days_between": [1]})", "", "\"days_between\" takes exactly 2"},
      {R"({"before": [1]})", "", "\"before\" takes exactly 2"},
      {R"({"==": [1]})", "", "\"==\" takes exactly 2"},
      {R"({"<": [1, 2, 3, 4]})", "", "\"<\" takes 2 or 3"},
      {R"({"var": ["a", 1, 2]})", "", "\"var\" takes 0 to 2"},
      {R"({"map": [[1, 2]]})", "", "\"map\" takes exactly 2"},
  };
  for (const Case& c : cases) {
    const auto errors = errors_of(json::parse(c.rule));
    ASSERT_EQ(errors.size(), 1u) << c.rule << describe(errors);
    EXPECT_EQ(errors[0].pointer, c.pointer) << c.rule;
    EXPECT_NE(errors[0].message.find(c.says), std::string::npos)
        << c.rule << ": " << errors[0].message;
  }
  // Variadic operators accept any count, including none.
  EXPECT_JSON(eval(json::parse(R"({"if": []})")), nullptr);
  EXPECT_JSON(eval(json::parse(R"({"and": []})")), nullptr);
  EXPECT_JSON(eval(json::parse(R"({"cat": []})")), "");
}

TEST(JsonLogicCompile, LiteralDurationsMustBeFixedLength) {
  const auto month = errors_of(json::parse(R"({"duration_seconds": "P1M"})"), "/g");
  ASSERT_EQ(month.size(), 1u) << describe(month);
  EXPECT_EQ(month[0].pointer, "/g/duration_seconds");
  EXPECT_NE(month[0].message.find("\"P1M\""), std::string::npos) << month[0].message;
  EXPECT_NE(month[0].message.find("fixed-length"), std::string::npos);

  const auto add = errors_of(json::parse(R"({"time_add": [{"var": "t"}, "soon"]})"));
  ASSERT_EQ(add.size(), 1u) << describe(add);
  EXPECT_EQ(add[0].pointer, "/time_add/1");

  const auto number = errors_of(json::parse(R"({"duration_seconds": [86400]})"));
  ASSERT_EQ(number.size(), 1u);
  EXPECT_EQ(number[0].pointer, "/duration_seconds/0");

  // A computed duration is checked when evaluated, and a bad one gives null.
  const json rule = json::parse(R"({"duration_seconds": {"var": "d"}})");
  EXPECT_JSON(eval(rule, {{"d", "P1Y"}}), nullptr);
  EXPECT_JSON(eval(rule, {{"d", "PT90M"}}), 5400);
}

TEST(JsonLogicCompile, ReportsEveryErrorWithEscapedPointers) {
  // "/" and "~" in a key are escaped as ~1 and ~0 (RFC 6901).
  const json rule = json::parse(R"({"or": [
      {"nope": 1},
      {"/": [{"a/b~c": 2}, 1]},
      {"substr": ["x"]},
      {"time_add": ["2026-01-01T00:00:00Z", "P1M"]},
      {"if": [{"var": "ok"}, {"x": 1, "y": 2}]}
  ]})");
  std::vector<CompileError> errors{{"/earlier", "kept"}};
  EXPECT_FALSE(compile(rule, errors, "/transitions/0/guard").has_value());
  std::vector<std::string> pointers;
  for (const auto& e : errors) pointers.push_back(e.pointer);
  const std::vector<std::string> expected = {
      "/earlier",
      "/transitions/0/guard/or/0",
      "/transitions/0/guard/or/1/~1/0",
      "/transitions/0/guard/or/2",
      "/transitions/0/guard/or/3/time_add/1",
      "/transitions/0/guard/or/4/if/1",
  };
  EXPECT_EQ(pointers, expected) << describe(errors);
  ASSERT_EQ(errors.size(), expected.size());
  EXPECT_NE(errors[2].message.find("\"a/b~c\""), std::string::npos) << errors[2].message;
}

TEST(JsonLogicCompile, SuccessLeavesErrorsUntouched) {
  std::vector<CompileError> errors{{"/x", "from before"}};
  const json rule = json::parse(R"({"==": [{"var": "a"}, 1]})");
  const auto compiled = compile(rule, errors);
  ASSERT_TRUE(compiled.has_value());
  EXPECT_EQ(errors.size(), 1u);
  EXPECT_EQ(compiled->source(), rule);
}

json nested_nots(int levels) {
  json rule = true;
  for (int i = 0; i < levels; ++i) rule = json{{"!", rule}};  // unary sugar: one level each
  return rule;
}

TEST(JsonLogicCompile, NestingIsLimitedTo512Levels) {
  EXPECT_JSON(eval(nested_nots(512)), true);  // an even number of negations

  const auto errors = errors_of(nested_nots(513));
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  std::string pointer;
  for (int i = 0; i < 512; ++i) pointer += "/!";
  EXPECT_EQ(errors[0].pointer, pointer);
  EXPECT_NE(errors[0].message.find("512"), std::string::npos) << errors[0].message;

  // Argument arrays count as levels too: 256 x {"!": [...]} is 512 levels.
  json rule = true;
  for (int i = 0; i < 256; ++i) rule = json{{"!", json::array({rule})}};
  EXPECT_JSON(eval(rule), true);
  rule = json::array({rule});
  EXPECT_EQ(errors_of(rule).size(), 1u);
}

// A tree of any depth can be built and destroyed without recursion, but not
// copied: a refused rule a million levels deep used to be copied whole (as
// the rule's source, and as a constant array) and overflowed the stack.
TEST(JsonLogicCompile, ARuleOfAnyDepthIsRefusedWithoutCopyingIt) {
  json deep = json::array();
  for (int i = 0; i < 1'000'000; ++i) deep = json::array({std::move(deep)});
  const auto errors = errors_of(deep);
  ASSERT_EQ(errors.size(), 1u) << describe(errors);
  EXPECT_NE(errors[0].message.find("512"), std::string::npos);
  json unary = json::object();
  unary["!"] = std::move(deep);
  EXPECT_EQ(errors_of(unary).size(), 1u);
}

TEST(JsonLogicCompile, OperatorNamesListEveryOperator) {
  const auto& names = operator_names();
  for (const char* op : {"var",
                         "missing",
                         "missing_some",
                         "if",
                         "?:",
                         "==",
                         "===",
                         "!=",
                         "!==",
                         "!",
                         "!!",
                         "or",
                         "and",
                         ">",
                         ">=",
                         "<",
                         "<=",
                         "max",
                         "min",
                         "+",
                         "-",
                         "*",
                         "/",
                         "%",
                         "in",
                         "cat",
                         "substr",
                         "merge",
                         "map",
                         "filter",
                         "reduce",
                         "all",
                         "some",
                         "none",
                         "log",
                         "duration_seconds",
                         "time_add",
                         "seconds_between",
                         "days_between",
                         "before"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), op), names.end()) << op;
    std::vector<CompileError> errors;
    // Every listed name is accepted by the compiler (whatever its arity).
    compile(json{{op, json::array()}}, errors);
    for (const auto& e : errors)
      EXPECT_EQ(e.message.find("unknown operator"), std::string::npos) << op << ": " << e.message;
  }
  EXPECT_EQ(&names, &operator_names());
}

// --- Semantics -------------------------------------------------------------------------------

TEST(JsonLogicTruthy, FollowsJsonLogic) {
  for (const json& falsy : {json(false), json(nullptr), json(0), json(0.0), json(-0.0), json(""),
                            json::array(), json(std::numeric_limits<double>::quiet_NaN())})
    EXPECT_FALSE(truthy(falsy)) << falsy.dump();
  for (const json& yes : {json(true), json(1), json(-1), json(0.5), json("0"), json(" "),
                          json::array({0}), json::object(), json{{"a", false}}, json(1u)})
    EXPECT_TRUE(truthy(yes)) << yes.dump();
  EXPECT_JSON(eval(json::parse(R"({"!!": [{}]})")), true);
  EXPECT_JSON(eval(json::parse(R"({"!!": [[0]]})")), true);
  EXPECT_JSON(eval(json::parse(R"({"!": {"var": "missing"}})")), true);
}

TEST(JsonLogicSemantics, LooseAndStrictEqualityCoerceAsJavaScriptDoes) {
  const json data = {{"n", nullptr}, {"one", "1"}, {"list", {1, 2}}, {"obj", {{"a", 1}}}};
  const std::pair<const char*, bool> cases[] = {
      {R"({"==": ["1", 1]})", true},
      {R"({"==": [1.0, 1]})", true},
      {R"({"===": [1.0, 1]})", true},
      {R"({"==": [null, {"var": "nothing"}]})", true},
      {R"({"==": [null, {"var": "n"}]})", true},
      {R"({"===": [null, {"var": "n"}]})", true},
      {R"({"==": [null, 0]})", false},
      {R"({"==": [null, false]})", false},
      {R"({"==": [null, ""]})", false},
      {R"({"==": [0, ""]})", true},
      {R"({"==": [0, " \n"]})", true},
      {R"({"==": ["0", false]})", true},
      {R"({"==": [true, "1"]})", true},
      {R"({"==": [true, 2]})", false},
      {R"({"==": [[], false]})", true},
      {R"({"==": [[1, 2], "1,2"]})", true},
      {R"({"==": [[7], 7]})", true},
      {R"({"==": [{"var": "obj"}, "[object Object]"]})", true},
      {R"({"==": [{"var": "list"}, {"var": "list"}]})", true},  // the same array
      {R"({"==": [[1], [1]]})", false},                         // two arrays, as in JavaScript
      {R"({"==": ["0x10", 16]})", true},
      {R"({"==": ["1e3", 1000]})", true},
      {R"({"==": ["abc", 0]})", false},
      {R"({"!=": [{"var": "one"}, 1]})", false},
      {R"({"!==": [{"var": "one"}, 1]})", true},
      {R"({"===": ["a", "a"]})", true},
      {R"({"in": [{"var": "list.1"}, {"var": "list"}]})", true},
      {R"({"in": ["2", {"var": "list"}]})", false},  // in on arrays is strict
      {R"({"in": ["", ""]})", false},
      {R"({"in": [1, "a1b"]})", true},
  };
  for (const auto& [rule, expected] : cases)
    EXPECT_JSON(eval(json::parse(rule), data), expected) << rule;
}

TEST(JsonLogicSemantics, ComparisonsCoerceAndCompareStringsByCodeUnit) {
  const std::pair<const char*, bool> cases[] = {
      {R"({"<": ["a", "b"]})", true},
      {R"({"<": ["B", "a"]})", true},
      {R"({"<": ["10", "9"]})", true},  // both strings: text order
      {R"({"<": ["10", 9]})", false},   // one number: numeric
      {R"({"<": [null, 1]})", true},
      {R"({">": [1, {"var": "nothing"}]})", true},  // null is 0
      {R"({"<": ["x", 1]})", false},
      {R"({">=": ["x", 1]})", false},  // NaN compares false both ways
      {R"({"<=": [[2], 2]})", true},
      {R"({"<": [1, 5, 10]})", true},
      {R"({"<": [1, 10, 5]})", false},
      {R"({"<=": [1, 1, 1]})", true},
      {R"({"<=": [1, "1", 0]})", false},
      {R"({"<": ["\uff61", "\ud83d\ude00"]})", false},  // U+FF61 > U+D83D in UTF-16
      {R"({">": [true, false]})", true},
  };
  for (const auto& [rule, expected] : cases) EXPECT_JSON(eval(json::parse(rule)), expected) << rule;
}

TEST(JsonLogicSemantics, ArithmeticUsesDoublesAndReturnsIntegersWhenIntegral) {
  const json two = eval(json::parse(R"({"+": [1, 1]})"));
  EXPECT_TRUE(two.is_number_integer()) << two.dump();
  EXPECT_EQ(two, 2);
  EXPECT_TRUE(eval(json::parse(R"({"*": [1.5, 2]})")).is_number_integer());
  EXPECT_JSON(eval(json::parse(R"({"+": [0.1, 0.2]})")), 0.30000000000000004);
  EXPECT_JSON(eval(json::parse(R"({"+": ["3.5kg", " 1"]})")), 4.5);  // parseFloat
  EXPECT_JSON(eval(json::parse(R"({"+": "3.14"})")), 3.14);
  EXPECT_JSON(eval(json::parse(R"({"+": []})")), 0);
  EXPECT_JSON(eval(json::parse(R"({"-": ["5", true]})")), 4);  // ToNumber
  EXPECT_JSON(eval(json::parse(R"({"-": [{"var": "x"}]})"), {{"x", "7"}}), -7);
  EXPECT_JSON(eval(json::parse(R"({"%": [-7, 3]})")), -1);
  EXPECT_JSON(eval(json::parse(R"({"%": [7.5, 2]})")), 1.5);
  EXPECT_JSON(eval(json::parse(R"({"/": [1, 3]})")), 1.0 / 3);
  EXPECT_JSON(eval(json::parse(R"({"max": [1, "7", 3]})")), 7);
  EXPECT_JSON(eval(json::parse(R"({"min": [4, null, 3]})")), 0);
  // Results JSON cannot hold become null.
  for (const char* rule : {R"({"/": [1, 0]})", R"({"/": [0, 0]})", R"({"%": [1, 0]})",
                           R"({"max": []})", R"({"min": []})", R"({"+": ["abc"]})",
                           R"({"max": [1, "x"]})", R"({"*": [1e308, 10]})", R"({"-": [[1, 2]]})"})
    EXPECT_JSON(eval(json::parse(rule)), nullptr) << rule;
  // ...but only at the end: Infinity still compares and counts meanwhile.
  EXPECT_JSON(eval(json::parse(R"({">": [{"/": [1, 0]}, 1e308]})")), true);
  EXPECT_JSON(eval(json::parse(R"({"map": [[1, 0], {"/": [1, {"var": ""}]}]})")),
              json::parse("[1, null]"));
  EXPECT_JSON(eval(json::parse(R"({"cat": [{"/": [1, 0]}]})")), "Infinity");
}

TEST(JsonLogicSemantics, StringsConcatenateAndSliceLikeJavaScript) {
  EXPECT_JSON(eval(json::parse(R"({"cat": [1.5, null, true, [1, [2, 3]], {"var": "o"}]})"),
                   {{"o", {{"a", 1}}}}),
              "1.5true1,2,3[object Object]");
  EXPECT_JSON(eval(json::parse(R"({"cat": [1e21, 1e-7, 123456789012, 0.000001, -0.0]})")),
              "1e+211e-71234567890120.0000010");
  EXPECT_JSON(eval(json::parse(R"({"cat": [{"+": [0.1, 0.2]}]})")), "0.30000000000000004");
  EXPECT_JSON(eval(json::parse(R"({"substr": ["héllo wörld", -5]})")), "wörld");
  EXPECT_JSON(eval(json::parse(R"({"substr": ["héllo", 1, 2]})")), "él");
  EXPECT_JSON(eval(json::parse(R"({"substr": ["a😀b", 1, 2]})")), "😀");  // two UTF-16 units
  EXPECT_JSON(eval(json::parse(R"({"substr": ["jsonlogic", 20]})")), "");
  EXPECT_JSON(eval(json::parse(R"({"substr": ["jsonlogic", -20, 4]})")), "json");
  EXPECT_JSON(eval(json::parse(R"({"substr": ["jsonlogic", "2", "3"]})")), "onl");
  EXPECT_JSON(eval(json::parse(R"({"substr": [12345, 1, -1]})")), "234");
  EXPECT_JSON(eval(json::parse(R"({"substr": ["abc", 1, null]})")), "");
  EXPECT_JSON(eval(json::parse(R"({"in": ["wör", "hello wörld"]})")), true);
}

TEST(JsonLogicSemantics, VarWalksObjectsArraysAndStrings) {
  const json data = json::parse(
      R"({"a": {"b": [10, {"c": "deep"}]}, "": "empty key", "s": "héllo", "n": null, "z": 0})");
  EXPECT_JSON(eval(json::parse(R"({"var": "a.b.1.c"})"), data), "deep");
  EXPECT_JSON(eval(json::parse(R"({"var": "a.b.0"})"), data), 10);
  EXPECT_JSON(eval(json::parse(R"({"var": "a.b.01"})"), data), nullptr);  // not an index
  EXPECT_JSON(eval(json::parse(R"({"var": "a.b.length"})"), data), 2);
  EXPECT_JSON(eval(json::parse(R"({"var": "s.1"})"), data), "é");
  EXPECT_JSON(eval(json::parse(R"({"var": "s.length"})"), data), 5);
  EXPECT_JSON(eval(json::parse(R"({"var": ["n", "dflt"]})"), data), nullptr);  // present
  EXPECT_JSON(eval(json::parse(R"({"var": ["n.x", "dflt"]})"), data), "dflt");
  EXPECT_JSON(eval(json::parse(R"({"var": ["z", 5]})"), data), 0);
  EXPECT_JSON(eval(json::parse(R"({"var": ["z.q", {"cat": ["x", "y"]}]})"), data), "xy");
  EXPECT_JSON(eval(json::parse(R"({"var": {"cat": ["a", ".b.", {"+": [0, 1]}, ".c"]}})"), data),
              "deep");
  EXPECT_JSON(eval(json::parse(R"({"var": ""})"), data), data);
  EXPECT_JSON(eval(json::parse(R"({"var": "a"})"), "a string"), nullptr);
  EXPECT_JSON(eval(json::parse(R"({"missing": ["a.b", "n", "z", "x", ""]})"), data),
              json::parse(R"(["n", "x"])"));
  EXPECT_JSON(eval(json::parse(R"({"missing_some": [2, ["a", "n", "x", "z"]]})"), data),
              json::array());
  EXPECT_JSON(eval(json::parse(R"({"missing_some": [3, ["a", "n", "x", "z"]]})"), data),
              json::parse(R"(["n", "x"])"));
}

TEST(JsonLogicSemantics, ArrayOperatorsScopeTheirData) {
  const json data =
      json::parse(R"({"xs": [1, 2, 3], "people": [{"age": 30}, {"age": 17}], "best": {"k": 9},
          "ks": [{"k": 1}, {"k": 5}]})");
  EXPECT_JSON(eval(json::parse(R"({"map": [{"var": "people"}, {"var": "age"}]})"), data),
              json::parse("[30, 17]"));
  EXPECT_JSON(
      eval(json::parse(R"({"filter": [{"var": "people"}, {">=": [{"var": "age"}, 18]}]})"), data),
      json::parse(R"([{"age": 30}])"));
  // Over an array built during evaluation (merge copies), returning elements of it.
  EXPECT_JSON(eval(json::parse(R"({"reduce": [{"merge": [{"var": "ks"}]},
                   {"if": [{">": [{"var": "current.k"}, {"var": "accumulator.k"}]},
                           {"var": "current"}, {"var": "accumulator"}]},
                   {"var": "best"}]})"),
                   data),
              json::parse(R"({"k": 9})"));
  EXPECT_JSON(eval(json::parse(R"({"reduce": [{"merge": [{"var": "ks"}]}, {"var": "current"},
                                                {"var": "best"}]})"),
                   data),
              json::parse(R"({"k": 5})"));
  EXPECT_JSON(eval(json::parse(R"({"reduce": [[1, 2, 3], {"merge": [{"var": "accumulator"},
                   {"*": [{"var": "current"}, 10]}]}, []]})")),
              json::parse("[10, 20, 30]"));
  EXPECT_JSON(eval(json::parse(R"({"reduce": [[1, 2], {"var": ""}, 0]})")),
              json::parse(R"({"current": 2, "accumulator": {"current": 1, "accumulator": 0}})"));
  EXPECT_JSON(eval(json::parse(R"({"reduce": ["nope", {"var": "current"}, 7]})")), 7);
  EXPECT_JSON(eval(json::parse(R"({"all": ["abc", {"<": [{"var": ""}, "d"]}]})")), true);
  EXPECT_JSON(eval(json::parse(R"({"all": [null, true]})")), false);
  EXPECT_JSON(eval(json::parse(R"({"some": [{"var": "xs"}, {"==": [{"var": ""}, 3]}]})"), data),
              true);
  EXPECT_JSON(eval(json::parse(R"({"none": [{"var": "nope"}, true]})"), data), true);
  EXPECT_JSON(eval(json::parse(R"({"map": [{"var": "xs"}, {"var": "xs"}]})"), data),
              json::parse("[null, null, null]"));  // the element is the data inside map
  EXPECT_JSON(eval(json::parse(R"({"merge": [[1], [[2]], null, "x"]})")),
              json::parse(R"([1, [2], null, "x"])"));
  EXPECT_JSON(eval(json::parse(R"({"log": {"var": "xs.0"}})"), data), 1);
}

TEST(JsonLogicSemantics, ShortCircuitsAndReturnsOperands) {
  EXPECT_JSON(eval(json::parse(R"({"or": [0, "", {"var": "a"}]})"), {{"a", {1}}}),
              json::array({1}));
  EXPECT_JSON(eval(json::parse(R"({"and": [1, [], 2]})")), json::array());
  EXPECT_JSON(eval(json::parse(R"({"?:": [{"missing": "a"}, "missing", "present"]})")), "missing");
  EXPECT_JSON(eval(json::parse(R"({"if": [false, 1, false, 2]})")), nullptr);
  EXPECT_JSON(eval(json::parse(R"({"*": ["2"]})")), "2");  // json-logic-js returns it as is
}

// --- Workflow extras -------------------------------------------------------------------------

TEST(JsonLogicWorkflowExtras, DurationsAndTimes) {
  EXPECT_JSON(eval(json::parse(R"({"duration_seconds": "P1DT2H"})")), 93600);
  EXPECT_JSON(eval(json::parse(R"({"duration_seconds": ["P2W"]})")), 1209600);
  EXPECT_JSON(eval(json::parse(R"({"duration_seconds": "PT1.5S"})")), 1.5);

  EXPECT_JSON(eval(json::parse(R"({"time_add": ["2026-03-01T12:00:00Z", "P14D"]})")),
              "2026-03-15T12:00:00Z");
  EXPECT_JSON(eval(json::parse(R"({"time_add": ["2026-03-01T12:00:00+02:00", "PT1H"]})")),
              "2026-03-01T11:00:00Z");
  EXPECT_JSON(eval(json::parse(R"({"time_add": ["2024-02-28T23:59:59.750Z", "PT0.5S"]})")),
              "2024-02-29T00:00:00.250Z");
  EXPECT_JSON(eval(json::parse(R"({"time_add": ["9999-12-31T00:00:00Z", "P1D"]})")), nullptr);

  const json data = json::parse(
      R"({"entered": "2026-03-01T00:00:00Z", "event": {"time": "2026-03-02T12:00:00Z"},
          "wait": "P1D", "bad": "yesterday"})");
  EXPECT_JSON(eval(json::parse(R"({"seconds_between": [{"var": "entered"},
                                                       {"var": "event.time"}]})"),
                   data),
              129600);
  EXPECT_JSON(
      eval(json::parse(R"({"days_between": [{"var": "entered"}, {"var": "event.time"}]})"), data),
      1.5);
  EXPECT_JSON(
      eval(json::parse(R"({"days_between": [{"var": "event.time"}, {"var": "entered"}]})"), data),
      -1.5);
  EXPECT_JSON(eval(json::parse(R"({"before": [{"var": "entered"}, {"var": "event.time"}]})"), data),
              true);
  EXPECT_JSON(eval(json::parse(R"({"before": [{"var": "event.time"}, {"var": "entered"}]})"), data),
              false);
  EXPECT_JSON(eval(json::parse(R"({"before": [{"time_add": [{"var": "entered"}, {"var": "wait"}]},
                                              {"var": "event.time"}]})"),
                   data),
              true);
  // A guard in the style of the workflows: more than 36 hours since the stage was entered.
  EXPECT_JSON(eval(json::parse(R"({">": [{"seconds_between": [{"var": "entered"},
                                                             {"var": "event.time"}]},
                                         {"duration_seconds": "PT36H"}]})"),
                   data),
              false);

  // Invalid timestamps at run time give null, never an exception.
  for (const char* rule : {
           R"({"time_add": [{"var": "bad"}, "P1D"]})",
           R"({"time_add": [{"var": "entered"}, {"var": "bad"}]})",
           R"({"seconds_between": [{"var": "bad"}, {"var": "entered"}]})",
           R"({"days_between": [{"var": "entered"}, {"var": "nothing"}]})",
           R"({"before": [{"var": "entered"}, 1700000000]})",
           R"({"before": ["2026-02-30T00:00:00Z", {"var": "entered"}]})",
       })
    EXPECT_JSON(eval(json::parse(rule), data), nullptr) << rule;
}

// --- Limits of one evaluation -----------------------------------------------------------------

json zeros(size_t n) {
  return json{{"items", json(std::vector<int>(n, 0))}};
}

size_t array_depth(const json& j) {
  size_t depth = 0;
  for (const json* at = &j; at->is_array() && !at->empty(); at = &(*at)[0]) ++depth;
  return depth;
}

// An accumulator that wraps itself deepens with each item, and copying and
// destroying a tree recurse: 100,000 items overflowed the stack (the rule a
// workflow's guard could be, over an event's array). Past
// kMaxValueDepth the rule gives null.
TEST(JsonLogicLimits, AnAccumulatorThatDeepensStopsAtTheDepthLimit) {
  const json wrap =
      json::parse(R"({"reduce": [{"var": "items"}, [{"var": "accumulator"}], "bottom"]})");
  const auto limit = static_cast<size_t>(kMaxValueDepth);
  EXPECT_EQ(array_depth(eval(wrap, zeros(limit))), limit);
  EXPECT_JSON(eval(wrap, zeros(100'000)), nullptr);

  // Deepening through the reduce scope's whole data ({"current", "accumulator"}) too.
  const json whole = json::parse(R"({"reduce": [{"var": "items"}, {"var": ""}, 0]})");
  EXPECT_JSON(eval(whole, zeros(2)),
              json::parse(R"({"current": 0, "accumulator": {"current": 0, "accumulator": 0}})"));
  EXPECT_JSON(eval(whole, zeros(100'000)), nullptr);
}

// Loops within loops multiply: each level of "all" over two items doubles
// the work, so a few hundred bytes of rule could run for ever.
TEST(JsonLogicLimits, LoopsWithinLoopsStopAfterKMaxStepsOperations) {
  const auto nested_alls = [](int levels) {
    json rule = true;
    for (int i = 0; i < levels; ++i) rule = json{{"all", json::array({json::array({1, 1}), rule})}};
    return rule;
  };
  // 2^17 evaluations of the innermost rule and about as many around it: within the limit.
  EXPECT_JSON(eval(nested_alls(17)), true);
  // 2^21 of them (over 6 million operations): stopped.
  EXPECT_JSON(eval(nested_alls(21)), nullptr);
}

// An accumulator that merges or concatenates itself doubles with each item:
// 40 items would build 2^40 values and exhaust memory.
TEST(JsonLogicLimits, AnAccumulatorThatDoublesStopsAtTheSizeLimit) {
  const auto doubling = [](const char* op, json seed, size_t items) {
    return json{
        {"reduce",
         json::array({json(std::vector<int>(items, 1)),
                      json{{op, json::array({{{"var", "accumulator"}}, {{"var", "accumulator"}}})}},
                      seed})}};
  };
  EXPECT_EQ(eval(doubling("merge", json::array({1}), 10)).size(), 1024u);
  EXPECT_JSON(eval(doubling("merge", json::array({1}), 24)), nullptr);
  EXPECT_EQ(eval(doubling("cat", "x", 10)).get<std::string>().size(), 1024u);
  EXPECT_JSON(eval(doubling("cat", "x", 27)), nullptr);
  // Copies count too: a hundred copies of 100,000 items.
  json copies = json{{"merge", json::array()}};
  for (int i = 0; i < 100; ++i) copies["merge"].push_back({{"var", "items"}});
  EXPECT_EQ(eval(copies, zeros(1'000)).size(), 100'000u);
  EXPECT_JSON(eval(copies, zeros(100'000)), nullptr);
}

// Data of any depth is read, but copied only up to kMaxValueDepth.
TEST(JsonLogicLimits, DataOfAnyDepthIsReadButNotCopied) {
  json deep = json::array();
  for (int i = 0; i < 1'000'000; ++i) deep = json::array({std::move(deep)});
  json data = json::object();
  data["deep"] = std::move(deep);
  data["flat"] = 7;
  EXPECT_JSON(eval(json::parse(R"({"var": "flat"})"), data), 7);
  EXPECT_JSON(eval(json::parse(R"({"!": {"var": "deep"}})"), data), false);
  EXPECT_JSON(eval(json::parse(R"({"var": "deep"})"), data), nullptr);
  EXPECT_JSON(eval(json::parse(R"([{"var": ""}])"), data), nullptr);
  // Nor printed as a string (arrays print their elements).
  EXPECT_JSON(eval(json::parse(R"({"cat": ["x", {"var": "deep"}]})"), data), nullptr);
  EXPECT_JSON(eval(json::parse(R"({"==": [{"var": "deep"}, "x"]})"), data), nullptr);
}

TEST(JsonLogicLimits, LargeButLinearRulesAreWellWithinTheLimits) {
  const json data = zeros(100'000);
  const json mapped =
      eval(json::parse(R"({"map": [{"var": "items"}, {"+": [{"var": ""}, 1]}]})"), data);
  ASSERT_TRUE(mapped.is_array());
  EXPECT_EQ(mapped.size(), 100'000u);
  EXPECT_JSON(mapped[99'999], 1);
  EXPECT_JSON(eval(json::parse(R"({"reduce": [{"var": "items"},
                                   {"+": [{"var": "current"}, {"var": "accumulator"}, 1]}, 0]})"),
                   data),
              100'000);
  EXPECT_JSON(
      eval(json::parse(R"({"filter": [{"var": "items"}, {"==": [{"var": ""}, 0]}]})"), data).size(),
      100'000);
}

// --- Rule object and concurrency -------------------------------------------------------------

TEST(JsonLogicRule, DefaultRuleIsNullAndNeverThrows) {
  const Rule rule;
  EXPECT_TRUE(rule.evaluate(json{{"a", 1}}).is_null());
  EXPECT_TRUE(rule.source().is_null());

  // Data of any shape is fine.
  const json guard = json::parse(R"({"and": [{"var": "a.b"}, {"in": [{"var": "x"}, {"var": ""}]},
                                             {"substr": [{"var": ""}, {"var": "q"}]}]})");
  for (const json& data : {json(nullptr), json(3), json("text"), json::array({1, 2}),
                           json::parse(R"({"a": {"b": [1]}, "x": "a"})")}) {
    EXPECT_NO_THROW(eval(guard, data)) << data.dump();
    EXPECT_NO_THROW(eval(json::parse(R"({"filter": [{"var": ""}, {"var": ""}]})"), data).dump());
  }
}

TEST(JsonLogicRule, CopiesShareTheCompiledRule) {
  std::vector<CompileError> errors;
  auto compiled = compile(json::parse(R"({"cat": ["a", {"var": "b"}]})"), errors);
  ASSERT_TRUE(compiled.has_value());
  const Rule copy = *compiled;
  compiled.reset();
  EXPECT_JSON(copy.evaluate({{"b", "c"}}), "ac");
  EXPECT_JSON(copy.source(), json::parse(R"({"cat": ["a", {"var": "b"}]})"));
}

TEST(JsonLogicRule, OneRuleEvaluatesConcurrently) {
  std::vector<CompileError> errors;
  const auto rule = compile(json::parse(R"({"if": [
      {"and": [{">=": [{"var": "application.reviews.count"}, 3]},
               {"before": [{"var": "application.entered"}, {"var": "event.time"}]}]},
      {"cat": ["ok-", {"reduce": [{"var": "application.scores"},
                                  {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]}]},
      {"map": [{"var": "application.scores"}, {"*": [{"var": ""}, 2]}]}]})"),
                            errors);
  ASSERT_TRUE(rule.has_value()) << describe(errors);

  const auto data_for = [](int i) {
    json d;
    d["application"]["reviews"]["count"] = i % 5;
    d["application"]["entered"] = "2026-01-01T00:00:00Z";
    d["application"]["scores"] = json::array({i, i + 1});
    d["event"]["time"] = "2026-02-01T00:00:00Z";
    return d;
  };
  const auto expected_for = [](int i) {
    if (i % 5 >= 3) return json("ok-" + std::to_string(2 * i + 1));
    return json::array({2 * i, 2 * i + 2});
  };

  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 2000; ++k) {
        const int i = t * 2000 + k;
        if (!same_json(rule->evaluate(data_for(i)), expected_for(i))) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace stagewise::workflow::jsonlogic
