#include "proxy/memory_release.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace sidemeter {
namespace {
int64_t rss_kib() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long size = 0, resident = 0;
  int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return n == 2 ? int64_t(resident) * (sysconf(_SC_PAGESIZE) / 1024) : 0;
}
}  // namespace

bool MemoryRelease::should_trim(int64_t peak_since_last_call, int64_t connections) {
  peak_ = std::max({peak_, peak_since_last_call, connections});
  if (peak_ - connections >= kMinDrop && connections * 2 <= peak_) {
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
  int64_t before = rss_kib();
  malloc_trim(0);
  return rss_kib() - before;
}

}  // namespace sidemeter
