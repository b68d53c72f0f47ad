#include "workflow/graph.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <vector>

namespace stagewise::workflow {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------
// Guard summaries

// Binding strength of a rendered expression: a child binding less tightly
// than its parent needs is parenthesised.
constexpr int kPrecIf = 0;
constexpr int kPrecOr = 1;
constexpr int kPrecAnd = 2;
constexpr int kPrecNot = 3;
constexpr int kPrecCompare = 4;
constexpr int kPrecAdd = 5;
constexpr int kPrecMul = 6;
constexpr int kPrecUnary = 7;
constexpr int kPrecAtom = 9;

constexpr size_t kFallbackChars = 60;
constexpr int kMaxDepth = 64;
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026

struct Expr {
  std::string text;
  int prec = kPrecAtom;
};

std::string compact(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Cuts s to its first max - 1 bytes and an ellipsis (max characters when
// ASCII), never inside a UTF-8 sequence.
std::string shorten(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + std::string(kEllipsis);
}

Expr fallback(const json& node) {
  return {shorten(compact(node), kFallbackChars), kPrecAtom};
}

std::string wrap(const Expr& e, int min_prec) {
  return e.prec < min_prec ? "(" + e.text + ")" : e.text;
}

Expr render(const json& node, int depth);

std::string join_rendered(const json& args, int depth, int min_prec, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) out += sep;
    out += wrap(render(args[i], depth + 1), min_prec);
  }
  return out;
}

Expr render_var(const json& node, const json& arg, int depth) {
  const json* path = &arg;
  const json* fallback_value = nullptr;
  if (arg.is_array()) {
    if (arg.empty() || arg.size() > 2) return fallback(node);
    path = &arg[0];
    if (arg.size() == 2) fallback_value = &arg[1];
  }
  if (!path->is_string() || path->get_ref<const std::string&>().empty()) return fallback(node);
  std::string text = path->get<std::string>();
  if (fallback_value) text += " (default " + render(*fallback_value, depth + 1).text + ")";
  return {text, kPrecAtom};
}

const std::map<std::string, std::string, std::less<>>& infix_comparisons() {
  static const std::map<std::string, std::string, std::less<>> ops = {
      {"==", "=="}, {"===", "=="}, {"!=", "!="}, {"!==", "!="}, {"<", "<"},
      {"<=", "<="}, {">", ">"},    {">=", ">="}, {"in", "in"},  {"before", "before"}};
  return ops;
}

// Operators shown as calls: name(arg, ...).
const std::set<std::string, std::less<>>& call_operators() {
  // clang-format off
  static const std::set<std::string, std::less<>> ops = {
      "min", "max", "cat", "substr", "merge", "missing", "missing_some", "log",
      "duration_seconds", "time_add", "seconds_between", "days_between"};
  // clang-format on
  return ops;
}

Expr render_operation(const json& node, const std::string& op, const json& args, int depth) {
  const size_t n = args.size();
  auto arg = [&](size_t i) { return render(args[i], depth + 1); };

  if (const auto it = infix_comparisons().find(op); it != infix_comparisons().end()) {
    const std::string sep = " " + it->second + " ";
    const bool between = n == 3 && (op == "<" || op == "<=");
    if (n != 2 && !between) return fallback(node);
    return {join_rendered(args, depth, kPrecCompare + 1, sep), kPrecCompare};
  }
  if (op == "and" || op == "or") {
    if (n == 0) return fallback(node);
    if (n == 1) return arg(0);
    // Nested and/or are always parenthesised: clearer than relying on precedence.
    return {join_rendered(args, depth, kPrecNot, op == "and" ? " and " : " or "),
            op == "and" ? kPrecAnd : kPrecOr};
  }
  if (op == "!") {
    if (n != 1) return fallback(node);
    return {"not " + wrap(arg(0), kPrecUnary), kPrecNot};
  }
  if (op == "!!") {
    if (n != 1) return fallback(node);
    return {wrap(arg(0), kPrecUnary) + " is truthy", kPrecCompare};
  }
  if (op == "+" || op == "*") {
    if (n == 1 && op == "+") return {"number(" + arg(0).text + ")", kPrecAtom};
    if (n < 2) return fallback(node);
    const int prec = op == "+" ? kPrecAdd : kPrecMul;
    return {join_rendered(args, depth, prec, " " + op + " "), prec};
  }
  if (op == "-") {
    if (n == 1) return {"-" + wrap(arg(0), kPrecUnary), kPrecUnary};
    if (n != 2) return fallback(node);
    return {wrap(arg(0), kPrecAdd) + " - " + wrap(arg(1), kPrecMul), kPrecAdd};
  }
  if (op == "/" || op == "%") {
    if (n != 2) return fallback(node);
    return {wrap(arg(0), kPrecMul) + " " + op + " " + wrap(arg(1), kPrecUnary), kPrecMul};
  }
  if (op == "if" || op == "?:") {
    if (n == 0) return fallback(node);
    if (n == 1) return arg(0);
    std::string text;
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
      text +=
          (i ? " else if " : "if ") + wrap(arg(i), kPrecOr) + " then " + wrap(arg(i + 1), kPrecOr);
    }
    if (i < n) text += " else " + wrap(arg(i), kPrecOr);
    return {text, kPrecIf};
  }
  if (call_operators().count(op))
    return {op + "(" + join_rendered(args, depth, kPrecIf, ", ") + ")"};
  return fallback(node);
}

Expr render(const json& node, int depth) {
  if (depth > kMaxDepth) return fallback(node);
  if (node.is_array()) return {"[" + join_rendered(node, depth, kPrecIf, ", ") + "]"};
  if (!node.is_object()) return {compact(node), kPrecAtom};
  if (node.size() != 1) return fallback(node);
  const std::string& op = node.begin().key();
  const json& raw = node.begin().value();
  if (op == "var") return render_var(node, raw, depth);
  if (raw.is_array()) return render_operation(node, op, raw, depth);
  return render_operation(node, op, json::array({raw}), depth);
}

// The guard as lines: a top-level `and` puts each condition on its own line.
std::vector<std::string> guard_lines(const json& guard) {
  if (guard.is_object() && guard.size() == 1 && guard.begin().key() == "and" &&
      guard.begin().value().is_array() && guard.begin().value().size() >= 2) {
    std::vector<std::string> lines;
    for (const auto& cond : guard.begin().value()) {
      const std::string text = wrap(render(cond, 1), kPrecNot);
      lines.push_back(lines.empty() ? text : "and " + text);
    }
    return lines;
  }
  return {guard_summary(guard)};
}

// ---------------------------------------------------------------------------
// What both pictures show

constexpr std::string_view kAnyStageLabel = "any non-final stage";

// Every state to draw, in flow order, then any the order misses (a workflow
// built by hand rather than loaded may not have one).
std::vector<std::string> drawn_states(const Workflow& wf) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  auto add = [&](const std::string& name) {
    if (seen.insert(name).second) names.push_back(name);
  };
  for (const auto& name : wf.state_order) add(name);
  for (const auto& [name, st] : wf.states) add(name);
  if (!wf.initial.empty()) add(wf.initial);
  for (const auto& t : wf.transitions) {
    if (t.from != "*") add(t.from);
    add(t.to);
  }
  return names;
}

// The lines of a state's box: name, title, deadline.
std::vector<std::string> state_lines(const std::string& name, const State* st) {
  std::vector<std::string> lines{name.empty() ? "(unnamed)" : name};
  if (!st) return lines;
  if (!st->title.empty()) lines.push_back(st->title);
  if (st->deadline) lines.push_back("deadline " + st->deadline->after);
  return lines;
}

// The lines of a transition's label: event type and roles, then the guard.
std::vector<std::string> transition_lines(const Transition& t) {
  std::string head = t.on;
  if (!t.roles.empty()) {
    head += " [";
    for (size_t i = 0; i < t.roles.size(); ++i) head += (i ? ", " : "") + t.roles[i];
    head += "]";
  }
  std::vector<std::string> lines{head};
  if (!t.guard_source.is_null()) {
    for (auto& line : guard_lines(t.guard_source)) lines.push_back(std::move(line));
  }
  return lines;
}

bool has_any_transition(const Workflow& wf) {
  for (const auto& t : wf.transitions)
    if (t.from == "*") return true;
  return false;
}

// An id not used by any state (for the entry point and the "*" node in dot).
std::string free_name(const Workflow& wf, const std::set<std::string>& taken, std::string name) {
  while (wf.states.count(name) || taken.count(name)) name += "_";
  return name;
}

// ---------------------------------------------------------------------------
// Mermaid

// Text safe inside a Mermaid label (a `state "..."` string, a `: description`
// or an edge label). Mermaid turns `#name;` / `#123;` entity codes into HTML
// entities before parsing, so reserved characters become entity codes:
// quotes end state strings, ':' and ';' end descriptions, '#' would start a
// comment or a bogus entity, '%%' a comment. '<' is escaped where it could
// open an HTML tag and '&' where it could start an entity. Line breaks become
// spaces, and the space after "direction" is escaped so that no label line
// reads as a `direction TB` statement.
std::string mermaid_text(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const char next = i + 1 < s.size() ? s[i + 1] : ' ';
    switch (c) {
      case '#':
        out += "#35;";
        break;
      case '"':
        out += "#quot;";
        break;
      case ':':
        out += "#58;";
        break;
      case ';':
        out += "#59;";
        break;
      case '%':
        out += "#37;";
        break;
      case '<':
        out += (next == ' ' || next == '=') ? "<" : "#lt;";
        break;
      case '&':
        out += (std::isalnum(static_cast<unsigned char>(next)) || next == '#') ? "#amp;" : "&";
        break;
      default:
        out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    }
  }
  std::string lower = out;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  constexpr std::string_view kWord = "direction";
  std::string result;
  size_t from = 0;
  for (size_t at = lower.find(kWord); at != std::string::npos; at = lower.find(kWord, at + 1)) {
    const size_t after = at + kWord.size();
    if (after < out.size() && out[after] == ' ') {
      result += out.substr(from, after - from) + "#32;";
      from = after + 1;
    }
  }
  return result + out.substr(from);
}

std::string mermaid_join(const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += (i ? "<br/>" : "") + mermaid_text(lines[i]);
  return out;
}

// A YAML single-quoted scalar (for the front matter title). Double quotes
// become single ones so that the only '"' in the output delimit state labels.
std::string yaml_quoted(std::string_view s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'' || c == '"')
      out += "''";
    else
      out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  return out + "'";
}

std::string picture_title(const Workflow& wf) {
  const std::string id = wf.program + " v" + std::to_string(wf.version);
  return wf.title.empty() ? id : wf.title + " (" + id + ")";
}

// Mermaid ids: "s_" + the name with anything but [A-Za-z0-9_] as '_',
// suffixed when two names map to the same id. The prefix keeps ids clear of
// keywords (state, note, class, default, ...).
std::map<std::string, std::string> mermaid_ids(const std::vector<std::string>& names) {
  std::map<std::string, std::string> ids;
  std::set<std::string> used;
  for (const auto& name : names) {
    std::string base = "s_";
    for (const char c : name)
      base += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
    std::string id = base;
    for (int n = 2; used.count(id); ++n) id = base + "_" + std::to_string(n);
    used.insert(id);
    ids[name] = id;
  }
  return ids;
}

// ---------------------------------------------------------------------------
// Graphviz

// A DOT quoted string's contents: '"' and '\' escaped, line breaks as spaces.
std::string dot_text(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\')
      out += std::string("\\") + c;
    else
      out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  return out;
}

std::string dot_quoted(std::string_view s) {
  return "\"" + dot_text(s) + "\"";
}

// Lines of a label joined with DOT's centred line break.
std::string dot_label(const std::vector<std::string>& lines) {
  std::string out = "\"";
  for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\\n" : "") + dot_text(lines[i]);
  return out + "\"";
}

}  // namespace

std::string guard_summary(const nlohmann::json& guard) {
  return render(guard, 0).text;
}

std::string to_mermaid(const Workflow& wf) {
  const std::vector<std::string> names = drawn_states(wf);
  const std::map<std::string, std::string> ids = mermaid_ids(names);
  const bool any = has_any_transition(wf);
  const std::string any_id = "any_stage";  // cannot clash: state ids start with "s_"

  std::string out;
  out += "---\n";
  out += "title: " + yaml_quoted(picture_title(wf)) + "\n";
  out += "---\n";
  out += "stateDiagram-v2\n";

  for (const auto& name : names) {
    const std::string& id = ids.at(name);
    const std::vector<std::string> lines = state_lines(name, wf.state(name));
    out += "  state \"" + mermaid_text(lines[0]) + "\" as " + id + "\n";
    for (size_t i = 1; i < lines.size(); ++i)
      out += "  " + id + " : " + mermaid_text(lines[i]) + "\n";
  }
  if (any) out += "  state \"" + mermaid_text(kAnyStageLabel) + "\" as " + any_id + "\n";

  out += "\n";
  if (ids.count(wf.initial)) out += "  [*] --> " + ids.at(wf.initial) + "\n";
  for (const auto& t : wf.transitions) {
    const std::string& from = t.from == "*" ? any_id : ids.at(t.from);
    out += "  " + from + " --> " + ids.at(t.to) + " : " + mermaid_join(transition_lines(t)) + "\n";
  }
  for (const auto& name : names) {
    const State* st = wf.state(name);
    if (st && st->terminal) out += "  " + ids.at(name) + " --> [*]\n";
  }

  if (any) {
    out += "\n";
    out += "  classDef anyStage stroke-dasharray: 4 4\n";
    out += "  class " + any_id + " anyStage\n";
  }
  return out;
}

std::string to_dot(const Workflow& wf) {
  const std::vector<std::string> names = drawn_states(wf);
  const bool any = has_any_transition(wf);
  const std::set<std::string> drawn(names.begin(), names.end());
  const std::string start_id = free_name(wf, drawn, "__start");
  const std::string any_id = free_name(wf, drawn, "__any");

  std::string out;
  out += "digraph " + dot_quoted(wf.program + " v" + std::to_string(wf.version)) + " {\n";
  out += "  graph [label=" + dot_quoted(picture_title(wf)) +
         ", labelloc=\"t\", fontname=\"Helvetica\"];\n";
  out += "  node [shape=\"box\", style=\"rounded\", fontname=\"Helvetica\", fontsize=\"11\"];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=\"9\"];\n";
  out += "\n";

  out += "  " + dot_quoted(start_id) + " [shape=\"point\", width=\"0.15\", label=\"\"];\n";
  for (const auto& name : names) {
    const State* st = wf.state(name);
    out += "  " + dot_quoted(name) + " [label=" + dot_label(state_lines(name, st));
    if (st && st->terminal) out += ", peripheries=\"2\"";
    out += "];\n";
  }
  if (any) {
    out += "  " + dot_quoted(any_id) + " [label=" + dot_quoted(kAnyStageLabel) +
           ", style=\"rounded,dashed\"];\n";
  }

  out += "\n";
  if (drawn.count(wf.initial))
    out += "  " + dot_quoted(start_id) + " -> " + dot_quoted(wf.initial) + ";\n";
  for (const auto& t : wf.transitions) {
    const bool from_any = t.from == "*";
    out += "  " + dot_quoted(from_any ? any_id : t.from) + " -> " + dot_quoted(t.to) +
           " [label=" + dot_label(transition_lines(t));
    if (from_any) out += ", style=\"dashed\"";
    if (!t.description.empty()) out += ", tooltip=" + dot_quoted(t.description);
    out += "];\n";
  }
  out += "}\n";
  return out;
}

}  // namespace stagewise::workflow

namespace stagewise::workflow {
namespace {

using Edges = std::map<std::string, std::vector<std::string>>;

Edges edges_of(const Workflow& wf) {
  Edges out;
  for (const auto& t : wf.transitions) {
    if (t.from != "*") {
      out[t.from].push_back(t.to);
      continue;
    }
    for (const auto& name : wf.state_order)
      if (!wf.states.at(name).terminal && name != t.to) out[name].push_back(t.to);
  }
  return out;
}

// Depth-first from `at`: the stages reached, in reverse post-order (a
// topological order once back edges are left out), and the back edges.
void walk(const Edges& edges, const std::string& at, std::set<std::string>& on_path,
          std::set<std::string>& done, std::vector<std::string>& post,
          std::set<std::pair<std::string, std::string>>& back) {
  on_path.insert(at);
  if (const auto it = edges.find(at); it != edges.end())
    for (const auto& next : it->second) {
      if (on_path.count(next) != 0) {
        back.emplace(at, next);
      } else if (done.count(next) == 0) {
        walk(edges, next, on_path, done, post, back);
      }
    }
  on_path.erase(at);
  done.insert(at);
  post.push_back(at);
}

}  // namespace

std::vector<std::string> flow_order(const Workflow& wf) {
  const Edges edges = edges_of(wf);
  std::set<std::string> on_path, done;
  std::vector<std::string> post;
  std::set<std::pair<std::string, std::string>> back;
  if (wf.states.count(wf.initial) != 0) walk(edges, wf.initial, on_path, done, post, back);
  std::map<std::string, int> depth;
  depth[wf.initial] = 0;
  for (auto it = post.rbegin(); it != post.rend(); ++it) {
    const auto e = edges.find(*it);
    if (e == edges.end()) continue;
    for (const auto& next : e->second)
      if (back.count({*it, next}) == 0) depth[next] = std::max(depth[next], depth[*it] + 1);
  }
  std::map<std::string, size_t> file_index;
  for (size_t i = 0; i < wf.state_order.size(); ++i) file_index[wf.state_order[i]] = i;
  std::vector<std::string> out(wf.state_order.begin(), wf.state_order.end());
  auto key = [&](const std::string& s) {
    const bool reached = done.count(s) != 0;
    return std::make_tuple(!reached, reached && wf.states.at(s).terminal, reached ? depth[s] : 0,
                           file_index[s]);
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](const std::string& a, const std::string& b) { return key(a) < key(b); });
  return out;
}

}  // namespace stagewise::workflow
