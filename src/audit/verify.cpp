#include "audit/verify.h"

#include "audit/chain.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

namespace stagewise::audit {

namespace {

// Recomputes a round's root and digest; the problem when they differ.
std::optional<std::string> check_round(const Round& r) {
  for (size_t i = 1; i < r.leaves.size(); ++i)
    if (std::tie(r.leaves[i - 1].application, r.leaves[i - 1].sequence) >=
        std::tie(r.leaves[i].application, r.leaves[i].sequence))
      return "its leaves are out of order (changed after it was sealed)";
  Round again = r;
  seal(again);
  if (again.root != r.root)
    return "its root is not the tree of its leaves (changed after it was sealed)";
  if (again.digest != r.digest)
    return "its digest does not match its fields (changed after it was sealed)";
  return std::nullopt;
}

// The rounds read so far, and the problems found with them, by
// (partition, number); bounded.
class Rounds {
 public:
  explicit Rounds(const store::Store& store) : store_(store) {}

  // The partition and round that seal entry (id, seq) in round `number`,
  // or the problem.
  Result<std::pair<std::shared_ptr<const Round>, const Leaf*>> find(const std::string& id,
                                                                    uint64_t seq, uint64_t number) {
    if (!partitions_) {
      auto p = store_.audit_partitions();
      if (!p) return p.error();
      partitions_ = std::move(*p);
    }
    for (const int32_t p : *partitions_) {
      auto r = get(p, number);
      if (!r) return r.error();
      if (!*r) continue;
      const auto& leaves = (*r)->leaves;
      const auto it = std::partition_point(leaves.begin(), leaves.end(), [&](const Leaf& l) {
        return l.application < id || (l.application == id && l.sequence < seq);
      });
      if (it != leaves.end() && it->application == id && it->sequence == seq)
        return std::make_pair(*r, &*it);
    }
    return std::make_pair(std::shared_ptr<const Round>(), static_cast<const Leaf*>(nullptr));
  }

 private:
  Result<std::shared_ptr<const Round>> get(int32_t partition, uint64_t number) {
    const auto key = std::make_pair(partition, number);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    if (cache_.size() >= 4096) cache_.clear();
    auto r = store_.audit_round(partition, number);
    std::shared_ptr<const Round> held;
    if (r)
      held = std::make_shared<const Round>(std::move(*r));
    else if (!r.error().is_not_found())
      return r.error();
    cache_.emplace(key, held);
    return held;
  }

  const store::Store& store_;
  std::optional<std::vector<int32_t>> partitions_;
  std::map<std::pair<int32_t, uint64_t>, std::shared_ptr<const Round>> cache_;
};

// One application's chain, entry by entry, and each sealed entry's round.
class ChainCheck {
 public:
  ChainCheck(const workflow::Application& app, Report& report, Rounds& rounds)
      : app_(app), report_(report), rounds_(rounds), prev_(genesis(app.id)) {}

  Result<std::optional<Finding>> run(const store::Store& store) {
    auto r = store.stored_history(app_.id, [&](store::StoredEntry&& e) {
      if (!first_ && !error_) entry(e);
    });
    if (!r) return r.error();
    if (error_) return *error_;
    if (!first_) end();
    return first_;
  }

 private:
  void fail(uint64_t seq, std::string problem, int32_t partition = -1, uint64_t round = 0) {
    first_ = Finding{app_.id, seq, partition, round, std::move(problem)};
  }

  void entry(const store::StoredEntry& e) {
    ++report_.entries;
    if (!e.readable) return fail(e.sequence, "is not a history entry (its bytes were changed)");
    if (e.sequence != next_)
      return fail(next_, "is missing: the history goes from " + std::to_string(next_ - 1) + " to " +
                             std::to_string(e.sequence));
    ++next_;
    if (!e.sealed) {
      ++report_.unsealed;
      if (any_sealed_)
        fail(e.sequence,
             "is not sealed, yet the entries before it are (replaced by an unsealed copy)");
      return;
    }
    any_sealed_ = true;
    ++report_.sealed;
    if (link(prev_, e.body) != e.chain)
      return fail(e.sequence, "does not match its chain hash: it was changed after it was written");
    prev_ = e.chain;
    sealed_in(e);
  }

  // The round the entry names seals it, with this chain hash.
  void sealed_in(const store::StoredEntry& e) {
    auto found = rounds_.find(app_.id, e.sequence, e.round);
    if (!found) {
      error_ = found.error();
      return;
    }
    const auto& [round, leaf] = *found;
    if (!round)
      return fail(e.sequence, "is in no audit round, though it names round " +
                                  std::to_string(e.round) + " (the round was changed or removed)");
    if (leaf->chain != e.chain)
      return fail(e.sequence,
                  "differs from the hash its round sealed: rewritten, with its chain, after it "
                  "was sealed",
                  round->partition, round->number);
    if (auto problem = check_round(*round))
      fail(e.sequence, "is sealed in a round that does not verify: " + *problem, round->partition,
           round->number);
  }

  void end() {
    if (next_ - 1 < app_.sequence)
      return fail(next_, "is missing: the history ends at " + std::to_string(next_ - 1) +
                             " and the application is at " + std::to_string(app_.sequence));
    if (next_ - 1 > app_.sequence)
      return fail(app_.sequence + 1, "is past the application's sequence " +
                                         std::to_string(app_.sequence) + " (added afterwards)");
    if (any_sealed_ && prev_ != app_.history_head)
      return fail(app_.sequence,
                  "is the last, and the application's head is not its chain hash (the head or "
                  "the history was changed)");
    if (!any_sealed_ && !app_.history_head.empty())
      fail(app_.sequence, "is the last, and the application has a head but no sealed entry");
  }

  const workflow::Application& app_;
  Report& report_;
  Rounds& rounds_;
  std::string prev_;
  uint64_t next_ = 1;
  bool any_sealed_ = false;
  std::optional<Finding> first_;
  std::optional<Error> error_;
};

// Every partition's chain of rounds, and that each leaf is the stored entry.
Result<void> check_partitions(const store::Store& store, Report& report, size_t max_findings) {
  auto partitions = store.audit_partitions();
  if (!partitions) return partitions.error();
  for (const int32_t p : *partitions) {
    std::string prev = no_round();
    uint64_t last = 0;
    std::optional<Finding> first;
    std::optional<Error> error;
    auto r = store.audit_rounds(p, 0, SIZE_MAX, [&](Round&& round) {
      if (first || error) return;
      ++report.rounds;
      report.leaves += round.leaves.size();
      if (round.prev != prev)
        first = Finding{{},
                        0,
                        p,
                        round.number,
                        last == 0 ? "is the first, yet follows another round (rounds before it "
                                    "were removed)"
                                  : "does not follow round " + std::to_string(last) +
                                        " (a round was removed, changed or inserted)"};
      else if (auto problem = check_round(round))
        first = Finding{{}, 0, p, round.number, *problem};
      for (size_t i = 0; !first && i < round.leaves.size(); ++i) {
        const Leaf& leaf = round.leaves[i];
        auto e = store.stored_entry(leaf.application, leaf.sequence);
        if (!e && !e.error().is_not_found()) {
          error = e.error();
          return;
        }
        if (!e || e->chain != leaf.chain)
          first =
              Finding{leaf.application, leaf.sequence, p, round.number,
                      !e ? "is sealed in this round but is not in the store (removed)"
                         : "is not the entry this round sealed (rewritten after it was sealed)"};
      }
      prev = round.digest;
      last = round.number;
    });
    if (!r) return r;
    if (error) return *error;
    if (first && report.broken.size() < max_findings) report.broken.push_back(std::move(*first));
  }
  return {};
}

}  // namespace

nlohmann::json to_json(const Report& r) {
  nlohmann::json broken = nlohmann::json::array();
  for (const auto& f : r.broken) {
    nlohmann::json j = {{"problem", f.problem}, {"message", describe(f)}};
    if (!f.application.empty()) j["application"] = f.application;
    if (f.sequence > 0) j["sequence"] = f.sequence;
    if (f.partition >= 0) j["partition"] = f.partition, j["round"] = f.round;
    broken.push_back(std::move(j));
  }
  return {{"ok", r.ok()},       {"applications", r.applications}, {"entries", r.entries},
          {"sealed", r.sealed}, {"unsealed", r.unsealed},         {"rounds", r.rounds},
          {"leaves", r.leaves}, {"broken", std::move(broken)}};
}

std::string describe(const Finding& f) {
  std::string where;
  if (!f.application.empty()) {
    where = "application " + f.application;
    if (f.sequence > 0) where += ", entry " + std::to_string(f.sequence);
  }
  if (f.partition >= 0) {
    if (!where.empty()) where += ", ";
    where +=
        "audit round " + std::to_string(f.round) + " of partition " + std::to_string(f.partition);
  }
  return where + ": " + f.problem;
}

Result<Report> verify(const store::Store& store, const std::vector<std::string>& ids,
                      const VerifyOptions& options) {
  std::vector<std::string> all = ids;
  if (ids.empty()) {
    auto r = store.each_application(-1, [&](workflow::Application&& a) { all.push_back(a.id); });
    if (!r) return r.error();
  }
  Report report;
  Rounds rounds(store);
  for (size_t i = 0; i < all.size(); ++i) {
    if (options.progress && (i % 256 == 0)) options.progress(i, all.size());
    auto app = store.application(all[i]);
    if (!app) {
      if (!app.error().is_not_found()) return app.error();
      report.broken.push_back({all[i], 0, -1, 0, "is not in the store"});
      continue;
    }
    ++report.applications;
    auto found = ChainCheck(*app, report, rounds).run(store);
    if (!found) return found.error();
    if (*found && report.broken.size() < options.max_findings)
      report.broken.push_back(std::move(**found));
  }
  if (options.progress) options.progress(all.size(), all.size());
  if (ids.empty())
    if (auto r = check_partitions(store, report, options.max_findings); !r) return r.error();
  return report;
}

}  // namespace stagewise::audit
