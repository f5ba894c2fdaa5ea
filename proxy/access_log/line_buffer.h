#pragma once
// One worker's queue of formatted access-log lines, waiting for the writer thread. The
// worker appends under a mutex the writer only ever holds for a swap of two strings, so
// an append costs one uncontended lock and a copy of the line, whatever state the
// output is in. Bounded: a line that does not fit is dropped and counted, never waited
// for.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace sidemeter::access_log {

// Wakes the writer thread when it sleeps with nothing to do. Producers pay one relaxed
// load per line while the writer is busy; only the append that finds it asleep takes
// the lock and signals.
class Doorbell {
 public:
  // Producer side, after its line is queued (the queue's mutex orders the two).
  void ring() {
    if (armed_.load(std::memory_order_relaxed) && armed_.exchange(false)) signal();
  }
  // Control side (stop, reopen, a new path): wakes the writer whether armed or not.
  void signal();
  // Writer side: arm, check every queue once more, then wait (unless already rung).
  void arm() { armed_.store(true); }
  void disarm() { armed_.store(false, std::memory_order_relaxed); }
  // Waits until signalled or `timeout_ms` passes; clears the signal.
  void wait(uint64_t timeout_ms);

 private:
  std::atomic<bool> armed_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool rung_ = false;  // guarded by mu_
};

class LineBuffer {
 public:
  LineBuffer(size_t max_bytes, Doorbell* doorbell) : max_bytes_(max_bytes), doorbell_(doorbell) {}
  LineBuffer(const LineBuffer&) = delete;
  LineBuffer& operator=(const LineBuffer&) = delete;

  // Worker thread: queues one whole line (ending in '\n'). False (and counted) when the
  // queue would grow beyond max_bytes; returns at once either way.
  bool append(std::string_view line);
  // Any thread; takes effect at the next append (lines already queued stay).
  void set_max_bytes(size_t n) { max_bytes_.store(n, std::memory_order_relaxed); }
  size_t max_bytes() const { return max_bytes_.load(std::memory_order_relaxed); }

  // Writer thread: swaps the queued lines into `out`, which must be empty (its capacity
  // becomes the queue's, so steady state allocates nothing). True if anything was queued.
  bool take(std::string& out);
  bool empty() const;

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  std::string data_;  // guarded by mu_
  std::atomic<size_t> max_bytes_;
  std::atomic<uint64_t> dropped_{0};  // written by the worker only
  Doorbell* doorbell_;
};

}  // namespace sidemeter::access_log
