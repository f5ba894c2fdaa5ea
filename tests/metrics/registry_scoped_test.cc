// Registry::scoped_window and Registry::slo_events: what the alert engine reads for
// route/method-scoped rules and for SLOs.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

#include "tests/metrics/local_sample.h"
#include "metrics/alerts/engine.h"
#include "metrics/clock.h"
#include "metrics/registry.h"

namespace sidemeter::metrics {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kMs = 1'000'000ull;

RegistryOptions no_process() {
  RegistryOptions o;
  o.process_stats = false;
  return o;
}

using test_samples::sample;

class RegistryScoped : public ::testing::Test {
 protected:
  FakeClock clock_{5 * kSec};
  Registry reg_{no_process(), clock_};
  Shard& shard_ = reg_.add_shard();

  void tick(uint64_t seconds = 1) {
    clock_.advance_ns(seconds * kSec);
    reg_.tick();
  }
  // /a GET: 4 requests (10, 20, 30, 40 ms), one 503; /a POST: 2 (100, 900 ms, 1000 B
  // bodies); /b GET: 3 (5 ms), one 500.
  void record_mix() {
    for (uint64_t ms : {10, 20, 30}) shard_.record(sample(200, ms * kMs, "/a", Method::kGet));
    shard_.record(sample(503, 40 * kMs, "/a", Method::kGet));
    shard_.record(sample(201, 100 * kMs, "/a", Method::kPost, 1000));
    shard_.record(sample(201, 900 * kMs, "/a", Method::kPost, 1000));
    for (int i = 0; i < 2; ++i) shard_.record(sample(200, 5 * kMs, "/b", Method::kGet));
    shard_.record(sample(500, 5 * kMs, "/b", Method::kGet));
  }
};

TEST_F(RegistryScoped, MergesEveryMatchingRouteAndMethod) {
  record_mix();
  tick();
  RouteWindowStats a = reg_.scoped_window("/a", std::nullopt, Window::k1m);
  EXPECT_DOUBLE_EQ(a.seconds, 1);
  EXPECT_EQ(a.requests, 6u);
  EXPECT_EQ(a.errors, 1u);
  EXPECT_DOUBLE_EQ(a.rps, 6);
  EXPECT_DOUBLE_EQ(a.error_rate, 1.0 / 6);
  EXPECT_EQ(a.request_body_bytes, 2000u);
  EXPECT_EQ(a.status_classes[1], 5u);  // 2xx
  EXPECT_EQ(a.latency.count, 6u);
  // Quantiles of the union (not of either part): the merged histogram, as a hand-built one.
  Histogram h(kDurationLayout);
  for (uint64_t ms : {10, 20, 30, 40, 100, 900}) h.record(ms * kMs);
  EXPECT_NEAR(a.latency.avg_ms, 1100.0 / 6, 1e-6);
  EXPECT_NEAR(a.latency.p50_ms, h.quantile(0.5) / 1e6, 1e-9);
  // p90 is the 900 ms sample: its bucket's midpoint lies above it, capped at the max.
  EXPECT_NEAR(a.latency.p90_ms, std::min(h.quantile(0.9) / 1e6, 900.0), 1e-9);
  EXPECT_NEAR(a.latency.max_ms, 900, 1e-9);

  RouteWindowStats get = reg_.scoped_window("", Method::kGet, Window::k1m);
  EXPECT_EQ(get.requests, 7u);
  EXPECT_EQ(get.errors, 2u);
  EXPECT_NEAR(get.latency.max_ms, 40, 1e-9);

  RouteWindowStats a_post = reg_.scoped_window("/a", Method::kPost, Window::k10s);
  EXPECT_EQ(a_post.requests, 2u);
  EXPECT_NEAR(a_post.latency.max_ms, 900, 1e-9);
  // A single key reads exactly like the snapshot's own per-route figures.
  const Snapshot snap = reg_.snapshot();
  for (const RouteStats& rs : snap.routes) {
    if (rs.route != "/a" || rs.method != Method::kPost) continue;
    const RouteWindowStats& s = rs.windows[size_t(Window::k10s)];
    EXPECT_EQ(s.requests, a_post.requests);
    EXPECT_DOUBLE_EQ(s.latency.p99_ms, a_post.latency.p99_ms);
    EXPECT_DOUBLE_EQ(s.latency.avg_ms, a_post.latency.avg_ms);
  }

  RouteWindowStats all = reg_.scoped_window("", std::nullopt, Window::k1s);
  EXPECT_EQ(all.requests, 9u);
  EXPECT_EQ(all.latency.count, 9u);
  EXPECT_NEAR(all.latency.max_ms, 900, 1e-9);

  RouteWindowStats none = reg_.scoped_window("/nope", std::nullopt, Window::k5m);
  EXPECT_EQ(none.requests, 0u);
  EXPECT_DOUBLE_EQ(none.seconds, 1);
  EXPECT_EQ(reg_.routes().find("/nope"), std::nullopt);  // looking did not register it
  EXPECT_EQ(reg_.scoped_window("/b", Method::kPost, Window::k1m).requests, 0u);
}

TEST_F(RegistryScoped, WindowsExpireAndTotalKeepsAll) {
  record_mix();
  tick();
  tick(10);  // the first slot leaves the 10 s window (and the 1 s one)
  shard_.record(sample(200, 7 * kMs, "/b", Method::kGet));
  tick();
  RouteWindowStats b10 = reg_.scoped_window("/b", std::nullopt, Window::k10s);
  EXPECT_DOUBLE_EQ(b10.seconds, 10);
  EXPECT_EQ(b10.requests, 1u);
  EXPECT_DOUBLE_EQ(b10.rps, 0.1);
  EXPECT_NEAR(b10.latency.max_ms, 7, 1e-9);
  EXPECT_EQ(reg_.scoped_window("/b", std::nullopt, Window::k1m).requests, 4u);
  RouteWindowStats total = reg_.scoped_window("", std::nullopt, Window::kTotal);
  EXPECT_EQ(total.requests, 10u);
  EXPECT_DOUBLE_EQ(total.seconds, 12);
  EXPECT_NEAR(total.latency.max_ms, 900, 1e-9);
  EXPECT_EQ(reg_.scoped_window("/a", std::nullopt, Window::k1s).requests, 0u);
}

TEST_F(RegistryScoped, SloEventsAvailability) {
  alerts::SloSpec slo;
  slo.kind = alerts::SloKind::kAvailability;
  EXPECT_EQ(reg_.slo_events(slo).total, 0u);
  record_mix();
  ExchangeSample failed = sample(0, 0, "/a", Method::kGet);
  failed.t.response_last_byte_written = 0;  // nothing sent: no latency
  failed.upstream_error = UpstreamError::kConnectRefused;
  shard_.record(failed);
  shard_.record(sample(404, kMs, "/a", Method::kGet));  // 4xx: not an error
  // Not read until a tick closes the second.
  EXPECT_EQ(reg_.slo_events(slo).total, 0u);
  tick();
  alerts::EventCounts c = reg_.slo_events(slo);
  EXPECT_EQ(c.total, 11u);
  EXPECT_EQ(c.good, 11u - 3u);  // 503, 500, the failed exchange
  slo.route = "/a";
  c = reg_.slo_events(slo);
  EXPECT_EQ(c.total, 8u);
  EXPECT_EQ(c.good, 6u);
  slo.method = Method::kPost;
  c = reg_.slo_events(slo);
  EXPECT_EQ(c.total, 2u);
  EXPECT_EQ(c.good, 2u);
  slo.route = "";
  slo.method = Method::kGet;
  c = reg_.slo_events(slo);
  EXPECT_EQ(c.total, 9u);
  EXPECT_EQ(c.good, 6u);
  slo.route = "/unknown";
  c = reg_.slo_events(slo);
  EXPECT_EQ(c.total, 0u);
  EXPECT_EQ(c.good, 0u);
  // Cumulative: later seconds add, windows do not forget.
  shard_.record(sample(200, kMs, "/b", Method::kGet));
  tick(400);
  slo = alerts::SloSpec{};
  c = reg_.slo_events(slo);
  EXPECT_EQ(c.total, 12u);
  EXPECT_EQ(c.good, 9u);
}

TEST_F(RegistryScoped, SloEventsLatencyNeverFlattered) {
  alerts::SloSpec slo;
  slo.kind = alerts::SloKind::kLatency;
  slo.latency_threshold_ms = 300;
  // 300 ms = 3e8 ns lies in native bucket -111, (2^(-112/64), 2^(-111/64)] s = integers
  // [297_301_779, 300_539_182] ns: the bucket's upper bound is above 300 ms, so 299 ms and
  // 300 ms count as bad (within one bucket width, 1.09 % of the threshold, below it). 290 ms
  // lies in the bucket ending at 290_931_214: good.
  const HistogramLayout& l = kDurationLayout;
  EXPECT_EQ(l.lower(l.index(300 * kMs)), 297'301'779u);
  EXPECT_EQ(l.upper(l.index(300 * kMs)), 300'539'182u);
  EXPECT_EQ(l.upper(l.index(290 * kMs)), 290'931'214u);
  EXPECT_EQ(l.upper(l.index(301 * kMs)), 303'811'839u);
  for (uint64_t ms : {100, 290, 299, 300, 301, 1000}) {
    shard_.record(sample(200, ms * kMs, "/a", Method::kGet));
  }
  ExchangeSample failed = sample(0, 0, "/a", Method::kGet);
  failed.t.response_last_byte_written = 0;
  failed.upstream_error = UpstreamError::kResetBeforeResponse;
  shard_.record(failed);  // no latency at all: bad
  shard_.record(sample(200, 50 * kMs, "/b", Method::kGet));
  tick();
  alerts::EventCounts c = reg_.slo_events(slo);
  EXPECT_EQ(c.total, 8u);
  EXPECT_EQ(c.good, 3u);  // 100, 290, the /b 50
  slo.route = "/a";
  c = reg_.slo_events(slo);
  EXPECT_EQ(c.total, 7u);
  EXPECT_EQ(c.good, 2u);
  // 302 ms: the bucket holding 299 and 300 ms now lies wholly under the threshold, 301 ms's
  // not yet; at 304 ms it does.
  slo.latency_threshold_ms = 302;
  EXPECT_EQ(reg_.slo_events(slo).good, 4u);
  slo.latency_threshold_ms = 304;
  EXPECT_EQ(reg_.slo_events(slo).good, 5u);
}

TEST_F(RegistryScoped, SloEventsLatencyCountsFastErrorsBad) {
  alerts::SloSpec slo;
  slo.kind = alerts::SloKind::kLatency;
  slo.latency_threshold_ms = 300;
  shard_.record(sample(200, 10 * kMs, "/a", Method::kGet));
  shard_.record(sample(502, 5 * kMs, "/a", Method::kGet));  // a fast failure: still bad
  shard_.record(sample(200, 20 * kMs, "/a", Method::kGet));
  tick();
  const alerts::EventCounts c = reg_.slo_events(slo);
  EXPECT_EQ(c.total, 3u);
  EXPECT_EQ(c.good, 2u);
}

TEST_F(RegistryScoped, FeedsARouteScopedRule) {
  // Built in place: GCC 12 at -O3 misreads a copied short std::string as uninitialized.
  std::vector<alerts::RuleSpec> rules(1);
  alerts::RuleSpec& r = rules[0];
  r.name = "SlowA";
  r.figure = alerts::FigureRef{alerts::Figure::kLatency, alerts::Stat::kMax,
                               UpstreamError::kNone};
  r.critical = alerts::Threshold{500, std::nullopt};
  r.route = "/a";
  r.window = alerts::RuleWindow::k10s;
  r.for_ms = 0;
  alerts::Engine engine(std::move(rules), {});
  record_mix();
  tick();
  const Snapshot snap = reg_.snapshot();
  alerts::Inputs in;
  in.snapshot = &snap;
  in.scoped = [&](std::string_view route, std::optional<Method> m, Window w) {
    return reg_.scoped_window(route, m, w);
  };
  auto t = engine.evaluate(in, clock_.now_ns(), 1);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, alerts::State::kFiring);
  EXPECT_NEAR(t[0].alert.value, 900, 1e-9);
}

}  // namespace
}  // namespace sidemeter::metrics
