#include "replay/source.h"

#include "common/partition.h"

#include <algorithm>
#include <fstream>

namespace stagewise::replay {
namespace {

bool blank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

}  // namespace

Result<FileFacts> scan_file(const std::string& path, const LineLimits& limits) {
  FileFacts facts;
  std::vector<std::pair<std::string, int32_t>> keyed;  // a sample suffices to tell the count
  int32_t highest = -1;
  auto r = read_file(
      path,
      [&](LogRecord&& rec) -> Result<void> {
        ++facts.messages;
        if (!rec.partition) return {};
        highest = std::max(highest, *rec.partition);
        if (!rec.key.empty() && keyed.size() < 2000) keyed.emplace_back(rec.key, *rec.partition);
        return {};
      },
      limits);
  if (!r) return r.error();
  if (keyed.empty()) return facts;
  for (int32_t n = highest + 1; n <= 1024 && facts.partitions == 0; ++n)
    if (std::all_of(keyed.begin(), keyed.end(),
                    [n](const auto& k) { return partition_of(k.first, n) == k.second; }))
      facts.partitions = n;
  if (facts.partitions == 0)
    return make_error(Errc::invalid_argument,
                      path +
                          ": no partition count up to 1024 puts every recorded message in the "
                          "partition its key gives: was it recorded from the input topic?");
  return facts;
}

Result<void> read_file(const std::string& path, const Each& each, const LineLimits& limits) {
  std::ifstream in(path);
  if (!in) return make_error(Errc::io_error, "cannot read " + path);
  uint64_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (blank(line)) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto r = parse_line(line, limits);
    if (!r)
      return make_error(r.error().code,
                        path + ":" + std::to_string(number) + ": " + r.error().message);
    if (auto done = each(std::move(*r)); !done) return done;
  }
  if (in.bad()) return make_error(Errc::io_error, "cannot read " + path);
  return {};
}

uint64_t TopicExtent::total() const {
  uint64_t n = 0;
  for (const auto& [lo, hi] : ranges) n += static_cast<uint64_t>(hi - lo);
  return n;
}

Result<TopicExtent> topic_extent(const kafka::Properties& props, const std::string& topic) {
  auto reader = kafka::PartitionReader::create(props);
  if (!reader) return reader.error();
  auto n = kafka::partition_count((*reader)->handle(), topic, 10'000);
  if (!n) return n.error();
  TopicExtent out;
  out.topic = topic;
  for (int32_t p = 0; p < *n; ++p) {
    auto wm = (*reader)->watermarks(topic, p, 10'000);
    if (!wm) return wm.error();
    out.ranges.push_back(*wm);
  }
  return out;
}

Result<void> read_topic(const kafka::Properties& props, const TopicExtent& extent,
                        const Each& each) {
  auto reader = kafka::PartitionReader::create(props);
  if (!reader) return reader.error();
  for (int32_t p = 0; p < extent.partitions(); ++p) {
    const auto [lo, hi] = extent.ranges[static_cast<size_t>(p)];
    auto r = (*reader)->read(
        extent.topic, p, lo, hi,
        [&](kafka::Message& m) -> Result<void> {
          LogRecord rec;
          rec.partition = m.partition();
          rec.offset = m.offset();
          rec.key = std::string(m.key());
          rec.value = std::string(m.value());
          rec.headers = m.headers();
          rec.timestamp_ms = std::max<int64_t>(0, m.timestamp());
          return each(std::move(rec));
        },
        30'000);
    if (!r) return r;
  }
  return {};
}

}  // namespace stagewise::replay
