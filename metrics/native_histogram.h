#pragma once
// A Histogram as a Prometheus native histogram (io.prometheus.client.Histogram's sparse
// fields) or, with the same numbers, an OTLP exponential histogram: schema s = OTel scale s.
// Bucket index i holds values in (2^((i-1)/2^s), 2^(i/2^s)] of the exposed unit (seconds,
// bytes); values at or below zero_threshold are counted in zero_count.
//
// Shapes only: this header knows no protobuf (proxy/stats encodes it). Pure function of the
// histogram, no allocation beyond the returned vectors.
#include <cstdint>
#include <vector>

#include "metrics/histogram.h"

namespace sidemeter::metrics {

// 64 buckets per power of two: the resolution /stats quantiles are computed at.
inline constexpr int32_t kNativeSchema = kHistogramSchema;

struct NativeBucketSpan {
  int32_t offset = 0;   // first span: index of its first bucket; later ones: gap after the previous
  uint32_t length = 0;  // consecutive buckets in this span
};

struct NativeHistogram {
  int32_t schema = kNativeSchema;
  double zero_threshold = 0;  // in the exposed unit
  uint64_t zero_count = 0;
  uint64_t count = 0;  // zero_count + every bucket
  double sum = 0;      // in the exposed unit
  std::vector<NativeBucketSpan> spans;  // positive buckets only (no negative values exist)
  std::vector<int64_t> deltas;          // each bucket's count minus the previous one's (first: minus 0)
};

// h's buckets as native buckets, a 1:1 copy (the layout is schema 6 of the exposed unit,
// histogram.h); `unit` scales the histogram's unit to the exposed one for the sum (1e-9 for
// a histogram of nanoseconds exposed in seconds, 1 for bytes): it must be h.layout().unit.
// For OTLP (ExponentialHistogramDataPoint, scale = schema): positive.offset = first span's
// offset - 1 (OTel bucket i covers (base^i, base^(i+1)], native bucket i (base^(i-1), base^i]),
// bucket_counts = the running sum of deltas, zero_count and zero_threshold as here.
NativeHistogram to_native(const Histogram& h, double unit);

}  // namespace sidemeter::metrics
