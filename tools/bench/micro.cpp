// Micro-benchmarks of the per-event hot path: envelope decode, guard
// evaluation, engine apply, store commit per batch size. Inputs come from
// the simulator, so the mix is what the pipeline sees.
//   build/release/tools/bench/stagewise_micro_bench [--benchmark_filter=...]
#include "audit/chain.h"
#include "bench_util.h"
#include "common/cloudevent.h"
#include "privacy/keys.h"
#include "processor/outputs.h"
#include "store/store.h"
#include "workflow/engine.h"
#include "workflow/jsonlogic.h"

#include <benchmark/benchmark.h>

#include <memory>

namespace stagewise::bench {
namespace {

const workflow::Registry& registry() {
  static const workflow::Registry reg = load_registry();
  return reg;
}

// Applied events of all five programs (a few thousand).
const std::vector<AppliedEvent>& mix() {
  static const std::vector<AppliedEvent> all = [] {
    std::vector<AppliedEvent> out;
    for (const auto& p : programs()) {
      auto v = applied_events(registry(), p, 300, 11);
      for (auto& a : v) out.push_back(std::move(a));
    }
    return out;
  }();
  return all;
}

void BM_DecodeStructured(benchmark::State& state) {
  std::vector<std::string> values;
  for (const auto& a : mix()) values.push_back(to_json(a.event).dump());
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const auto& v = values[i++ % values.size()];
    bytes += v.size();
    auto d = decode_structured(v);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_DecodeStructured);

// The guards that fire on review.submitted, against applications whose
// panels are complete: the guard itself, and the context built for it.
struct GuardCase {
  const workflow::Workflow* wf;
  const workflow::Transition* t;
  workflow::Application app;
  CloudEvent event;
};

std::vector<GuardCase> guard_cases() {
  std::vector<GuardCase> out;
  for (const auto& a : mix()) {
    if (!a.before) continue;
    const auto* wf = registry().find(a.before->program, a.before->workflow_version);
    for (const auto& t : wf->transitions)
      if (t.guard && t.on == a.event.type && (t.from == a.before->stage || t.from == "*"))
        out.push_back({wf, &t, a.applied.next, a.event});
  }
  return out;
}

void BM_GuardEvaluate(benchmark::State& state) {
  const auto cases = guard_cases();
  std::vector<nlohmann::json> contexts;
  for (const auto& c : cases) contexts.push_back(workflow::guard_context(*c.wf, c.app, c.event));
  size_t i = 0;
  for (auto _ : state) {
    const size_t k = i++ % cases.size();
    auto r = cases[k].t->guard->evaluate(contexts[k]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["guards"] = static_cast<double>(cases.size());
}
BENCHMARK(BM_GuardEvaluate);

void BM_GuardContext(benchmark::State& state) {
  const auto cases = guard_cases();
  size_t i = 0;
  for (auto _ : state) {
    const auto& c = cases[i++ % cases.size()];
    auto ctx = workflow::guard_context(*c.wf, c.app, c.event);
    benchmark::DoNotOptimize(ctx);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GuardContext);

// The context the engine builds: only what the workflow's guards read.
void BM_GuardContextRead(benchmark::State& state) {
  const auto cases = guard_cases();
  size_t i = 0;
  for (auto _ : state) {
    const auto& c = cases[i++ % cases.size()];
    auto ctx = workflow::guard_context(*c.wf, c.app, c.event, &c.wf->guard_reads);
    benchmark::DoNotOptimize(ctx);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GuardContextRead);

void BM_EngineApply(benchmark::State& state) {
  const auto& all = mix();
  size_t i = 0;
  for (auto _ : state) {
    const auto& a = all[i++ % all.size()];
    auto r = workflow::apply(registry(), a.before ? &*a.before : nullptr, a.event);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EngineApply);

// What apply() no longer pays when the processor gives it the cache's or
// the store's copy to change (workflow::apply with Application&&): the copy.
void BM_ApplicationCopy(benchmark::State& state) {
  const auto& all = mix();
  size_t i = 0;
  for (auto _ : state) {
    const auto& a = all[i++ % all.size()];
    if (!a.before) continue;
    workflow::Application copy = *a.before;
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApplicationCopy);

// Application state as the store keeps it (to_json + from_json round trip).
void BM_ApplicationJsonRoundTrip(benchmark::State& state) {
  const auto& all = mix();
  size_t i = 0;
  for (auto _ : state) {
    const auto& a = all[i++ % all.size()];
    auto j = workflow::to_json(a.applied.next);
    auto back = workflow::application_from_json(j);
    benchmark::DoNotOptimize(back);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApplicationJsonRoundTrip);

// What the processor writes per applied event (state, history, stage index,
// dedupe id, timers, status and notification outbox records, input
// offset), committed in batches of range(0) events; range(1) = fsync;
// range(2) = personal data sealed (as serve does) or in clear.
void BM_StoreCommit(benchmark::State& state) {
  const auto& all = mix();
  const size_t per_batch = static_cast<size_t>(state.range(0));
  const bool sync = state.range(1) != 0;
  ScratchDir dir("micro-store");
  store::Store::Options o;
  o.sync = sync;
  if (state.range(2) != 0) o.kek = privacy::kek_from_secret("stagewise bench");
  auto st = store::Store::open(dir / "db", o);
  if (!st) {
    state.SkipWithError(st.error().message.c_str());
    return;
  }
  store::Store& s = **st;
  size_t i = 0;
  int64_t offset = 0;
  for (auto _ : state) {
    store::Batch b = s.batch();
    for (size_t n = 0; n < per_batch; ++n, ++i) {
      // Later rounds write the same keys again (updates of the same
      // applications); the outbox and the offsets keep growing.
      const auto& a = all[i % all.size()];
      const workflow::Applied& applied = a.applied;
      const CloudEvent& ev = a.event;
      const store::HistoryEntry h =
          processor::history_entry(applied, ev, "stagewise.events", 0, offset++);
      std::string head = applied.next.history_head;
      b.add_history(ev.subject, h, head);
      b.put_application(applied.next, a.before ? a.before->stage : "");
      if (applied.reset_timers && a.before) b.cancel_timers(ev.subject);
      for (const auto& t : applied.timers) b.add_timer({ev.subject, applied.next.program, 0, t});
      b.mark_seen(ev.source, ev.id);
      if (applied.moved) b.add_outbox(processor::stage_changed("stagewise.status", applied, ev));
      for (size_t k = 0; k < applied.notifications.size(); ++k)
        b.add_outbox(processor::notification("stagewise.notifications", applied,
                                             applied.notifications[k], k, ev));
    }
    b.set_input_position({"stagewise.events", 0, offset});
    if (auto r = s.commit(b, sync); !r) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(per_batch));
}
// Sealing one value under a data key: an application record is ~1 KB, an
// event's data ~256 B.
void BM_Seal(benchmark::State& state) {
  const std::string key = privacy::new_key();
  const std::string plain(static_cast<size_t>(state.range(0)), 'x');
  std::string out;
  for (auto _ : state) {
    out.clear();
    privacy::seal(out, key, "stagewise.application\0A-1", plain);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Seal)->Arg(256)->Arg(1024);

// Linking a history entry into its application's chain: two SHA-256, once
// per event on the loop thread (the committer hashes each round's leaves).
void BM_AuditLink(benchmark::State& state) {
  const std::string head = audit::genesis("A-1");
  const std::string stored(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(audit::link(head, stored));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditLink)->Arg(300);

BENCHMARK(BM_StoreCommit)
    ->ArgsProduct({{1, 10, 100, 1000}, {0, 1}, {0, 1}})
    ->ArgNames({"batch", "sync", "sealed"})
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(2.0);

}  // namespace
}  // namespace stagewise::bench

BENCHMARK_MAIN();
