// Restoring a partition from the changelog (README "Performance", DESIGN.md
// §9): how long a process assigned a partition takes to rebuild it.
//
//  1. A store that mirrors writes N applications as the processor would
//     (rounds of 1000 events: each application submitted, then three more
//     events, a pending timer), so its outbox holds the changelog bundles.
//  2. Store side: those bundles are applied to an empty store round by
//     round with Store::restore_entries, what processor::Takeover does.
//  3. Kafka side: as many changelog messages as the embedded broker keeps
//     in one partition (~5 MB) are produced and read back with the
//     PartitionReader a restore uses; the rate gives the reading time of N
//     applications' changelog.
// Prints one JSON line; restore time per 100 000 applications is the sum.
#include "bench_util.h"
#include "common/partition.h"
#include "kafka/kafka.h"
#include "store/changelog.h"

#include <iostream>

namespace stagewise::bench {
namespace {

struct Args {
  uint64_t applications = 100'000;
  bool json = false;
};

workflow::Application application(uint64_t i, uint64_t seq) {
  workflow::Application a;
  a.id = "app-" + std::to_string(i);
  a.program = "summer-research-internship";
  a.workflow_version = 1;
  a.stage = seq < 4 ? "documents" : "review";
  a.sequence = seq;
  a.created_ms = a.updated_ms = a.stage_entered_ms = 1'780'000'000'000 + static_cast<int64_t>(i);
  a.facts = {{"owner", "stu-" + std::to_string(i)},
             {"profile",
              {{"name", "Student " + std::to_string(i)},
               {"email", "s" + std::to_string(i) + "@example.edu"},
               {"university", "Partner University"}}},
             {"documents", nlohmann::json::array({"cv", "transcript"})}};
  return a;
}

store::HistoryEntry history(uint64_t i, uint64_t seq) {
  store::HistoryEntry h;
  h.sequence = seq;
  h.id = "app-" + std::to_string(i) + "-" + std::to_string(seq);
  h.source = "portal";
  h.type = seq == 1 ? "application.submitted" : "application.document_added";
  h.time = "2026-06-01T10:00:00Z";
  h.actorid = "stu-" + std::to_string(i);
  h.actorrole = "applicant";
  h.to = "documents";
  h.data = {{"kind", "transcript"}, {"uri", "https://files.example.edu/" + std::to_string(i)}};
  h.topic = "stagewise.events";
  h.offset = static_cast<int64_t>(i * 4 + seq);
  return h;
}

// Writes the workload; returns the bundles' messages (key, value) in order.
std::vector<store::Bundle> write_changelog(store::Store& s, uint64_t n) {
  constexpr uint64_t kEventsPerRound = 1000, kEvents = 4;
  uint64_t events = 0;
  store::Batch b = s.batch();
  for (uint64_t i = 0; i < n; ++i) {
    for (uint64_t seq = 1; seq <= kEvents; ++seq) {
      b.put_application(application(i, seq), seq == 1 ? "" : "documents");
      std::string head;  // not a real chain: the bench measures bytes
      b.add_history("app-" + std::to_string(i), history(i, seq), head);
      if (++events % kEventsPerRound == 0) {
        b.set_input_position({"stagewise.events", 0, static_cast<int64_t>(events)});
        if (auto r = s.commit(b, false); !r) throw std::runtime_error(r.error().message);
      }
    }
    store::TimerRecord t;
    t.application = "app-" + std::to_string(i);
    t.program = "summer-research-internship";
    t.timer.due_ms = 1'790'000'000'000;
    t.timer.stage = "documents";
    b.add_timer(t);
  }
  b.set_input_position({"stagewise.events", 0, static_cast<int64_t>(events)});
  if (auto r = s.commit(b, false); !r) throw std::runtime_error(r.error().message);
  std::vector<store::Bundle> out;
  for (uint64_t after = 0;;) {
    auto recs = s.outbox(1000, after);
    if (!recs || recs->empty()) break;
    for (const auto& rec : *recs) {
      after = rec.seq;
      store::Bundle bundle;
      if (rec.bundle && store::changelog::decode(rec.value, bundle))
        out.push_back(std::move(bundle));
    }
  }
  return out;
}

int run(const Args& a) {
  ScratchDir dir("restore");
  auto from = store::Store::open(dir / "from", {.sync = false});
  auto to = store::Store::open(dir / "to", {.sync = false});
  if (!from || !to) throw std::runtime_error("cannot open the stores");
  for (auto* s : {from->get(), to->get()}) {
    s->set_partitions(1);
    s->mirror_to("stagewise.changelog", "stagewise.events");
  }
  const auto bundles = write_changelog(**from, a.applications);
  uint64_t messages = 0, bytes = 0;
  for (const auto& b : bundles) {
    messages += b.entries.size() + 1;
    for (const auto& e : b.entries) bytes += e.key.size() + (e.value ? e.value->size() : 0);
  }

  // Store side.
  const auto t0 = Clock::now();
  for (const auto& b : bundles)
    if (auto r = (*to)->restore_entries(b.entries); !r) throw std::runtime_error(r.error().message);
  const double store_s = seconds_since(t0);

  // Kafka side: ~4.5 MB of those messages through the embedded broker.
  auto cluster = kafka::EmbeddedCluster::start(1, 1, {"stagewise.changelog"});
  if (!cluster) throw std::runtime_error(cluster.error().message);
  const kafka::Properties props = {{"bootstrap.servers", (*cluster)->bootstrap()}};
  auto producer = kafka::Producer::create(props, nullptr);
  if (!producer) throw std::runtime_error(producer.error().message);
  uint64_t sent = 0, sent_bytes = 0;
  for (const auto& b : bundles) {
    for (const auto& e : b.entries) {
      if (sent_bytes > 4'500'000) break;
      const std::string_view v = e.value ? std::string_view(*e.value) : std::string_view();
      (void)(*producer)->produce("stagewise.changelog", e.key, v, {}, 0, 0);
      ++sent;
      sent_bytes += e.key.size() + v.size();
    }
  }
  if (auto r = (*producer)->flush(60'000); !r) throw std::runtime_error(r.error().message);
  auto reader = kafka::PartitionReader::create(props);
  if (!reader) throw std::runtime_error(reader.error().message);
  uint64_t read = 0;
  const auto t1 = Clock::now();
  auto r = (*reader)->read(
      "stagewise.changelog", 0, 0, static_cast<int64_t>(sent),
      [&](kafka::Message&) -> Result<void> {
        ++read;
        return {};
      },
      30'000);
  if (!r) throw std::runtime_error(r.error().message);
  const double kafka_s = seconds_since(t1);
  const double kafka_rate = static_cast<double>(read) / kafka_s;
  const double per_100k = 100'000.0 / static_cast<double>(a.applications);
  const double read_100k = static_cast<double>(messages) / kafka_rate * per_100k;
  nlohmann::json out = {
      {"applications", a.applications},
      {"changelog_messages", messages},
      {"changelog_mb", round_to(static_cast<double>(bytes) / 1048576.0, 1)},
      {"bytes_per_application", bytes / a.applications},
      {"store_apply_s", round_to(store_s, 2)},
      {"store_apply_messages_per_s", round_to(static_cast<double>(messages) / store_s, 0)},
      {"kafka_read_messages", read},
      {"kafka_read_messages_per_s", round_to(kafka_rate, 0)},
      {"kafka_read_mb_per_s", round_to(static_cast<double>(sent_bytes) / 1048576.0 / kafka_s, 1)},
      {"restore_s_per_100k_applications", round_to(store_s * per_100k + read_100k, 2)}};
  std::cout << (a.json ? out.dump() : out.dump(2)) << std::endl;
  return 0;
}

}  // namespace
}  // namespace stagewise::bench

int main(int argc, char** argv) {
  stagewise::bench::Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") {
      a.json = true;
    } else if (arg == "--applications" && i + 1 < argc) {
      a.applications = std::stoull(argv[++i]);
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "stagewise_restore_bench [--applications N] [--json]\n";
      return 0;
    } else {
      std::cerr << "unknown argument " << arg << " (see --help)\n";
      return 2;
    }
  }
  return stagewise::bench::run_main("stagewise_restore_bench",
                                    [&] { return stagewise::bench::run(a); });
}
