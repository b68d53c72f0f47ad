#pragma once

#include "workflow/jsonlogic.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace stagewise::workflow {

/// A notification a state asks for on entry.
struct Notify {
  std::string recipient;  ///< a role: applicant, reviewer, program_manager, ...
  std::string template_name;
};

/// A notification sent some time after a stage was entered, before its
/// deadline, while the application is still in the stage.
struct Reminder {
  std::string after;  ///< as written, e.g. "P10D"
  int64_t after_ms = 0;
  std::string recipient = "applicant";
  std::string template_name;  ///< default: "<stage>_reminder"
};

struct Deadline {
  std::string after;  ///< as written, e.g. "P14D"
  int64_t after_ms = 0;
  std::vector<Reminder> reminders;
};

struct Criterion {
  std::string name;
  double weight = 1;
  double min = 1;
  double max = 5;
};

struct ReviewSpec {
  int reviewers = 0;
  bool blind = false;
  std::vector<Criterion> rubric;
};

struct State {
  std::string name;
  std::string title;
  bool terminal = false;
  std::vector<std::string> accepts;
  /// Who may send each accepted type: the entry's `roles`, else the
  /// type's default roles (vocabulary.h).
  std::map<std::string, std::vector<std::string>> accept_roles;
  std::vector<Notify> on_enter;
  std::optional<Deadline> deadline;
  std::optional<ReviewSpec> review;
};

struct Transition {
  int index = 0;     ///< position in the file's `transitions` array
  std::string from;  ///< a state, or "*" for any non-terminal state
  std::string on;    ///< the event type
  std::string to;
  std::vector<std::string> roles;    ///< as written; empty: the type's default roles
  std::vector<std::string> allowed;  ///< who may fire it: `roles`, or the defaults
  std::optional<jsonlogic::Rule> guard;
  nlohmann::json guard_source;  ///< the guard as written (null when none)
  std::string description;
};

/// The parts of the guard context (DESIGN.md §6) that a workflow's guards
/// can read, so the engine builds only those. `all` when a guard reads a
/// name it computes, or the whole context.
struct ContextNeeds {
  bool all = false;
  std::set<std::string> application;  ///< members of `application`
  std::set<std::string> event;        ///< members of `event`
  /// Fields of application.profile the guards read (eligibility fields);
  /// `whole_profile` when a guard reads the profile itself or `all`.
  std::set<std::string> profile_fields;
  bool whole_profile = false;
  /// Likewise for the fields of event.data.
  std::set<std::string> event_data_fields;
  bool whole_event_data = false;
};

/// What the guards in `rules` read: every literal `var` (and `missing` /
/// `missing_some` name), conservatively; anything computed means all.
ContextNeeds context_needs(const std::vector<const nlohmann::json*>& rules);

/// One program at one version, validated. Immutable once loaded, so it is
/// safe to share between threads.
/// How long an application's personal data is kept (DESIGN.md §14): it is
/// erased `erase_after_ms` after it entered a terminal stage, or after it
/// was submitted, through the log like a deadline.
struct Retention {
  int64_t erase_after_ms = 0;
  bool from_terminal = true;  ///< false: from submission
  std::string erase_after;    ///< as written, e.g. "P2Y"
};

struct Workflow {
  std::string program;
  int version = 0;
  std::string title;
  std::string initial;
  std::string file;  ///< where it was loaded from
  std::map<std::string, State> states;
  /// State names in the order of the flow: breadth-first from `initial`
  /// following transitions in file order (for funnels and pictures).
  std::vector<std::string> state_order;
  std::vector<Transition> transitions;
  nlohmann::json source;     ///< the document as written
  ContextNeeds guard_reads;  ///< what the transitions' guards read
  std::optional<Retention> retention;

  const State* state(const std::string& name) const;
  /// The rubric used to check review scores in `stage`: the stage's own,
  /// else the first rubric the workflow declares; nullptr when none.
  const ReviewSpec* review_spec(const std::string& stage) const;
};

/// A problem found while loading: file, JSON pointer and one sentence.
struct Problem {
  std::string file;
  std::string pointer;
  std::string message;
  std::string to_string() const;
};

/// Deepest nesting of arrays and objects in a workflow file: room for a
/// guard at the compiler's limit (the guard sits 3 levels down, at
/// /transitions/N/guard). Deeper files are refused before any tree is built.
inline constexpr int kMaxWorkflowDepth = jsonlogic::kMaxNesting + 3;

/// Validates a parsed workflow document. Appends every problem found;
/// returns the workflow only when there are none.
std::optional<Workflow> parse_workflow(const nlohmann::json& doc, const std::string& file,
                                       std::vector<Problem>& problems);

/// Reads and validates one file (JSON syntax errors carry line and column).
std::optional<Workflow> load_workflow_file(const std::string& path, std::vector<Problem>& problems);

/// All loaded workflows, by program and version. Immutable after loading;
/// shared read-only between threads.
class Registry {
 public:
  /// Loads files and folders (every *.json inside a folder, not recursing).
  /// Appends all problems; duplicates of (program, version) are problems too.
  static Registry load(const std::vector<std::string>& paths, std::vector<Problem>& problems);

  void add(Workflow wf, std::vector<Problem>& problems);
  const Workflow* find(const std::string& program, int version) const;
  const Workflow* latest(const std::string& program) const;
  /// Every workflow, by program then version.
  std::vector<const Workflow*> all() const;
  bool empty() const { return by_program_.empty(); }

 private:
  std::map<std::string, std::map<int, std::shared_ptr<const Workflow>>> by_program_;
};

}  // namespace stagewise::workflow
