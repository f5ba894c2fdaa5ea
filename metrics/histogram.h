#pragma once
// Log-linear ("HDR-style") histograms.
//
// Bucketing: every power of two [2^e, 2^(e+1)) is split into 64 equal sub-buckets of width
// 2^(e-6); values below 128 get one bucket each (exact). Index of v, with e = floor(log2(v|64)):
//     index(v) = ((e - 6) << 6) + (v >> (e - 6))
// which is one clz, a shift and an add: O(1), no loop, no log().
//
// Error bound (why quantiles are within 1 %): a value v >= 128 lands in a bucket
// [L, L + w) with L >= 2^e and w = 2^(e-6), so w / L <= 1/64. We report the midpoint
// m = L + (w - 1) / 2 of the integer values the bucket can hold, so |m - v| <= (w - 1) / 2 < w / 2
// and |m - v| / v < (w / 2) / L <= 1/128 = 0.78 %. Values < 128 are exact. The quantile walk
// picks the bucket that holds the sample of the requested rank (ceil(q * n), the same rank
// definition as "sort and index"), so the reported quantile is within 0.78 % of that exact
// sample; clamping the estimate to the tracked [min, max] can only move it closer.
// Values outside a layout's range are clamped into its first/last bucket and counted there.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace sidemeter::metrics {

inline constexpr int kSubBucketBits = 6;  // 64 sub-buckets per power of two

// Index over the whole uint64 range (before a layout offsets it).
constexpr uint32_t raw_bucket_index(uint64_t v) {
  const int e = 63 - std::countl_zero(v | (uint64_t{1} << kSubBucketBits));
  const int shift = e - kSubBucketBits;
  return (uint32_t(shift) << kSubBucketBits) + uint32_t(v >> shift);
}
// Smallest value whose raw index is i.
constexpr uint64_t raw_bucket_lower(uint32_t i) {
  if (i < (2u << kSubBucketBits)) return i;
  const uint32_t shift = (i >> kSubBucketBits) - 1;
  const uint64_t mantissa = (i & ((1u << kSubBucketBits) - 1)) + (1u << kSubBucketBits);
  return mantissa << shift;
}
constexpr uint64_t raw_bucket_width(uint32_t i) {
  if (i < (2u << kSubBucketBits)) return 1;
  return uint64_t{1} << ((i >> kSubBucketBits) - 1);
}

// A value range: which slice of the raw index space a histogram stores.
struct HistogramLayout {
  uint64_t min_value;
  uint64_t max_value;
  uint32_t first_raw;    // raw index of min_value
  uint32_t num_buckets;  // raw index of max_value - first_raw + 1

  constexpr uint32_t index(uint64_t v) const {
    return raw_bucket_index(std::clamp(v, min_value, max_value)) - first_raw;
  }
  constexpr uint64_t lower(uint32_t i) const {
    return std::max(raw_bucket_lower(i + first_raw), min_value);
  }
  // Largest value the bucket holds (inclusive).
  constexpr uint64_t upper(uint32_t i) const {
    return std::min(raw_bucket_lower(i + first_raw) + raw_bucket_width(i + first_raw) - 1,
                    max_value);
  }
  constexpr double midpoint(uint32_t i) const {
    return (double(lower(i)) + double(upper(i))) / 2.0;
  }
};

constexpr HistogramLayout make_layout(uint64_t min_value, uint64_t max_value) {
  const uint32_t first = raw_bucket_index(min_value);
  return {min_value, max_value, first, raw_bucket_index(max_value) - first + 1};
}

// Durations in nanoseconds, 1 us .. 1 h.
inline constexpr HistogramLayout kDurationLayout = make_layout(1'000, 3'600'000'000'000ull);
// Sizes in bytes, 0 .. 16 GiB (0..127 exact).
inline constexpr HistogramLayout kSizeLayout = make_layout(0, uint64_t{16} << 30);

// Plain (non-atomic) dense histogram, for aggregates, windows and snapshots. Addition and
// subtraction are exact bucket by bucket. max is carried along by add() but cannot be
// subtracted: after subtract() the owner sets it (windows compute it from per-slot maxima).
class Histogram {
 public:
  explicit Histogram(const HistogramLayout& layout = kDurationLayout)
      : layout_(&layout), buckets_(layout.num_buckets, 0) {}

  void record(uint64_t v, uint64_t n = 1) {
    buckets_[layout_->index(v)] += n;
    count_ += n;
    sum_ += v * n;
    max_ = std::max(max_, v);
  }
  void add(const Histogram& o);
  void subtract(const Histogram& o);
  void clear();

  const HistogramLayout& layout() const { return *layout_; }
  std::span<const uint64_t> buckets() const { return buckets_; }
  uint64_t bucket(uint32_t i) const { return buckets_[i]; }
  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  uint64_t max() const { return max_; }
  void set_max(uint64_t m) { max_ = m; }
  // Lower bound of the lowest non-empty bucket (exact below 128); 0 when empty.
  uint64_t min() const;
  double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }

  // q in [0, 1]; 0 when empty. Estimate within 0.78 % of the exact rank-ceil(q*n) sample.
  double quantile(double q) const;
  // Several quantiles in one pass; qs must be ascending.
  void quantiles(std::span<const double> qs, std::span<double> out) const {
    quantiles(qs, out, max_);
  }
  // Same, with the maximum known from elsewhere (windows keep it per slot); 0 = unknown.
  void quantiles(std::span<const double> qs, std::span<double> out, uint64_t max) const;

  // Raw access for the registry, which builds windows from deltas.
  uint64_t* mutable_buckets() { return buckets_.data(); }
  void set_totals(uint64_t count, uint64_t sum) {
    count_ = count;
    sum_ = sum;
  }

  bool operator==(const Histogram& o) const {
    return layout_ == o.layout_ && count_ == o.count_ && sum_ == o.sum_ && buckets_ == o.buckets_;
  }

 private:
  const HistogramLayout* layout_;
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

// h's samples per fixed boundary (in h's unit, ascending): out[b] counts the buckets whose
// smallest value is <= bounds[b] and > bounds[b - 1]; out[bounds.size()] the rest (+Inf).
// out.size() must be bounds.size() + 1. A bucket that straddles a boundary is counted below
// it: a value within one bucket width above a boundary may be counted under it, a value at
// or below it never misses (the rule of proxy/stats cumulative_at_bounds).
void counts_at_bounds(const Histogram& h, std::span<const uint64_t> bounds,
                      std::span<uint64_t> out);

// Only the non-empty buckets: how one-second slot deltas are kept (most slots touch a
// handful of buckets; 300 dense copies would cost megabytes).
struct SparseHistogram {
  struct Entry {
    uint32_t index;
    uint64_t count;
  };
  std::vector<Entry> entries;
  uint64_t count = 0;
  uint64_t sum = 0;
  uint64_t max = 0;

  bool empty() const { return count == 0 && sum == 0; }
  void add_to(Histogram& h) const;
  void subtract_from(Histogram& h) const;
};

// Dense, cumulative, written by one thread and read by another. Increments are a relaxed
// load + store (no lock prefix): only the owner writes. Readers see each bucket move
// monotonically, so reading twice and subtracting never loses or double-counts a sample.
class AtomicHistogram {
 public:
  explicit AtomicHistogram(const HistogramLayout& layout = kDurationLayout);

  void record(uint64_t v) {
    bump(buckets_[layout_->index(v)], 1);
    bump(sum_, v);
    // Rare after the first samples of a second: the reader resets it once per tick.
    if (v > max_.load(std::memory_order_relaxed)) max_.store(v, std::memory_order_relaxed);
  }

  const HistogramLayout& layout() const { return *layout_; }
  // Reader side: adds the current cumulative buckets and sum into acc (count = sum of
  // buckets, so count and buckets always agree).
  void read_into(Histogram& acc) const;
  uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }
  // Reader side: max recorded since the previous call (per-slot maximum).
  uint64_t take_max() { return max_.exchange(0, std::memory_order_relaxed); }

 private:
  static void bump(std::atomic<uint64_t>& c, uint64_t d) {
    c.store(c.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }

  const HistogramLayout* layout_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> max_{0};
};

}  // namespace sidemeter::metrics
