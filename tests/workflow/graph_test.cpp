// Pictures of workflows: guard summaries, Mermaid and Graphviz output.
#include "workflow/graph.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

namespace stagewise::workflow {
namespace {

using nlohmann::json;

const std::string kRoot = STAGEWISE_SOURCE_DIR;

const Workflow& summer() {
  static const Registry registry = [] {
    std::vector<Problem> problems;
    Registry r = Registry::load({kRoot + "/workflows/summer-research-internship.json"}, problems);
    for (const auto& p : problems) ADD_FAILURE() << p.to_string();
    return r;
  }();
  const Workflow* wf = registry.find("summer-research-internship", 1);
  if (!wf) throw std::runtime_error("summer-research-internship v1 did not load");
  return *wf;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A workflow built by hand, with names and texts that stress the escaping.
Workflow awkward() {
  Workflow wf;
  wf.program = "awkward-program";
  wf.version = 2;
  wf.title = "It's \"awkward\": 100% #1; <b>bold</b> & more\nnext line";
  wf.initial = "needs-info";
  auto add_state = [&](const std::string& name, const std::string& title, bool terminal) {
    State st;
    st.name = name;
    st.title = title;
    st.terminal = terminal;
    wf.states[name] = st;
    wf.state_order.push_back(name);
  };
  add_state("needs-info", "Needs info: \"soon\"; %% not a comment", false);
  add_state("needs_info", "Same id once sanitised", false);
  add_state("state", "change direction TB now", false);
  add_state("default", "C:\\path\\ \\N {braces} [*] --> x", false);
  add_state("done \"ok\"", "Done", true);
  add_state("gone", "", true);
  wf.states["needs-info"].deadline = Deadline{"P14D", 0, {}};

  auto add_transition = [&](const std::string& from, const std::string& on, const std::string& to,
                            std::vector<std::string> roles, json guard) {
    Transition t;
    t.index = static_cast<int>(wf.transitions.size());
    t.from = from;
    t.on = on;
    t.to = to;
    t.roles = std::move(roles);
    t.guard_source = std::move(guard);
    t.description = "why: \"because\"\\";
    wf.transitions.push_back(std::move(t));
  };
  add_transition("needs-info", "decision.recorded", "needs_info", {"program_manager"},
                 {{"==", {{{"var", "event.data.outcome"}}, "a \"quoted\": value; #x; 50%"}}});
  add_transition("needs_info", "decision.recorded", "state", {},
                 {{"before", {{{"var", "event.time"}}, "2026-04-01T00:00:00Z"}}});
  add_transition("state", "note.added", "default", {"a", "b"},
                 {{"in", {"<script>", {{"var", "event.data.text"}}}}});
  add_transition("default", "decision.recorded", "done \"ok\"", {}, nullptr);
  add_transition("*", "application.withdrawn", "gone", {"applicant"}, nullptr);
  return wf;
}

// ---------------------------------------------------------------------------
// guard_summary

TEST(GraphGuardSummary, Literals) {
  EXPECT_EQ(guard_summary(json(3)), "3");
  EXPECT_EQ(guard_summary(json(3.5)), "3.5");
  EXPECT_EQ(guard_summary(json(true)), "true");
  EXPECT_EQ(guard_summary(json(false)), "false");
  EXPECT_EQ(guard_summary(json(nullptr)), "null");
  EXPECT_EQ(guard_summary(json("admit")), "\"admit\"");
  EXPECT_EQ(guard_summary(json::parse(R"(["a", 1])")), "[\"a\", 1]");
}

TEST(GraphGuardSummary, VarKeepsPrefixes) {
  EXPECT_EQ(guard_summary(json::parse(R"({"var": "application.reviews.count"})")),
            "application.reviews.count");
  EXPECT_EQ(guard_summary(json::parse(R"({"var": ["event.data.outcome"]})")), "event.data.outcome");
  EXPECT_EQ(guard_summary(json::parse(R"({"var": ["application.reviews.mean", 0]})")),
            "application.reviews.mean (default 0)");
}

TEST(GraphGuardSummary, Comparisons) {
  EXPECT_EQ(guard_summary(json::parse(R"({"==": [{"var": "event.data.outcome"}, "admit"]})")),
            "event.data.outcome == \"admit\"");
  EXPECT_EQ(guard_summary(json::parse(R"({">=": [{"var": "application.reviews.count"}, 3]})")),
            "application.reviews.count >= 3");
  EXPECT_EQ(guard_summary(json::parse(R"({"===": [{"var": "a"}, true]})")), "a == true");
  EXPECT_EQ(guard_summary(json::parse(R"({"!==": [{"var": "a"}, null]})")), "a != null");
  EXPECT_EQ(guard_summary(json::parse(R"({"<": [1, {"var": "x"}, 10]})")), "1 < x < 10");
  EXPECT_EQ(guard_summary(json::parse(R"({"<=": [{"var": "x"}, 2.5]})")), "x <= 2.5");
  EXPECT_EQ(
      guard_summary(json::parse(R"({"before": [{"var": "event.time"}, "2026-04-01T00:00:00Z"]})")),
      "event.time before \"2026-04-01T00:00:00Z\"");
}

TEST(GraphGuardSummary, In) {
  EXPECT_EQ(guard_summary(
                json::parse(R"({"in": ["transcript", {"var": "application.documents.kinds"}]})")),
            "\"transcript\" in application.documents.kinds");
  EXPECT_EQ(guard_summary(json::parse(R"({"in": [{"var": "event.data.outcome"}, ["a", "b"]]})")),
            "event.data.outcome in [\"a\", \"b\"]");
}

TEST(GraphGuardSummary, LogicWithParentheses) {
  EXPECT_EQ(guard_summary(json::parse(R"({"and": [
                {">=": [{"var": "application.reviews.count"}, 3]},
                {">=": [{"var": "application.reviews.mean"}, 3.5]}]})")),
            "application.reviews.count >= 3 and application.reviews.mean >= 3.5");
  EXPECT_EQ(guard_summary(
                json::parse(R"({"or": [{"var": "a"}, {"and": [{"var": "b"}, {"var": "c"}]}]})")),
            "a or (b and c)");
  EXPECT_EQ(guard_summary(
                json::parse(R"({"and": [{"or": [{"var": "a"}, {"var": "b"}]}, {"var": "c"}]})")),
            "(a or b) and c");
  EXPECT_EQ(guard_summary(json::parse(R"({"!": [{"in": ["x", {"var": "k"}]}]})")),
            "not (\"x\" in k)");
  EXPECT_EQ(guard_summary(json::parse(R"({"!": {"var": "application.decision"}})")),
            "not application.decision");
  EXPECT_EQ(guard_summary(json::parse(R"({"!!": [{"var": "application.interview"}]})")),
            "application.interview is truthy");
  EXPECT_EQ(guard_summary(json::parse(R"({"and": [{"var": "a"}]})")), "a");
}

TEST(GraphGuardSummary, ArithmeticAndCalls) {
  EXPECT_EQ(guard_summary(json::parse(R"({">": [{"*": [{"+": [1, {"var": "a"}]}, 2]}, 7]})")),
            "(1 + a) * 2 > 7");
  EXPECT_EQ(guard_summary(json::parse(R"({"-": [{"var": "a"}, {"-": [{"var": "b"}, 1]}]})")),
            "a - (b - 1)");
  EXPECT_EQ(guard_summary(json::parse(R"({"-": [{"var": "a"}]})")), "-a");
  EXPECT_EQ(guard_summary(json::parse(R"({"%": [{"var": "a"}, 2]})")), "a % 2");
  EXPECT_EQ(guard_summary(json::parse(R"({"<=": [{"days_between": [
                {"var": "application.created_at"}, {"var": "event.time"}]}, 30]})")),
            "days_between(application.created_at, event.time) <= 30");
  EXPECT_EQ(guard_summary(json::parse(R"({"max": [1, {"var": "a"}]})")), "max(1, a)");
  EXPECT_EQ(guard_summary(json::parse(R"({"if": [{"var": "a"}, 1, {"var": "b"}, 2, 3]})")),
            "if a then 1 else if b then 2 else 3");
}

TEST(GraphGuardSummary, FallsBackToCompactJson) {
  EXPECT_EQ(guard_summary(json::parse(R"({"frobnicate": [1, 2]})")), R"({"frobnicate":[1,2]})");
  EXPECT_EQ(guard_summary(json::parse(R"({"a": 1, "b": 2})")), R"({"a":1,"b":2})");
  EXPECT_EQ(guard_summary(json::parse(R"({"var": ""})")), R"({"var":""})");
  // Inside a readable expression, only the unknown part is JSON.
  EXPECT_EQ(guard_summary(json::parse(R"({"and": [{"var": "a"}, {"zz": 1}]})")),
            R"(a and {"zz":1})");

  const json long_rule = json::parse(R"({"some": [{"var": "application.reviews.list"},
      {">=": [{"var": "score"}, 4]}]})");
  const std::string s = guard_summary(long_rule);
  const std::string ellipsis = "\xE2\x80\xA6";
  ASSERT_GE(s.size(), ellipsis.size());
  EXPECT_EQ(s.substr(s.size() - ellipsis.size()), ellipsis);
  EXPECT_EQ(s.size() - ellipsis.size(), 59u);  // 60 characters with the ellipsis
  EXPECT_EQ(s.rfind(R"({"some":[{"var":"application.reviews.list"})", 0), 0u);

  // Never cut inside a UTF-8 sequence: {"z":" is 6 bytes, then 2-byte characters.
  std::string accents;
  for (int i = 0; i < 40; ++i) accents += "\xC3\xA9";  // é
  const std::string cut = guard_summary(json{{"z", accents}});
  ASSERT_GT(cut.size(), ellipsis.size());
  EXPECT_EQ(cut.substr(cut.size() - ellipsis.size()), ellipsis);
  const std::string body = cut.substr(0, cut.size() - ellipsis.size());
  EXPECT_EQ(body.size(), 58u) << body;  // not 59: that would split an é
  EXPECT_EQ(static_cast<unsigned char>(body.back()), 0xA9);
}

// ---------------------------------------------------------------------------
// Mermaid

TEST(GraphMermaid, SummerShowsEveryStateWithTitleAndDeadline) {
  const Workflow& wf = summer();
  const std::string m = to_mermaid(wf);
  EXPECT_EQ(m.rfind("---\ntitle: 'Summer undergraduate research internship "
                    "(summer-research-internship v1)'\n---\nstateDiagram-v2\n",
                    0),
            0u)
      << m;
  ASSERT_EQ(wf.state_order.size(), wf.states.size());
  for (const auto& name : wf.state_order) {
    EXPECT_TRUE(contains(m, "  state \"" + name + "\" as s_" + name + "\n")) << name;
  }
  EXPECT_TRUE(contains(m, "  s_submitted : Submitted, awaiting eligibility check\n"));
  EXPECT_TRUE(contains(m, "  s_documents : deadline P14D\n"));
  EXPECT_TRUE(contains(m, "  s_offered : deadline P10D\n"));
  // The colon in a title is an entity code: a raw one would end the description.
  EXPECT_TRUE(contains(m, "  s_expired : Lapsed#58; a deadline passed\n"));
  EXPECT_FALSE(contains(m, "s_decision : deadline"));
}

TEST(GraphMermaid, SummerMarksInitialAndTerminalStates) {
  const Workflow& wf = summer();
  const std::string m = to_mermaid(wf);
  EXPECT_TRUE(contains(m, "  [*] --> s_submitted\n"));
  for (const auto& [name, st] : wf.states) {
    EXPECT_EQ(contains(m, "  s_" + name + " --> [*]\n"), st.terminal) << name;
  }
}

TEST(GraphMermaid, SummerLabelsEdgesWithEventRolesAndGuard) {
  const std::string m = to_mermaid(summer());
  EXPECT_TRUE(contains(m,
                       "  s_review --> s_rejected : review.submitted [reviewer]<br/>"
                       "application.reviews.count >= 3\n"))
      << m;
  EXPECT_TRUE(contains(m,
                       "  s_review --> s_interview : review.submitted [reviewer]<br/>"
                       "application.reviews.count >= 3<br/>"
                       "and application.reviews.mean >= 3.5\n"));
  EXPECT_TRUE(contains(m,
                       "  s_decision --> s_offered : decision.recorded [program_manager]<br/>"
                       "event.data.outcome == #quot;admit#quot;\n"));
  EXPECT_TRUE(contains(m,
                       "  s_documents --> s_review : application.document_added<br/>"
                       "#quot;transcript#quot; in application.documents.kinds<br/>"
                       "and #quot;recommendation_letter#quot; in application.documents.kinds\n"));
  EXPECT_TRUE(contains(m,
                       "  s_interview --> s_decision : interview.completed "
                       "[program_manager, reviewer]\n"));
  EXPECT_TRUE(contains(m, "  s_offered --> s_expired : stage.deadline_passed [system]\n"));
  // "*" transitions leave one dashed pseudo-state rather than every state.
  EXPECT_TRUE(contains(m, "  state \"any non-final stage\" as any_stage\n"));
  EXPECT_TRUE(contains(m, "  any_stage --> s_withdrawn : application.withdrawn [applicant]\n"));
  EXPECT_TRUE(contains(m, "  class any_stage anyStage\n"));
}

TEST(GraphMermaid, OneEdgePerTransition) {
  const Workflow& wf = summer();
  size_t edges = 0;
  for (const auto& line : lines_of(to_mermaid(wf)))
    if (contains(line, " --> ") && !contains(line, "[*]")) ++edges;
  EXPECT_EQ(edges, wf.transitions.size());
}

// Checks every line against the shapes this generator writes, with Mermaid's
// own tokenisation: labels may hold entity codes (#name; / #123;) but no raw
// character that would end or re-open a token.
void expect_valid_mermaid(const std::string& m) {
  static const std::regex state_re(R"re(^  state "([^"]*)" as ([A-Za-z0-9_]+)$)re");
  static const std::regex descr_re(R"(^  ([A-Za-z0-9_]+) : (.+)$)");
  static const std::regex edge_re(
      R"(^  (\[\*\]|[A-Za-z0-9_]+) --> (\[\*\]|[A-Za-z0-9_]+)( : (.+))?$)");
  static const std::regex entity_re(R"(#\w+;)");
  static const std::regex direction_re(R"(direction\s+(tb|bt|rl|lr))", std::regex::icase);
  const auto lines = lines_of(m);
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0], "---");
  EXPECT_EQ(lines[2], "---");
  EXPECT_EQ(lines[3], "stateDiagram-v2");
  // The title is a YAML single-quoted scalar: no quote inside but doubled ones.
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(R"(^title: '([^']|'')*'$)"))) << lines[1];
  for (size_t i = 4; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty() || line.rfind("  classDef ", 0) == 0 || line.rfind("  class ", 0) == 0)
      continue;
    std::smatch sm;
    std::string label;
    if (std::regex_match(line, sm, state_re)) {
      label = sm[1];
    } else if (std::regex_match(line, sm, edge_re)) {
      label = sm[4];
    } else if (std::regex_match(line, sm, descr_re)) {
      label = sm[2];
    } else {
      ADD_FAILURE() << "unexpected line: " << line;
      continue;
    }
    std::string plain = std::regex_replace(label, entity_re, "");
    for (size_t at; (at = plain.find("<br/>")) != std::string::npos;) plain.erase(at, 5);
    for (const char c : std::string("\":;#%\n\r"))
      EXPECT_EQ(plain.find(c), std::string::npos) << "raw '" << c << "' in: " << line;
    EXPECT_FALSE(std::regex_search(plain, std::regex("<[^ =]"))) << "tag-like '<' in: " << line;
    EXPECT_FALSE(std::regex_search(line, direction_re)) << line;
  }
}

TEST(GraphMermaid, SummerIsWellFormed) {
  expect_valid_mermaid(to_mermaid(summer()));
}

TEST(GraphMermaid, EscapesAwkwardNamesAndLabels) {
  const std::string m = to_mermaid(awkward());
  expect_valid_mermaid(m);
  // Names that differ only in punctuation get distinct safe ids.
  EXPECT_TRUE(contains(m, "  state \"needs-info\" as s_needs_info\n")) << m;
  EXPECT_TRUE(contains(m, "  state \"needs_info\" as s_needs_info_2\n"));
  EXPECT_TRUE(contains(m, "  state \"state\" as s_state\n"));
  EXPECT_TRUE(contains(m, "  state \"default\" as s_default\n"));
  EXPECT_TRUE(contains(m, "  state \"done #quot;ok#quot;\" as s_done__ok_\n"));
  EXPECT_TRUE(contains(m, "  [*] --> s_needs_info\n"));
  EXPECT_TRUE(contains(m, "  s_done__ok_ --> [*]\n"));
  EXPECT_TRUE(contains(m, "  s_gone --> [*]\n"));
  EXPECT_TRUE(
      contains(m, "  s_needs_info : Needs info#58; #quot;soon#quot;#59; #37;#37; not a comment\n"));
  EXPECT_TRUE(contains(m, "  s_needs_info : deadline P14D\n"));
  EXPECT_TRUE(contains(m, "  s_state : change direction#32;TB now\n"));
  EXPECT_TRUE(contains(m,
                       "event.data.outcome == #quot;a \\#quot;quoted\\#quot;#58; value#59; "
                       "#35;x#59; 50#37;#quot;\n"));
  EXPECT_TRUE(contains(m, "event.time before #quot;2026-04-01T00#58;00#58;00Z#quot;\n"));
  EXPECT_TRUE(contains(m, "note.added [a, b]<br/>#quot;#lt;script>#quot; in event.data.text\n"));
  EXPECT_TRUE(contains(
      m,
      "title: 'It''s ''awkward'': 100% #1; <b>bold</b> & more next line (awkward-program v2)'\n"));
}

TEST(GraphMermaid, Deterministic) {
  const Workflow& wf = summer();
  const Workflow copy = wf;
  EXPECT_EQ(to_mermaid(wf), to_mermaid(wf));
  EXPECT_EQ(to_mermaid(wf), to_mermaid(copy));
  EXPECT_EQ(to_mermaid(awkward()), to_mermaid(awkward()));
}

// ---------------------------------------------------------------------------
// Graphviz

// Braces balance outside quoted strings, and every string is closed.
void expect_balanced_dot(const std::string& d) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < d.size(); ++i) {
    const char c = d[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character
      } else if (c == '"') {
        in_string = false;
      } else {
        EXPECT_NE(c, '\n') << "line break inside a string at byte " << i;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{') ++depth;
    if (c == '}') {
      --depth;
      ASSERT_GE(depth, 0) << "unbalanced '}' at byte " << i;
    }
  }
  EXPECT_FALSE(in_string) << "unterminated string";
  EXPECT_EQ(depth, 0);
}

// Runs `dot -Tsvg` on the text when Graphviz is installed; skips otherwise.
void expect_dot_accepts(const std::string& d, const std::string& name) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0) GTEST_SKIP() << "dot not installed";
  const std::string in = testing::TempDir() + "/graph_test_" + name + ".dot";
  const std::string err = in + ".err";
  {
    std::ofstream out(in, std::ios::binary);
    out << d;
  }
  const int rc = std::system(("dot -Tsvg '" + in + "' -o /dev/null 2>'" + err + "'").c_str());
  std::ifstream e(err);
  std::stringstream messages;
  messages << e.rdbuf();
  EXPECT_EQ(rc, 0) << messages.str() << "\n" << d;
}

TEST(GraphDot, SummerShowsStatesMarkersAndEdges) {
  const Workflow& wf = summer();
  const std::string d = to_dot(wf);
  EXPECT_EQ(d.rfind("digraph \"summer-research-internship v1\" {\n", 0), 0u) << d;
  EXPECT_TRUE(contains(d, "  \"__start\" [shape=\"point\""));
  EXPECT_TRUE(contains(d, "  \"__start\" -> \"submitted\";\n"));
  for (const auto& [name, st] : wf.states) {
    const std::string decl = "  \"" + name + "\" [label=\"" + name;
    const size_t at = d.find(decl);
    ASSERT_NE(at, std::string::npos) << name;
    const std::string line = d.substr(at, d.find('\n', at) - at);
    EXPECT_EQ(contains(line, "peripheries=\"2\""), st.terminal) << line;
    if (!st.title.empty()) {
      EXPECT_TRUE(contains(line, "\\n" + st.title)) << line;
    }
  }
  EXPECT_TRUE(contains(d,
                       "[label=\"documents\\nEligible, waiting for transcript and recommendation "
                       "letter\\ndeadline P14D\"]"));
  EXPECT_TRUE(contains(d,
                       "  \"review\" -> \"rejected\" [label=\"review.submitted [reviewer]\\n"
                       "application.reviews.count >= 3\", tooltip=\"three reviews, mean below "
                       "3.5\"];\n"))
      << d;
  EXPECT_TRUE(contains(d,
                       "  \"decision\" -> \"offered\" [label=\"decision.recorded "
                       "[program_manager]\\nevent.data.outcome == \\\"admit\\\"\"];\n"));
  EXPECT_TRUE(
      contains(d, "  \"__any\" [label=\"any non-final stage\", style=\"rounded,dashed\"];\n"));
  EXPECT_TRUE(contains(d,
                       "  \"__any\" -> \"withdrawn\" [label=\"application.withdrawn "
                       "[applicant]\", style=\"dashed\"];\n"));
}

TEST(GraphDot, SummerIsBalancedAndDeterministic) {
  const Workflow& wf = summer();
  const std::string d = to_dot(wf);
  expect_balanced_dot(d);
  const Workflow copy = wf;
  EXPECT_EQ(d, to_dot(copy));
}

TEST(GraphDot, EscapesAwkwardNamesAndLabels) {
  const Workflow wf = awkward();
  const std::string d = to_dot(wf);
  expect_balanced_dot(d);
  EXPECT_TRUE(contains(d, "digraph \"awkward-program v2\" {\n"));
  EXPECT_TRUE(
      contains(d, "  \"done \\\"ok\\\"\" [label=\"done \\\"ok\\\"\\nDone\", peripheries=\"2\"];\n"))
      << d;
  EXPECT_TRUE(contains(d, "\\nC:\\\\path\\\\ \\\\N {braces} [*] --> x\"]"));
  EXPECT_TRUE(contains(d, "tooltip=\"why: \\\"because\\\"\\\\\""));
  EXPECT_TRUE(contains(d, "It's \\\"awkward\\\": 100% #1; <b>bold</b> & more next line"));
}

TEST(GraphDot, PseudoNodesAvoidStateNames) {
  Workflow wf = awkward();
  for (const std::string name : {"__start", "__any"}) {
    State st;
    st.name = name;
    st.terminal = true;
    wf.states[name] = st;
    wf.state_order.push_back(name);
  }
  const std::string d = to_dot(wf);
  EXPECT_TRUE(contains(d, "  \"__start_\" -> \"needs-info\";\n")) << d;
  EXPECT_TRUE(contains(d, "  \"__any_\" -> \"gone\""));
  EXPECT_TRUE(contains(d, "  \"__start\" [label=\"__start\", peripheries=\"2\"];\n"));
}

TEST(GraphDot, SummerAcceptedByGraphviz) {
  expect_dot_accepts(to_dot(summer()), "summer");
}

TEST(GraphDot, AwkwardAcceptedByGraphviz) {
  expect_dot_accepts(to_dot(awkward()), "awkward");
}

}  // namespace
}  // namespace stagewise::workflow

namespace stagewise::workflow {
namespace {

// The funnel reads stages in the order applications go through them, not
// in the order the file lists them.
TEST(FlowOrder, FollowsTheTransitionsOpenStagesFirst) {
  EXPECT_EQ(flow_order(summer()),
            (std::vector<std::string>{"submitted", "documents", "review", "interview", "decision",
                                      "waitlisted", "offered", "accepted", "rejected", "expired",
                                      "declined", "withdrawn", "onboarded"}));
}

TEST(FlowOrder, LoopsAndUnreachableStagesDoNotReorder) {
  Workflow wf;
  wf.initial = "a";
  for (const auto& [name, terminal] : std::vector<std::pair<std::string, bool>>{
           {"lost", false}, {"done", true}, {"b", false}, {"a", false}}) {
    State st;
    st.name = name;
    st.terminal = terminal;
    wf.states[name] = st;
    wf.state_order.push_back(name);
  }
  auto edge = [&](const std::string& from, const std::string& to) {
    Transition t;
    t.from = from;
    t.to = to;
    t.on = "x";
    wf.transitions.push_back(t);
  };
  edge("a", "b");
  edge("b", "a");  // a revision loop
  edge("b", "done");
  EXPECT_EQ(flow_order(wf), (std::vector<std::string>{"a", "b", "done", "lost"}));
}

}  // namespace
}  // namespace stagewise::workflow
