#include "metrics/windows.h"

namespace sidemeter::metrics {

void Slot::clear() {
  seq = 0;
  scalars = Scalars{};
  for (SparseHistogram& h : durations) {
    h.entries.clear();
    h.count = h.sum = h.max = 0;
  }
  for (SparseHistogram& h : sizes) {
    h.entries.clear();
    h.count = h.sum = h.max = 0;
  }
  status_codes.clear();
  rejects.clear();
  routes.clear();  // RouteDelta vectors are freed here; routes are few per second
}

void SlotRing::clear() {
  for (Slot& s : slots_) s.clear();
}

WindowSums::WindowSums()
    : durations(kDurationMetrics, Histogram(kDurationLayout)),
      sizes(kSizeMetrics, Histogram(kSizeLayout)) {}

void WindowSums::add(const Slot& s) {
  scalars.add(s.scalars);
  for (size_t i = 0; i < kDurationMetrics; ++i) s.durations[i].add_to(durations[i]);
  for (size_t i = 0; i < kSizeMetrics; ++i) s.sizes[i].add_to(sizes[i]);
  for (const auto& [code, n] : s.status_codes) status_codes[code] += n;
  for (const auto& [id, n] : s.rejects) {
    if (rejects.size() <= id) rejects.resize(id + 1, 0);
    rejects[id] += n;
  }
}

void WindowSums::subtract(const Slot& s) {
  scalars.subtract(s.scalars);
  for (size_t i = 0; i < kDurationMetrics; ++i) s.durations[i].subtract_from(durations[i]);
  for (size_t i = 0; i < kSizeMetrics; ++i) s.sizes[i].subtract_from(sizes[i]);
  for (const auto& [code, n] : s.status_codes) status_codes[code] -= n;
  for (const auto& [id, n] : s.rejects) rejects[id] -= n;
}

void WindowSums::clear() {
  scalars = Scalars{};
  for (Histogram& h : durations) h.clear();
  for (Histogram& h : sizes) h.clear();
  status_codes.fill(0);
  rejects.assign(rejects.size(), 0);
}

}  // namespace sidemeter::metrics
