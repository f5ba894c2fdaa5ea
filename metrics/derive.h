#pragma once
// Durations derived from one exchange's phase timestamps. Pure: no clock, no state.
#include <algorithm>
#include <cstdint>
#include <utility>

#include "metrics/exchange_sample.h"

namespace sidemeter::metrics {

// A phase whose bounding timestamps are missing (0) or out of order is absent, and absent
// phases are not recorded in their histogram (a 0 would drag the low quantiles down).
struct Derived {
  // All in nanoseconds; valid only when the matching has_* flag is set.
  // response_last_byte_written - request_first_byte, or exchange_ended -
  // request_first_byte when the response was cut short (see exchange_sample.h).
  uint64_t total = 0;
  uint64_t upstream_connect = 0;  // connect_done - connect_start, fresh connections only
                                  // (the TCP connect: TLS is the next phase)
  // upstream_tls_done - upstream_connect_done, fresh TLS connections only.
  uint64_t upstream_tls_handshake = 0;
  uint64_t upstream_ttfb = 0;     // upstream_first_byte - upstream_request_sent
  uint64_t upstream_total = 0;    // upstream_response_done - upstream_connect_start
  // total minus the time spent waiting on the client (request read) or on the upstream
  // (connect, TLS handshake, request sent .. response done): what the proxy itself added.
  // Clamped at 0. (The handshake counts as waiting: its CPU share on our side is not
  // separable from the round trips, and the upstream's own figures would not hold it.)
  uint64_t proxy_overhead = 0;
  bool has_total = false;
  bool has_upstream_connect = false;
  bool has_upstream_tls_handshake = false;
  bool has_upstream_ttfb = false;
  bool has_upstream_total = false;
  bool has_proxy_overhead = false;
};

namespace derive_detail {

// end - start when both happened in order (neither is 0, end >= start); false otherwise.
// Unsigned: start - 1 wraps for start == 0, and end >= start != 0 makes end != 0.
inline bool span(uint64_t start, uint64_t end, uint64_t& out) {
  if (start - 1 >= end) return false;
  out = end - start;
  return true;
}

// Nanoseconds of [lo, hi] spent waiting on someone else: the union of the waits below,
// each clamped into [lo, hi] (lo > 0).
inline uint64_t waited(const PhaseTimes& t, uint64_t lo, uint64_t hi) {
  struct Interval {
    uint64_t a, b;
  };
  Interval iv[4];
  int n = 0;
  // A wait that never started (a == 0) is none. Otherwise clamped into [lo, hi]; one
  // that never ended (b == 0) or ended before it started is then empty too (b <= a).
  auto add = [&](uint64_t a, uint64_t b) {
    if (a == 0) return;
    a = a < lo ? lo : a;
    b = b > hi ? hi : b;
    if (a < b) iv[n++] = {a, b};
  };
  // Receiving the request from the client, opening the upstream connection (TCP, then
  // TLS), and the upstream working on the request (sent -> response complete). A missing
  // request_sent (a failure before sending) falls back to connect start; an attempt that
  // failed waited until it failed; one still going when the exchange was cut short
  // waited until then.
  add(lo, t.request_body_done);
  add(t.upstream_connect_start, t.upstream_connect_done);
  add(t.upstream_connect_done, t.upstream_tls_done);
  uint64_t upstream_end =
      t.upstream_response_done != 0 ? t.upstream_response_done : t.upstream_failed;
  if (upstream_end == 0 && t.response_last_byte_written == 0) upstream_end = t.exchange_ended;
  add(t.upstream_request_sent != 0 ? t.upstream_request_sent : t.upstream_connect_start,
      upstream_end);
  // The waits may overlap (a request body still arriving while the connect runs): their
  // union counts, so nothing twice. Usually already in order: the sort then only compares.
  for (int i = 1; i < n; ++i)
    for (int j = i; j > 0 && iv[j].a < iv[j - 1].a; --j) std::swap(iv[j], iv[j - 1]);
  uint64_t sum = 0;
  if (n > 0) {
    uint64_t cur_a = iv[0].a, cur_b = iv[0].b;
    for (int i = 1; i < n; ++i) {
      if (iv[i].a <= cur_b) {
        cur_b = std::max(cur_b, iv[i].b);
      } else {
        sum += cur_b - cur_a;
        cur_a = iv[i].a;
        cur_b = iv[i].b;
      }
    }
    sum += cur_b - cur_a;
  }
  return sum;
}

}  // namespace derive_detail

// upstream_reused: the connection came from the pool, so there was no connect to time.
// Inline: the shard calls it once per exchange (its cost is part of the cost of measuring).
inline Derived derive(const PhaseTimes& t, bool upstream_reused) {
  using derive_detail::span;
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
    // Whatever the waits leave of the total is the proxy's own: parsing and forwarding
    // the request, forwarding the response, queueing in our loop. (The TLS handshake
    // counts as waiting: its CPU share on our side is not separable from the round trips,
    // and the upstream's own figures would not hold it.)
    const uint64_t w = derive_detail::waited(t, t.request_first_byte, end);
    d.proxy_overhead = d.total > w ? d.total - w : 0;
    d.has_proxy_overhead = true;
  }
  return d;
}

}  // namespace sidemeter::metrics
