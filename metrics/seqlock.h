#pragma once
// A sequence lock for one writer thread and any number of readers that never block the
// writer (Boehm, "Can seqlocks get along with programming language memory models?",
// MSPC 2012, the fence-based variant). The writer brackets each update with
// begin_write()/end_write(); a reader runs its read function — relaxed loads of the data,
// which are all atomics — and takes the result only if no write section overlapped it,
// so it sees whole updates only: two counters bumped in one section never disagree.
// Writer cost: two plain stores (x86; the fences only order the compiler). A reader may
// retry; it gives up after `max_tries` (e.g. the writer was preempted inside a section)
// and says so.
#include <atomic>
#include <cstdint>
#include <thread>

namespace sidemeter::metrics {

class SeqLock {
 public:
  // Writer thread only; sections do not nest.
  void begin_write() {
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer does not model fences (GCC refuses them under -Werror=tsan): the
    // acquire half of this read-modify-write keeps the section's stores after it instead.
    // A locked instruction, so only in that build.
    seq_.fetch_add(1, std::memory_order_acq_rel);
#else
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // Orders the odd value before every data store of the section.
    std::atomic_thread_fence(std::memory_order_release);
#endif
  }
  void end_write() {
    seq_.store(seq_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  // Any thread. `read()` returns a fresh value built from relaxed loads of data written
  // in sections; called until one call overlapped no section, at most max_tries times
  // (spinning, then yielding the CPU). `whole` is false when the value returned is the
  // last try's, which a section overlapped.
  template <typename F>
  auto read(F read, bool& whole, int max_tries = 256) const {
    constexpr int kSpins = 16;
    for (int attempt = 1;; ++attempt) {
      const uint64_t before = seq_.load(std::memory_order_acquire);
      auto value = read();
#if defined(__SANITIZE_THREAD__)
      // Boehm's read-don't-modify-write: its release half keeps the data loads above it.
      const uint64_t after = seq_.fetch_add(0, std::memory_order_release);
#else
      // Keeps the data loads above before the second look at the counter.
      std::atomic_thread_fence(std::memory_order_acquire);
      const uint64_t after = seq_.load(std::memory_order_relaxed);
#endif
      whole = before == after && (before & 1) == 0;
      if (whole || attempt >= max_tries) return value;
      if (attempt > kSpins) std::this_thread::yield();
    }
  }

 private:
  // mutable: the TSan build's reader does a read-don't-modify-write on it.
  mutable std::atomic<uint64_t> seq_{0};  // odd inside a section
};

}  // namespace sidemeter::metrics
