#include "proxy/memory_release.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>

#include "metrics/process_stats.h"

namespace sidemeter {

bool MemoryRelease::should_trim(int64_t peak_since_last_call, int64_t connections) {
  peak_ = std::max({peak_, peak_since_last_call, connections});
  // Connections still closing since the last call: wait until the drop settles, or the
  // trim returns only what was freed by now and the rest of the spike stays in the arenas
  // (the next trim needs a new spike).
  const bool settled = peak_since_last_call - connections < kMinDrop / 4;
  if (settled && peak_ - connections >= kMinDrop && connections * 2 <= peak_) {
    peak_ = connections;  // the next trim needs a new spike
    return true;
  }
  return false;
}

void configure_allocator() {
  // Blocks above 256 KiB come straight from mmap and go straight back; a heap top above
  // 1 MiB free is returned as soon as it forms. Both are far from the per-request sizes,
  // so the hot path never pays for a syscall here.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
}

void trim_thread_heap_top() {
  // Above glibc's 64 KiB consolidation threshold and below our 256 KiB mmap threshold, so
  // it comes from this thread's arena. volatile: the compiler may not drop the pair.
  constexpr size_t kSize = 128 * 1024;
  void* volatile p = malloc(kSize);
  if (p != nullptr) static_cast<volatile char*>(p)[0] = 0;
  free(p);
}

int64_t release_free_memory() {
  const metrics::ProcessStats stats;
  uint64_t before = 0, after = 0;
  stats.read_rss_bytes(before);
  malloc_trim(0);
  if (!stats.read_rss_bytes(after)) return 0;
  return (int64_t(after) - int64_t(before)) / 1024;
}

}  // namespace sidemeter
