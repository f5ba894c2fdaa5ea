#include "metrics/derive.h"

#include <gtest/gtest.h>

namespace sidemeter::metrics {
namespace {

// A proxied exchange, times in ns from an arbitrary origin:
// request 100..130, connect 140..160, sent 170, first byte 400, upstream done 500, written 520.
PhaseTimes full() {
  PhaseTimes t;
  t.request_first_byte = 100;
  t.request_headers_done = 120;
  t.request_body_done = 130;
  t.upstream_connect_start = 140;
  t.upstream_connect_done = 160;
  t.upstream_request_sent = 170;
  t.upstream_first_byte = 400;
  t.upstream_response_done = 500;
  t.response_last_byte_written = 520;
  return t;
}

TEST(Derive, FullExchange) {
  const Derived d = derive(full(), false);
  ASSERT_TRUE(d.has_total && d.has_upstream_connect && d.has_upstream_ttfb &&
              d.has_upstream_total && d.has_proxy_overhead);
  EXPECT_EQ(d.total, 420u);
  EXPECT_EQ(d.upstream_connect, 20u);
  EXPECT_EQ(d.upstream_ttfb, 230u);
  EXPECT_EQ(d.upstream_total, 360u);
  // Waiting: client [100,130], connect [140,160], upstream [170,500] = 30 + 20 + 330;
  // the proxy's own: 130-140 (request head), 160-170 (send), 500-520 (response).
  EXPECT_EQ(d.proxy_overhead, 40u);
}

TEST(Derive, AFailedAttemptWaitedUntilItFailed) {
  // The upstream closed after 330 ns without a response (closed_early); a 502 went out.
  PhaseTimes t = full();
  t.upstream_first_byte = 0;
  t.upstream_response_done = 0;
  t.upstream_failed = 500;
  const Derived d = derive(t, false);
  ASSERT_TRUE(d.has_proxy_overhead);
  EXPECT_FALSE(d.has_upstream_total);  // no response: no upstream duration
  // The same waits as a full exchange: the wait on the upstream is not the proxy's.
  EXPECT_EQ(d.proxy_overhead, 40u);
}

TEST(Derive, ReusedConnectionHasNoConnectTime) {
  PhaseTimes t = full();
  t.upstream_connect_done = t.upstream_connect_start;
  const Derived d = derive(t, true);
  EXPECT_FALSE(d.has_upstream_connect);
  EXPECT_TRUE(d.has_upstream_total);
}

TEST(Derive, OverlappingWaitsAreCountedOnce) {
  // Upstream streaming starts while the request body is still arriving.
  PhaseTimes t = full();
  t.request_body_done = 450;
  const Derived d = derive(t, false);
  // Union [100, 500] = 400 of 420.
  EXPECT_EQ(d.proxy_overhead, 20u);
}

TEST(Derive, LocalResponseWithoutUpstream) {
  PhaseTimes t;
  t.request_first_byte = 1000;
  t.request_headers_done = 1010;
  t.request_body_done = 1010;
  t.response_last_byte_written = 1050;
  const Derived d = derive(t, false);
  EXPECT_TRUE(d.has_total);
  EXPECT_EQ(d.total, 50u);
  EXPECT_FALSE(d.has_upstream_connect || d.has_upstream_ttfb || d.has_upstream_total);
  EXPECT_EQ(d.proxy_overhead, 40u);
}

TEST(Derive, MissingTimestampsAreNotRecorded) {
  PhaseTimes t = full();
  t.response_last_byte_written = 0;  // client went away
  t.upstream_first_byte = 0;
  const Derived d = derive(t, false);
  EXPECT_FALSE(d.has_total);
  EXPECT_FALSE(d.has_proxy_overhead);
  EXPECT_FALSE(d.has_upstream_ttfb);
  EXPECT_TRUE(d.has_upstream_connect);
  EXPECT_FALSE(derive(PhaseTimes{}, false).has_total);
}

TEST(Derive, OverheadClampsAtZeroAndWaitsClipToTheExchange) {
  PhaseTimes t = full();
  t.upstream_response_done = 600;  // reported after the last write: clipped to 520
  const Derived d = derive(t, false);
  EXPECT_EQ(d.proxy_overhead, 20u);  // 420 - ([100,130] + [140,160] + [170,520])
  PhaseTimes u = full();
  u.upstream_connect_start = 100;
  u.upstream_response_done = 520;
  // [100,160] + [170,520]: only the send gap 160-170 is ours.
  EXPECT_EQ(derive(u, false).proxy_overhead, 10u);
  PhaseTimes v = full();
  v.upstream_request_sent = 0;  // never sent: the upstream wait starts at connect
  v.upstream_connect_start = 100;
  v.upstream_response_done = 520;
  EXPECT_EQ(derive(v, false).proxy_overhead, 0u);
}

TEST(Derive, OutOfOrderTimestampsAreAbsent) {
  PhaseTimes t = full();
  t.upstream_first_byte = 150;  // before request sent: bogus
  EXPECT_FALSE(derive(t, false).has_upstream_ttfb);
}

}  // namespace
}  // namespace sidemeter::metrics
