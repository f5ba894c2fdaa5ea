#include "metrics/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace sidemeter::metrics {
namespace {

constexpr double kMaxRelError = 1.0 / 128;  // the bound proven in histogram.h

TEST(HistogramLayout, BucketsCoverValuesAndAreMonotonic) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = rng() >> (rng() % 64);
    const uint32_t idx = raw_bucket_index(v);
    ASSERT_LE(raw_bucket_lower(idx), v) << v;
    ASSERT_LT(v - raw_bucket_lower(idx), raw_bucket_width(idx)) << v;  // no overflow at 2^64
    if (v > 0) {
      ASSERT_LE(raw_bucket_index(v - 1), idx);
    }
  }
  for (uint64_t v = 0; v < 128; ++v) EXPECT_EQ(raw_bucket_index(v), v);  // small values exact
}

TEST(HistogramLayout, RangesAndSizes) {
  EXPECT_EQ(kDurationLayout.lower(0), 1000u);
  EXPECT_EQ(kDurationLayout.index(0), 0u);
  EXPECT_EQ(kDurationLayout.index(999), 0u);
  EXPECT_EQ(kDurationLayout.index(UINT64_MAX), kDurationLayout.num_buckets - 1);
  EXPECT_EQ(kDurationLayout.upper(kDurationLayout.num_buckets - 1), 3'600'000'000'000ull);
  EXPECT_LT(kDurationLayout.num_buckets, 2100u);  // ~16 KiB dense
  EXPECT_EQ(kSizeLayout.index(0), 0u);
  EXPECT_EQ(kSizeLayout.index(uint64_t{16} << 30), kSizeLayout.num_buckets - 1);
  EXPECT_LT(kSizeLayout.num_buckets, 1900u);
}

TEST(HistogramLayout, MidpointWithinBoundForEveryBucketEdge) {
  for (uint32_t i = 0; i < kDurationLayout.num_buckets; ++i) {
    const double mid = kDurationLayout.midpoint(i);
    for (uint64_t v : {kDurationLayout.lower(i), kDurationLayout.upper(i)}) {
      ASSERT_LE(std::abs(mid - double(v)) / double(v), kMaxRelError) << i;
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
  Histogram h(kSizeLayout);
  for (uint64_t v = 0; v < 100; ++v) h.record(v);
  EXPECT_EQ(h.quantile(0.5), 49.0);
  EXPECT_EQ(h.quantile(0.01), 0.0);
  EXPECT_EQ(h.quantile(1.0), 99.0);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_DOUBLE_EQ(h.mean(), 49.5);
}

TEST(HistogramQuantiles, OutOfRangeValuesClampAndCount) {
  Histogram h(kDurationLayout);
  h.record(10);                         // below 1 us
  h.record(10ull * 3600 * 1000000000);  // 10 h
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.bucket(0), 1u);
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

}  // namespace
}  // namespace sidemeter::metrics
