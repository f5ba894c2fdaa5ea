#pragma once
// One-second slots and the rolling windows built from them. A slot holds what changed in
// one second, sparsely (idle seconds cost a few hundred bytes); each window keeps running
// sums (add the newest slot, subtract the one leaving), so reading a window never walks
// 300 slots except for maxima, which cannot be subtracted.
#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "metrics/counters.h"
#include "metrics/histogram.h"
#include "metrics/snapshot.h"

namespace sidemeter::metrics {

// A (route, method) key: route_id * kMethods + method.
using RouteKey = uint32_t;

struct RouteDelta {
  RouteKey key = 0;
  RouteScalars scalars;
  SparseHistogram latency;
};

struct Slot {
  uint64_t seq = 0;  // 1-based second since start; 0 = never filled
  Scalars scalars;
  std::array<SparseHistogram, kDurationMetrics> durations;
  std::array<SparseHistogram, kSizeMetrics> sizes;
  std::vector<std::pair<uint16_t, uint64_t>> status_codes;  // (code - kMinStatus, n)
  std::vector<std::pair<uint32_t, uint64_t>> rejects;       // (reason id, n)
  std::vector<RouteDelta> routes;

  // Empties the slot but keeps vector capacity, so steady state allocates nothing.
  void clear();
};

class SlotRing {
 public:
  static constexpr uint32_t kCapacity = 300;  // 5 minutes
  // Where slot seq goes; it currently holds slot seq - kCapacity (if any).
  Slot& place(uint64_t seq) { return slots_[seq % kCapacity]; }
  // Slot seq if still held.
  const Slot* find(uint64_t seq) const {
    const Slot& s = slots_[seq % kCapacity];
    return seq != 0 && s.seq == seq ? &s : nullptr;
  }
  void clear();

 private:
  std::array<Slot, kCapacity> slots_;
};

// Running sums over the slots of one window (global figures; routes keep their own).
struct WindowSums {
  WindowSums();
  Scalars scalars;
  std::vector<Histogram> durations;  // per DurationMetric
  std::vector<Histogram> sizes;      // per SizeMetric
  std::array<uint64_t, kStatusCodes> status_codes{};
  std::vector<uint64_t> rejects;  // by reason id

  void add(const Slot& s);
  void subtract(const Slot& s);
  void clear();
};

// Quantiles straight from a sparse histogram (entries ascending by index, as slots hold
// them), with the same rank rule and midpoint as Histogram::quantiles, so a slot summarized
// here reads exactly like the dense "1s" window built from it. qs ascending; out gets 0s
// when empty.
void sparse_quantiles(const SparseHistogram& h, const HistogramLayout& layout,
                      std::span<const double> qs, std::span<double> out);

// Everything of a HistoryPoint that the slot itself holds (not cpu_percent, rss_bytes).
void summarize_slot(const Slot& s, HistoryPoint& out);

}  // namespace sidemeter::metrics
