#pragma once

// A seeded input stream of the summer-research-internship program for the
// end-to-end tests (applications along plausible paths, interleaved, with
// bad messages mixed in), and the oracle: the pure engine over the same
// stream.
#include "common/cloudevent.h"
#include "common/partition.h"
#include "common/reasons.h"
#include "support/kafka_fixture.h"
#include "support/stagewise_e2e.h"
#include "workflow/engine.h"
#include "workflow/workflow.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace stagewise::testing {

using nlohmann::json;

// The input stream: applications of the summer program along valid paths,
// interleaved, with about 3% bad messages mixed in.
class StreamBuilder {
 public:
  explicit StreamBuilder(uint64_t seed, std::string prefix = "crash-")
      : rng_(seed), prefix_(std::move(prefix)) {}

  std::vector<InputMessage> build(int applications) {
    std::vector<std::vector<InputMessage>> scripts;
    for (int a = 0; a < applications; ++a) scripts.push_back(application(a));
    // Interleave, keeping each application's own order.
    std::vector<InputMessage> out;
    std::vector<size_t> next(scripts.size(), 0);
    std::vector<size_t> open;
    for (size_t i = 0; i < scripts.size(); ++i) open.push_back(i);
    int ghosts = 0, junk = 0;
    while (!open.empty()) {
      const size_t pick = rng_() % open.size();
      auto& script = scripts[open[pick]];
      out.push_back(script[next[open[pick]]++]);
      if (next[open[pick]] == script.size()) {
        open[pick] = open.back();
        open.pop_back();
      }
      // Bad messages that do not belong to an application's path.
      const int r = pct();
      if (r == 0) {
        // Not JSON at all, or cut short.
        const std::string app = app_id(static_cast<int>(rng_() % scripts.size()));
        const std::string whole = event(app + "-junk-" + std::to_string(junk++), "note.added", app,
                                        "program_manager", {{"text", "x"}})
                                      .dump();
        out.push_back({app, pct() < 50 ? whole.substr(0, whole.size() / 2) : "not json at all"});
      } else if (r == 1) {
        // A required attribute missing.
        const std::string app = app_id(static_cast<int>(rng_() % scripts.size()));
        json e = event(app + "-nox-" + std::to_string(junk++), "note.added", app, "program_manager",
                       {{"text", "missing something"}});
        static const char* kRequired[] = {"time", "source", "type", "id", "specversion"};
        e.erase(kRequired[rng_() % 5]);
        out.push_back({app, e.dump()});
      } else if (r == 2 && pct() < 50) {
        // A program nobody defined.
        const std::string ghost = "ghost-" + std::to_string(ghosts++);
        json e = event(ghost + "-s", "application.submitted", ghost, "applicant");
        e["program"] = "no-such-program";
        out.push_back({ghost, e.dump()});
      }
    }
    return out;
  }

  std::string app_id(int a) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d", a);
    return prefix_ + buf;
  }

 private:
  int pct() { return static_cast<int>(rng_() % 100); }
  int between(int lo, int hi) { return lo + static_cast<int>(rng_() % (hi - lo + 1)); }

  // One application's events along a plausible path of the workflow.
  std::vector<InputMessage> application(int a) {
    const std::string app = app_id(a);
    std::vector<InputMessage> out;
    int n = 0;
    auto push = [&](const std::string& type, const std::string& role, json data,
                    const std::string& actor = "") {
      json e = event(app + "-" + std::to_string(n), type, app, role, std::move(data), n);
      ++n;
      e["actorid"] = actor.empty() ? (role == "applicant" ? "stu-" + app : "pm-1") : actor;
      out.push_back({app, e.dump()});
    };
    auto maybe_note = [&] {
      if (pct() < 15) push("note.added", "program_manager", {{"text", "checked " + app}});
    };
    auto withdraw = [&] {
      push("application.withdrawn", "applicant", {{"reason", "other plans"}});
    };

    const std::string conflicted = "rev-" + std::to_string(between(1, 6));
    json profile = {{"name", "Student " + std::to_string(a)}, {"university", "Partner U"}};
    const bool has_conflict = pct() < 10;
    if (has_conflict) profile["conflicts"] = json::array({conflicted});
    push("application.submitted", "applicant", profile);
    if (pct() < 3)  // not accepted in this stage: dead-lettered
      push("offer.accepted", "applicant", nullptr);
    maybe_note();

    int r = pct();
    if (r < 6) return withdraw(), out;
    if (r < 16) {
      push("decision.recorded", "program_manager", {{"outcome", "ineligible"}});
      if (pct() < 20) maybe_note();  // possibly after the end: dead-lettered
      return out;
    }
    if (r < 22) return out;  // still waiting for the eligibility check
    push("decision.recorded", "program_manager", {{"outcome", "eligible"}});
    maybe_note();

    if (pct() < 20) push("application.document_added", "applicant", {{"kind", "cv"}});
    std::vector<std::string> docs = {"transcript", "recommendation_letter"};
    if (pct() < 50) std::swap(docs[0], docs[1]);
    push("application.document_added", "applicant", {{"kind", docs[0]}});
    if (pct() < 8) return out;  // one document short
    push("application.document_added", "applicant", {{"kind", docs[1]}});
    maybe_note();

    // Review: three reviewers the applicant is not conflicted with.
    std::vector<std::string> reviewers;
    while (reviewers.size() < 3) {
      const std::string rev = "rev-" + std::to_string(between(1, 6));
      if (std::find(reviewers.begin(), reviewers.end(), rev) != reviewers.end()) continue;
      if (has_conflict && rev == conflicted) {
        if (pct() < 30)  // the conflicted one is refused
          push("reviewer.assigned", "program_manager", {{"reviewer", rev}});
        continue;
      }
      reviewers.push_back(rev);
    }
    for (const auto& rev : reviewers)
      push("reviewer.assigned", "program_manager", {{"reviewer", rev}});
    if (pct() < 6) return withdraw(), out;
    const int quality = between(2, 5);
    double sum = 0;
    for (size_t i = 0; i < reviewers.size(); ++i) {
      const int rp = std::clamp(quality + between(-1, 1), 1, 5);
      const int mo = std::clamp(quality + between(-1, 1), 1, 5);
      const int ac = std::clamp(quality + between(-1, 1), 1, 5);
      sum += (2.0 * rp + mo + ac) / 4.0;
      push("review.submitted", "reviewer",
           {{"scores", {{"research_potential", rp}, {"motivation", mo}, {"academic_record", ac}}},
            {"recommendation", quality >= 4 ? "accept" : "reject"}},
           reviewers[i]);
      if (i == 0) maybe_note();
    }
    if (sum / 3.0 < 3.5) return out;  // rejected by the reviews

    push("interview.scheduled", "program_manager", {{"with", "host supervisor"}});
    if (pct() < 5) return withdraw(), out;
    push("interview.completed", "program_manager", {{"notes", "good"}});
    maybe_note();
    r = pct();
    if (r < 20) {
      push("decision.recorded", "program_manager", {{"outcome", "reject"}});
      return out;
    }
    if (r < 40) {
      push("decision.recorded", "program_manager", {{"outcome", "waitlist"}});
      maybe_note();
      if (pct() < 40) {
        push("decision.recorded", "program_manager", {{"outcome", "reject"}});
        return out;
      }
    }
    push("decision.recorded", "program_manager", {{"outcome", "admit"}});
    if (pct() < 20) {
      push("offer.declined", "applicant", nullptr);
      return out;
    }
    push("offer.accepted", "applicant", nullptr);
    if (pct() < 85) push("onboarding.completed", "program_manager", {{"host", "Partner U"}});
    return out;
  }

  std::mt19937_64 rng_;
  std::string prefix_;
};

// What the pure engine makes of the stream, in its order. Timers are not part
// of it: the events are dated near now (testing::event), so no deadline (days
// away) falls due while the test runs.
struct Oracle {
  std::map<std::string, workflow::Application> apps;
  // (application, sequence) -> {to, cause id} for every creation and move.
  std::map<std::pair<std::string, uint64_t>, std::pair<std::string, std::string>> status;
  std::map<size_t, std::string> rejected;  // stream index -> reason
  std::map<std::string, size_t> reasons;   // reason -> count
};

Oracle run_oracle(const workflow::Registry& registry, const std::vector<InputMessage>& stream) {
  Oracle o;
  std::set<std::pair<std::string, std::string>> seen;
  const Headers headers = {{"content-type", "application/cloudevents+json"}};
  for (size_t i = 0; i < stream.size(); ++i) {
    auto decoded = decode_kafka(headers, stream[i].value);
    if (auto* err = std::get_if<DecodeError>(&decoded)) {
      o.rejected[i] = reason_code(err->reason);
      continue;
    }
    const CloudEvent& ev = std::get<CloudEvent>(decoded);
    if (!seen.insert({ev.source, ev.id}).second) continue;  // a duplicate: ignored
    const auto it = o.apps.find(ev.subject);
    auto outcome = workflow::apply(registry, it == o.apps.end() ? nullptr : &it->second, ev);
    if (auto* rej = std::get_if<workflow::Rejected>(&outcome)) {
      seen.erase({ev.source, ev.id});  // only applied events are remembered
      o.rejected[i] = reason_code(rej->reason);
      continue;
    }
    auto& applied = std::get<workflow::Applied>(outcome);
    if (applied.moved) o.status[{ev.subject, applied.next.sequence}] = {applied.to, ev.id};
    o.apps.insert_or_assign(ev.subject, std::move(applied.next));
  }
  for (const auto& [i, reason] : o.rejected) ++o.reasons[reason];
  return o;
}

/// An application id that lives in input partition `p` of `partitions`,
/// for a last event per partition (once it is applied, everything before
/// it in that partition was handled).
inline std::string sentinel_id(int32_t p, int32_t partitions) {
  for (int k = 0;; ++k) {
    std::string id = "sentinel-" + std::to_string(p) + "-" + std::to_string(k);
    if (partition_of(id, partitions) == p) return id;
  }
}

}  // namespace stagewise::testing
