// The processor's cache of decoded applications: bounded by count and by
// bytes, and what goes first when full is what was used longest ago.
#include "processor/app_cache.h"

#include <gtest/gtest.h>

namespace stagewise::processor {
namespace {

ApplicationCache::Entry entry(const std::string& id, size_t bytes) {
  ApplicationCache::Entry e;
  e.app.id = id;
  e.bytes = bytes;
  return e;
}

std::vector<std::string> kept(ApplicationCache& c, const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const auto& id : ids) {
    if (auto e = c.take(id)) {
      out.push_back(e->app.id);
      c.put(id, std::move(*e));
    }
  }
  return out;
}

TEST(ApplicationCache, TakingRemovesAndPuttingBackMakesItTheNewest) {
  ApplicationCache c(3, 1000);
  for (const std::string id : {"a", "b", "c"}) c.put(id, entry(id, 10));
  auto a = c.take("a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->app.id, "a");
  EXPECT_FALSE(c.take("a").has_value()) << "taken out until put back";
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.bytes(), 20u);
  c.put("a", std::move(*a));  // a is now the newest: b goes first
  c.put("d", entry("d", 10));
  EXPECT_EQ(kept(c, {"a", "b", "c", "d"}), (std::vector<std::string>{"a", "c", "d"}));
}

// The working set of a busy processor is far smaller than the cache: an
// application used every round must never be the one dropped, however many
// others pass through once.
TEST(ApplicationCache, AnApplicationUsedEveryRoundStaysWhileManyPassThrough) {
  ApplicationCache c(100, 1 << 20);
  c.put("hot", entry("hot", 100));
  for (int i = 0; i < 10'000; ++i) {
    const std::string id = "once-" + std::to_string(i);
    c.put(id, entry(id, 100));
    auto hot = c.take("hot");
    ASSERT_TRUE(hot.has_value()) << "dropped after " << i << " others";
    c.put("hot", std::move(*hot));
    ASSERT_LE(c.size(), 100u);
  }
}

TEST(ApplicationCache, TheByteBoundDropsTheOldestAndSkipsWhatNeverFits) {
  ApplicationCache c(100, 100);
  c.put("a", entry("a", 40));
  c.put("b", entry("b", 40));
  c.put("c", entry("c", 40));  // a goes: 120 > 100
  EXPECT_EQ(c.bytes(), 80u);
  EXPECT_EQ(kept(c, {"a", "b", "c"}), (std::vector<std::string>{"b", "c"}));
  c.put("huge", entry("huge", 101));
  EXPECT_FALSE(c.take("huge").has_value());
  EXPECT_EQ(c.bytes(), 80u) << "nothing dropped for an entry that cannot be kept";
  c.put("b", entry("b", 60));  // replaces the older copy: 40 + 60 fits
  EXPECT_EQ(c.bytes(), 100u);
  c.clear();
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(ApplicationCache, ACountOfZeroKeepsNothing) {
  ApplicationCache c(0, 1000);
  c.put("a", entry("a", 1));
  EXPECT_FALSE(c.take("a").has_value());
}

}  // namespace
}  // namespace stagewise::processor
