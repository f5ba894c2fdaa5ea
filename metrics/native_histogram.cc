#include "metrics/native_histogram.h"

#include <cmath>
#include <map>

namespace sidemeter::metrics {

// PLACEHOLDER until the internal layout is exponential (issue 13): each log-linear bucket
// is mapped to the native bucket that holds its midpoint, which is lossy. The exponential
// layout replaces this with a 1:1 copy.
NativeHistogram to_native(const Histogram& h, double unit) {
  NativeHistogram out;
  out.count = h.count();
  out.sum = double(h.sum()) * unit;
  std::map<int32_t, uint64_t> by_index;
  const auto buckets = h.buckets();
  for (uint32_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] == 0) continue;
    const double v = h.layout().midpoint(i) * unit;
    if (v <= 0) {
      out.zero_count += buckets[i];
      continue;
    }
    const auto idx = int32_t(std::ceil(std::log2(v) * double(1 << kNativeSchema)));
    by_index[idx] += buckets[i];
  }
  int64_t prev_count = 0;
  int32_t prev_index = 0;
  for (const auto& [idx, n] : by_index) {
    if (out.spans.empty()) {
      out.spans.push_back({idx, 1});
    } else if (idx == prev_index + 1) {
      ++out.spans.back().length;
    } else {
      out.spans.push_back({idx - prev_index - 1, 1});
    }
    out.deltas.push_back(int64_t(n) - prev_count);
    prev_count = int64_t(n);
    prev_index = idx;
  }
  return out;
}

}  // namespace sidemeter::metrics
