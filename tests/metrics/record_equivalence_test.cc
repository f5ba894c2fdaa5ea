// The shard records each exchange as cheaply as it can (the service-wide latency is not
// recorded at all: the registry sums the route series; the body byte totals are the size
// histograms' sums; the service histograms are dense). What comes out must be what a plain
// model of every figure gives for the same exchanges: this model records each exchange the
// obvious way (every histogram and counter on its own, as Shard::record did before it was
// tuned), and the registry's merged snapshot must match it exactly, bucket by bucket, after
// every tick, over many random exchanges on two workers.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "metrics/clock.h"
#include "metrics/derive.h"
#include "metrics/registry.h"

namespace sidemeter::metrics {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

struct RouteModel {
  RouteScalars scalars;
  Histogram latency{kDurationLayout};
  uint64_t max_since_tick = 0;
  std::map<std::pair<uint16_t, ErrorType>, Histogram> series;
};

// Every figure of the exchanges recorded, each kept on its own.
struct Model {
  Scalars scalars;
  std::array<uint64_t, kStatusCodes> codes{};
  std::vector<Histogram> durations =
      std::vector<Histogram>(kDurationMetrics, Histogram(kDurationLayout));
  std::vector<Histogram> sizes = std::vector<Histogram>(kSizeMetrics, Histogram(kSizeLayout));
  std::array<uint64_t, kDurationMetrics> dmax_since_tick{};
  std::array<uint64_t, kSizeMetrics> smax_since_tick{};
  std::map<std::pair<std::string, Method>, RouteModel> routes;

  void duration(DurationMetric m, uint64_t v) {
    durations[size_t(m)].record(v);
    dmax_since_tick[size_t(m)] = std::max(dmax_since_tick[size_t(m)], v);
  }
  void size(SizeMetric m, uint64_t v) {
    sizes[size_t(m)].record(v);
    smax_since_tick[size_t(m)] = std::max(smax_since_tick[size_t(m)], v);
  }

  void record(const ExchangeSample& s, const std::string& route) {
    const Derived d = derive(s.t, s.upstream_reused);
    const bool error = is_error(s);
    const bool rejected = s.downstream_error == DownstreamError::kRequestRejected;
    const bool has_status = s.status >= kMinStatus && s.status <= kMaxStatus;
    scalars.requests++;
    if (error) scalars.errors++;
    if (has_status) {
      scalars.status_classes[s.status / 100 - 1]++;
      codes[s.status - kMinStatus]++;
    }
    if (s.downstream_error != DownstreamError::kNone) {
      scalars.downstream_errors[size_t(s.downstream_error)]++;
    }
    scalars.request_head_bytes += s.request_head_bytes;
    scalars.request_body_bytes += s.request_body_bytes;
    scalars.response_head_bytes += s.response_head_bytes;
    scalars.response_body_bytes += s.response_body_bytes;
    size(SizeMetric::kRequestBody, s.request_body_bytes);
    size(SizeMetric::kResponseBody, s.response_body_bytes);
    if (d.has_total) duration(DurationMetric::kLatency, d.total);
    if (d.has_proxy_overhead) duration(DurationMetric::kProxyOverhead, d.proxy_overhead);
    if (!rejected && s.upstream_attempts > 0) {
      scalars.upstream_attempts += s.upstream_attempts;
      if (s.upstream_attempts > 1) scalars.upstream_retries += s.upstream_attempts - 1u;
      if (s.upstream_error != UpstreamError::kNone) {
        scalars.upstream_errors[size_t(s.upstream_error)]++;
      }
      if (d.has_upstream_connect) duration(DurationMetric::kUpstreamConnect, d.upstream_connect);
      if (d.has_upstream_tls_handshake) {
        duration(DurationMetric::kUpstreamTlsHandshake, d.upstream_tls_handshake);
      }
      if (d.has_upstream_ttfb) duration(DurationMetric::kUpstreamTtfb, d.upstream_ttfb);
      if (d.has_upstream_total) duration(DurationMetric::kUpstreamTotal, d.upstream_total);
    }
    RouteModel& r = routes[{route, std::min(s.method, Method::kOther)}];
    r.scalars.requests++;
    if (error) r.scalars.errors++;
    if (has_status) r.scalars.status_classes[s.status / 100 - 1]++;
    r.scalars.request_body_bytes += s.request_body_bytes;
    r.scalars.response_body_bytes += s.response_body_bytes;
    if (d.has_total) {
      r.latency.record(d.total);
      r.max_since_tick = std::max(r.max_since_tick, d.total);
      r.series[{has_status ? s.status : uint16_t(0), error_type(s)}].record(d.total);
    }
  }
};

// Paths under configured patterns, so each one's route is known without the admission
// rules; "" (refused before the target was read) is "other".
struct PathRoute {
  const char* path;
  const char* route;
};
constexpr PathRoute kPaths[] = {
    {"/a", "/a"}, {"/b/1", "/b/{id}"}, {"/b/22", "/b/{id}"}, {"/c/x/y", "/c/{*}"}, {"", "other"},
};

ExchangeSample random_sample(std::mt19937_64& rng, const PathRoute*& where) {
  auto pick = [&rng](uint64_t n) { return uint64_t(rng() % n); };
  // Durations over the whole range, below 1 us and above 1 h included (clamped).
  auto duration = [&]() -> uint64_t {
    switch (pick(4)) {
      case 0: return pick(2'000);
      case 1: return pick(10'000'000);
      case 2: return pick(5 * kSec);
      default: return pick(2 * 3'600 * kSec);
    }
  };
  auto bytes = [&]() -> uint64_t {
    switch (pick(4)) {
      case 0: return 0;
      case 1: return pick(200);
      case 2: return pick(1 << 20);
      default: return pick(uint64_t{40} << 30);  // beyond 16 GiB too (clamped)
    }
  };
  ExchangeSample s;
  where = &kPaths[pick(std::size(kPaths))];
  s.path = where->path;
  s.method = Method(pick(size_t(Method::kCount)));
  const uint64_t t0 = 1'000 * kSec + pick(1'000 * kSec);
  uint64_t t = t0;
  s.t.request_first_byte = t;
  s.t.request_headers_done = t += duration() / 16;
  s.t.request_body_done = pick(5) ? (t += duration() / 16) : 0;
  const int kind = int(pick(6));
  if (kind == 0) {
    // Refused by the proxy: a local 4xx, no upstream.
    s.downstream_error = DownstreamError::kRequestRejected;
    s.reject_reason = pick(2) ? "obs_fold" : nullptr;
    s.status = 400;
    s.local_response = true;
    s.t.response_last_byte_written = t += duration() / 16;
  } else {
    s.upstream_attempts = uint8_t(1 + pick(3));
    s.upstream_reused = pick(2);
    s.t.upstream_connect_start = t += duration() / 16;
    s.t.upstream_connect_done = s.upstream_reused ? t : (t += duration() / 16);
    if (!s.upstream_reused && pick(3) == 0) s.t.upstream_tls_done = t += duration() / 16;
    s.t.upstream_request_sent = t += duration() / 16;
    if (kind == 1) {
      // The upstream failed: a 502, or a cut-short response.
      // Two kinds, three codes (below): at most 12 (code, error type) pairs per route, all
      // under the cap of series of their own.
      s.upstream_error = pick(2) ? UpstreamError::kConnectRefused : UpstreamError::kResetMidResponse;
      s.t.upstream_failed = t += duration();
      s.status = pick(2) ? 502 : 0;
      if (s.status != 0) s.t.response_last_byte_written = t += duration() / 16;
    } else {
      s.t.upstream_first_byte = t += duration();
      s.t.upstream_response_done = t += duration() / 4;
      constexpr uint16_t kCodes[] = {200, 200, 304, 503};
      s.status = kCodes[pick(std::size(kCodes))];
      if (kind == 2) {
        s.downstream_error = DownstreamError::kClientAbortResponse;  // cut short
      } else {
        s.t.response_last_byte_written = t += duration() / 16;
      }
    }
  }
  s.t.exchange_ended = s.t.response_last_byte_written ? s.t.response_last_byte_written
                                                       : t + duration() / 16;
  if (pick(50) == 0) s.t.exchange_ended = 0;  // no latency at all (not in any histogram)
  s.request_head_bytes = 20 + pick(2'000);
  s.request_body_bytes = bytes();
  s.response_head_bytes = s.status ? 40 + pick(500) : 0;
  s.response_body_bytes = s.status ? bytes() : 0;
  return s;
}

// The largest value of a second as the registry reports it: the largest recorded, or the
// lowest value of the highest bucket that moved when that is more (a value below the range
// counts in its first bucket; registry.cc, diff_into).
uint64_t second_max(const HistogramLayout& layout, uint64_t max) {
  return std::max(max, layout.lower(layout.index(max)));
}

void expect_matches(Registry& reg, const Model& m) {
  const Snapshot s = reg.snapshot();
  const WindowStats& total = s.window(Window::kTotal);
  EXPECT_EQ(total.totals, m.scalars);
  EXPECT_EQ(total.requests, m.scalars.requests);
  EXPECT_EQ(total.errors, m.scalars.errors);
  std::vector<std::pair<uint16_t, uint64_t>> codes;
  for (size_t c = 0; c < kStatusCodes; ++c) {
    if (m.codes[c]) codes.emplace_back(uint16_t(c + kMinStatus), m.codes[c]);
  }
  EXPECT_EQ(total.status_codes, codes);
  ASSERT_EQ(s.duration_histograms.size(), kDurationMetrics);
  for (size_t d = 0; d < kDurationMetrics; ++d) {
    EXPECT_TRUE(s.duration_histograms[d] == m.durations[d]) << "duration metric " << d;
    EXPECT_EQ(s.duration_histograms[d].count(), m.durations[d].count()) << d;
    EXPECT_EQ(s.duration_histograms[d].sum(), m.durations[d].sum()) << d;
    // The newest second's maximum: the largest value recorded since the previous tick.
    const DurationSummary& last = s.window(Window::k1s).durations[d];
    EXPECT_DOUBLE_EQ(last.max_ms,
                     last.count ? double(second_max(kDurationLayout, m.dmax_since_tick[d])) / 1e6
                                : 0.0)
        << d;
    EXPECT_EQ(total.durations[d].count, m.durations[d].count()) << d;
  }
  for (size_t z = 0; z < kSizeMetrics; ++z) {
    EXPECT_TRUE(s.size_histograms[z] == m.sizes[z]) << "size metric " << z;
    const SizeSummary& last = s.window(Window::k1s).sizes[z];
    EXPECT_EQ(last.max, last.count ? second_max(kSizeLayout, m.smax_since_tick[z]) : 0u) << z;
    EXPECT_EQ(total.sizes[z].total, m.sizes[z].sum()) << z;
  }
  // Routes: their counts and latency, and every series at full resolution.
  size_t routes_seen = 0;
  for (const RouteStats& r : s.routes) {
    const auto it = m.routes.find({r.route, r.method});
    ASSERT_NE(it, m.routes.end()) << r.route << ' ' << method_name(r.method);
    ++routes_seen;
    const RouteWindowStats& w = r.windows[size_t(Window::kTotal)];
    const RouteScalars& want = it->second.scalars;
    EXPECT_EQ(w.requests, want.requests) << r.route;
    EXPECT_EQ(w.errors, want.errors) << r.route;
    EXPECT_EQ(w.status_classes, want.status_classes) << r.route;
    EXPECT_EQ(w.request_body_bytes, want.request_body_bytes) << r.route;
    EXPECT_EQ(w.response_body_bytes, want.response_body_bytes) << r.route;
    EXPECT_EQ(w.latency.count, it->second.latency.count()) << r.route;
    const DurationSummary want_latency = summarize_duration(it->second.latency, 0);
    EXPECT_DOUBLE_EQ(w.latency.p50_ms, want_latency.p50_ms) << r.route;
    EXPECT_DOUBLE_EQ(w.latency.p999_ms, want_latency.p999_ms) << r.route;
    EXPECT_DOUBLE_EQ(w.latency.avg_ms, want_latency.avg_ms) << r.route;
    const DurationSummary& last = r.windows[size_t(Window::k1s)].latency;
    EXPECT_DOUBLE_EQ(last.max_ms,
                     last.count ? double(second_max(kDurationLayout, it->second.max_since_tick)) / 1e6
                                : 0.0)
        << r.route;
  }
  size_t expected_routes = 0;
  for (const auto& [key, rm] : m.routes) expected_routes += rm.scalars.requests > 0;
  EXPECT_EQ(routes_seen, expected_routes);
  size_t series = 0;
  for (const DurationSeries& d : s.request_duration) {
    ASSERT_FALSE(d.code_other);  // the sample mix keeps every route under the cap
    const auto it = m.routes.find({d.route, d.method});
    ASSERT_NE(it, m.routes.end());
    const auto hit = it->second.series.find({d.code, d.error_type});
    ASSERT_NE(hit, it->second.series.end()) << d.route << ' ' << d.code;
    EXPECT_TRUE(d.histogram == hit->second) << d.route << ' ' << d.code;
    EXPECT_EQ(d.count, hit->second.count());
    ++series;
  }
  size_t expected_series = 0;
  for (const auto& [key, rm] : m.routes) expected_series += rm.series.size();
  EXPECT_EQ(series, expected_series);
}

TEST(RecordEquivalence, TheMergedSnapshotIsWhatEveryFigureRecordedOnItsOwnGives) {
  FakeClock clock(kSec);
  RegistryOptions o;
  o.process_stats = false;
  o.route_patterns = {"/a", "/b/{id}", "/c/{*}"};
  Registry reg(o, clock);
  Shard* workers[] = {&reg.add_shard(), &reg.add_shard()};
  Model model;
  std::mt19937_64 rng(16);
  for (int tick = 0; tick < 12; ++tick) {
    model.dmax_since_tick.fill(0);
    model.smax_since_tick.fill(0);
    for (auto& [key, r] : model.routes) r.max_since_tick = 0;
    const int n = tick == 3 ? 0 : 1 + int(rng() % 3'000);  // one second without exchanges
    for (int i = 0; i < n; ++i) {
      const PathRoute* where = nullptr;
      const ExchangeSample s = random_sample(rng, where);
      workers[rng() % 2]->record(s);
      model.record(s, where->route);
    }
    clock.advance_ns(kSec);
    reg.tick();
    expect_matches(reg, model);
    if (::testing::Test::HasFailure()) return;
  }
}

// A route evicted (its id given to another template) leaves the route figures, but its
// exchanges stay in the service-wide latency, which only grows: one worker replaced the
// old route's series (they were added to its retired ones), the other still holds them.
TEST(RecordEquivalence, EvictedRoutesStayInTheServiceLatency) {
  FakeClock clock(kSec);
  RegistryOptions o;
  o.process_stats = false;
  o.max_routes = 1;
  o.route_admission.min_idle_s = 2;
  Registry reg(o, clock);
  Shard& a = reg.add_shard();
  Shard& b = reg.add_shard();
  Histogram want(kDurationLayout);
  uint64_t previous_count = 0;
  const auto record = [&want](Shard& sh, const char* path, uint64_t latency) {
    ExchangeSample s;
    s.t.request_first_byte = 10 * kSec;
    s.t.request_headers_done = s.t.request_body_done = s.t.request_first_byte;
    s.t.response_last_byte_written = s.t.exchange_ended = s.t.request_first_byte + latency;
    s.path = path;
    s.method = Method::kGet;
    s.status = 200;  // proves the route: admitted at once
    s.local_response = true;
    sh.record(s);
    want.record(latency);
  };
  const auto tick_and_check = [&](uint64_t max_since_tick) {
    clock.advance_ns(kSec);
    reg.tick();
    const Snapshot s = reg.snapshot();
    const Histogram& got = s.duration_histograms[size_t(DurationMetric::kLatency)];
    EXPECT_TRUE(got == want);
    EXPECT_GE(got.count(), previous_count);
    previous_count = got.count();
    EXPECT_EQ(s.window(Window::kTotal).latency().count, want.count());
    const DurationSummary& last = s.window(Window::k1s).latency();
    EXPECT_DOUBLE_EQ(last.max_ms, last.count ? double(max_since_tick) / 1e6 : 0.0);
  };
  for (int i = 1; i <= 20; ++i) record(i % 2 ? a : b, "/first", uint64_t(i) * 1'000'000);
  tick_and_check(20'000'000);
  for (int i = 0; i < 3; ++i) tick_and_check(0);  // /first idle: evictable
  // /second takes /first's id; worker a replaces its RouteMethod (the old series retire),
  // worker b never records again and keeps the old one in its slot.
  record(a, "/second", 7'000'000);
  record(a, "/second", 3'000'000'000);
  tick_and_check(3'000'000'000);
  const Snapshot s = reg.snapshot();
  EXPECT_EQ(s.route_table.evictions, 1u);
  ASSERT_EQ(s.routes.size(), 1u);
  EXPECT_EQ(s.routes[0].route, "/second");
  EXPECT_EQ(s.routes[0].windows[size_t(Window::kTotal)].latency.count, 2u);
  EXPECT_EQ(want.count(), 22u);
  // Again, the other way round: /third evicts /second; now b replaces its stale slot.
  for (int i = 0; i < 3; ++i) tick_and_check(0);
  record(b, "/third", 5'000'000);
  tick_and_check(5'000'000);
  for (int i = 0; i < 3; ++i) tick_and_check(0);
  record(a, "/fourth", 9'000'000);
  tick_and_check(9'000'000);
  EXPECT_EQ(reg.snapshot().route_table.evictions, 3u);
  EXPECT_EQ(reg.inconsistent_reads(), 0u);
}

// The same while two workers record flat out and every new template evicts a route (a
// table of two routes, no idle time required): replacements race the readings, and the
// service-wide latency read at each tick must never go down, and must end at every
// exchange recorded, none lost and none counted twice.
TEST(RecordEquivalence, TheServiceLatencyNeverDropsWhileRoutesAreReplacedUnderLoad) {
  FakeClock clock(kSec);
  RegistryOptions o;
  o.process_stats = false;
  o.max_routes = 2;
  o.route_admission.min_idle_s = 0;
  Registry reg(o, clock);
  Shard* workers[] = {&reg.add_shard(), &reg.add_shard()};
  constexpr int kPerWorker = 100'000;
  std::atomic<int> running{2};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      const std::string paths[] = {"/p0", "/p1", "/p2", "/p3", "/p4", "/p5"};
      ExchangeSample s;
      s.method = Method::kGet;
      s.status = 200;  // proves the template: admitted (and evicting) at once
      s.local_response = true;
      for (int i = 0; i < kPerWorker; ++i) {
        s.t.request_first_byte = 10 * kSec;
        s.t.request_headers_done = s.t.request_body_done = s.t.request_first_byte;
        s.t.response_last_byte_written = s.t.request_first_byte + 1'000 + uint64_t(i % 5'000) * 997;
        s.t.exchange_ended = s.t.response_last_byte_written;
        s.path = paths[(i / 32 + w) % std::size(paths)];
        workers[w]->record(s);
      }
      running.fetch_sub(1);
    });
  }
  SnapshotParts parts = SnapshotParts::nothing();
  parts.histograms = true;
  uint64_t previous = 0;
  bool dropped = false;
  while (running.load() > 0) {
    clock.advance_ns(kSec);
    reg.tick();
    const uint64_t n = reg.snapshot(parts).duration_histograms[0].count();
    if (n < previous) dropped = true;
    previous = std::max(previous, n);
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(dropped);
  clock.advance_ns(kSec);
  reg.tick();
  const Snapshot s = reg.snapshot();
  EXPECT_EQ(s.duration_histograms[0].count(), 2u * kPerWorker);
  EXPECT_EQ(s.window(Window::kTotal).requests, 2u * kPerWorker);
  EXPECT_GT(s.route_table.evictions, 0u);
}

}  // namespace
}  // namespace sidemeter::metrics
