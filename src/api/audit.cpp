// The audit over HTTP (DESIGN.md §14, docs/audit.md): the head to pin, the
// rounds that chain to it, and an entry's inclusion proof. Hashes only:
// nothing here reads an entry's content.
#include "api/detail/replies.h"
#include "api/forward.h"
#include "api/routes.h"
#include "audit/chain.h"
#include "common/partition.h"
#include "common/time.h"

#include <algorithm>

namespace stagewise::api {
namespace {

using detail::fail;
using detail::reply;
using nlohmann::json;

json round_view(const audit::Round& r) {
  return {{"partition", r.partition},
          {"round", r.number},
          {"time", format_rfc3339_ms(r.time_ms)},
          {"prev", audit::hex(r.prev)},
          {"root", audit::hex(r.root)},
          {"digest", audit::hex(r.digest)},
          {"entries", r.leaves.size()}};
}

// The combined digest over every partition's latest round, in partition order.
json head_view(std::vector<json> partitions) {
  // By partition, the latest round first: during a hand-over two processes
  // may both answer for one partition, and the newer round is the head.
  std::sort(partitions.begin(), partitions.end(), [](const json& a, const json& b) {
    return a["partition"] != b["partition"] ? a["partition"] < b["partition"]
                                            : a["round"] > b["round"];
  });
  partitions.erase(
      std::unique(partitions.begin(), partitions.end(),
                  [](const json& a, const json& b) { return a["partition"] == b["partition"]; }),
      partitions.end());
  std::vector<audit::Tip> tips;
  for (const auto& p : partitions)
    tips.push_back({p["partition"].get<int32_t>(), p["round"].get<uint64_t>(),
                    audit::unhex(p["digest"].get<std::string>()).value_or("")});
  return {{"digest", audit::hex(audit::combined(tips))}, {"partitions", std::move(partitions)}};
}

// The stored entry `seq` of `id` and the chain hash before it.
struct Sealed {
  store::StoredEntry entry;
  std::string prev;
};

std::optional<Sealed> sealed_entry(const Call& c, const std::string& id, uint64_t seq,
                                   httplib::Response& res) {
  auto e = c.ctx.store->stored_entry(id, seq);
  if (!e) {
    if (e.error().is_not_found())
      fail(res, 404, "not_found",
           "application \"" + id + "\" has no history entry " + std::to_string(seq));
    else
      fail(res, 500, "store_error", e.error().message);
    return std::nullopt;
  }
  if (!e->sealed) {
    fail(res, 404, "not_sealed",
         "history entry " + std::to_string(seq) + " of \"" + id +
             "\" was written before the audit existed: no hash covers it");
    return std::nullopt;
  }
  std::string prev = audit::genesis(id);
  if (seq > 1)
    if (auto before = c.ctx.store->stored_entry(id, seq - 1); before && before->sealed)
      prev = before->chain;
  return Sealed{std::move(*e), std::move(prev)};
}

}  // namespace

void get_audit_head(const Call& c, const httplib::Request& req, httplib::Response& res) {
  auto tips = c.ctx.store->audit_tips();
  if (!tips) return fail(res, 500, "store_error", tips.error().message);
  std::vector<json> partitions;
  for (const auto& t : *tips) partitions.push_back(round_view(t));
  const auto g = gather_parts(c.ctx, req, res, {{"partitions", partitions}});
  if (!g) return;
  for (const auto& a : g->answers) {
    const json theirs = a.value("partitions", json::array());
    for (const auto& p : theirs)
      if (p.is_object() && p.contains("partition")) partitions.push_back(p);
  }
  reply(res, 200, head_view(std::move(partitions)));
}

void get_audit_rounds(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const auto partition = detail::count_param(req, "partition", UINT64_MAX, INT32_MAX);
  const auto after = detail::count_param(req, "after", 0, UINT64_MAX);
  const auto limit = detail::count_param(req, "limit", 100, 1000);
  if (!partition || *partition == UINT64_MAX || !after || !limit || *limit == 0)
    return fail(res, 400, "invalid_argument",
                "partition (required), after and limit (1..1000) must be whole numbers");
  const auto p = static_cast<int32_t>(*partition);
  if (!c.ctx.store->owns_partition(p))
    return fail(res, 503, "not_owner",
                "partition " + std::to_string(p) +
                    " is owned by another process: ask it (GET /v1/info lists the owners)");
  json rounds = json::array();
  auto r = c.ctx.store->audit_rounds(p, *after, *limit,
                                     [&](audit::Round&& rd) { rounds.push_back(round_view(rd)); });
  if (!r) return fail(res, 500, "store_error", r.error().message);
  reply(res, 200, {{"partition", p}, {"rounds", std::move(rounds)}});
}

// An entry's inclusion proof: its chain hash from the one before and its
// bytes' digest, the Merkle path from its leaf to its round's root, and the
// round, whose digest chains on (GET /v1/audit/rounds) to the head.
void get_application_audit(const Call& c, const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  const auto v = visible(c, req, id, res);
  if (!v) return;
  const auto seq = detail::count_param(req, "sequence", v->app.sequence, UINT64_MAX);
  if (!seq || *seq == 0 || *seq > v->app.sequence)
    return fail(res, 400, "invalid_argument",
                "sequence must be a history entry of \"" + id + "\": 1.." +
                    std::to_string(v->app.sequence));
  const auto s = sealed_entry(c, id, *seq, res);
  if (!s) return;
  const int32_t n = c.ctx.store->partitions();
  const int32_t partition = n > 0 ? partition_of(id, n) : 0;
  auto round = c.ctx.store->audit_round(partition, s->entry.round);
  if (!round) return fail(res, 500, "store_error", round.error().message);
  std::vector<std::string> hashes;
  size_t index = round->leaves.size();
  for (size_t i = 0; i < round->leaves.size(); ++i) {
    const auto& l = round->leaves[i];
    hashes.push_back(audit::leaf_hash(l));
    if (l.application == id && l.sequence == *seq) index = i;
  }
  if (index == round->leaves.size())
    return fail(res, 500, "audit_broken",
                "round " + std::to_string(round->number) + " does not hold entry " +
                    std::to_string(*seq) + " of \"" + id + "\": run stagewise audit verify");
  json path = json::array();
  for (const auto& step : audit::merkle_path(hashes, index))
    path.push_back({{"side", step.left ? "left" : "right"}, {"hash", audit::hex(step.hash)}});
  reply(res, 200,
        {{"application", id},
         {"sequence", *seq},
         {"entry",
          {{"prev", audit::hex(s->prev)},
           {"digest", audit::hex(audit::sha256(s->entry.body))},
           {"chain", audit::hex(s->entry.chain)}}},
         {"leaf", audit::hex(hashes[index])},
         {"path", std::move(path)},
         {"round", round_view(*round)}});
}

}  // namespace stagewise::api
