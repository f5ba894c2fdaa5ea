#pragma once
// Monotonic time source, injected so tests can drive time by hand. The proxy and the
// metrics windows both read it; it is deliberately free of libuv.
#include <cstdint>
#include <ctime>

namespace sidemeter::metrics {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t now_ns() const = 0;
};

// CLOCK_MONOTONIC through the vDSO: ~20 ns, nanosecond resolution (uv_now is only ms).
class MonotonicClock final : public Clock {
 public:
  uint64_t now_ns() const override {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
  }
};

// A clock the test moves by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(uint64_t start_ns = 1'000'000'000ull) : now_(start_ns) {}
  uint64_t now_ns() const override { return now_; }
  void advance_ns(uint64_t d) { now_ += d; }
  void set_ns(uint64_t t) { now_ = t; }

 private:
  uint64_t now_;
};

}  // namespace sidemeter::metrics
