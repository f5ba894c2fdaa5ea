#include "metrics/alerts/slo_tracker.h"

#include <algorithm>

namespace sidemeter::metrics::alerts {

SloTracker::Sums SloTracker::observe(EventCounts counts, uint64_t now_ns) {
  if (!has_base_ || counts.total < base_.total || counts.good < base_.good) {
    base_ = counts;
    base_ns_ = now_ns;
    has_base_ = true;
    return {};
  }
  const uint64_t total = counts.total - base_.total;
  const uint64_t good = std::min(counts.good - base_.good, total);
  base_ = counts;
  if (total == 0) return {};
  const uint64_t minute = now_ns / kMinuteNs;
  Slot& s = slots_[minute % kSlots];
  if (s.minute != minute) s = Slot{minute, 0, 0};
  s.good += good;
  s.total += total;
  return {good, total};
}

SloTracker::Sums SloTracker::sum(uint32_t minutes, uint64_t now_ns) const {
  Sums out;
  const uint64_t current = now_ns / kMinuteNs;
  const uint64_t span = std::min<uint64_t>(minutes, kSlots - 1);
  for (uint64_t k = 0; k <= span && k <= current; ++k) {
    const Slot& s = slots_[(current - k) % kSlots];
    if (s.minute != current - k) continue;
    out.good += s.good;
    out.total += s.total;
  }
  return out;
}

double SloTracker::burn_rate(const Sums& s, double objective) {
  if (s.total == 0) return 0;
  const double budget = 1 - objective;
  return (double(s.bad()) / double(s.total)) / budget;
}

double SloTracker::horizon_seconds(uint64_t now_ns) const {
  if (!has_base_ || now_ns <= base_ns_) return 0;
  const uint64_t span = uint64_t(kSlots - 1) * kMinuteNs + now_ns % kMinuteNs;
  return double(std::min(now_ns - base_ns_, span)) / 1e9;
}

}  // namespace sidemeter::metrics::alerts
