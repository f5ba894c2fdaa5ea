#include "metrics/derive.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <random>
#include <tuple>

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

// derive() as it was before it was tuned (a plain interval list, every check spelled
// out): the reference the tuned one must match on every input.
bool reference_span(uint64_t start, uint64_t end, uint64_t& out) {
  if (start == 0 || end == 0 || end < start) return false;
  out = end - start;
  return true;
}

Derived reference_derive(const PhaseTimes& t, bool upstream_reused) {
  Derived d;
  const uint64_t end =
      t.response_last_byte_written != 0 ? t.response_last_byte_written : t.exchange_ended;
  d.has_total = reference_span(t.request_first_byte, end, d.total);
  if (!upstream_reused) {
    d.has_upstream_connect =
        reference_span(t.upstream_connect_start, t.upstream_connect_done, d.upstream_connect);
    d.has_upstream_tls_handshake =
        reference_span(t.upstream_connect_done, t.upstream_tls_done, d.upstream_tls_handshake);
  }
  d.has_upstream_ttfb =
      reference_span(t.upstream_request_sent, t.upstream_first_byte, d.upstream_ttfb);
  d.has_upstream_total =
      reference_span(t.upstream_connect_start, t.upstream_response_done, d.upstream_total);
  if (d.has_total) {
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
    uint64_t upstream_end =
        t.upstream_response_done != 0 ? t.upstream_response_done : t.upstream_failed;
    if (upstream_end == 0 && t.response_last_byte_written == 0) upstream_end = t.exchange_ended;
    add(t.upstream_request_sent != 0 ? t.upstream_request_sent : t.upstream_connect_start,
        upstream_end);
    std::sort(iv, iv + n, [](const Interval& x, const Interval& y) { return x.a < y.a; });
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

void expect_same(const Derived& got, const Derived& want, const PhaseTimes& t, bool reused) {
  const auto fields = [](const Derived& d) {
    return std::make_tuple(d.has_total, d.has_total ? d.total : 0, d.has_upstream_connect,
                           d.has_upstream_connect ? d.upstream_connect : 0,
                           d.has_upstream_tls_handshake,
                           d.has_upstream_tls_handshake ? d.upstream_tls_handshake : 0,
                           d.has_upstream_ttfb, d.has_upstream_ttfb ? d.upstream_ttfb : 0,
                           d.has_upstream_total, d.has_upstream_total ? d.upstream_total : 0,
                           d.has_proxy_overhead, d.has_proxy_overhead ? d.proxy_overhead : 0);
  };
  ASSERT_EQ(fields(got), fields(want))
      << "reused " << reused << " times " << t.request_first_byte << ' '
      << t.request_headers_done << ' ' << t.request_body_done << ' '
      << t.upstream_connect_start << ' ' << t.upstream_connect_done << ' '
      << t.upstream_tls_done << ' ' << t.upstream_request_sent << ' '
      << t.upstream_first_byte << ' ' << t.upstream_response_done << ' ' << t.upstream_failed
      << ' ' << t.response_last_byte_written << ' ' << t.exchange_ended;
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
  t.response_last_byte_written = 0;  // neither written whole nor ended: a bare sample
  t.upstream_first_byte = 0;
  const Derived d = derive(t, false);
  EXPECT_FALSE(d.has_total);
  EXPECT_FALSE(d.has_proxy_overhead);
  EXPECT_FALSE(d.has_upstream_ttfb);
  EXPECT_TRUE(d.has_upstream_connect);
  EXPECT_FALSE(derive(PhaseTimes{}, false).has_total);
}

TEST(Derive, ACutShortExchangeLastsUntilItEnded) {
  // The client left at 700 while the response was streaming: the upstream was still
  // sending (no response_done), nothing was written whole.
  PhaseTimes t = full();
  t.upstream_response_done = 0;
  t.response_last_byte_written = 0;
  t.exchange_ended = 700;
  const Derived d = derive(t, false);
  ASSERT_TRUE(d.has_total);
  EXPECT_EQ(d.total, 600u);
  EXPECT_FALSE(d.has_upstream_total);  // the upstream never finished
  // The attempt still going waited until the end: [100,130] + [140,160] + [170,700]; only
  // 130-140 and 160-170 are the proxy's, as in a whole exchange (before: the whole tail).
  ASSERT_TRUE(d.has_proxy_overhead);
  EXPECT_EQ(d.proxy_overhead, 20u);
  // The upstream cut it mid-body at 450 and the exchange ended at 460: waited to 450.
  PhaseTimes u = full();
  u.upstream_response_done = 0;
  u.upstream_failed = 450;
  u.response_last_byte_written = 0;
  u.exchange_ended = 460;
  const Derived e = derive(u, false);
  EXPECT_EQ(e.total, 360u);
  EXPECT_EQ(e.proxy_overhead, 30u);  // 130-140, 160-170, 450-460
  // Written whole, the last byte is the end, whatever came after it.
  PhaseTimes w = full();
  w.exchange_ended = 900;
  EXPECT_EQ(derive(w, false).total, 420u);
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

// The same exchange over TLS: TCP connect 140..160, handshake 160..166, sent 170.
PhaseTimes full_tls() {
  PhaseTimes t = full();
  t.upstream_tls_done = 166;
  return t;
}

TEST(Derive, TlsHandshakeIsItsOwnPhase) {
  const Derived d = derive(full_tls(), false);
  ASSERT_TRUE(d.has_upstream_tls_handshake && d.has_upstream_connect);
  EXPECT_EQ(d.upstream_tls_handshake, 6u);
  EXPECT_EQ(d.upstream_connect, 20u);  // still the TCP connect alone
  EXPECT_EQ(d.upstream_ttfb, 230u);
  EXPECT_EQ(d.upstream_total, 360u);   // connect start .. response done: TLS included
  // Waiting: client [100,130], TCP [140,160], TLS [160,166], upstream [170,500]; the
  // handshake is not the proxy's overhead: 420 - (30 + 26 + 330) = 34 (40 plain, less 6).
  EXPECT_EQ(d.proxy_overhead, 34u);
  // Nothing counted twice: the phases before the request is sent add up to connect start
  // .. tls done, and overhead + waits = total.
  EXPECT_EQ(d.upstream_connect + d.upstream_tls_handshake, 166u - 140u);
}

TEST(Derive, PlainReusedOrFailedConnectionsHaveNoTlsPhase) {
  EXPECT_FALSE(derive(full(), false).has_upstream_tls_handshake);  // plain: tls_done 0
  PhaseTimes reused = full_tls();
  reused.upstream_connect_done = reused.upstream_connect_start;
  EXPECT_FALSE(derive(reused, true).has_upstream_tls_handshake);
  // The handshake failed: no tls_done, the attempt waited until it failed (and that wait
  // is the upstream's, not overhead).
  PhaseTimes failed = full();
  failed.upstream_request_sent = 0;
  failed.upstream_first_byte = 0;
  failed.upstream_response_done = 0;
  failed.upstream_failed = 180;
  failed.response_last_byte_written = 200;
  const Derived d = derive(failed, false);
  EXPECT_FALSE(d.has_upstream_tls_handshake);
  EXPECT_TRUE(d.has_upstream_connect);
  // Waiting: [100,130] and [140,180]; ours: 130-140 and 180-200.
  EXPECT_EQ(d.proxy_overhead, 30u);
  // Out of order (tls done before TCP connected): absent, not a huge unsigned value.
  PhaseTimes bogus = full_tls();
  bogus.upstream_tls_done = 150;
  EXPECT_FALSE(derive(bogus, false).has_upstream_tls_handshake);
}

TEST(Derive, TlsWaitOverlappingTheRequestBodyIsCountedOnce) {
  PhaseTimes t = full_tls();
  t.request_body_done = 165;  // the body still arrived during the handshake
  // Union [100,166] + [170,500] = 66 + 330 of 420.
  EXPECT_EQ(derive(t, false).proxy_overhead, 24u);
}

TEST(Derive, OutOfOrderTimestampsAreAbsent) {
  PhaseTimes t = full();
  t.upstream_first_byte = 150;  // before request sent: bogus
  EXPECT_FALSE(derive(t, false).has_upstream_ttfb);
}

// Every timestamp from a few values, 0 (never happened) included, so every order, tie and
// absence turns up: the tuned derive() must agree with the reference on each one.
TEST(Derive, MatchesTheReferenceOnEveryShape) {
  std::mt19937_64 rng(15);
  constexpr uint64_t kValues[] = {0, 100, 110, 120, 130, 140, 150, 160, 170};
  std::uniform_int_distribution<size_t> pick(0, std::size(kValues) - 1);
  for (int i = 0; i < 400'000; ++i) {
    PhaseTimes t;
    uint64_t* fields[] = {&t.request_first_byte,      &t.request_headers_done,
                          &t.request_body_done,       &t.upstream_connect_start,
                          &t.upstream_connect_done,   &t.upstream_tls_done,
                          &t.upstream_request_sent,   &t.upstream_first_byte,
                          &t.upstream_response_done,  &t.upstream_failed,
                          &t.response_last_byte_written, &t.exchange_ended};
    for (uint64_t* f : fields) *f = kValues[pick(rng)];
    const bool reused = (i & 1) != 0;
    expect_same(derive(t, reused), reference_derive(t, reused), t, reused);
    if (::testing::Test::HasFatalFailure()) return;
  }
  // And the proxy's usual shapes, in order, with large (real clock) values.
  for (int i = 0; i < 10'000; ++i) {
    const uint64_t t0 = 1'000'000'000'000ull + uint64_t(i) * 977;
    PhaseTimes t;
    t.request_first_byte = t0;
    t.request_headers_done = t.request_body_done = t0 + 2'000 + (i % 7) * 100;
    t.upstream_connect_start = t0 + 3'000;
    t.upstream_connect_done = t0 + 3'000 + (i % 3) * 500;
    t.upstream_request_sent = t0 + 4'500;
    t.upstream_first_byte = t0 + 40'000 + (i % 11) * 1'000;
    t.upstream_response_done = t.upstream_first_byte + (i % 5) * 300;
    t.response_last_byte_written = t.exchange_ended = t.upstream_response_done + 2'000;
    const bool reused = i % 3 == 0;
    expect_same(derive(t, reused), reference_derive(t, reused), t, reused);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace sidemeter::metrics
