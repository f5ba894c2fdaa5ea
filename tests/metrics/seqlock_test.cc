// The sequence lock the registry reads shards through, with the interleavings that
// matter played out deterministically on one thread: the "writer" runs from inside the
// reader's read function, between its loads, exactly where a real worker could.
#include "metrics/seqlock.h"

#include <gtest/gtest.h>

#include <utility>

#include "metrics/counters.h"

namespace sidemeter::metrics {
namespace {

// One record as Shard::record writes it: requests, then errors, in one section.
struct Figures {
  SeqLock lock;
  Count requests, errors;
  void record_error() {
    lock.begin_write();
    requests.add(1);
    errors.add(1);
    lock.end_write();
  }
};

TEST(SeqLock, AQuietReadingIsTakenAtOnce) {
  Figures f;
  f.record_error();
  int calls = 0;
  bool whole = false;
  const auto got = f.lock.read([&] {
    ++calls;
    return std::pair(f.requests.get(), f.errors.get());
  }, whole);
  EXPECT_TRUE(whole);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got, std::pair(uint64_t{1}, uint64_t{1}));
}

TEST(SeqLock, AReadingARecordOverlappedIsTakenAgain) {
  // Without the lock this is the error_rate-above-1 race: requests read before the
  // record, errors after it, so 2 errors of 1 request.
  Figures f;
  f.record_error();
  int calls = 0;
  bool whole = false;
  const auto got = f.lock.read([&] {
    const uint64_t requests = f.requests.get();
    if (++calls == 1) f.record_error();  // the worker records between the two loads
    return std::pair(requests, f.errors.get());
  }, whole);
  EXPECT_TRUE(whole);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(got, std::pair(uint64_t{2}, uint64_t{2}));
}

TEST(SeqLock, AReadingInsideAnOpenSectionIsNeverWhole) {
  Figures f;
  f.record_error();
  // The worker is preempted halfway through a record: requests written, errors not.
  f.lock.begin_write();
  f.requests.add(1);
  int calls = 0;
  bool whole = true;
  const auto got = f.lock.read([&] {
    ++calls;
    return std::pair(f.requests.get(), f.errors.get());
  }, whole, /*max_tries=*/5);
  EXPECT_FALSE(whole) << "the half-written record must not pass for a whole one";
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(got.first, 2u);
  // The section closes: the next reading is whole again.
  f.errors.add(1);
  f.lock.end_write();
  f.lock.read([&] { return f.errors.get(); }, whole);
  EXPECT_TRUE(whole);
}

TEST(SeqLock, ASectionThatOpensDuringTheReadingIsCaught) {
  // The writer opens a section between the two loads and is still inside it when the
  // reader checks: the first reading is dropped, and the second (the section now closed)
  // is whole.
  Figures f;
  int calls = 0;
  bool whole = false;
  const auto got = f.lock.read([&] {
    const uint64_t requests = f.requests.get();
    ++calls;
    if (calls == 1) {
      f.lock.begin_write();
      f.requests.add(1);
      f.errors.add(1);
    } else if (calls == 2) {
      f.lock.end_write();
    }
    return std::pair(requests, f.errors.get());
  }, whole);
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(whole);
  EXPECT_EQ(got, std::pair(uint64_t{1}, uint64_t{1}));
}

}  // namespace
}  // namespace sidemeter::metrics
