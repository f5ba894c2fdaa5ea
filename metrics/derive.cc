#include "metrics/derive.h"

#include <algorithm>

namespace sidemeter::metrics {
namespace {

// end - start when both happened in order; false otherwise.
bool span(uint64_t start, uint64_t end, uint64_t& out) {
  if (start == 0 || end == 0 || end < start) return false;
  out = end - start;
  return true;
}

}  // namespace

Derived derive(const PhaseTimes& t, bool upstream_reused) {
  Derived d;
  d.has_total = span(t.request_first_byte, t.response_last_byte_written, d.total);
  if (!upstream_reused) {
    d.has_upstream_connect =
        span(t.upstream_connect_start, t.upstream_connect_done, d.upstream_connect);
  }
  d.has_upstream_ttfb = span(t.upstream_request_sent, t.upstream_first_byte, d.upstream_ttfb);
  d.has_upstream_total = span(t.upstream_connect_start, t.upstream_response_done, d.upstream_total);

  if (d.has_total) {
    // Waiting intervals, clipped to the exchange, then the length of their union.
    const uint64_t lo = t.request_first_byte;
    const uint64_t hi = t.response_last_byte_written;
    uint64_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    bool has_a = t.request_body_done != 0 && t.request_body_done >= lo;
    if (has_a) {
      a0 = lo;
      a1 = std::min(t.request_body_done, hi);
    }
    bool has_b = t.upstream_connect_start != 0 && t.upstream_response_done != 0 &&
                 t.upstream_response_done >= t.upstream_connect_start;
    if (has_b) {
      b0 = std::clamp(t.upstream_connect_start, lo, hi);
      b1 = std::clamp(t.upstream_response_done, lo, hi);
    }
    uint64_t waited = 0;
    if (has_a && has_b) {
      const bool overlap = b0 <= a1 && a0 <= b1;
      waited = overlap ? std::max(a1, b1) - std::min(a0, b0) : (a1 - a0) + (b1 - b0);
    } else if (has_a) {
      waited = a1 - a0;
    } else if (has_b) {
      waited = b1 - b0;
    }
    d.proxy_overhead = d.total > waited ? d.total - waited : 0;
    d.has_proxy_overhead = true;
  }
  return d;
}

}  // namespace sidemeter::metrics
