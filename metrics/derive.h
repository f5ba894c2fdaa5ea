#pragma once
// Durations derived from one exchange's phase timestamps. Pure: no clock, no state.
#include <cstdint>

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

// upstream_reused: the connection came from the pool, so there was no connect to time.
Derived derive(const PhaseTimes& t, bool upstream_reused);

}  // namespace sidemeter::metrics
