#pragma once
// Per-minute good/total slots of one SLO, fed from cumulative counts, and the burn rates
// and budget read from them. The arithmetic is spelled out in engine.h ("SLO arithmetic").
#include <array>
#include <cstddef>
#include <cstdint>

#include "metrics/alerts/engine.h"
#include "metrics/alerts/spec.h"

namespace sidemeter::metrics::alerts {

class SloTracker {
 public:
  static constexpr uint64_t kMinuteNs = 60'000'000'000ull;
  // The current partial minute and the kSloHorizonMinutes full ones before it.
  static constexpr uint32_t kSlots = kSloHorizonMinutes + 1;

  struct Sums {
    uint64_t good = 0;
    uint64_t total = 0;
    uint64_t bad() const { return total - good; }
  };

  // One evaluation: the cumulative counts at now_ns. The first call only takes the
  // baseline; a decrease of either count resets it. Returns what was added to the slots
  // (zero on a baseline or reset; good <= total).
  Sums observe(EventCounts counts, uint64_t now_ns);
  // The minute now_ns falls in plus the `minutes` full minutes before it.
  Sums sum(uint32_t minutes, uint64_t now_ns) const;
  // (bad / total) / (1 - objective) over sum(minutes); 0 with no events.
  static double burn_rate(const Sums& s, double objective);
  double burn_rate(uint32_t minutes, double objective, uint64_t now_ns) const {
    return burn_rate(sum(minutes, now_ns), objective);
  }
  // Seconds since the baseline, at most the span the slots cover at now_ns.
  double horizon_seconds(uint64_t now_ns) const;

 private:
  struct Slot {
    uint64_t minute = UINT64_MAX;  // which minute the counts belong to
    uint64_t good = 0;
    uint64_t total = 0;
  };
  std::array<Slot, kSlots> slots_{};  // by minute % kSlots
  EventCounts base_;
  uint64_t base_ns_ = 0;
  bool has_base_ = false;
};

}  // namespace sidemeter::metrics::alerts
