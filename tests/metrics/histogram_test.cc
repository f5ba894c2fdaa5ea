#include "metrics/histogram.h"

#include "metrics/native_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

namespace sidemeter::metrics {
namespace {

// The bound proven in histogram.h: (2^(1/64) - 1) / 2.
const double kMaxRelError = (std::exp2(1.0 / 64) - 1) / 2;

// The boundary tables equal floor(2^(k/64) * s) computed with exact integer arithmetic
// (v <= 2^(k/64) s <=> v^64 <= 2^k s^64, in Python): a hash of every entry, so a compiler
// folding exp2l differently, or an off-by-one at any boundary, fails here.
uint64_t table_hash(const HistogramLayout& l) {
  uint64_t h = 0;
  for (uint32_t i = 0; i < l.num_buckets; ++i) h = h * 1000003 + l.uppers[i];
  return h;
}

TEST(HistogramLayout, BoundariesAreExactSchema6) {
  EXPECT_EQ(kDurationLayout.num_buckets, 2034u);
  EXPECT_EQ(kDurationLayout.first_native, -1275);
  EXPECT_EQ(kDurationLayout.native_index(kDurationLayout.num_buckets - 1), 757);
  EXPECT_EQ(table_hash(kDurationLayout), 5853163898427447214ull);
  EXPECT_EQ(kSizeLayout.num_buckets, 2178u);
  EXPECT_EQ(kSizeLayout.first_native, 0);
  EXPECT_EQ(kSizeLayout.native_index(kSizeLayout.num_buckets - 1), 2176);
  EXPECT_EQ(table_hash(kSizeLayout), 15580641158467015187ull);
}

// Native bucket k holds (2^((k-1)/64), 2^(k/64)] seconds: a value exactly at 2^(k/64) s lands
// in k, one ns above in k + 1.
TEST(HistogramLayout, ValuesAtABoundaryLandInTheBucketBelow) {
  const HistogramLayout& l = kDurationLayout;
  const auto native = [&](uint64_t ns) { return l.native_index(l.index(ns)); };
  // 2^j s is an integer number of ns for j >= -9 (1e9 = 2^9 * 1953125).
  for (int j = -9; j <= 11; ++j) {
    const auto ns = uint64_t(std::ldexp(1e9, j));
    EXPECT_EQ(native(ns), 64 * j) << j;
    EXPECT_EQ(native(ns + 1), 64 * j + 1) << j;
    EXPECT_EQ(native(ns - 1), 64 * j) << j;  // 2^j s - 1 ns is above 2^((64j-1)/64) s
  }
  EXPECT_EQ(native(1'000'000'000), 0);  // 1 s = 2^0
  EXPECT_EQ(native(1'010'889'286), 1);  // floor(2^(1/64) * 1e9): the top of bucket 1
  EXPECT_EQ(native(1'010'889'287), 2);
  EXPECT_EQ(native(989'228'013), -1);  // floor(2^(-1/64) * 1e9)
  EXPECT_EQ(native(989'228'014), 0);
  // Bytes: 2^j is a boundary.
  for (int j = 0; j <= 33; ++j) {
    const uint64_t b = uint64_t{1} << j;
    EXPECT_EQ(kSizeLayout.native_index(kSizeLayout.index(b)), 64 * j) << j;
    // From 128 B on, one byte more is less than a bucket width more.
    if (j >= 7) {
      EXPECT_EQ(kSizeLayout.native_index(kSizeLayout.index(b + 1)), 64 * j + 1) << j;
    }
  }
  EXPECT_EQ(kSizeLayout.index(0), 0u);  // the zero bucket
  EXPECT_EQ(kSizeLayout.index(1), 1u);  // native 0: (2^(-1/64), 1]
}

// The O(1) index agrees with a binary search over the boundaries: every integer of the
// dense low range, both sides of every boundary, and random values over the whole range.
TEST(HistogramLayout, IndexEqualsSearchEverywhere) {
  for (const HistogramLayout* l : {&kDurationLayout, &kSizeLayout}) {
    for (uint64_t v = 0; v < (uint64_t{1} << 22); ++v) {
      ASSERT_EQ(l->index(v), l->index_by_search(v)) << v;
    }
    for (uint32_t i = l->min_value > 0 ? 1 : 0; i < l->num_buckets; ++i) {
      const uint64_t u = l->upper(i);
      if (l->lower(i) > u) continue;  // holds no integer (sizes between 1 and 2 bytes)
      for (uint64_t v : {u - 1, u, u + 1}) ASSERT_EQ(l->index(v), l->index_by_search(v)) << v;
      ASSERT_EQ(l->index(u), i);
      ASSERT_LE(l->lower(i), u);
      if (i + 1 < l->num_buckets) {
        ASSERT_GT(l->index(u + 1), i);
      }
    }
    std::mt19937_64 rng(7);
    for (int i = 0; i < 500000; ++i) {
      const uint64_t v = rng() >> (rng() % 64);
      ASSERT_EQ(l->index(v), l->index_by_search(v)) << v;
    }
  }
}

// The shard records with the layout a compile-time constant (AtomicHistogram::record_as):
// index() then folds its constants and takes the one-shift branch for durations. The same
// checks on that instantiation, and record_as against record.
template <const HistogramLayout& kLayout>
void expect_folded_index_equals_search() {
  for (uint64_t v = 0; v < (uint64_t{1} << 20); ++v) {
    ASSERT_EQ(kLayout.index(v), kLayout.index_by_search(v)) << v;
  }
  for (uint32_t i = 0; i < kLayout.num_buckets; ++i) {
    const uint64_t u = kLayout.upper(i);
    for (uint64_t v : {u - 1, u, u + 1}) {
      ASSERT_EQ(kLayout.index(v), kLayout.index_by_search(v)) << v;
    }
  }
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, kLayout.min_value, kLayout.max_value,
                     kLayout.max_value + 1, ~uint64_t{0}}) {
    ASSERT_EQ(kLayout.index(v), kLayout.index_by_search(v)) << v;
  }
  std::mt19937_64 rng(11);
  AtomicHistogram as(kLayout), plain(kLayout);
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = rng() >> (rng() % 64);
    ASSERT_EQ(kLayout.index(v), kLayout.index_by_search(v)) << v;
    as.record_as<kLayout>(v);
    plain.record(v);
  }
  Histogram a(kLayout), b(kLayout);
  as.read_into(a);
  plain.read_into(b);
  EXPECT_TRUE(a == b);
  EXPECT_EQ(as.take_max(), plain.take_max());
}

TEST(HistogramLayout, FoldedIndexEqualsSearchEverywhere) {
  expect_folded_index_equals_search<kDurationLayout>();
  expect_folded_index_equals_search<kSizeLayout>();
}

TEST(HistogramLayout, RangesAndSizes) {
  EXPECT_EQ(kDurationLayout.lower(1), 1000u);
  EXPECT_EQ(kDurationLayout.index(0), 1u);  // clamped to 1 us; the zero bucket stays empty
  EXPECT_EQ(kDurationLayout.index(999), 1u);
  EXPECT_EQ(kDurationLayout.index(UINT64_MAX), kDurationLayout.num_buckets - 1);
  EXPECT_EQ(kDurationLayout.upper(kDurationLayout.num_buckets - 1), 3'600'000'000'000ull);
  EXPECT_EQ(kSizeLayout.index(0), 0u);
  EXPECT_EQ(kSizeLayout.index(uint64_t{16} << 30), kSizeLayout.num_buckets - 1);
  EXPECT_EQ(kSizeLayout.upper(kSizeLayout.num_buckets - 1), uint64_t{16} << 30);
}

TEST(HistogramLayout, MidpointWithinBoundForEveryBucketEdge) {
  for (const HistogramLayout* l : {&kDurationLayout, &kSizeLayout}) {
    for (uint32_t i = 1; i < l->num_buckets; ++i) {
      if (l->lower(i) > l->upper(i)) continue;  // holds no integer: never counts
      const double mid = l->midpoint(i);
      for (uint64_t v : {l->lower(i), l->upper(i)}) {
        ASSERT_LE(std::abs(mid - double(v)) / double(v), kMaxRelError) << i;
      }
    }
  }
}

uint64_t exact_quantile(const std::vector<uint64_t>& sorted, double q) {
  const size_t rank = std::max<size_t>(1, size_t(std::ceil(q * double(sorted.size()))));
  return sorted[rank - 1];
}

void expect_quantiles_within_bound(std::vector<uint64_t> samples, const char* name) {
  Histogram h(kDurationLayout);
  for (uint64_t v : samples) h.record(v);
  std::sort(samples.begin(), samples.end());
  ASSERT_EQ(h.count(), samples.size());
  ASSERT_EQ(h.max(), samples.back());
  // Sorted samples against every quantile: within the bound of the exact rank's sample.
  for (double q : {0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0}) {
    const double exact = double(exact_quantile(samples, q));
    const double got = h.quantile(q);
    EXPECT_LE(std::abs(got - exact) / exact, kMaxRelError)
        << name << " q=" << q << " exact=" << exact << " got=" << got;
  }
}

// Durations in ns kept inside 1 us .. 1 h, where the bound holds (outside, values clamp).
uint64_t clamp_ns(double v) { return uint64_t(std::clamp(v, 1000.0, 3.6e12)); }

TEST(HistogramQuantiles, Uniform) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> d(1e3, 1e9);
  std::vector<uint64_t> s(200000);
  for (auto& v : s) v = clamp_ns(d(rng));
  expect_quantiles_within_bound(s, "uniform");
}

TEST(HistogramQuantiles, LogNormal) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> d(std::log(5e6), 1.0);  // median 5 ms
  std::vector<uint64_t> s(200000);
  for (auto& v : s) v = clamp_ns(d(rng));
  expect_quantiles_within_bound(s, "lognormal");
}

TEST(HistogramQuantiles, Bimodal) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> fast(1e6, 1e5), slow(2e8, 2e7);  // 1 ms and 200 ms
  std::bernoulli_distribution pick_slow(0.05);
  std::vector<uint64_t> s(200000);
  for (auto& v : s) v = clamp_ns(pick_slow(rng) ? slow(rng) : fast(rng));
  expect_quantiles_within_bound(s, "bimodal");
}

TEST(HistogramQuantiles, ParetoHeavyTail) {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<uint64_t> s(200000);
  for (auto& v : s) v = clamp_ns(1e5 / std::pow(1.0 - u(rng), 1.0 / 1.2));  // xm 100 us, a 1.2
  expect_quantiles_within_bound(s, "pareto");
}

TEST(HistogramQuantiles, SmallSizesAreExact) {
  // Below 92 bytes each bucket holds one integer.
  Histogram h(kSizeLayout);
  for (uint64_t v = 0; v < 90; ++v) h.record(v);
  EXPECT_EQ(h.quantile(0.5), 44.0);
  EXPECT_EQ(h.quantile(0.01), 0.0);
  EXPECT_EQ(h.quantile(1.0), 89.0);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_DOUBLE_EQ(h.mean(), 44.5);
}

TEST(HistogramQuantiles, SizesWithinBound) {
  std::mt19937_64 rng(9);
  std::lognormal_distribution<double> d(std::log(4000), 2.0);
  Histogram h(kSizeLayout);
  std::vector<uint64_t> s(100000);
  for (auto& v : s) {
    v = std::max<uint64_t>(1, uint64_t(d(rng)));
    h.record(v);
  }
  std::sort(s.begin(), s.end());
  for (double q : {0.01, 0.5, 0.9, 0.99, 0.999}) {
    const double exact = double(exact_quantile(s, q));
    EXPECT_LE(std::abs(h.quantile(q) - exact) / exact, kMaxRelError) << q;
  }
}

TEST(HistogramQuantiles, OutOfRangeValuesClampAndCount) {
  Histogram h(kDurationLayout);
  h.record(10);                         // below 1 us
  h.record(10ull * 3600 * 1000000000);  // 10 h
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(kDurationLayout.num_buckets - 1), 1u);
  EXPECT_LE(h.quantile(1.0), 3.6e12 * (1 + kMaxRelError));
}

TEST(HistogramQuantiles, EmptyIsZero) {
  Histogram h;
  EXPECT_EQ(h.quantile(0.99), 0.0);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.min(), 0u);
}

TEST(HistogramArithmetic, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> d(std::log(2e6), 1.5);
  Histogram a, b, all;
  for (int i = 0; i < 50000; ++i) {
    const uint64_t v = clamp_ns(d(rng));
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  Histogram merged = a;
  merged.add(b);
  EXPECT_TRUE(merged == all);
  EXPECT_EQ(merged.max(), all.max());
  for (uint32_t i = 0; i < kDurationLayout.num_buckets; ++i)
    ASSERT_EQ(merged.bucket(i), all.bucket(i));
}

TEST(HistogramArithmetic, SubtractionIsExact) {
  std::mt19937_64 rng(6);
  Histogram a, b, all;
  for (int i = 0; i < 50000; ++i) {
    const uint64_t v = 1000 + rng() % 5'000'000'000ull;
    (i % 2 ? a : b).record(v);
    all.record(v);
  }
  all.subtract(b);
  EXPECT_TRUE(all == a);
}

TEST(HistogramArithmetic, SparseAddAndSubtractRoundTrip) {
  Histogram h;
  SparseHistogram s;
  s.entries = {{3, 2}, {700, 5}};
  s.count = 7;
  s.sum = 12345;
  s.add_to(h);
  EXPECT_EQ(h.count(), 7u);
  EXPECT_EQ(h.bucket(700), 5u);
  s.subtract_from(h);
  EXPECT_TRUE(h == Histogram());
}

TEST(AtomicHistogram, ReadsWhatWasRecorded) {
  AtomicHistogram ah(kDurationLayout);
  Histogram plain;
  for (uint64_t v : {1500ull, 2'000'000ull, 2'000'001ull, 77'000'000'000ull}) {
    ah.record(v);
    plain.record(v);
  }
  Histogram read;
  ah.read_into(read);
  EXPECT_TRUE(read == plain);
  EXPECT_EQ(ah.take_max(), 77'000'000'000ull);
  EXPECT_EQ(ah.take_max(), 0u);  // per-slot: reset by the reader
  ah.read_into(read);            // read_into adds
  EXPECT_EQ(read.count(), 8u);
}

// to_native is a 1:1 copy: every sample's native bucket is the one its value in seconds
// belongs to, (2^((k-1)/64), 2^(k/64)], and the spans/deltas decode back to the counts.
TEST(NativeHistogram, CopiesBucketsOneToOne) {
  Histogram h(kDurationLayout);
  const std::vector<uint64_t> values = {1'000'000'000, 1'000'000'001, 1'010'889'286, 1'010'889'287,
                                        5'000'000, 5'000'000, 250'000'000, 61'000'000'000};
  std::map<int32_t, uint64_t> expected;
  for (uint64_t v : values) {
    h.record(v);
    // The native index from the definition, in exact integer terms (v <= 2^(k/64) * 1e9).
    int32_t k = int32_t(std::ceil(64 * std::log2(double(v) / 1e9))) - 2;
    while (kDurationLayout.uppers[uint32_t(k - kDurationLayout.first_native + 1)] < v) ++k;
    ++expected[k];
  }
  const NativeHistogram n = to_native(h, 1e-9);
  EXPECT_EQ(n.schema, 6);
  EXPECT_EQ(n.count, values.size());
  EXPECT_EQ(n.zero_count, 0u);
  EXPECT_NEAR(n.sum, double(h.sum()) * 1e-9, 1e-9);
  std::map<int32_t, uint64_t> decoded;
  int32_t index = 0;
  int64_t count = 0;
  size_t d = 0;
  for (size_t s = 0; s < n.spans.size(); ++s) {
    index += n.spans[s].offset + (s == 0 ? 0 : 1);
    for (uint32_t j = 0; j < n.spans[s].length; ++j, ++index) {
      count += n.deltas[d++];
      decoded[index] = uint64_t(count);
    }
    --index;
  }
  EXPECT_EQ(d, n.deltas.size());
  EXPECT_EQ(decoded, expected);
  EXPECT_EQ(expected.at(0), 1u);  // exactly 1 s: bucket 0
  EXPECT_EQ(expected.at(1), 2u);  // 1 s + 1 ns, and the top of bucket 1
  EXPECT_EQ(expected.at(2), 1u);
}

TEST(NativeHistogram, ZeroSizesGoToTheZeroBucket) {
  Histogram h(kSizeLayout);
  h.record(0);
  h.record(0);
  h.record(1);
  h.record(1024);
  const NativeHistogram n = to_native(h, 1.0);
  EXPECT_EQ(n.zero_count, 2u);
  EXPECT_EQ(n.count, 4u);
  ASSERT_EQ(n.spans.size(), 2u);
  EXPECT_EQ(n.spans[0].offset, 0);  // 1 byte: native 0
  EXPECT_EQ(n.spans[0].length, 1u);
  EXPECT_EQ(n.spans[1].offset, 640 - 0 - 1);  // 1024 = 2^10: native 640
  EXPECT_EQ(n.deltas, (std::vector<int64_t>{1, 0}));
}

}  // namespace
}  // namespace sidemeter::metrics
