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
  // Cut short: the exchange took until it ended, as long as the client was kept waiting.
  const uint64_t end =
      t.response_last_byte_written != 0 ? t.response_last_byte_written : t.exchange_ended;
  d.has_total = span(t.request_first_byte, end, d.total);
  if (!upstream_reused) {
    d.has_upstream_connect =
        span(t.upstream_connect_start, t.upstream_connect_done, d.upstream_connect);
    d.has_upstream_tls_handshake =
        span(t.upstream_connect_done, t.upstream_tls_done, d.upstream_tls_handshake);
  }
  d.has_upstream_ttfb = span(t.upstream_request_sent, t.upstream_first_byte, d.upstream_ttfb);
  d.has_upstream_total = span(t.upstream_connect_start, t.upstream_response_done, d.upstream_total);

  if (d.has_total) {
    // Time spent waiting on someone else: receiving the request from the client, opening
    // the upstream connection (TCP, then TLS), and the upstream working on the request
    // (sent -> response complete). The intervals may overlap (a request body still
    // arriving while the connect runs): their union is counted, so nothing twice. Whatever the union of those leaves of the total is the proxy's own:
    // parsing and forwarding the request, forwarding the response, queueing in our loop.
    // (A missing request_sent, e.g. a failure before sending, falls back to connect start;
    // an attempt that failed waited until it failed, so that is its end; one still going
    // when the exchange was cut short waited until then.)
    const uint64_t lo = t.request_first_byte;
    const uint64_t hi = end;
    struct Interval {
      uint64_t a, b;
    };
    Interval iv[4];
    int n = 0;
    auto add = [&](uint64_t a, uint64_t b) {
      if (a == 0 || b == 0 || b < a) return;
      a = std::clamp(a, lo, hi);
      b = std::clamp(b, lo, hi);
      if (b > a) iv[n++] = {a, b};
    };
    add(lo, t.request_body_done);
    add(t.upstream_connect_start, t.upstream_connect_done);
    add(t.upstream_connect_done, t.upstream_tls_done);
    uint64_t upstream_end = t.upstream_response_done != 0 ? t.upstream_response_done
                                                          : t.upstream_failed;
    if (upstream_end == 0 && t.response_last_byte_written == 0) upstream_end = t.exchange_ended;
    add(t.upstream_request_sent != 0 ? t.upstream_request_sent : t.upstream_connect_start,
        upstream_end);
    for (int i = 1; i < n; ++i)  // insertion sort of at most four
      for (int j = i; j > 0 && iv[j].a < iv[j - 1].a; --j) std::swap(iv[j], iv[j - 1]);
    uint64_t waited = 0, cur_a = 0, cur_b = 0;
    bool open = false;
    for (int i = 0; i < n; ++i) {
      if (open && iv[i].a <= cur_b) {
        cur_b = std::max(cur_b, iv[i].b);
        continue;
      }
      if (open) waited += cur_b - cur_a;
      cur_a = iv[i].a;
      cur_b = iv[i].b;
      open = true;
    }
    if (open) waited += cur_b - cur_a;
    d.proxy_overhead = d.total > waited ? d.total - waited : 0;
    d.has_proxy_overhead = true;
  }
  return d;
}

}  // namespace sidemeter::metrics
