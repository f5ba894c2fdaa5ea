#include "metrics/histogram.h"

#include <cmath>

namespace sidemeter::metrics {

void Histogram::add(const Histogram& o) {
  const uint64_t* src = o.buckets_.data();
  uint64_t* dst = buckets_.data();
  const size_t n = buckets_.size();
  for (size_t i = 0; i < n; ++i) dst[i] += src[i];
  count_ += o.count_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
}

void Histogram::subtract(const Histogram& o) {
  const uint64_t* src = o.buckets_.data();
  uint64_t* dst = buckets_.data();
  const size_t n = buckets_.size();
  for (size_t i = 0; i < n; ++i) dst[i] -= src[i];
  count_ -= o.count_;
  sum_ -= o.sum_;
}

void Histogram::clear() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = sum_ = max_ = 0;
}

uint64_t Histogram::min() const {
  if (count_ == 0) return 0;
  for (uint32_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i]) return layout_->lower(i);
  }
  return 0;
}

double Histogram::quantile(double q) const {
  double out = 0;
  quantiles(std::span<const double>(&q, 1), std::span<double>(&out, 1));
  return out;
}

void Histogram::quantiles(std::span<const double> qs, std::span<double> out) const {
  if (count_ == 0) {
    std::fill(out.begin(), out.end(), 0.0);
    return;
  }
  uint64_t seen = 0;
  uint32_t i = 0;
  const uint32_t n = uint32_t(buckets_.size());
  for (size_t k = 0; k < qs.size(); ++k) {
    const double q = std::clamp(qs[k], 0.0, 1.0);
    const uint64_t rank = std::max<uint64_t>(1, uint64_t(std::ceil(q * double(count_))));
    while (i < n && seen + buckets_[i] < rank) seen += buckets_[i++];
    if (i == n) i = n - 1;  // only reachable if count_ disagrees with the buckets
    out[k] = layout_->midpoint(i);
  }
}

void counts_at_bounds(const Histogram& h, std::span<const uint64_t> bounds,
                      std::span<uint64_t> out) {
  std::fill(out.begin(), out.end(), 0);
  const std::span<const uint64_t> b = h.buckets();
  size_t k = 0;
  for (uint32_t i = 0; i < b.size(); ++i) {
    if (b[i] == 0) continue;
    const uint64_t upper = h.layout().upper(i);
    while (k < bounds.size() && bounds[k] < upper) ++k;
    out[k] += b[i];
  }
}

void SparseHistogram::add_to(Histogram& h) const {
  uint64_t* b = h.mutable_buckets();
  for (const Entry& e : entries) b[e.index] += e.count;
  h.set_totals(h.count() + count, h.sum() + sum);
}

void SparseHistogram::subtract_from(Histogram& h) const {
  uint64_t* b = h.mutable_buckets();
  for (const Entry& e : entries) b[e.index] -= e.count;
  h.set_totals(h.count() - count, h.sum() - sum);
}

AtomicHistogram::AtomicHistogram(const HistogramLayout& layout)
    : layout_(&layout), buckets_(new std::atomic<uint64_t>[layout.num_buckets]) {
  for (uint32_t i = 0; i < layout.num_buckets; ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void AtomicHistogram::read_into(Histogram& acc) const {
  uint64_t* b = acc.mutable_buckets();
  uint64_t count = 0;
  for (uint32_t i = 0; i < layout_->num_buckets; ++i) {
    const uint64_t v = buckets_[i].load(std::memory_order_relaxed);
    b[i] += v;
    count += v;
  }
  acc.set_totals(acc.count() + count, acc.sum() + sum_.load(std::memory_order_relaxed));
}

}  // namespace sidemeter::metrics
