#pragma once
// Gives freed connection memory back to the kernel after a connection spike. glibc keeps
// what the workers free in their own arenas; without a trim, a sidecar that once held
// 10,000 connections keeps their ~45 MiB for good, and RSS is what an operator (and the
// pod's memory limit) sees. A trim locks each arena briefly, so it runs only after a large
// drop, from the control thread, never per connection.
#include <cstdint>

namespace sidemeter {

class MemoryRelease {
 public:
  // A drop smaller than this frees too little to be worth locking the arenas (~4.5 KiB a
  // connection, so about 4.5 MiB).
  static constexpr int64_t kMinDrop = 1000;

  // Called once a tick with the highest downstream connection count since the previous
  // call and the count now. True when the count has fallen to at most half of the peak
  // since the last trim, by at least kMinDrop: a spike that passed, not ordinary churn;
  // and only once the count has stopped falling (less than kMinDrop / 4 below the highest
  // count since the previous call), so the trim comes after the whole spike was freed.
  bool should_trim(int64_t peak_since_last_call, int64_t connections);

 private:
  int64_t peak_ = 0;
};

// Fixes glibc's trim and mmap thresholds. By default each freed mmap'd block (a large
// snapshot buffer, a grown vector) raises both thresholds, up to 32 and 64 MiB; after
// that a worker's arena never returns the top of its heap, and malloc_trim cannot either
// (it only trims the main arena's top). Call once, before any thread starts.
void configure_allocator();

// Returns the free top of the calling thread's arena. malloc_trim(0) reaches free pages
// inside every arena but only the main arena's top; a worker's arena, where its
// connections lived, gives its top back only when free() releases a block of 64 KiB or
// more (glibc then runs heap_trim on it). So each worker frees one such block on request.
void trim_thread_heap_top();

// malloc_trim(0): returns the free pages of every arena. Returns the RSS change in KiB
// (negative when memory was released), read from /proc/self/stat around the call.
int64_t release_free_memory();

}  // namespace sidemeter
