#include "metrics/native_histogram.h"

namespace sidemeter::metrics {

// The layout is schema 6 already (histogram.h): bucket i >= 1 is native bucket
// layout.native_index(i), bucket 0 the zero bucket. A 1:1 copy of the non-empty buckets.
NativeHistogram to_native(const Histogram& h, double unit) {
  NativeHistogram out;
  out.count = h.count();
  out.sum = double(h.sum()) * unit;
  const HistogramLayout& layout = h.layout();
  out.zero_count = h.bucket(0);
  const auto buckets = h.stored_buckets();
  int64_t prev_count = 0;
  int32_t prev_index = 0;
  for (uint32_t j = 0; j < buckets.size(); ++j) {
    const uint32_t i = h.first_bucket() + j;
    if (buckets[j] == 0 || i == 0) continue;
    const int32_t idx = layout.native_index(i);
    if (out.spans.empty()) {
      out.spans.push_back({idx, 1});
    } else if (idx == prev_index + 1) {
      ++out.spans.back().length;
    } else {
      out.spans.push_back({idx - prev_index - 1, 1});
    }
    out.deltas.push_back(int64_t(buckets[j]) - prev_count);
    prev_count = int64_t(buckets[j]);
    prev_index = idx;
  }
  return out;
}

}  // namespace sidemeter::metrics
