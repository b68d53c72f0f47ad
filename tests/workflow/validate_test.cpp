// Loader validation: every kind of broken workflow under tests/workflow/broken/
// (one file per kind of problem, and files with many problems at once), the
// workflows shipped in workflows/, and several versions of one program loaded
// side by side (tests/workflow/versions/).
#include "common/time.h"
#include "support/temp_dir.h"
#include "workflow/engine.h"
#include "workflow/workflow.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

namespace stagewise::workflow {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kRoot = STAGEWISE_SOURCE_DIR;
const std::string kBroken = kRoot + "/tests/workflow/broken/";
const std::string kVersions = kRoot + "/tests/workflow/versions/";

struct Expected {
  std::string pointer;
  std::string phrase;  ///< must occur in the message
};

std::string dump(const std::vector<Problem>& problems) {
  std::string out;
  for (const auto& p : problems) out += "\n  " + p.to_string();
  return out;
}

// The problems are exactly the expected ones, in any order: each expected
// (pointer, phrase) matches one problem, and no problem is left over.
void expect_problems(const std::vector<Problem>& got, const std::vector<Expected>& want,
                     const std::string& file) {
  SCOPED_TRACE("problems:" + dump(got));
  std::vector<bool> used(got.size(), false);
  for (const auto& w : want) {
    bool found = false;
    for (size_t i = 0; i < got.size() && !found; ++i) {
      if (used[i] || got[i].pointer != w.pointer) continue;
      if (got[i].message.find(w.phrase) == std::string::npos) continue;
      used[i] = found = true;
    }
    EXPECT_TRUE(found) << "no problem at " << w.pointer << " saying: " << w.phrase;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(used[i]) << "unexpected problem: " << got[i].to_string();
    EXPECT_EQ(got[i].file, file);
    EXPECT_FALSE(got[i].message.empty());
  }
  EXPECT_EQ(got.size(), want.size());
}

// Loads one broken fixture: it must fail, with exactly the expected problems.
void expect_broken(const std::string& name, const std::vector<Expected>& want) {
  SCOPED_TRACE(name);
  std::vector<Problem> problems;
  const auto wf = load_workflow_file(kBroken + name, problems);
  EXPECT_FALSE(wf.has_value());
  expect_problems(problems, want, kBroken + name);
}

TEST(Validate, SyntaxErrorNamesLineAndColumn) {
  // A trailing comma: the '}' on line 7, column 1 is where the parser stops.
  expect_broken("syntax-error.json",
                {{"/",
                  "JSON syntax error at line 7, column 1: syntax error while parsing object "
                  "key - unexpected '}'"}});
  // A missing comma: the position is the last character of the unexpected
  // token ("states" on line 5 ends in column 10), as nlohmann::json reports it.
  expect_broken("syntax-error-missing-comma.json",
                {{"/", "JSON syntax error at line 5, column 10"}});
}

TEST(Validate, UnknownFieldsAtEveryLevel) {
  expect_broken("unknown-field.json", {{"/titel", "unknown field \"titel\"; expected one of: "},
                                       {"/states/open/deadlines", "unknown field \"deadlines\""},
                                       {"/transitions/0/role",
                                        "unknown field \"role\"; expected one of: from, on, to, "
                                        "roles, guard, description"}});
}

TEST(Validate, MissingOrInvalidInitial) {
  expect_broken("missing-initial.json", {{"/", "missing required field \"initial\""}});
  expect_broken("invalid-initial.json",
                {{"/initial", "initial state \"start\" is not one of the states"}});
  expect_broken("initial-not-a-string.json",
                {{"/initial", "\"initial\" must be a non-empty string"}});
}

TEST(Validate, TransitionsFromAndToUnknownStates) {
  // No "unreachable"/"no way out" noise follows from the typos: the graph
  // checks wait until every transition's ends are known.
  expect_broken("unknown-states.json",
                {{"/transitions/1/from", "unknown state \"reveiw\" (use \"*\" for any stage)"},
                 {"/transitions/2/to", "unknown state \"dnoe\""},
                 {"/transitions/3/from", "state \"done\" is terminal: nothing may leave it"}});
}

TEST(Validate, UnreachableStates) {
  expect_broken("unreachable-state.json",
                {{"/states/archived",
                  "state \"archived\" is unreachable from the initial state "
                  "\"open\""},
                 {"/states/orphan", "state \"orphan\" is unreachable"}});
}

TEST(Validate, NonTerminalStateWithNoWayOut) {
  // A self-transition is not a way out.
  expect_broken("no-way-out.json",
                {{"/states/limbo", "non-terminal state \"limbo\" has no way out"}});
}

TEST(Validate, UnknownEventTypes) {
  expect_broken("unknown-event-type.json",
                {{"/states/open/accepts/1", "unknown event type \"document.added\""},
                 {"/transitions/1/on", "unknown event type \"review.submited\"; see DESIGN.md §4"},
                 {"/transitions/2/on",
                  "\"application.submitted\" creates the application in the initial "
                  "state; it cannot drive a transition"}});
}

// Erasure is built in (DESIGN.md §14): a workflow naming it would read as if
// it could refuse or route it, so the validator says where and why.
TEST(Validate, ErasureIsBuiltInAndNotNamedByAWorkflow) {
  expect_broken("erasure-named.json",
                {{"/states/open/accepts/1", "\"application.erased\" is built in"},
                 {"/transitions/0/on", "moves no application (DESIGN.md §14); remove it here"}});
}

TEST(Validate, RetentionNamesWhatIsWrong) {
  expect_broken("bad-retention.json",
                {{"/retention/erase_after", "\"two years\" is not a positive duration such as"},
                 {"/retention/from", "\"from\" must be \"terminal\""},
                 {"/retention/keep", "unknown field \"keep\""}});
}

TEST(Validate, GuardWithUnknownOperator) {
  expect_broken("guard-unknown-operator.json",
                {{"/transitions/0/guard/and/1", "guard: unknown operator \"greater_than\""},
                 {"/transitions/1/guard", "unknown operator \">==\"; did you mean \"==\"?"}});
}

TEST(Validate, GuardWithWrongArity) {
  expect_broken("guard-wrong-arity.json",
                {{"/transitions/0/guard", "guard: \"==\" takes exactly 2 arguments, got 1"},
                 {"/transitions/1/guard/or/1", "\"before\" takes exactly 2 arguments, got 3"}});
}

TEST(Validate, BadDurations) {
  expect_broken(
      "bad-duration.json",
      {{"/states/open/deadline/after",
        "\"P1M\" is not a positive ISO-8601 duration of weeks, days, hours, minutes or seconds"},
       {"/states/open/deadline/reminders/0", "\"soon\" is not a positive ISO-8601 duration"},
       {"/states/review/deadline/after", "\"soon\" is not a positive ISO-8601 duration"},
       {"/states/waiting/deadline/reminders/0", "a reminder must come before the deadline (P7D)"},
       {"/transitions/1/guard/</0/duration_seconds",
        "guard: \"P1Y\" is not a fixed-length ISO-8601 duration"}});
}

TEST(Validate, TransitionsShadowedByAnEarlierUnguardedOne) {
  // 1: after an unguarded transition on the same event; 3: its roles are a
  // subset of the earlier one's; 7: "*" covers "review". Transition 5 has a
  // role the earlier one lacks, so it can fire.
  expect_broken("shadowed-transition.json",
                {{"/transitions/1",
                  "this transition can never fire: transition 0 (from \"open\" "
                  "on \"decision.recorded\") comes first, has no guard"},
                 {"/transitions/3", "can never fire: transition 2"},
                 {"/transitions/7", "can never fire: transition 6 (from \"*\""}});
}

TEST(Validate, VersionMustBeAPositiveInt) {
  // 2^32 + 1 used to wrap around to version 1.
  expect_broken("bad-version.json", {{"/version", "\"version\" must be a positive integer"}});
}

TEST(Validate, MultiProblemFileReportsEveryProblem) {
  expect_broken(
      "multi-problem.json",
      {{"/titel", "unknown field \"titel\""},
       {"/states/open/accepts/0", "unknown event type \"note.add\""},
       {"/states/open/deadline/after", "\"P1M\" is not a positive ISO-8601 duration"},
       {"/states/open/deadline/reminders/0", "\"soon\" is not a positive ISO-8601 duration"},
       {"/states/review/deadlines", "unknown field \"deadlines\""},
       {"/transitions/0/on", "unknown event type \"review.submited\""},
       {"/transitions/3/guard/and/0", "\"==\" takes exactly 2 arguments, got 1"},
       {"/transitions/3/guard/and/1", "unknown operator \"greter\""},
       {"/transitions/4/roles/0", "unknown role \"sponsor\""},
       // The graph checks run too, although the file has other problems.
       {"/states/orphan", "state \"orphan\" is unreachable"},
       {"/transitions/2", "this transition can never fire: transition 1"}});
}

TEST(Validate, EveryGraphProblemIsReported) {
  expect_broken("graph-problems.json",
                {{"/states/done/deadline", "terminal state \"done\" cannot have a deadline"},
                 {"/states/limbo", "non-terminal state \"limbo\" has no way out"},
                 {"/states/orphan", "state \"orphan\" is unreachable"},
                 {"/transitions/2",
                  "can never fire: transition 1 (from \"open\" on "
                  "\"stage.deadline_passed\")"}});
}

TEST(Validate, DuplicateProgramAndVersionAcrossTwoFiles) {
  std::vector<Problem> problems;
  const auto reg = Registry::load({kBroken + "duplicate"}, problems);
  ASSERT_EQ(problems.size(), 1u) << dump(problems);
  EXPECT_EQ(fs::path(problems[0].file).filename().string(), "b.json");
  EXPECT_EQ(problems[0].pointer, "/version");
  EXPECT_NE(
      problems[0].message.find("program \"broken-duplicate\" version 3 is already defined in"),
      std::string::npos)
      << problems[0].message;
  EXPECT_NE(problems[0].message.find("a.json"), std::string::npos) << problems[0].message;
  // The first definition stays loaded.
  const Workflow* wf = reg.find("broken-duplicate", 3);
  ASSERT_NE(wf, nullptr);
  EXPECT_EQ(fs::path(wf->file).filename().string(), "a.json");
}

TEST(Validate, FolderLoadReportsEveryBrokenFile) {
  std::vector<Problem> problems;
  const auto reg = Registry::load({kBroken}, problems);
  EXPECT_TRUE(reg.empty());
  std::set<std::string> files_with_problems;
  for (const auto& p : problems) files_with_problems.insert(fs::path(p.file).filename().string());
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(kBroken)) {
    if (e.path().extension() != ".json") continue;
    ++files;
    EXPECT_TRUE(files_with_problems.count(e.path().filename().string()))
        << e.path().filename() << " loaded without a problem";
  }
  EXPECT_EQ(files_with_problems.size(), files) << dump(problems);
}

TEST(Validate, ProblemsNameFilePointerAndSentence) {
  const Problem p{"workflows/x.json", "/transitions/2/on", "unknown event type \"x\""};
  EXPECT_EQ(p.to_string(), "workflows/x.json: /transitions/2/on: unknown event type \"x\"");
  std::vector<Problem> problems;
  Registry::load({kRoot + "/tests/workflow/no-such-folder"}, problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].pointer, "/");
  EXPECT_EQ(problems[0].message, "no such file or folder");
}

TEST(Validate, DocumentsThatAreNotWorkflows) {
  std::vector<Problem> problems;
  EXPECT_FALSE(parse_workflow(json::array(), "a.json", problems));
  expect_problems(problems, {{"/", "a workflow must be a JSON object"}}, "a.json");

  problems.clear();
  EXPECT_FALSE(parse_workflow(json::object(), "b.json", problems));
  expect_problems(problems,
                  {{"/", "missing required field \"program\""},
                   {"/", "missing required field \"version\""},
                   {"/", "missing required field \"initial\""},
                   {"/", "\"states\" must be a non-empty object"},
                   {"/", "\"transitions\" must be an array"}},
                  "b.json");

  problems.clear();
  const json doc = {{"program", "Bad Name"},
                    {"version", 0},
                    {"initial", "a"},
                    {"states", {{"a", json::array()}, {"b", {{"terminal", "yes"}}}}},
                    {"transitions", {{{"from", "a"}, {"on", "note.added"}, {"to", "b"}}, 7}}};
  EXPECT_FALSE(parse_workflow(doc, "c.json", problems));
  expect_problems(problems,
                  {{"/program", "\"program\" must use lowercase letters, digits, '-' and '_'"},
                   {"/version", "\"version\" must be a positive integer"},
                   {"/states/a", "a state must be an object"},
                   {"/states/b/terminal", "\"terminal\" must be true or false"},
                   {"/transitions/1", "a transition must be an object"}},
                  "c.json");
}

// A file nesting too deep is refused before any tree is built: copying a
// tree recurses, so a million nested arrays overflowed the stack. The limit
// leaves room for a guard as deep as the JsonLogic compiler takes.
TEST(Validate, DeeplyNestedFilesAreRefusedBeforeAnyTreeIsBuilt) {
  stagewise::testing::TempDir dir;
  const auto workflow_with = [](const std::string& guard, const std::string& description) {
    return R"({"program": "p", "version": 1, "initial": "a", "description": )" + description +
           R"(, "states": {"a": {}, "b": {"terminal": true}}, "transitions": [)" +
           R"({"from": "a", "on": "note.added", "to": "b", "guard": )" + guard + "}]}";
  };
  const auto nots = [](int levels) {
    std::string g = "true";
    for (int i = 0; i < levels; ++i) g = R"({"!": )" + g + "}";
    return g;
  };
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  std::vector<Problem> problems;
  const std::string deepest_guard = nots(jsonlogic::kMaxNesting);
  EXPECT_TRUE(load_workflow_file(write("ok.json", workflow_with(deepest_guard, "\"\"")), problems))
      << dump(problems);

  const std::string limit = std::to_string(kMaxWorkflowDepth);
  const std::string deep_guard = write("guard.json", workflow_with(nots(513), "\"\""));
  EXPECT_FALSE(load_workflow_file(deep_guard, problems));
  expect_problems(problems, {{"/", "nests objects and arrays more than " + limit + " deep"}},
                  deep_guard);

  problems.clear();
  const std::string arrays = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  const std::string deep = write("deep.json", workflow_with("true", arrays));
  EXPECT_FALSE(load_workflow_file(deep, problems));
  expect_problems(problems, {{"/", "nests objects and arrays more than " + limit + " deep"}}, deep);
}

// ---------------------------------------------------------------- shipped workflows

std::vector<fs::path> shipped_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kRoot + "/workflows"))
    if (e.path().extension() == ".json") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ShippedWorkflows, EveryFileLoadsWithoutProblems) {
  const auto files = shipped_files();
  ASSERT_GE(files.size(), 5u);
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    std::vector<Problem> problems;
    const auto wf = load_workflow_file(f.string(), problems);
    EXPECT_TRUE(problems.empty()) << dump(problems);
    ASSERT_TRUE(wf.has_value());
    EXPECT_EQ(wf->program, f.stem().string()) << "the program id is the file name";
    EXPECT_EQ(wf->version, 1);
    EXPECT_FALSE(wf->title.empty());
    EXPECT_EQ(wf->state_order.size(), wf->states.size());
  }
  std::vector<Problem> problems;
  const auto reg = Registry::load({kRoot + "/workflows"}, problems);
  EXPECT_TRUE(problems.empty()) << dump(problems);
  EXPECT_EQ(reg.all().size(), files.size());
}

// A deadline that moves nothing would dead-letter its own timer event, and a
// deadline transition from a stage without a deadline would never fire.
TEST(ShippedWorkflows, DeadlinesAndDeadlineTransitionsMatch) {
  std::vector<Problem> problems;
  const auto reg = Registry::load({kRoot + "/workflows"}, problems);
  ASSERT_TRUE(problems.empty()) << dump(problems);
  for (const Workflow* wf : reg.all()) {
    for (const auto& [name, st] : wf->states) {
      const bool moves =
          std::any_of(wf->transitions.begin(), wf->transitions.end(), [&](const Transition& t) {
            return t.on == "stage.deadline_passed" && (t.from == name || t.from == "*");
          });
      EXPECT_EQ(st.deadline.has_value(), moves) << wf->program << " state " << name;
    }
  }
}

TEST(ShippedWorkflows, GrantSelectionExcludesTheSponsor) {
  std::vector<Problem> problems;
  const auto wf = load_workflow_file(kRoot + "/workflows/research-grant.json", problems);
  ASSERT_TRUE(wf.has_value()) << dump(problems);
  for (const auto& t : wf->transitions) {
    SCOPED_TRACE("transition " + std::to_string(t.index));
    EXPECT_FALSE(t.roles.empty()) << "an open transition would admit admin";
    EXPECT_EQ(std::count(t.roles.begin(), t.roles.end(), "admin"), 0);
    if (t.on == "decision.recorded" || t.on == "review.submitted" || t.on == "reviewer.assigned" ||
        t.on == "reviewer.recused") {
      for (const auto& r : t.roles) EXPECT_TRUE(r == "program_manager" || r == "reviewer") << r;
    }
  }
}

// ---------------------------------------------------------------- versions

CloudEvent event(const std::string& type, const std::string& role, json data = json(),
                 const std::string& actorid = "") {
  static int64_t t = *parse_rfc3339_ms("2026-03-02T09:00:00Z");
  static int n = 0;
  CloudEvent e;
  e.id = "evt-" + std::to_string(++n);
  e.source = "test";
  e.type = type;
  e.subject = "app";
  e.time_ms = (t += 3600 * 1000);
  e.time = format_rfc3339_ms(e.time_ms);
  e.program = "versioned-mini";
  e.actorid = actorid;
  e.actorrole = role;
  e.data = std::move(data);
  return e;
}

Application applied(const Outcome& out) {
  const auto* ok = std::get_if<Applied>(&out);
  if (ok == nullptr) {
    ADD_FAILURE() << "rejected: " << std::get<Rejected>(out).message;
    return {};
  }
  return ok->next;
}

TEST(Versions, LoadSideBySideAndNewApplicationsTakeTheLatest) {
  for (const auto& paths : std::vector<std::vector<std::string>>{
           {kVersions}, {kVersions + "mini-v2.json", kVersions + "mini-v1.json"}}) {
    std::vector<Problem> problems;
    const auto reg = Registry::load(paths, problems);
    ASSERT_TRUE(problems.empty()) << dump(problems);
    ASSERT_NE(reg.find("versioned-mini", 1), nullptr);
    ASSERT_NE(reg.find("versioned-mini", 2), nullptr);
    EXPECT_EQ(reg.find("versioned-mini", 3), nullptr);
    EXPECT_EQ(reg.latest("versioned-mini")->version, 2);
    ASSERT_EQ(reg.all().size(), 2u);
    EXPECT_EQ(reg.all()[0]->version, 1);
    EXPECT_EQ(reg.all()[1]->version, 2);

    const Outcome out = apply(reg, nullptr, event("application.submitted", "applicant"));
    ASSERT_TRUE(std::holds_alternative<Applied>(out));
    const Applied& a = std::get<Applied>(out);
    EXPECT_EQ(a.next.workflow_version, 2);
    EXPECT_EQ(a.next.stage, "submitted");
    ASSERT_EQ(a.notifications.size(), 1u);
    EXPECT_EQ(a.notifications[0].template_name, "received_v2");
  }
}

TEST(Versions, AnApplicationKeepsTheVersionItStartedOn) {
  std::vector<Problem> problems;
  const auto reg = Registry::load({kVersions}, problems);
  ASSERT_TRUE(problems.empty()) << dump(problems);
  const Workflow& v1 = *reg.find("versioned-mini", 1);

  // Started while v1 was the latest; v2 was deployed since.
  Application old = applied(apply(v1, nullptr, event("application.submitted", "applicant")));
  ASSERT_EQ(old.workflow_version, 1);
  Application fresh = applied(apply(reg, nullptr, event("application.submitted", "applicant")));
  ASSERT_EQ(fresh.workflow_version, 2);

  // The same decision moves each along its own version's transitions.
  const CloudEvent advance =
      event("decision.recorded", "program_manager", {{"outcome", "advance"}});
  old = applied(apply(reg, &old, advance));
  fresh = applied(apply(reg, &fresh, advance));
  EXPECT_EQ(old.stage, "review");
  EXPECT_EQ(fresh.stage, "screening");
  EXPECT_EQ(old.workflow_version, 1);

  // v2's screening transition does not exist for the v1 application.
  const CloudEvent cv = event("application.document_added", "applicant", {{"kind", "cv"}});
  const Outcome not_v1 = apply(reg, &old, cv);
  ASSERT_TRUE(std::holds_alternative<Rejected>(not_v1));
  EXPECT_EQ(std::get<Rejected>(not_v1).reason, Reason::not_accepted_in_stage);
  fresh = applied(apply(reg, &fresh, cv));
  EXPECT_EQ(fresh.stage, "review");

  // v1's rubric has one criterion and accepts a mean of 3; v2 wants two
  // criteria and a mean of 4. A stored-and-restored v1 application still
  // follows v1.
  old = application_from_json(to_json(old));
  // Only an assigned reviewer reviews where the stage asks for reviewers.
  const CloudEvent assign =
      event("reviewer.assigned", "program_manager", {{"reviewer", "rev-1"}}, "pm-1");
  old = applied(apply(reg, &old, assign));
  fresh = applied(apply(reg, &fresh, assign));
  const CloudEvent v1_review =
      event("review.submitted", "reviewer", {{"scores", {{"quality", 3}}}}, "rev-1");
  const Outcome v1_on_v2 = apply(reg, &fresh, v1_review);
  ASSERT_TRUE(std::holds_alternative<Rejected>(v1_on_v2));
  EXPECT_EQ(std::get<Rejected>(v1_on_v2).reason, Reason::invalid_data);
  old = applied(apply(reg, &old, v1_review));
  EXPECT_EQ(old.stage, "accepted");
  EXPECT_EQ(old.workflow_version, 1);

  fresh = applied(apply(reg, &fresh,
                        event("review.submitted", "reviewer",
                              {{"scores", {{"quality", 4}, {"originality", 3}}}}, "rev-1")));
  EXPECT_EQ(fresh.stage, "rejected") << "v2 needs a weighted mean of 4 (this one is 3.67)";
}

TEST(Versions, AnApplicationWhoseVersionIsNotLoadedIsRejected) {
  std::vector<Problem> problems;
  const auto both = Registry::load({kVersions}, problems);
  const auto only_v2 = Registry::load({kVersions + "mini-v2.json"}, problems);
  ASSERT_TRUE(problems.empty()) << dump(problems);
  const Application old = applied(
      apply(*both.find("versioned-mini", 1), nullptr, event("application.submitted", "applicant")));
  const Outcome out =
      apply(only_v2, &old, event("decision.recorded", "program_manager", {{"outcome", "advance"}}));
  ASSERT_TRUE(std::holds_alternative<Rejected>(out));
  EXPECT_EQ(std::get<Rejected>(out).reason, Reason::unknown_program);
  EXPECT_NE(std::get<Rejected>(out).message.find("versioned-mini v1"), std::string::npos);
}

}  // namespace
}  // namespace stagewise::workflow
