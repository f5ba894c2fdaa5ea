// Registry::history(): one point per completed second, summarized when the slot closed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "metrics/clock.h"
#include "metrics/registry.h"
#include "metrics/windows.h"

namespace sidemeter::metrics {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kUs = 1'000ull;
constexpr uint64_t kMs = 1'000'000ull;

RegistryOptions no_process() {
  RegistryOptions o;
  o.process_stats = false;
  return o;
}

// latency = ttfb + 50 us of proxy work; bodies as given.
ExchangeSample sample(uint64_t ttfb_ns, uint64_t req_body = 0, uint64_t resp_body = 0,
                      uint16_t status = 200, UpstreamError ue = UpstreamError::kNone) {
  ExchangeSample s;
  const uint64_t t0 = 10 * kSec;
  s.t.request_first_byte = t0;
  s.t.request_headers_done = s.t.request_body_done = t0 + 10 * kUs;
  s.t.upstream_connect_start = s.t.upstream_connect_done = t0 + 20 * kUs;
  s.t.upstream_request_sent = t0 + 30 * kUs;
  s.t.upstream_first_byte = s.t.upstream_request_sent + ttfb_ns;
  s.t.upstream_response_done = s.t.upstream_first_byte + 10 * kUs;
  s.t.response_last_byte_written = s.t.upstream_response_done + 10 * kUs;
  s.method = Method::kGet;
  s.path = "/h";
  s.status = status;
  s.request_body_bytes = req_body;
  s.response_body_bytes = resp_body;
  s.upstream_reused = true;
  s.upstream_attempts = 1;
  s.upstream_error = ue;
  return s;
}

// The exact rank-ceil(q*n) sample, which histogram quantiles approximate within 1/128.
double exact_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t rank = std::max<size_t>(1, size_t(std::ceil(q * double(v.size()))));
  return v[rank - 1];
}

class HistoryTest : public ::testing::Test {
 protected:
  FakeClock clock_{3 * kSec};
  Registry reg_{no_process(), clock_};
  Shard& shard_ = reg_.add_shard();

  void tick(uint64_t seconds = 1) {
    clock_.advance_ns(seconds * kSec);
    reg_.tick();
  }
};

TEST_F(HistoryTest, EmptyBeforeTheFirstTick) {
  const History h = reg_.history();
  EXPECT_EQ(h.ticks, 0u);
  EXPECT_TRUE(h.points.empty());
}

TEST_F(HistoryTest, ExactCountsAndQuantilesPerSecond) {
  // Second k (1..5): 20*k requests with ttfb spread over 1..20*k ms, every 4th a 502 with an
  // upstream reset, bodies of known size.
  std::vector<std::vector<double>> latencies_ms(6), ttfbs_ms(6), resp_bodies(6);
  for (uint64_t k = 1; k <= 5; ++k) {
    for (uint64_t i = 1; i <= 20 * k; ++i) {
      const bool bad = i % 4 == 0;
      const uint64_t ttfb = i * kMs + i * 37 * kUs;
      const uint64_t resp = 100 * i + k;
      shard_.record(sample(ttfb, 10 * k, resp, bad ? 502 : 200,
                           bad ? UpstreamError::kResetMidResponse : UpstreamError::kNone));
      ttfbs_ms[k].push_back(double(ttfb) / kMs);
      latencies_ms[k].push_back(double(ttfb + 50 * kUs) / kMs);
      resp_bodies[k].push_back(double(resp));
    }
    tick();
  }
  const History h = reg_.history();
  EXPECT_EQ(h.ticks, 5u);
  ASSERT_EQ(h.points.size(), 5u);
  for (uint64_t k = 1; k <= 5; ++k) {
    const HistoryPoint& p = h.points[k - 1];
    SCOPED_TRACE("second " + std::to_string(k));
    EXPECT_EQ(p.seq, k);
    EXPECT_EQ(p.requests, 20 * k);
    EXPECT_EQ(p.errors, 5 * k);  // the 502s
    EXPECT_DOUBLE_EQ(p.error_rate, 0.25);
    EXPECT_EQ(p.upstream_errors, 5 * k);
    const DurationSummary& lat = p.latency();
    EXPECT_EQ(lat.count, 20 * k);
    for (auto [q, got] : {std::pair{0.5, lat.p50_ms}, {0.95, lat.p95_ms}, {0.99, lat.p99_ms}}) {
      const double want = exact_quantile(latencies_ms[k], q);
      EXPECT_NEAR(got, want, want * 0.01) << "latency q" << q;
    }
    EXPECT_DOUBLE_EQ(lat.max_ms, *std::max_element(latencies_ms[k].begin(), latencies_ms[k].end()));
    const DurationSummary& ttfb = p.durations[size_t(DurationMetric::kUpstreamTtfb)];
    EXPECT_EQ(ttfb.count, 20 * k);
    EXPECT_NEAR(ttfb.p50_ms, exact_quantile(ttfbs_ms[k], 0.5),
                exact_quantile(ttfbs_ms[k], 0.5) / 100);
    EXPECT_NEAR(ttfb.p99_ms, exact_quantile(ttfbs_ms[k], 0.99),
                exact_quantile(ttfbs_ms[k], 0.99) / 100);
    const DurationSummary& over = p.durations[size_t(DurationMetric::kProxyOverhead)];
    EXPECT_EQ(over.count, 20 * k);
    EXPECT_GT(over.p50_ms, 0.0);
    EXPECT_LT(over.p99_ms, 0.1);  // 50 us of proxy work, nowhere near the upstream's ms

    const SizeSummary& req = p.sizes[size_t(SizeMetric::kRequestBody)];
    EXPECT_DOUBLE_EQ(req.avg, double(10 * k));
    const SizeSummary& resp = p.sizes[size_t(SizeMetric::kResponseBody)];
    double sum = 0;
    for (double b : resp_bodies[k]) sum += b;
    EXPECT_DOUBLE_EQ(resp.avg, sum / double(20 * k));
    const double p95 = exact_quantile(resp_bodies[k], 0.95);
    EXPECT_NEAR(resp.p95, p95, p95 / 100);
    EXPECT_EQ(p.cpu_percent, -1);  // process stats off
    EXPECT_EQ(p.rss_bytes, -1);
  }
}

TEST_F(HistoryTest, NewestPointReadsLikeTheOneSecondWindow) {
  for (uint64_t k = 1; k <= 3; ++k) {
    for (uint64_t i = 1; i <= 50 * k; ++i) shard_.record(sample(i * 211 * kUs, i, i * i, 200));
    tick();
    const Snapshot s = reg_.snapshot();
    const History h = reg_.history();
    ASSERT_EQ(h.points.size(), k);
    const HistoryPoint& p = h.points.back();
    const WindowStats& w = s.window(Window::k1s);
    EXPECT_EQ(p.seq, s.ticks);
    EXPECT_EQ(p.requests, w.requests);
    for (size_t m = 0; m < kDurationMetrics; ++m) {
      const DurationSummary &a = p.durations[m], &b = w.durations[m];
      EXPECT_EQ(a.count, b.count) << m;
      EXPECT_DOUBLE_EQ(a.avg_ms, b.avg_ms) << m;
      EXPECT_DOUBLE_EQ(a.p50_ms, b.p50_ms) << m;
      EXPECT_DOUBLE_EQ(a.p95_ms, b.p95_ms) << m;
      EXPECT_DOUBLE_EQ(a.p99_ms, b.p99_ms) << m;
      EXPECT_DOUBLE_EQ(a.max_ms, b.max_ms) << m;
    }
    for (size_t m = 0; m < kSizeMetrics; ++m) {
      EXPECT_DOUBLE_EQ(p.sizes[m].avg, w.sizes[m].avg) << m;
      EXPECT_DOUBLE_EQ(p.sizes[m].p95, w.sizes[m].p95) << m;
      EXPECT_EQ(p.sizes[m].max, w.sizes[m].max) << m;
    }
  }
}

TEST_F(HistoryTest, KeepsTheLast300SecondsWithoutHoles) {
  for (uint64_t sec = 1; sec <= 310; ++sec) {
    for (uint64_t i = 0; i < sec % 7; ++i) shard_.record(sample(2 * kMs));
    tick();
  }
  History h = reg_.history();
  EXPECT_EQ(h.ticks, 310u);
  ASSERT_EQ(h.points.size(), 300u);
  for (size_t i = 0; i < h.points.size(); ++i) {
    const uint64_t seq = 11 + i;
    ASSERT_EQ(h.points[i].seq, seq);
    EXPECT_EQ(h.points[i].requests, seq % 7) << seq;
  }

  // Five seconds nobody ticked: four empty points, then the second that was ticked.
  for (int i = 0; i < 9; ++i) shard_.record(sample(2 * kMs));
  tick(5);
  h = reg_.history();
  ASSERT_EQ(h.points.size(), 300u);
  EXPECT_EQ(h.points.back().seq, 315u);
  EXPECT_EQ(h.points.back().requests, 9u);
  for (uint64_t seq = 311; seq <= 314; ++seq) {
    const HistoryPoint& p = h.points[seq - 16];
    EXPECT_EQ(p.seq, seq);
    EXPECT_EQ(p.requests, 0u);
    EXPECT_EQ(p.latency().count, 0u);
  }

  // A jump past the whole ring: every older second is gone, no stale point survives.
  shard_.record(sample(2 * kMs));
  tick(1000);
  h = reg_.history();
  ASSERT_EQ(h.points.size(), 300u);
  EXPECT_EQ(h.points.front().seq, 1016u);
  EXPECT_EQ(h.points.back().seq, 1315u);
  for (size_t i = 0; i + 1 < h.points.size(); ++i) {
    EXPECT_EQ(h.points[i].seq, 1016 + i);
    EXPECT_EQ(h.points[i].requests, 0u) << h.points[i].seq;
  }
  EXPECT_EQ(h.points.back().requests, 1u);
}

TEST(HistoryClamp, ASecondNeverReadsAnErrorRateAboveOne) {
  // A slot is the difference of two readings; should a reading ever split a record
  // (seqlock.h gave up on a preempted worker), the rate shown still stays within [0, 1].
  Slot s;
  s.seq = 1;
  s.scalars.requests = 2;
  s.scalars.errors = 3;
  HistoryPoint p;
  summarize_slot(s, p);
  EXPECT_EQ(p.error_rate, 1.0);
  s.scalars.requests = 0;
  summarize_slot(s, p);
  EXPECT_EQ(p.error_rate, 0.0);
}

TEST(SparseQuantiles, MatchDenseHistogramQuantiles) {
  Histogram dense(kDurationLayout), prev(kDurationLayout);
  SparseHistogram sparse;
  for (uint64_t i = 1; i <= 1000; ++i) dense.record(i * i * 997 + 1000);
  // The sparse form the registry builds: buckets that moved, ascending.
  for (uint32_t b = 0; b < kDurationLayout.num_buckets; ++b) {
    if (dense.bucket(b)) sparse.entries.push_back({b, dense.bucket(b)});
  }
  sparse.count = dense.count();
  sparse.sum = dense.sum();
  sparse.max = dense.max();
  const std::array<double, 6> qs = {0.0, 0.25, 0.5, 0.9, 0.999, 1.0};
  std::array<double, 6> a{}, b{};
  sparse_quantiles(sparse, kDurationLayout, qs, a);
  dense.quantiles(qs, b);
  for (size_t i = 0; i < qs.size(); ++i) EXPECT_DOUBLE_EQ(a[i], b[i]) << qs[i];
  SparseHistogram empty;
  sparse_quantiles(empty, kDurationLayout, qs, a);
  for (double v : a) EXPECT_EQ(v, 0.0);
}

// /proc fixture: only the stat file, with CPU ticks and RSS pages the test chooses.
class ProcRoot {
 public:
  ProcRoot() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "sidemeter-history-XXXXXX").string();
    root_ = mkdtemp(tmpl.data());
    std::filesystem::create_directories(root_ / "proc/self");
  }
  ~ProcRoot() { std::filesystem::remove_all(root_); }
  void write_stat(uint64_t utime, uint64_t rss_pages) {
    std::ofstream(root_ / "proc/self/stat")
        << "77 (sidemeter) S 1 77 77 0 -1 4194560 100 0 0 0 " << utime
        << " 0 0 0 20 0 3 0 5000 123456789 " << rss_pages << " 18446744073709551615\n";
  }
  std::string path() const { return root_.string(); }

 private:
  std::filesystem::path root_;
};

TEST(HistoryProcess, CpuAndRssPerSecondFromTheTicks) {
  ProcRoot root;
  const uint64_t tck = uint64_t(sysconf(_SC_CLK_TCK));
  const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  root.write_stat(0, 100);
  FakeClock clock(kSec);
  RegistryOptions o;
  o.proc_root = root.path();
  Registry reg(o, clock);
  // Second k uses k/4 of a core (k = 1..4) and has 100 * k pages resident.
  uint64_t used = 0;
  for (uint64_t k = 1; k <= 4; ++k) {
    used += tck * k / 4;
    root.write_stat(used, 100 * k);
    clock.advance_ns(kSec);
    reg.tick();
    if (k == 2) reg.snapshot();  // a reader changes nothing in the history
  }
  // Two seconds in one tick: the point averages the CPU over both.
  used += tck;
  root.write_stat(used, 500);
  clock.advance_ns(2 * kSec);
  reg.tick();

  const History h = reg.history();
  ASSERT_EQ(h.points.size(), 6u);
  for (uint64_t k = 1; k <= 4; ++k) {
    EXPECT_NEAR(h.points[k - 1].cpu_percent, 100.0 * double(tck * k / 4) / double(tck), 1e-6);
  }
  for (uint64_t k = 1; k <= 4; ++k) EXPECT_EQ(h.points[k - 1].rss_bytes, int64_t(100 * k * page));
  EXPECT_EQ(h.points[4].cpu_percent, -1);  // no tick closed it
  EXPECT_EQ(h.points[4].rss_bytes, -1);
  EXPECT_NEAR(h.points[5].cpu_percent, 50.0, 1e-6);
  EXPECT_EQ(h.points[5].rss_bytes, int64_t(500 * page));
  // Read when the tick closed the second, not when a reader came.
  root.write_stat(used, 600);
  reg.snapshot();
  EXPECT_EQ(reg.history().points.back().rss_bytes, int64_t(500 * page));
}

}  // namespace
}  // namespace sidemeter::metrics
