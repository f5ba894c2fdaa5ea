#include "proxy/memory_release.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

namespace sidemeter {
namespace {

TEST(MemoryReleaseTest, OrdinaryChurnNeverTrims) {
  MemoryRelease m;
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(
        m.should_trim(800 + (i % 7) * 100, 800 + (i % 7) * 100));  // 800..1400, drops < 1000
  }
}

TEST(MemoryReleaseTest, TrimsOnceAfterASpikeHalvesAndNotAgainWithoutANewSpike) {
  MemoryRelease m;
  EXPECT_FALSE(m.should_trim(10000, 10000));
  EXPECT_FALSE(m.should_trim(6000, 6000));  // dropped 4000 but still above half
  EXPECT_TRUE(m.should_trim(5000, 5000));
  EXPECT_FALSE(m.should_trim(5000, 5000));
  EXPECT_FALSE(m.should_trim(4200, 4200));  // below the new peak by less than kMinDrop
  EXPECT_TRUE(m.should_trim(0, 0));         // the rest of the spike went away
  EXPECT_FALSE(m.should_trim(0, 0));
}

TEST(MemoryReleaseTest, SpikeBetweenTwoCallsStillCounts) {
  // 1500 connections came and went between two ticks: only the peak saw them.
  MemoryRelease m;
  EXPECT_FALSE(m.should_trim(3, 3));
  EXPECT_FALSE(m.should_trim(1500, 0));  // they closed during this interval: not settled yet
  EXPECT_TRUE(m.should_trim(0, 0));
  EXPECT_FALSE(m.should_trim(0, 0));
}

TEST(MemoryReleaseTest, SpikeStillClosingAtATickIsTrimmedOnceItHasClosed) {
  // A tick that lands while 1500 connections are closing sees 500 left; trimming then
  // would leave the last 500 connections' memory in the arenas for good (seen in
  // lifecycle_test on a loaded machine).
  MemoryRelease m;
  EXPECT_FALSE(m.should_trim(1500, 1500));
  EXPECT_FALSE(m.should_trim(1500, 500));  // half gone, still falling
  EXPECT_FALSE(m.should_trim(500, 0));     // still falling
  EXPECT_TRUE(m.should_trim(0, 0));        // settled: one trim for the whole spike
  EXPECT_FALSE(m.should_trim(0, 0));
}

TEST(MemoryReleaseTest, SlowDeclineBelowTheSettleRateStillTrims) {
  MemoryRelease m;
  EXPECT_FALSE(m.should_trim(2000, 2000));
  int64_t n = 2000;
  bool trimmed = false;
  while (n > 0 && !trimmed) {
    const int64_t next = n - (MemoryRelease::kMinDrop / 4 - 1);
    trimmed = m.should_trim(n, next < 0 ? 0 : next);
    n = next < 0 ? 0 : next;
  }
  EXPECT_TRUE(trimmed);
  EXPECT_LE(n, 1000);
}

TEST(MemoryReleaseTest, SmallSpikeBelowMinimumDropIsIgnored) {
  MemoryRelease m;
  EXPECT_FALSE(m.should_trim(MemoryRelease::kMinDrop - 1, MemoryRelease::kMinDrop - 1));
  EXPECT_FALSE(m.should_trim(0, 0));
}

TEST(MemoryReleaseTest, ReleasingFreedHeapLowersRss) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan's allocator quarantines freed memory; glibc's trim does not apply";
#endif
  // Holes in the middle of the heap, as closed connections leave between live ones: each
  // freed block sits between two blocks still in use, so free() alone cannot give its
  // pages back (it only shrinks the top of the heap); a trim can.
  constexpr int kBlocks = 5000;
  constexpr size_t kHole = 16000;  // spans at least three whole pages
  std::vector<void*> holes, keepers;
  for (int i = 0; i < kBlocks; ++i) {
    auto* p = static_cast<volatile char*>(std::malloc(kHole));
    ASSERT_NE(p, nullptr);
    for (size_t off = 0; off < kHole; off += 256) p[off] = 1;  // make every page resident
    holes.push_back(const_cast<char*>(p));
    keepers.push_back(std::malloc(64));
  }
  for (void* p : holes) std::free(p);
  int64_t delta = release_free_memory();
  for (void* p : keepers) std::free(p);
  // 5000 holes of three whole pages each are 58 MiB; most of it must come back.
  EXPECT_LT(delta, -40 * 1024) << "RSS change " << delta << " KiB";
}

}  // namespace
}  // namespace sidemeter
