#include "metrics/windows.h"

#include <algorithm>
#include <cmath>

namespace sidemeter::metrics {
namespace {

constexpr double kNsPerMs = 1e6;

void summarize(const SparseHistogram& h, const HistogramLayout& layout, DurationSummary& d) {
  d = DurationSummary{};
  d.count = h.count;
  if (h.count == 0) return;
  std::array<double, kSummaryQuantiles.size()> q{};
  sparse_quantiles(h, layout, kSummaryQuantiles, q);
  cap_quantiles_at_max(q, h.max);
  d.avg_ms = double(h.sum) / double(h.count) / kNsPerMs;
  d.p50_ms = q[0] / kNsPerMs;
  d.p90_ms = q[1] / kNsPerMs;
  d.p95_ms = q[2] / kNsPerMs;
  d.p99_ms = q[3] / kNsPerMs;
  d.p999_ms = q[4] / kNsPerMs;
  d.max_ms = double(h.max) / kNsPerMs;
}

void summarize(const SparseHistogram& h, const HistogramLayout& layout, SizeSummary& s) {
  s = SizeSummary{};
  s.count = h.count;
  s.total = h.sum;
  if (h.count == 0) return;
  std::array<double, kSummaryQuantiles.size()> q{};
  sparse_quantiles(h, layout, kSummaryQuantiles, q);
  cap_quantiles_at_max(q, h.max);
  s.avg = double(h.sum) / double(h.count);
  s.p50 = q[0];
  s.p95 = q[2];
  s.max = h.max;
}

}  // namespace

void sparse_quantiles(const SparseHistogram& h, const HistogramLayout& layout,
                      std::span<const double> qs, std::span<double> out) {
  if (h.count == 0 || h.entries.empty()) {
    std::fill(out.begin(), out.end(), 0.0);
    return;
  }
  uint64_t seen = 0;
  size_t i = 0;
  const size_t n = h.entries.size();
  for (size_t k = 0; k < qs.size(); ++k) {
    const double q = std::clamp(qs[k], 0.0, 1.0);
    const uint64_t rank = std::max<uint64_t>(1, uint64_t(std::ceil(q * double(h.count))));
    while (i < n && seen + h.entries[i].count < rank) seen += h.entries[i++].count;
    if (i == n) i = n - 1;  // only if count disagrees with the entries
    out[k] = layout.midpoint(h.entries[i].index);
  }
}

void summarize_slot(const Slot& s, HistoryPoint& out) {
  out.seq = s.seq;
  out.requests = s.scalars.requests;
  out.errors = s.scalars.errors;
  out.error_rate = error_ratio(s.scalars.errors, s.scalars.requests);
  out.upstream_errors = 0;
  for (size_t k = 1; k < kUpstreamErrorKinds; ++k)
    out.upstream_errors += s.scalars.upstream_errors[k];
  for (size_t m = 0; m < kDurationMetrics; ++m) {
    summarize(s.durations[m], kDurationLayout, out.durations[m]);
  }
  for (size_t m = 0; m < kSizeMetrics; ++m) summarize(s.sizes[m], kSizeLayout, out.sizes[m]);
}

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

void SlotRing::erase_route(RouteKey key) {
  for (Slot& s : slots_) {
    std::erase_if(s.routes, [key](const RouteDelta& d) { return d.key == key; });
  }
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
