// Writes the fuzz targets' seed corpora and dictionaries from the repository's
// own material, so no generated corpus is committed:
//   fuzz_seeds OUT_DIR SOURCE_DIR [JSONLOGIC_TESTS]
// OUT_DIR/{envelope,workflow,jsonlogic,codec}/ get the seeds (in the targets'
// framings, framing.h) and OUT_DIR/<target>.dict the dictionaries.
//
// The data-driven workflow cases are replayed through the engine, so the
// seeds are real: events as they arrive (structured and binary mode), guard
// contexts as guards see them, and the applications, history entries, timers
// and outbox records the store would hold.

#include "common/cloudevent.h"
#include "common/time.h"
#include "framing.h"
#include "store/codec.h"
#include "workflow/engine.h"
#include "workflow/jsonlogic.h"
#include "workflow/vocabulary.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace stagewise;
using nlohmann::json;

// Events replayed per case: enough to reach most stages, few enough to keep
// the corpora small (libFuzzer minimises them further on its own).
constexpr size_t kEventsPerCase = 12;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Corpus {
 public:
  explicit Corpus(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }
  void add(const std::string& bytes) {
    if (!seen_.insert(bytes).second) return;
    std::ofstream(dir_ / ("seed-" + std::to_string(seen_.size())), std::ios::binary) << bytes;
  }
  size_t size() const { return seen_.size(); }

 private:
  fs::path dir_;
  std::set<std::string> seen_;
};

// A libFuzzer dictionary entry: the string quoted, with \\, \" and
// non-printable bytes escaped.
std::string dict_entry(std::string_view s) {
  std::string out = "\"";
  char buf[8];
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%02X", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void write_dict(const fs::path& path, const std::set<std::string>& words) {
  std::ofstream out(path);
  for (const auto& w : words) out << dict_entry(w) << "\n";
}

std::vector<fs::path> json_files(const fs::path& dir, bool recursive) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  if (recursive) {
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
      if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path());
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Seeds {
  Corpus envelope, workflow, jsonlogic, codec;
};

void add_event(Seeds& s, const CloudEvent& e, int64_t sent_ms) {
  s.envelope.add(to_json(e).dump());
  Headers h = {{"ce_specversion", "1.0"}, {"ce_id", e.id},           {"ce_source", e.source},
               {"ce_type", e.type},       {"ce_subject", e.subject}, {"ce_time", e.time}};
  if (!e.program.empty()) h.emplace_back("ce_program", e.program);
  if (!e.actorid.empty()) h.emplace_back("ce_actorid", e.actorid);
  if (!e.actorrole.empty()) h.emplace_back("ce_actorrole", e.actorrole);
  h.emplace_back("content-type", "application/json");
  s.envelope.add(fuzz::join_message(h, e.data.is_null() ? "" : e.data.dump(), sent_ms));
}

void add_stored(Seeds& s, const workflow::Applied& a, const CloudEvent& e, uint64_t seq) {
  std::string bytes;
  store::codec::encode(bytes, a.next);
  s.codec.add(bytes);

  store::HistoryEntry h;
  h.sequence = seq;
  h.id = e.id;
  h.source = e.source;
  h.type = e.type;
  h.time = e.time;
  h.actorid = e.actorid;
  h.actorrole = e.actorrole;
  h.from = a.from;
  h.to = a.to;
  h.transition = a.transition;
  h.note = a.note;
  h.data = e.data;
  h.topic = "stagewise.events";
  h.partition = static_cast<int32_t>(seq % 3);
  h.offset = static_cast<int64_t>(seq);
  bytes.clear();
  store::codec::encode(bytes, h);
  s.codec.add(bytes);

  for (const auto& t : a.timers) {
    store::TimerRecord r{a.next.id, a.next.program, 1, t};
    bytes.clear();
    store::codec::encode(bytes, r);
    s.codec.add(bytes);
  }
  store::OutboxRecord o{seq,
                        "stagewise.status",
                        a.next.id,
                        to_json(e).dump(),
                        {{"ce_type", "stagewise.stage_changed"}, {"ce_id", e.id + "-out"}}};
  bytes.clear();
  store::codec::encode(bytes, o);
  s.codec.add(bytes);
}

// Replays one case through the engine; every step leaves seeds behind.
void replay_case(Seeds& s, const fs::path& case_file, const fs::path& workflows) {
  const json c = json::parse(read_file(case_file), nullptr, false);
  if (!c.is_object() || !c.contains("workflow") || !c["events"].is_array()) return;
  std::vector<workflow::Problem> problems;
  auto wf = workflow::load_workflow_file(workflows / c["workflow"].get<std::string>(), problems);
  if (!wf) return;
  std::optional<workflow::Application> app;
  int64_t t = 1'790'000'000'000;
  uint64_t seq = 0;
  for (const json& ev : c["events"]) {
    if (seq == kEventsPerCase) break;
    t += 86'400'000;
    CloudEvent e;
    e.id = case_file.stem().string() + "-" + std::to_string(++seq);
    e.source = "portal";
    e.type = ev.value("type", "note.added");
    e.subject = ev.value("subject", "APP-1");
    e.time_ms = t;
    e.time = format_rfc3339_ms(t);
    e.program = ev.value("program", wf->program);
    e.actorid = ev.value("actorid", "");
    e.actorrole = ev.value("actorrole", "");
    e.datacontenttype = "application/json";
    e.data = ev.value("data", json());
    add_event(s, e, t + 1000);
    if (app) {
      // The guard context of each transition the event may take, with its guard.
      const json context = workflow::guard_context(*wf, *app, e);
      for (const auto& tr : wf->transitions)
        if (!tr.guard_source.is_null() && tr.on == e.type)
          s.jsonlogic.add(tr.guard_source.dump() + "\n" + context.dump());
    }
    const auto out = workflow::apply(*wf, app ? &*app : nullptr, e);
    if (const auto* a = std::get_if<workflow::Applied>(&out)) {
      add_stored(s, *a, e, seq);
      app = a->next;
    }
  }
}

void conformance(Seeds& s, const fs::path& tests) {
  const json suite = json::parse(read_file(tests), nullptr, false);
  if (!suite.is_array()) {
    std::cerr << "fuzz_seeds: no JsonLogic conformance tests at " << tests << "\n";
    return;
  }
  for (const json& item : suite)
    if (item.is_array() && item.size() >= 2)
      s.jsonlogic.add(item[0].dump() + "\n" + item[1].dump());
}

// Values no case produces: empty and odd but valid ones, and the legacy
// encoding (a msgpack map), which the codec must refuse cleanly.
void edge_seeds(Seeds& s) {
  std::string bytes;
  store::codec::encode(bytes, workflow::Application{});
  s.codec.add(bytes);
  workflow::Application a;
  a.id = "A";
  a.facts = {{"n", {1, -1, 1.5, nullptr, true, "x"}}, {"b", json::binary({1, 2, 3})}};
  a.created_ms = -1;
  a.sequence = ~0ULL;
  bytes.clear();
  store::codec::encode(bytes, a);
  s.codec.add(bytes);
  const auto legacy = json::to_msgpack(workflow::to_json(a));
  s.codec.add(std::string(legacy.begin(), legacy.end()));

  s.envelope.add("");
  s.envelope.add("{}");
  s.envelope.add(fuzz::join_message({{"ce_specversion", "1.0"}}, "", INT64_MAX));
  s.jsonlogic.add("{\"var\":\"\"}\n{}");
  s.jsonlogic.add("{\"reduce\":[{\"var\":\"a\"},[{\"var\":\"accumulator\"}],0]}\n{\"a\":[1,2,3]}");
  s.workflow.add("{}");
}

void dictionaries(const fs::path& out) {
  std::set<std::string> logic = {
      "{",     "}",    "[",     "]",           ":",       ",",      "\"\"",
      "null",  "true", "false", "accumulator", "current", "length", "application.",
      "event."};
  for (const auto& op : workflow::jsonlogic::operator_names()) logic.insert("\"" + op + "\"");
  for (const auto* d : {"\"P14D\"", "\"PT36H\"", "\"2026-03-01T12:00:00Z\"", "1e308", "-0"})
    logic.insert(d);
  write_dict(out / "jsonlogic.dict", logic);

  std::set<std::string> wf = logic;
  for (const auto* k : {"program",         "version",     "title",    "description", "initial",
                        "states",          "transitions", "terminal", "accepts",     "on_enter",
                        "notify",          "template",    "deadline", "after",       "reminders",
                        "review",          "reviewers",   "blind",    "rubric",      "criterion",
                        "weight",          "scale",       "from",     "on",          "to",
                        "roles",           "guard",       "*",        "applicant",   "reviewer",
                        "program_manager", "admin",       "system"})
    wf.insert("\"" + std::string(k) + "\"");
  for (const auto t : workflow::kEventTypes) wf.insert("\"" + std::string(t) + "\"");
  write_dict(out / "workflow.dict", wf);

  std::set<std::string> env = {
      "\n\n",   "@timestamp:",  "content-type:", "application/json", "1.0", "2026-03-01T12:00:00Z",
      "+23:59", "\xE2\x80\xAE", "data_base64"};
  for (const auto* a : {"specversion", "id", "source", "type", "subject", "time", "program",
                        "actorid", "actorrole", "datacontenttype", "dataschema", "data"}) {
    env.insert("\"" + std::string(a) + "\"");
    env.insert("ce_" + std::string(a) + ":");
  }
  for (const auto t : workflow::kEventTypes) env.insert(std::string(t));
  write_dict(out / "envelope.dict", env);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: fuzz_seeds OUT_DIR SOURCE_DIR [JSONLOGIC_TESTS]\n";
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path src = argv[2];
  const fs::path tests = argc > 3
                             ? fs::path(argv[3])
                             : src / ".." / "shared" / "conformance" / "jsonlogic" / "tests.json";
  Seeds s{Corpus(out / "envelope"), Corpus(out / "workflow"), Corpus(out / "jsonlogic"),
          Corpus(out / "codec")};

  for (const auto* dir : {"workflows", "tests/workflow/versions"})
    for (const auto& f : json_files(src / dir, false)) s.workflow.add(read_file(f));
  for (const auto& f : json_files(src / "tests/workflow/broken", true))
    s.workflow.add(read_file(f));
  for (const auto& f : json_files(src / "tests/workflow/cases", false))
    replay_case(s, f, src / "workflows");
  conformance(s, tests);
  edge_seeds(s);
  dictionaries(out);

  std::cout << "seeds: envelope " << s.envelope.size() << ", workflow " << s.workflow.size()
            << ", jsonlogic " << s.jsonlogic.size() << ", codec " << s.codec.size() << "\n";
  return 0;
}
