#include "api/views.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "common/cloudevent.h"
#include "common/json_limits.h"
#include "common/time.h"
#include "processor/intake.h"
#include "store/store.h"
#include "workflow/graph.h"
#include "workflow/jsonlogic.h"
#include "workflow/workflow.h"

#include <httplib.h>

#include <signal.h>

#include <fstream>
#include <iostream>
#include <sstream>

namespace stagewise::cli {
namespace {

using nlohmann::json;

// GET from the server; {status, body}. status 0 when unreachable.
std::pair<int, json> http_get(const std::string& base, const std::string& path,
                              const std::string& token) {
  const auto u = parse_url(base);
  if (!u) return {0, json()};
  httplib::Client cli(u->host, u->port);
  cli.set_connection_timeout(3);
  cli.set_read_timeout(30);
  if (!token.empty()) cli.set_bearer_token_auth(token);
  auto res = cli.Get(path);
  if (!res) return {0, json()};
  json body = json::parse(res->body, nullptr, false);
  return {res->status, body.is_discarded() ? json() : body};
}

// Runs a query over HTTP or against the data dir; prints the JSON result or
// the error. `direct` reads the store and returns {status, body}.
int run_query(const Target& t, const std::string& path,
              const std::function<std::pair<int, json>(store::Store&)>& direct,
              const std::function<void(const json&)>& print_human) {
  std::pair<int, json> result;
  const std::string url = server_url(t);
  if (!url.empty()) {
    const std::string token = !t.token.empty()   ? t.token
                              : t.server.empty() ? local_admin_token(t.data_dir)
                                                 : "";
    result = http_get(url, path, token);
    if (result.first == 0) {
      if (!t.server.empty()) {
        std::cerr << "stagewise: cannot reach the server at " << t.server
                  << "; is `stagewise serve` running?\n";
        return 1;
      }
    }
  }
  if (result.first == 0) {
    auto st = store::Store::open(t.data_dir, local_store_options(t.data_dir));
    if (!st) {
      std::cerr << "stagewise: no server answers and the data dir cannot be read: "
                << st.error().message << " (pass --data-dir DIR or --server URL)\n";
      return 1;
    }
    result = direct(**st);
  }
  const auto& [status, body] = result;
  if (status >= 400 || status == 0) {
    const std::string msg = body.contains("error")
                                ? body["error"].value("message", "error")
                                : "request failed with status " + std::to_string(status);
    std::cerr << "stagewise: " << msg << "\n";
    return 1;
  }
  if (t.json)
    std::cout << body.dump(2) << "\n";
  else
    print_human(body);
  return 0;
}

std::pair<int, json> not_found(const std::string& what) {
  return {404, api::error_view("not_found", what)};
}

std::pair<int, json> store_error(const Error& e) {
  return {500, api::error_view("store_error", e.message)};
}

// Loads the workflows the data dir's server uses (only needed for direct
// reads that need the workflow, e.g. funnel).
workflow::Registry registry_for(const std::string& dir) {
  std::vector<workflow::Problem> problems;
  return workflow::Registry::load({dir}, problems);
}

}  // namespace

int status(const Target& t, const std::string& id) {
  return run_query(
      t, "/v1/applications/" + url_encode(id),
      [&](store::Store& st) -> std::pair<int, json> {
        auto app = st.application(id);
        if (!app)
          return app.error().is_not_found() ? not_found("no application \"" + id + "\"")
                                            : store_error(app.error());
        auto timers = st.timers_of(id);
        return {200,
                api::erased_view(api::application_view(
                                     *app, timers ? *timers : std::vector<store::TimerRecord>{}),
                                 workflow::is_erased(*app))};
      },
      [](const json& a) {
        std::cout << a["id"].get<std::string>() << "  " << a["program"].get<std::string>() << " v"
                  << a["workflow_version"] << "  stage " << a["stage"].get<std::string>()
                  << " since " << a["stage_entered_at"].get<std::string>() << "  (" << a["sequence"]
                  << " events)\n";
      });
}

int history(const Target& t, const std::string& id) {
  return run_query(
      t, "/v1/applications/" + url_encode(id) + "/history",
      [&](store::Store& st) -> std::pair<int, json> {
        auto h = st.history(id);
        if (!h) return store_error(h.error());
        if (h->empty()) return not_found("no application \"" + id + "\"");
        auto app = st.application(id);
        return {200, api::erased_view(api::history_view(*h), app && workflow::is_erased(*app))};
      },
      [](const json& body) {
        for (const auto& e : body["events"]) {
          std::cout << e["sequence"] << "  " << e["time"].get<std::string>() << "  "
                    << e["type"].get<std::string>() << "  ";
          if (e["from"].is_null())
            std::cout << "created in " << e["to"].get<std::string>();
          else if (e["from"] == e["to"])
            std::cout << "stays in " << e["to"].get<std::string>();
          else
            std::cout << e["from"].get<std::string>() << " -> " << e["to"].get<std::string>();
          std::cout << "  (" << e["id"].get<std::string>() << ")\n";
        }
      });
}

int list(const Target& t, const std::string& program, const std::string& stage, size_t limit) {
  std::string path =
      "/v1/programs/" + url_encode(program) + "/applications?limit=" + std::to_string(limit);
  if (!stage.empty()) path += "&stage=" + url_encode(stage);
  return run_query(
      t, path,
      [&](store::Store& st) -> std::pair<int, json> {
        json apps = json::array();
        std::vector<std::string> stages{stage};
        if (stage.empty()) {
          auto counts = st.stage_counts(program);
          if (!counts) return store_error(counts.error());
          stages.clear();
          for (const auto& [s, n] : *counts) stages.push_back(s);
        }
        for (const auto& s : stages) {
          auto ids = st.list_stage(program, s, limit - apps.size());
          if (!ids) return store_error(ids.error());
          for (const auto& id : *ids) apps.push_back({{"id", id}, {"stage", s}});
        }
        return {200, {{"program", program}, {"applications", apps}}};
      },
      [](const json& body) {
        for (const auto& a : body["applications"])
          std::cout << a["id"].get<std::string>() << "  " << a["stage"].get<std::string>() << "\n";
      });
}

int funnel(const Target& t, const std::string& program) {
  return run_query(
      t, "/v1/programs/" + url_encode(program) + "/funnel",
      [&](store::Store& st) -> std::pair<int, json> {
        const auto reg = registry_for("workflows");
        const auto* wf = reg.latest(program);
        auto counts = st.stage_counts(program);
        if (!counts) return store_error(counts.error());
        if (wf == nullptr) {
          json stages = json::array();
          for (const auto& [s, n] : *counts) stages.push_back({{"stage", s}, {"count", n}});
          return {200, {{"program", program}, {"stages", stages}}};
        }
        return {200, api::funnel_view(*wf, *counts)};
      },
      [](const json& body) {
        for (const auto& s : body["stages"])
          std::cout << s["stage"].get<std::string>() << "\t" << s["count"] << "\n";
      });
}

int submit(const SubmitFlags& f) {
  std::istream* in = &std::cin;
  std::ifstream file;
  if (f.file != "-") {
    file.open(f.file);
    if (!file) {
      std::cerr << "stagewise submit: cannot read " << f.file << "\n";
      return 1;
    }
    in = &file;
  }
  std::string bootstrap = f.bootstrap;
  if (bootstrap.empty()) {
    const json s = read_serve_file(f.target.data_dir);
    if (s.is_object() && s.contains("bootstrap")) bootstrap = s["bootstrap"].get<std::string>();
  }
  if (bootstrap.empty()) {
    std::cerr << "stagewise submit: no Kafka to send to: pass --bootstrap-servers HOSTS, or "
                 "--data-dir DIR of a running `stagewise serve`\n";
    return 1;
  }
  // Backpressure: wait while the processor lags, so the embedded cluster
  // (about 5 MB kept per partition) never trims input nobody has read.
  std::shared_ptr<kafka::GroupLag> probe;
  if (auto p = kafka::GroupLag::create({{"bootstrap.servers", bootstrap}}, f.group); p.ok())
    probe = std::move(*p);
  processor::Intake::Options o;
  o.kafka = {{"bootstrap.servers", bootstrap}};
  o.max_lag = f.max_lag;
  o.backpressure_wait = std::chrono::minutes(10);
  if (probe)
    o.lag = [probe]() -> int64_t {
      auto l = probe->lag("stagewise.events", 5000);
      return l ? *l : 0;  // no answer: do not block the submission on the probe
    };
  auto intake = processor::Intake::create(o);
  if (!intake) {
    std::cerr << "stagewise submit: " << intake.error().message << "\n";
    return 1;
  }
  size_t line_no = 0, accepted = 0, refused = 0;
  std::vector<json> events;
  std::vector<size_t> lines;
  auto flush = [&] {
    if (events.empty()) return;
    const auto results = (*intake)->submit(events, 30000);
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].accepted) {
        ++accepted;
        continue;
      }
      ++refused;
      std::cerr << f.file << ":" << lines[i] << ": event "
                << (results[i].id.empty() ? "(no id)" : "\"" + results[i].id + "\"")
                << " not sent: " << results[i].error << "\n";
    }
    events.clear();
    lines.clear();
  };
  // With --rebase-time the whole file is read first: every event's time
  // moves by the same amount so that the latest one is now.
  std::vector<std::pair<size_t, json>> parsed;
  int64_t latest = INT64_MIN;
  auto take = [&](size_t no, json j) {
    if (!f.rebase_time) {
      events.push_back(std::move(j));
      lines.push_back(no);
      if (events.size() >= static_cast<size_t>(f.batch)) flush();
      return;
    }
    if (j.is_object() && j.contains("time") && j["time"].is_string())
      if (auto t = parse_rfc3339_ms(j["time"].get<std::string>())) latest = std::max(latest, *t);
    parsed.emplace_back(no, std::move(j));
  };
  std::string line;
  while (std::getline(*in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    bool deep = false;
    json j = parse_json_bounded(line, EnvelopeLimits{}.max_depth, &deep);
    if (j.is_discarded()) {
      ++refused;
      std::cerr << f.file << ":" << line_no
                << (deep ? ": nested deeper than " + std::to_string(EnvelopeLimits{}.max_depth) +
                               " levels; flatten the event's data\n"
                         : ": not valid JSON; submit takes one CloudEvent JSON object per line\n");
      continue;
    }
    take(line_no, std::move(j));
  }
  if (f.rebase_time) {
    const int64_t shift = latest == INT64_MIN ? 0 : now_ms() - latest;
    for (auto& [no, j] : parsed) {
      if (j.is_object() && j.contains("time") && j["time"].is_string())
        if (auto t = parse_rfc3339_ms(j["time"].get<std::string>()))
          j["time"] = format_rfc3339_ms(*t + shift);
      events.push_back(std::move(j));
      lines.push_back(no);
      if (events.size() >= static_cast<size_t>(f.batch)) flush();
    }
  }
  flush();
  std::cerr << "submitted " << accepted << " event(s)";
  if (refused) std::cerr << ", " << refused << " refused";
  std::cerr << "\n";
  return refused ? 1 : 0;
}

int workflows_validate(const std::vector<std::string>& paths, bool as_json) {
  std::vector<workflow::Problem> problems;
  const auto reg = workflow::Registry::load(paths, problems);
  if (as_json) {
    json out = {
        {"valid", problems.empty()}, {"problems", json::array()}, {"workflows", json::array()}};
    for (const auto& p : problems)
      out["problems"].push_back({{"file", p.file}, {"pointer", p.pointer}, {"message", p.message}});
    for (const auto* wf : reg.all())
      out["workflows"].push_back(
          {{"program", wf->program}, {"version", wf->version}, {"file", wf->file}});
    std::cout << out.dump(2) << "\n";
  } else {
    for (const auto& p : problems) std::cout << p.to_string() << "\n";
    for (const auto* wf : reg.all())
      std::cout << "ok  " << wf->file << "  (" << wf->program << " v" << wf->version << ")\n";
    if (!problems.empty()) std::cout << problems.size() << " problem(s)\n";
  }
  return problems.empty() ? 0 : 1;
}

int workflows_graph(const std::string& program, const std::string& format, const std::string& dir,
                    int version) {
  const bool is_file = program.size() > 5 && program.ends_with(".json");
  std::vector<workflow::Problem> problems;
  const auto reg = workflow::Registry::load({is_file ? program : dir}, problems);
  const workflow::Workflow* wf = nullptr;
  if (is_file) {
    const auto all = reg.all();
    if (!all.empty()) wf = all.front();
  } else {
    wf = version > 0 ? reg.find(program, version) : reg.latest(program);
  }
  if (wf == nullptr) {
    for (const auto& p : problems) std::cerr << p.to_string() << "\n";
    std::cerr << "stagewise workflows graph: no workflow \"" << program << "\""
              << (version > 0 ? " version " + std::to_string(version) : "") << " in "
              << (is_file ? program : dir) << "\n";
    return 1;
  }
  std::cout << (format == "dot" ? workflow::to_dot(*wf) : workflow::to_mermaid(*wf));
  return 0;
}

int eval_guard(const std::string& rule_text, const std::string& data_text) {
  // One level deeper than a guard may nest, so compile() names the problem.
  const json rule = parse_json_bounded(rule_text, workflow::jsonlogic::kMaxNesting + 1);
  if (rule.is_discarded()) {
    std::cerr << "stagewise eval-guard: RULE_JSON is not valid JSON (or nests more than "
              << workflow::jsonlogic::kMaxNesting << " levels)\n";
    return 2;
  }
  const json data = parse_json_bounded(data_text, EnvelopeLimits{}.max_depth + 4);
  if (data.is_discarded()) {
    std::cerr << "stagewise eval-guard: DATA_JSON is not valid JSON (or nests more than "
              << EnvelopeLimits{}.max_depth + 4 << " levels)\n";
    return 2;
  }
  std::vector<workflow::jsonlogic::CompileError> errors;
  const auto compiled = workflow::jsonlogic::compile(rule, errors);
  if (!compiled) {
    for (const auto& e : errors)
      std::cerr << "stagewise eval-guard: " << (e.pointer.empty() ? "/" : e.pointer) << ": "
                << e.message << "\n";
    return 2;
  }
  std::cout << compiled->evaluate(data).dump() << "\n";
  return 0;
}

}  // namespace stagewise::cli
