#pragma once

// Committed applications, decoded, kept between rounds so an event need not
// read and decode its application from the store (processor.cache_applications
// and processor.cache_bytes bound it). The loop thread owns it.

#include "workflow/engine.h"

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

namespace stagewise::processor {

class ApplicationCache {
 public:
  struct Entry {
    workflow::Application app;
    size_t bytes = 0;  ///< its encoding's size: what the byte bound counts
  };

  ApplicationCache(uint64_t max_count, uint64_t max_bytes)
      : max_count_(max_count), max_bytes_(max_bytes) {}

  /// Takes the application out (the caller's round puts it back once
  /// durable); nullopt when it is not kept.
  std::optional<Entry> take(const std::string& id);
  /// Keeps `entry` as the newest, replacing any older copy; makes room by
  /// dropping the ones put longest ago. Every use takes an entry out and
  /// puts it back, so those are the least recently used. An entry larger
  /// than the whole byte bound is not kept.
  void put(const std::string& id, Entry&& entry);
  void clear();

  size_t size() const { return slots_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  struct Slot {
    Entry entry;
    std::list<std::string>::iterator age;
  };
  void drop(std::unordered_map<std::string, Slot>::iterator it);

  uint64_t max_count_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  std::unordered_map<std::string, Slot> slots_;
  std::list<std::string> order_;  ///< ids, put longest ago first
};

}  // namespace stagewise::processor
