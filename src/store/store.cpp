#include "store/store.h"

#include "common/partition.h"
#include "privacy/keys.h"
#include "store/changelog.h"
#include "store/codec.h"
#include "store/detail/keys.h"
#include "store/detail/packing.h"
#include "store/detail/pending.h"

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_set>

namespace stagewise::store {
using namespace detail;  // NOLINT: the key layout is this file's vocabulary

json to_json(const HistoryEntry& h) {
  json j = {{"sequence", h.sequence},
            {"id", h.id},
            {"source", h.source},
            {"type", h.type},
            {"time", h.time},
            {"from", h.from ? json(*h.from) : json()},
            {"to", h.to},
            {"actorid", h.actorid},
            {"actorrole", h.actorrole},
            {"authsub", h.authsub},
            {"authrole", h.authrole},
            {"transition", h.transition},
            {"data", h.data}};
  if (!h.note.empty()) j["note"] = h.note;
  if (!h.topic.empty())
    j["input"] = {{"topic", h.topic}, {"partition", h.partition}, {"offset", h.offset}};
  return j;
}

namespace {
TimerRecord timer_from_json(const json& j) {
  TimerRecord t;
  t.application = j.at("application").get<std::string>();
  t.program = j.at("program").get<std::string>();
  t.partition = j.at("partition").get<int32_t>();
  t.timer.kind = j.at("kind") == "deadline" ? workflow::Timer::Kind::deadline
                                            : workflow::Timer::Kind::reminder;
  t.timer.index = j.at("index").get<int>();
  t.timer.due_ms = j.at("due").get<int64_t>();
  t.timer.stage = j.at("stage").get<std::string>();
  t.timer.stage_entered_ms = j.at("entered").get<int64_t>();
  t.timer.recipient = j.value("recipient", "");
  t.timer.template_name = j.value("template", "");
  t.timer.deadline_ms = j.value("deadline", int64_t{0});
  return t;
}

Result<TimerRecord> read_timer(std::string_view bytes) {
  TimerRecord t;
  if (codec::tagged(bytes, codec::kTimer)) {
    if (!codec::decode(bytes, t)) return make_error(Errc::corruption, "timer is not well-formed");
    return t;
  }
  auto j = decode(std::string(bytes), "timer");
  if (!j) return j.error();
  try {
    return timer_from_json(*j);
  } catch (const std::exception& e) {
    return make_error(Errc::corruption, std::string("timer: ") + e.what());
  }
}

HistoryEntry history_from_json(const json& j) {
  HistoryEntry h;
  h.sequence = j.at("sequence").get<uint64_t>();
  h.id = j.at("id").get<std::string>();
  h.source = j.at("source").get<std::string>();
  h.type = j.at("type").get<std::string>();
  h.time = j.at("time").get<std::string>();
  if (!j.at("from").is_null()) h.from = j["from"].get<std::string>();
  h.to = j.at("to").get<std::string>();
  h.actorid = j.value("actorid", "");
  h.actorrole = j.value("actorrole", "");
  h.transition = j.value("transition", -1);
  h.data = j.value("data", json());
  h.note = j.value("note", "");
  if (const auto in = j.find("input"); in != j.end()) {
    h.topic = in->at("topic").get<std::string>();
    h.partition = in->at("partition").get<int32_t>();
    h.offset = in->at("offset").get<int64_t>();
  }
  return h;
}
}  // namespace

// Drops dedupe ids that fell out of the retention window while RocksDB
// compacts: no deletes written per event, no scan to find them.
class DedupeRetention : public rocksdb::CompactionFilter {
 public:
  explicit DedupeRetention(const std::atomic<uint64_t>& floor) : floor_(floor) {}
  bool Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value, std::string*,
              bool*) const override {
    return value.size() == 8 && get_be64(value.ToStringView()) < floor_.load();
  }
  const char* Name() const override { return "stagewise.DedupeRetention"; }

 private:
  const std::atomic<uint64_t>& floor_;
};

// Drops kept dead letters past the retention (values start with their seq).
class DeadLetterRetention : public rocksdb::CompactionFilter {
 public:
  explicit DeadLetterRetention(const std::atomic<uint64_t>& floor) : floor_(floor) {}
  bool Filter(int, const rocksdb::Slice& key, const rocksdb::Slice& value, std::string*,
              bool*) const override {
    if (key.empty() || (key[0] != kDeadById[0] && key[0] != kDeadBySeq[0])) return false;
    return value.size() >= 8 && get_be64(value.ToStringView()) < floor_.load();
  }
  const char* Name() const override { return "stagewise.DeadLetterRetention"; }

 private:
  const std::atomic<uint64_t>& floor_;
};

// ---- Batch ----

Batch::Batch() : p_(std::make_unique<Pending>()) {}
Batch::~Batch() {
  forget_made_keys();
}
Batch::Batch(Batch&&) noexcept = default;
Batch& Batch::operator=(Batch&& other) noexcept {
  forget_made_keys();
  p_ = std::move(other.p_);
  count_ = other.count_;
  return *this;
}

size_t Batch::put_application(const workflow::Application& app, const std::string& old_stage,
                              size_t max_bytes) {
  std::string& v = p_->scratch;
  const size_t bytes = encode_application(app, v);
  if (bytes > max_bytes) return 0;
  put_encoded(app, v, old_stage);
  return bytes;
}

size_t Batch::encode_application(const workflow::Application& app, std::string& out) const {
  out.clear();
  codec::encode(out, app);
  return out.size() + (p_->keys != nullptr ? 1 + privacy::kOverhead : 0);
}

bool Batch::decode_application(std::string_view encoded, workflow::Application& out) const {
  out = {};
  return codec::decode(encoded, out);
}

void Batch::put_encoded(const workflow::Application& app, std::string& encoded,
                        const std::string& old_stage) {
  if (p_->keys != nullptr) seal_application(app, encoded);
  p_->wb.Put(p_->cf[kApplications], app.id, encoded).PermitUncheckedError();
  if (p_->mirror_n > 0)
    p_->mirror[p_->mirror_partition(app.id)].push_back({changelog::app_key(app.id), encoded});
  if (old_stage != app.stage) {
    if (!old_stage.empty())
      p_->wb.Delete(p_->cf[kStageIndex], stage_key(app.program, old_stage, app.id))
          .PermitUncheckedError();
    p_->wb.Put(p_->cf[kStageIndex], stage_key(app.program, app.stage, app.id), "")
        .PermitUncheckedError();
  }
  ++count_;
}

SealedEntry Batch::seal(const std::string& application_id, const HistoryEntry& entry,
                        std::string& head) {
  SealedEntry s{application_id, entry.sequence, {}, {}};
  if (p_->keys != nullptr) {  // the event's data sealed under the data key
    std::string plain, packed, data;
    json::to_msgpack(entry.data, plain);
    detail::pack(packed, plain);
    privacy::seal(data, data_key(application_id),
                  DataKeys::history_context(application_id, entry.sequence), packed);
    codec::encode(s.body, entry, data);
  } else {
    codec::encode(s.body, entry);
  }
  s.chain = audit::link(head.empty() ? audit::genesis(application_id) : head, s.body);
  head = s.chain;
  return s;
}

// Written at commit, once the round that seals it has its number.
void Batch::add_history(SealedEntry&& sealed) {
  p_->sealed.push_back(std::move(sealed));
  ++count_;
}

void Batch::mark_seen(const std::string& source, const std::string& id) {
  p_->seen.push_back(join_key({source, id}));
  ++count_;
}

void Batch::set_input_position(const InputPosition& pos) {
  p_->wb
      .Put(p_->cf[kMeta], position_key(pos.topic, pos.partition),
           be64(static_cast<uint64_t>(pos.next_offset)))
      .PermitUncheckedError();
  if (p_->mirror_n > 0 && pos.topic == p_->input_topic)
    p_->positions[pos.partition] = pos.next_offset;
  ++count_;
}

void Batch::set_meta(const std::string& key, const std::string& value) {
  p_->wb.Put(p_->cf[kMeta], "meta/" + key, value).PermitUncheckedError();
  ++count_;
}

void Batch::add_outbox(OutboxRecord record) {
  p_->outbox.push_back(std::move(record));
  ++count_;
}

void Batch::intake_done(const std::string& source, const std::string& id) {
  p_->intake_done.push_back(join_key({source, id}));
}

void Batch::drop_dead_letter_originals(const std::string& application) {
  p_->erased.insert(application);
  ++count_;
}

void Batch::add_dead_letter(DeadLetter dead_letter) {
  p_->dead_letters.push_back(std::move(dead_letter));
  ++count_;
}

void Batch::park_outbox(uint64_t seq, const std::string& reason, int64_t time_ms) {
  p_->parks.push_back({seq, reason, time_ms});
  ++count_;
}

void Batch::clear() {
  forget_made_keys();
  p_->clear();
  count_ = 0;
}

void Batch::cancel_timers(const std::string& application) {
  if (p_->mirror_n > 0) p_->timer_apps[application] = p_->mirror_partition(application);
  p_->timer_cancels.insert(application);
  p_->timer_adds.erase(application);
  ++count_;
}

void Batch::add_timer(const TimerRecord& timer) {
  if (p_->mirror_n > 0) p_->timer_apps[timer.application] = p_->mirror_partition(timer.application);
  p_->timer_adds[timer.application].push_back(timer);
  ++count_;
}

void Batch::delete_timer(const TimerRecord& timer) {
  const std::string due = timer_due_key(timer);
  if (p_->mirror_n > 0) {
    p_->timer_apps[timer.application] = p_->mirror_partition(timer.application);
    p_->timer_deletes.push_back(timer);
  }
  p_->wb.Delete(p_->cf[kTimers], due).PermitUncheckedError();
  p_->wb.Delete(p_->cf[kTimers], timer_app_key(timer.application, due)).PermitUncheckedError();
  ++count_;
}

void Batch::delete_outbox_range(uint64_t first, uint64_t last) {
  p_->wb.DeleteRange(p_->cf[kOutbox], be64(first), be64(last + 1)).PermitUncheckedError();
  ++count_;
}

void Batch::delete_outbox(uint64_t seq) {
  p_->wb.Delete(p_->cf[kOutbox], be64(seq)).PermitUncheckedError();
  ++count_;
}

// ---- Store ----

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, const Options& options) {
  std::error_code ec;
  if (!options.read_only) std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(Errc::io_error, "cannot create data dir " + dir + ": " + ec.message());

  rocksdb::Options db_opts;
  db_opts.create_if_missing = !options.read_only;
  db_opts.create_missing_column_families = !options.read_only;
  db_opts.IncreaseParallelism(2);
  db_opts.max_open_files = 512;
  db_opts.keep_log_file_num = 3;
  // Bounds the log replayed after a crash: column families whose memtables
  // hold older log data are flushed once the logs pass this size.
  db_opts.max_total_wal_size = 256ull << 20;

  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_opts;
  cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_opts.compression = rocksdb::kLZ4Compression;
  cf_opts.bottommost_compression = rocksdb::kZSTD;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name : kCfNames) cfs.emplace_back(name, cf_opts);
  // Looked up by key for every event, and mostly absent: a bloom filter on
  // the memtable answers "not there" without a skiplist search.
  for (const Cf cf : {kApplications, kDedupe}) {
    cfs[cf].options.memtable_prefix_bloom_size_ratio = 0.05;
    cfs[cf].options.memtable_whole_key_filtering = true;
  }

  // A data dir last written before the keys column family existed opens
  // read-only without it (nothing in it is sealed).
  if (options.read_only) {
    std::vector<std::string> names;
    if (rocksdb::DB::ListColumnFamilies(db_opts, dir, &names).ok() &&
        std::find(names.begin(), names.end(), kCfNames[kKeys]) == names.end())
      cfs.pop_back();
  }

  std::unique_ptr<Store> store(new Store());
  store->options_ = options;
  store->dedupe_filter_ = std::make_unique<DedupeRetention>(store->dedupe_floor_);
  cfs[kDedupe].options.compaction_filter = store->dedupe_filter_.get();
  store->deadletter_filter_ = std::make_unique<DeadLetterRetention>(store->deadletter_floor_);
  cfs[kDeadLetters].options.compaction_filter = store->deadletter_filter_.get();
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = options.read_only
                                ? rocksdb::DB::OpenForReadOnly(db_opts, dir, cfs, &store->cf_, &raw)
                                : rocksdb::DB::Open(db_opts, dir, cfs, &store->cf_, &raw);
  if (!s.ok()) {
    std::string hint;
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
      hint =
          " (another stagewise process is using this data dir; stop it or pick another "
          "--data-dir)";
    return make_error(Errc::io_error,
                      "cannot open the store in " + dir + ": " + s.ToString() + hint);
  }
  store->db_.reset(raw);
  if (store->cf_.size() < kCount) store->cf_.push_back(nullptr);  // keys, see above
  if (auto r = store->open_keys(); !r) return r.error();

  // Continue the outbox and dedupe sequences where they stopped.
  {
    std::unique_ptr<rocksdb::Iterator> it(store->db_->NewIterator({}, store->cf_[kOutbox]));
    it->SeekToLast();
    if (it->Valid()) store->next_outbox_seq_ = get_be64(it->key().ToStringView()) + 1;
  }
  if (auto r = store->open_dedupe(); !r) return r.error();
  if (auto r = store->open_dead_letters(); !r) return r.error();
  if (auto r = store->open_partitions(); !r) return r.error();
  if (auto r = store->open_audit(); !r) return r.error();
  {
    std::unique_ptr<rocksdb::Iterator> it(store->db_->NewIterator({}, store->cf_[kIntake]));
    uint64_t n = 0, last = 0;
    for (it->Seek(kIntakeBySeq); it->Valid() && it->key().starts_with(kIntakeBySeq); it->Next()) {
      ++n;
      last = get_be64(it->key().ToStringView().substr(1));
    }
    store->intake_count_ = n;
    store->next_intake_seq_ = last + 1;
  }
  return store;
}

Store::~Store() {
  // Memtables written to disk on a clean close, so the next open does not
  // replay the write-ahead log (seconds after heavy writing).
  if (db_ && !options_.read_only) {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    std::vector<rocksdb::ColumnFamilyHandle*> all;
    for (auto* h : cf_)
      if (h != nullptr) all.push_back(h);
    db_->Flush(fo, all).PermitUncheckedError();
  }
  for (auto* h : cf_)
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  cf_.clear();
  if (db_) db_->Close().PermitUncheckedError();
}

Result<workflow::Application> Store::application(const std::string& id) const {
  if (!owns(id)) return not_owned(id);
  std::string bytes;
  const auto s = db_->Get({}, cf_[kApplications], id, &bytes);
  if (!s.ok()) return from_status(s, "application \"" + id + "\"");
  return read_application(bytes, id);  // Store::, which opens sealed ones
}

Result<std::vector<HistoryEntry>> Store::history(const std::string& id) const {
  if (!owns(id)) return not_owned(id);
  return read_history(id);
}

Result<std::vector<HistoryEntry>> Store::read_history(const std::string& id) const {
  std::vector<HistoryEntry> out;
  std::string prefix = id;
  prefix.push_back('\0');
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kHistory]));
  std::optional<std::optional<std::string>> key;  // looked up at the first sealed entry
  std::string sealed;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view bytes = it->value().ToStringView();
    if (codec::is_history(bytes)) {
      sealed.clear();
      if (!codec::decode(bytes, out.emplace_back(), &sealed))
        return make_error(Errc::corruption, "history of \"" + id + "\" is not well-formed");
      if (!sealed.empty())
        if (auto r = open_history_data(id, out.back(), sealed, key); !r) return r.error();
      continue;
    }
    auto j = decode(std::string(bytes), "history of \"" + id + "\"");
    if (!j) return j.error();
    try {
      out.push_back(history_from_json(*j));
    } catch (const std::exception& e) {
      return make_error(Errc::corruption, "history of \"" + id + "\": " + e.what());
    }
  }
  if (!it->status().ok()) return from_status(it->status(), "history of \"" + id + "\"");
  return out;
}

Result<std::vector<std::string>> Store::list_stage(const std::string& program,
                                                   const std::string& stage, size_t limit,
                                                   const std::string& after) const {
  std::vector<std::string> out;
  const std::string prefix = join_key({program, stage, ""});
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kStageIndex]));
  it->Seek(after.empty() ? prefix : prefix + after);
  if (!after.empty() && it->Valid() && it->key().ToStringView() == prefix + after) it->Next();
  for (; it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Next()) {
    std::string id = it->key().ToString().substr(prefix.size());
    if (owns(id)) out.push_back(std::move(id));
  }
  if (!it->status().ok()) return from_status(it->status(), "stage index");
  return out;
}

Result<std::map<std::string, uint64_t>> Store::stage_counts(const std::string& program) const {
  std::map<std::string, uint64_t> out;
  const std::string prefix = join_key({program, ""});
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kStageIndex]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view rest = it->key().ToStringView().substr(prefix.size());
    const size_t nul = rest.find('\0');
    if (nul == std::string_view::npos || !owns(rest.substr(nul + 1))) continue;
    ++out[std::string(rest.substr(0, nul))];
  }
  if (!it->status().ok()) return from_status(it->status(), "stage index");
  return out;
}

Result<void> Store::each_application(
    int32_t partition, const std::function<void(workflow::Application&&)>& each) const {
  const int32_t n = partitions_.load();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kApplications]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view id = it->key().ToStringView();
    if (partition >= 0 ? n <= 0 || partition_of(id, n) != partition : !owns(id)) continue;
    auto app = read_application(it->value().ToStringView(), std::string(id));
    if (!app) return app.error();
    each(std::move(*app));
  }
  if (!it->status().ok()) return from_status(it->status(), "applications");
  return {};
}

Result<bool> Store::seen(const std::string& source, const std::string& id) const {
  std::string v;
  const auto s = db_->Get({}, cf_[kDedupe], kDedupeByKey + join_key({source, id}), &v);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return from_status(s, "dedupe id");
  // Past the retention it reads as unseen, whether or not compaction has
  // dropped it yet, so the answer does not depend on RocksDB's timing.
  return v.size() != 8 || get_be64(v) >= dedupe_floor_.load();
}

Result<std::vector<InputPosition>> Store::input_positions() const {
  std::vector<InputPosition> out;
  const std::string prefix = "input/";
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kMeta]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view k = it->key().ToStringView().substr(prefix.size());
    if (k.size() < 9) continue;
    InputPosition p;
    p.topic = std::string(k.substr(0, k.size() - 9));
    p.partition = static_cast<int32_t>(get_be64(k.substr(k.size() - 8)));
    p.next_offset = static_cast<int64_t>(get_be64(it->value().ToStringView()));
    out.push_back(std::move(p));
  }
  if (!it->status().ok()) return from_status(it->status(), "input positions");
  return out;
}

Result<std::string> Store::meta(const std::string& key) const {
  std::string v;
  const auto s = db_->Get({}, cf_[kMeta], "meta/" + key, &v);
  if (!s.ok()) return from_status(s, "meta \"" + key + "\"");
  return v;
}

bool Store::take_committed_outbox(size_t max, std::vector<OutboxRecord>& out) {
  std::lock_guard lock(tail_mu_);
  tail_enabled_ = true;
  if (tail_overflowed_) {
    tail_overflowed_ = false;
    tail_.clear();
    tail_bytes_ = 0;
    return false;
  }
  while (!tail_.empty() && out.size() < max) {
    tail_bytes_ -= std::min(tail_bytes_, record_bytes(tail_.front()));
    out.push_back(std::move(tail_.front()));
    tail_.pop_front();
  }
  return true;
}

namespace {
Result<OutboxRecord> outbox_from_bytes(std::string_view bytes, uint64_t seq) {
  OutboxRecord r;
  r.seq = seq;
  if (codec::tagged(bytes, codec::kOutbox) || codec::tagged(bytes, codec::kOutbox2)) {
    if (!codec::decode(bytes, r))
      return make_error(Errc::corruption,
                        "outbox record " + std::to_string(seq) + " is not well-formed");
    r.seq = seq;
    return r;
  }
  auto j = decode(std::string(bytes), "outbox record");
  if (!j) return j.error();
  try {
    r.topic = (*j)["topic"].get<std::string>();
    r.key = (*j)["key"].get<std::string>();
    const auto& bin = (*j)["value"].get_binary();
    r.value.assign(bin.begin(), bin.end());
    for (const auto& h : (*j)["headers"])
      r.headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
  } catch (const std::exception& e) {
    return make_error(Errc::corruption, "outbox record " + std::to_string(seq) + ": " + e.what());
  }
  return r;
}
}  // namespace

Result<std::vector<OutboxRecord>> Store::outbox(size_t max, uint64_t after) const {
  std::vector<OutboxRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kOutbox]));
  for (it->Seek(be64(after + 1)); it->Valid() && out.size() < max; it->Next()) {
    auto r = outbox_from_bytes(it->value().ToStringView(), get_be64(it->key().ToStringView()));
    if (!r) return r.error();
    out.push_back(std::move(*r));
  }
  if (!it->status().ok()) return from_status(it->status(), "outbox");
  return out;
}

Result<DeadLetter> Store::dead_letter(const std::string& id) const {
  std::string v;
  const auto s = db_->Get({}, cf_[kDeadLetters], kDeadById + id, &v);
  if (!s.ok()) return from_status(s, "dead letter \"" + id + "\"");
  DeadLetter d;
  if (v.size() < 8 || !codec::decode(std::string_view(v).substr(8), d))
    return make_error(Errc::corruption, "dead letter \"" + id + "\" is not well-formed");
  if (d.seq < deadletter_floor_.load())
    return make_error(Errc::not_found, "dead letter \"" + id + "\" is past the retention");
  return d;
}

Result<std::vector<DeadLetter>> Store::dead_letters(size_t max, uint64_t before) const {
  std::vector<DeadLetter> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kDeadLetters]));
  it->SeekForPrev(kDeadBySeq + be64(before == 0 ? UINT64_MAX : before - 1));
  const uint64_t floor = deadletter_floor_.load();
  for (; it->Valid() && it->key().starts_with(kDeadBySeq) && out.size() < max; it->Prev()) {
    const std::string_view v = it->value().ToStringView();
    if (v.size() < 8 || get_be64(v) < floor) break;
    auto d = dead_letter(std::string(v.substr(8)));
    if (!d) {
      if (d.error().is_not_found()) continue;
      return d.error();
    }
    if (d->seq == get_be64(v)) out.push_back(std::move(*d));  // else replaced by a later one
  }
  if (!it->status().ok()) return from_status(it->status(), "dead letters");
  return out;
}

Result<std::vector<ParkedRecord>> Store::parked(size_t max, uint64_t after) const {
  std::vector<ParkedRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kDeadLetters]));
  for (it->Seek(kParked + be64(after + 1));
       it->Valid() && it->key().starts_with(kParked) && out.size() < max; it->Next()) {
    if (!codec::decode(it->value().ToStringView(), out.emplace_back()))
      return make_error(Errc::corruption, "a parked outbox record is not well-formed");
  }
  if (!it->status().ok()) return from_status(it->status(), "parked records");
  return out;
}

Result<void> Store::open_dead_letters() {
  std::string next;
  const auto got = db_->Get({}, cf_[kMeta], "meta/" + kMetaDeadNext, &next);
  if (got.ok())
    next_deadletter_seq_ = get_be64(next);
  else if (!got.IsNotFound())
    return from_status(got, "dead-letter sequence");
  set_deadletter_floor();
  uint64_t parked = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kDeadLetters]));
  for (it->Seek(kParked); it->Valid() && it->key().starts_with(kParked); it->Next()) ++parked;
  if (!it->status().ok()) return from_status(it->status(), "parked records");
  parked_count_ = parked;
  return {};
}

void Store::set_deadletter_floor() {
  const uint64_t keep = options_.deadletter_retention;
  deadletter_floor_ = next_deadletter_seq_ > keep ? next_deadletter_seq_ - keep : 1;
}

Batch Store::batch() {
  Batch b;
  b.p_->cf = cf_;
  b.p_->audit_n = partitions_.load();
  if (keys_->enabled()) b.p_->keys = keys_.get();
  if (mirroring()) {
    b.p_->mirror_n = partitions_.load();
    b.p_->input_topic = input_topic_;
  }
  return b;
}

Result<void> Store::open_dedupe() {
  std::string next;
  const auto got = db_->Get({}, cf_[kMeta], "meta/" + kMetaDedupeNext, &next);
  if (got.ok())
    next_dedupe_seq_ = get_be64(next);
  else if (!got.IsNotFound())
    return from_status(got, "dedupe sequence");
  // The earlier layout: "k" keys with empty values and an "s" + seq index.
  rocksdb::WriteBatch convert;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kDedupe]));
  for (it->Seek(kDedupeBySeq); it->Valid() && it->key().starts_with(kDedupeBySeq); it->Next()) {
    const uint64_t seq = get_be64(it->key().ToStringView().substr(1));
    convert.Put(cf_[kDedupe], kDedupeByKey + it->value().ToString(), be64(seq))
        .PermitUncheckedError();
    convert.Delete(cf_[kDedupe], it->key()).PermitUncheckedError();
    next_dedupe_seq_ = std::max(next_dedupe_seq_, seq + 1);
  }
  if (!it->status().ok()) return from_status(it->status(), "dedupe ids");
  if (convert.Count() > 0 && !options_.read_only) {
    convert.Put(cf_[kMeta], "meta/" + kMetaDedupeNext, be64(next_dedupe_seq_))
        .PermitUncheckedError();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (const auto w = db_->Write(wo, &convert); !w.ok())
      return from_status(w, "converting dedupe ids");
  }
  set_dedupe_floor();
  return {};
}

void Store::set_dedupe_floor() {
  const uint64_t retention = std::max<uint64_t>(1, options_.dedupe_retention);
  dedupe_floor_ = next_dedupe_seq_ > retention ? next_dedupe_seq_ - retention : 1;
}

// Under commit_mu_: numbers the batch's dead letters and adds them.
// Under commit_mu_: the kept dead letters of erased applications lose their
// original bytes (a scan of the kept ones: erasures are rare, the kept
// dead letters bounded by the retention).
void Store::withhold_originals(Batch& batch) {
  const auto& erased = batch.p_->erased;
  if (erased.empty()) return;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kDeadLetters]));
  for (it->Seek(kDeadById); it->Valid() && it->key().starts_with(kDeadById); it->Next()) {
    const std::string_view v = it->value().ToStringView();
    DeadLetter d;
    if (v.size() < 8 || !codec::decode(v.substr(8), d) || !erased.contains(d.subject)) continue;
    d.original.clear();
    d.kept = false;
    d.headers.clear();
    std::string out(v.substr(0, 8));
    codec::encode(out, d);
    batch.p_->wb.Put(cf_[kDeadLetters], it->key(), out).PermitUncheckedError();
    batch.p_->withheld.push_back(it->key().ToString());  // its old value is shredded
  }
}

void Store::write_dead_letters(Batch& batch) {
  auto& wb = batch.p_->wb;
  std::string& v = batch.p_->scratch;
  withhold_originals(batch);
  for (auto& d : batch.p_->dead_letters) {
    if (batch.p_->erased.contains(d.subject)) {
      d.original.clear();
      d.kept = false;
      d.headers.clear();
    }
    d.seq = next_deadletter_seq_++;
    v = be64(d.seq);
    codec::encode(v, d);
    wb.Put(cf_[kDeadLetters], kDeadById + d.id, v).PermitUncheckedError();
    wb.Put(cf_[kDeadLetters], kDeadBySeq + be64(d.seq), be64(d.seq) + d.id).PermitUncheckedError();
  }
  if (!batch.p_->dead_letters.empty())
    wb.Put(cf_[kMeta], "meta/" + kMetaDeadNext, be64(next_deadletter_seq_)).PermitUncheckedError();
}

// Under commit_mu_: moves parked outbox records aside; returns how many.
uint64_t Store::resolve_parks(Batch& batch) {
  auto& wb = batch.p_->wb;
  uint64_t n = 0;
  for (const auto& park : batch.p_->parks) {
    std::string bytes;
    if (!db_->Get({}, cf_[kOutbox], be64(park.seq), &bytes).ok()) continue;
    ParkedRecord pr;
    pr.seq = park.seq;
    pr.reason = park.reason;
    pr.time_ms = park.time_ms;
    auto rec = outbox_from_bytes(bytes, park.seq);
    if (rec.ok()) pr.record = std::move(*rec);
    std::string& v = batch.p_->scratch;
    v.clear();
    codec::encode(v, pr);
    wb.Put(cf_[kDeadLetters], kParked + be64(park.seq), v).PermitUncheckedError();
    wb.Delete(cf_[kOutbox], be64(park.seq)).PermitUncheckedError();
    ++n;
  }
  return n;
}

// Under commit_mu_: numbers the batch's dedupe ids.
void Store::write_seen(Batch& batch) {
  auto& wb = batch.p_->wb;
  for (const auto& key : batch.p_->seen)
    wb.Put(cf_[kDedupe], kDedupeByKey + key, be64(next_dedupe_seq_++)).PermitUncheckedError();
  if (!batch.p_->seen.empty())
    wb.Put(cf_[kMeta], "meta/" + kMetaDedupeNext, be64(next_dedupe_seq_)).PermitUncheckedError();
}

// Under commit_mu_: removes the intake records the batch resolved; returns
// how many.
uint64_t Store::resolve_intake(Batch& batch) {
  if (intake_count_.load() == 0) return 0;
  auto& wb = batch.p_->wb;
  // An event re-produced by the intake can be read twice in one round.
  auto& done = batch.p_->intake_done;
  std::sort(done.begin(), done.end());
  done.erase(std::unique(done.begin(), done.end()), done.end());
  uint64_t removed = 0;
  for (const auto& key : done) {
    std::string seq;
    if (!db_->Get({}, cf_[kIntake], kIntakeByKey + key, &seq).ok()) continue;
    wb.Delete(cf_[kIntake], kIntakeByKey + key).PermitUncheckedError();
    wb.Delete(cf_[kIntake], kIntakeBySeq + seq).PermitUncheckedError();
    ++removed;
  }
  return removed;
}

// Under commit_mu_: cancelled applications lose their committed timers;
// timers added after any cancel are written.
void Store::write_timers(Batch& batch) {
  auto& wb = batch.p_->wb;
  std::unique_ptr<rocksdb::Iterator> it;  // one for all cancels of the batch
  if (!batch.p_->timer_cancels.empty()) it.reset(db_->NewIterator({}, cf_[kTimers]));
  for (const auto& app : batch.p_->timer_cancels) {
    const std::string prefix = kTimerByApp + app + std::string(1, '\0');
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      wb.Delete(cf_[kTimers], it->key()).PermitUncheckedError();
      wb.Delete(cf_[kTimers], it->key().ToStringView().substr(prefix.size()))
          .PermitUncheckedError();
    }
  }
  for (const auto& [app, timers] : batch.p_->timer_adds) {
    for (const auto& t : timers) {
      const std::string due = timer_due_key(t);
      std::string& v = batch.p_->scratch;
      v.clear();
      codec::encode(v, t);
      wb.Put(cf_[kTimers], due, v).PermitUncheckedError();
      wb.Put(cf_[kTimers], timer_app_key(app, due), "").PermitUncheckedError();
    }
  }
}

// Under commit_mu_: outbox records are numbered here, so that their order
// is the order in which they become visible (the relay's cursor relies on it).
void Store::write_outbox(Batch& batch) {
  for (auto& rec : batch.p_->outbox) {
    rec.seq = next_outbox_seq_++;
    std::string& v = batch.p_->scratch;
    v.clear();
    codec::encode(v, rec);
    batch.p_->wb.Put(cf_[kOutbox], be64(rec.seq), v).PermitUncheckedError();
  }
}

// Under commit_mu_, before write_timers: an application's timers as they
// will be once the batch is written (committed ones, less what it cancels
// or deletes, plus what it adds), encoded; "" when none are left.
Result<std::string> Store::final_timers(Batch& batch, const std::string& application) const {
  auto& p = *batch.p_;
  std::vector<TimerRecord> timers;
  if (!p.timer_cancels.contains(application)) {
    auto committed = timers_of(application);
    if (!committed) return committed.error();
    timers = std::move(*committed);
  }
  std::erase_if(timers, [&](const TimerRecord& t) {
    return std::any_of(p.timer_deletes.begin(), p.timer_deletes.end(),
                       [&](const TimerRecord& d) { return timer_due_key(d) == timer_due_key(t); });
  });
  if (auto it = p.timer_adds.find(application); it != p.timer_adds.end())
    timers.insert(timers.end(), it->second.begin(), it->second.end());
  if (timers.empty()) return std::string();
  std::string v;
  changelog::encode(v, timers);
  return v;
}

namespace {
// Drops every entry a later one with the same key overrides, keeping the
// order of the rest.
void keep_last_per_key(std::vector<ChangelogEntry>& entries) {
  if (entries.size() < 2) return;
  std::unordered_set<std::string_view> later;
  std::vector<bool> keep(entries.size());
  for (size_t i = entries.size(); i-- > 0;) keep[i] = later.insert(entries[i].key).second;
  size_t out = 0;
  for (size_t i = 0; i < entries.size(); ++i)
    if (keep[i]) {
      if (out != i) entries[out] = std::move(entries[i]);
      ++out;
    }
  entries.resize(out);
}
}  // namespace

// Under commit_mu_: one Bundle outbox record per partition the batch
// changes, after the batch's other outbox records, closed by the round's
// marker; the partition's lineage moves on in the same write. `next` gets
// the lineages to keep once the write succeeded.
Result<void> Store::write_mirror(Batch& batch, std::map<int32_t, Lineage>& next) {
  auto& p = *batch.p_;
  if (p.mirror_n == 0) return {};
  for (const auto& [app, partition] : p.timer_apps) {
    auto v = final_timers(batch, app);
    if (!v) return v.error();  // the commit fails rather than mirror a guess
    ChangelogEntry e{changelog::timers_key(app), std::nullopt};
    if (!v->empty()) e.value = std::move(*v);
    p.mirror[partition].push_back(std::move(e));
  }
  for (const auto& [partition, offset] : p.positions) p.mirror[partition];  // a marker at least
  for (auto& [partition, entries] : p.mirror) {
    keep_last_per_key(entries);  // an application changed by several events goes once
    Lineage l = lineage(partition);
    l.known = true;
    ++l.round;
    if (auto pos = p.positions.find(partition); pos != p.positions.end())
      l.next_offset = pos->second;
    Bundle b{partition, l.epoch, std::move(entries),
             RoundMarker{id_, l.epoch, l.round, l.next_offset}};
    OutboxRecord rec;
    rec.topic = changelog_topic_;
    rec.partition = partition;
    rec.bundle = true;
    changelog::encode(rec.value, b);
    p.outbox.push_back(std::move(rec));
    std::string lv;
    changelog::encode(lv, l);
    p.wb.Put(cf_[kMeta], lineage_key(partition), lv).PermitUncheckedError();
    next[partition] = l;
  }
  return {};
}

// After a durable commit: the relay's in-memory tail gets the batch's
// records, unless it is past its byte bound (then the relay reads RocksDB).
void Store::hand_to_tail(std::vector<OutboxRecord>& records) {
  if (records.empty()) return;
  std::lock_guard tail(tail_mu_);
  if (!tail_enabled_ || tail_overflowed_) return;
  for (auto& rec : records) {
    tail_bytes_ += record_bytes(rec);
    tail_.push_back(std::move(rec));
  }
  if (tail_bytes_ > options_.outbox_tail_bytes) {
    tail_.clear();
    tail_bytes_ = 0;
    tail_overflowed_ = true;
  }
}

Result<void> Store::commit(Batch& batch, bool sync) {
  std::lock_guard lock(commit_mu_);
  auto& p = *batch.p_;
  const uint64_t first_seq = next_dedupe_seq_, first_outbox = next_outbox_seq_,
                 first_dead = next_deadletter_seq_;
  std::map<int32_t, Lineage> lineages;     // of the partitions this commit mirrors
  std::map<int32_t, audit::Round> sealed;  // of the partitions it adds history to
  const uint64_t first_round = next_round_;
  if (auto a = write_audit(batch, sealed); !a) return a.error();  // before the mirror
  // Reads the committed timers: before write_timers.
  if (auto m = write_mirror(batch, lineages); !m) {
    next_round_ = first_round;
    return m.error();
  }
  write_seen(batch);
  const uint64_t intake_removed = resolve_intake(batch);
  write_timers(batch);
  write_dead_letters(batch);
  const uint64_t parked = resolve_parks(batch);
  write_outbox(batch);
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync && sync;
  const bool injected = fail_commits_ > 0 && fail_commits_-- == 1;  // a test's
  const auto s = injected ? rocksdb::Status::IOError("injected failure") : db_->Write(wo, &p.wb);
  if (!s.ok()) {
    next_dedupe_seq_ = first_seq;
    next_outbox_seq_ = first_outbox;
    next_deadletter_seq_ = first_dead;
    next_round_ = first_round;
    return from_status(s, "commit");
  }
  for (const auto& [partition, round] : sealed)
    audit_tips_[partition] = {round.number, round.digest};
  for (const auto& id : p.destroyed_keys) keys_->forget(id);
  if (!p.destroyed_keys.empty() || !p.withheld.empty()) shred(p.withheld);
  hand_to_tail(p.outbox);
  parked_count_.fetch_add(parked);
  intake_count_.fetch_sub(std::min(intake_removed, intake_count_.load()));
  set_dedupe_floor();
  set_deadletter_floor();
  if (!lineages.empty()) {
    std::lock_guard guard(lineage_mu_);
    for (auto& [partition, l] : lineages) lineage_[partition] = l;
  }
  p.made_keys.clear();  // stored now: the writer keeps them cached
  batch.clear();
  return {};
}

Result<void> Store::intake_put(std::vector<IntakeRecord>& records) {
  rocksdb::WriteBatch wb;
  std::lock_guard lock(commit_mu_);       // the check for a pending copy and the write are one step
  std::map<std::string, uint64_t> fresh;  // key -> seq, for repeats within this call
  uint64_t added = 0;
  for (auto& r : records) {
    const std::string key = kIntakeByKey + join_key({r.source, r.id});
    if (const auto it = fresh.find(key); it != fresh.end()) {
      r.seq = it->second;  // the same event twice in one request: one record
      continue;
    }
    std::string seq;
    if (db_->Get({}, cf_[kIntake], key, &seq).ok()) {
      r.seq = get_be64(seq);  // a retry of an event still pending: that record
      fresh.emplace(key, r.seq);
      continue;
    }
    r.seq = next_intake_seq_.fetch_add(1);
    fresh.emplace(key, r.seq);
    const json j = {{"source", r.source},
                    {"id", r.id},
                    {"key", r.key},
                    {"accepted", r.accepted_ms},
                    {"value", json::binary(std::vector<uint8_t>(r.value.begin(), r.value.end()))}};
    wb.Put(cf_[kIntake], kIntakeBySeq + be64(r.seq), encode(j)).PermitUncheckedError();
    wb.Put(cf_[kIntake], key, be64(r.seq)).PermitUncheckedError();
    ++added;
  }
  if (added == 0) return {};
  rocksdb::WriteOptions wo;
  wo.sync = true;  // the 202 promises durability
  const auto s = db_->Write(wo, &wb);
  if (!s.ok()) return from_status(s, "intake");
  intake_count_.fetch_add(added);
  return {};
}

Result<std::vector<IntakeRecord>> Store::intake_pending(size_t max, uint64_t after) const {
  std::vector<IntakeRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kIntake]));
  for (it->Seek(kIntakeBySeq + be64(after + 1));
       it->Valid() && it->key().starts_with(kIntakeBySeq) && out.size() < max; it->Next()) {
    auto j = decode(it->value().ToString(), "intake record");
    if (!j) return j.error();
    IntakeRecord r;
    r.seq = get_be64(it->key().ToStringView().substr(1));
    try {
      r.source = (*j)["source"].get<std::string>();
      r.id = (*j)["id"].get<std::string>();
      r.key = (*j)["key"].get<std::string>();
      r.accepted_ms = j->value("accepted", int64_t{0});
      const auto& bin = (*j)["value"].get_binary();
      r.value.assign(bin.begin(), bin.end());
    } catch (const std::exception& e) {
      return make_error(Errc::corruption,
                        "intake record " + std::to_string(r.seq) + ": " + e.what());
    }
    out.push_back(std::move(r));
  }
  if (!it->status().ok()) return from_status(it->status(), "intake");
  return out;
}

Result<std::vector<TimerRecord>> Store::due_timers(int32_t partition, int64_t until_ms,
                                                   size_t max) const {
  std::vector<TimerRecord> out;
  const std::string prefix = kTimerByDue + be32(static_cast<uint32_t>(partition));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kTimers]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && out.size() < max;
       it->Next()) {
    const int64_t due = static_cast<int64_t>(get_be64(it->key().ToStringView().substr(5)));
    if (due > until_ms) break;
    auto t = read_timer(it->value().ToStringView());
    if (!t) return t.error();
    out.push_back(std::move(*t));
  }
  if (!it->status().ok()) return from_status(it->status(), "timers");
  return out;
}

Result<int64_t> Store::next_due(int32_t partition) const {
  const std::string prefix = kTimerByDue + be32(static_cast<uint32_t>(partition));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kTimers]));
  it->Seek(prefix);
  if (!it->status().ok()) return from_status(it->status(), "timers");
  if (!it->Valid() || !it->key().starts_with(prefix))
    return make_error(Errc::not_found, "no timers");
  return static_cast<int64_t>(get_be64(it->key().ToStringView().substr(5)));
}

Result<std::vector<TimerRecord>> Store::timers_of(const std::string& application) const {
  std::vector<TimerRecord> out;
  const std::string prefix = kTimerByApp + application + std::string(1, '\0');
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kTimers]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string v;
    const auto s = db_->Get({}, cf_[kTimers], it->key().ToStringView().substr(prefix.size()), &v);
    if (!s.ok()) continue;
    auto t = read_timer(v);
    if (!t) return t.error();
    out.push_back(std::move(*t));
  }
  std::sort(out.begin(), out.end(), [](const TimerRecord& a, const TimerRecord& b) {
    return a.timer.due_ms < b.timer.due_ms;
  });
  return out;
}

Result<std::vector<TimerRecord>> Store::timers_due_before(int64_t until_ms, size_t max) const {
  std::vector<TimerRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf_[kTimers]));
  // Partition by partition: skip to the next partition once past until_ms.
  it->Seek(kTimerByDue);
  while (it->Valid() && it->key().starts_with(kTimerByDue) && out.size() < max) {
    const std::string_view k = it->key().ToStringView();
    const int64_t due = static_cast<int64_t>(get_be64(k.substr(5)));
    if (due > until_ms) {
      const uint32_t p =
          static_cast<uint32_t>(get_be64(std::string(4, '\0') + std::string(k.substr(1, 4))));
      if (p == UINT32_MAX) break;
      it->Seek(kTimerByDue + be32(p + 1));
      continue;
    }
    auto t = read_timer(it->value().ToStringView());
    if (!t) return t.error();
    if (owns_partition(t->partition)) out.push_back(std::move(*t));
    it->Next();
  }
  if (!it->status().ok()) return from_status(it->status(), "timers");
  std::sort(out.begin(), out.end(), [](const TimerRecord& a, const TimerRecord& b) {
    return a.timer.due_ms < b.timer.due_ms;
  });
  return out;
}

uint64_t Store::timers_pending_estimate() const {
  uint64_t n = 0;
  db_->GetIntProperty(cf_[kTimers], "rocksdb.estimate-num-keys", &n);
  return n / 2;  // two keys per timer
}

Result<void> Store::compact() {
  rocksdb::CompactRangeOptions o;
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto* h : cf_) {
    if (const auto s = db_->CompactRange(o, h, nullptr, nullptr); !s.ok())
      return from_status(s, "compaction");
  }
  return {};
}

uint64_t Store::disk_bytes() const {
  uint64_t total = 0;
  for (auto* h : cf_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) total += v;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kCurSizeActiveMemTable, &v)) total += v;
  }
  return total;
}

}  // namespace stagewise::store
