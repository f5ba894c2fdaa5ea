// The control thread's per-second metrics work (after_registry_tick) when nobody reads the
// stats port: alert rules are still judged every tick, on a snapshot of only what they
// read; the routes, series and /proc/self/fd listing wait for a reader, and the figures
// that reader gets are those a snapshot built at every tick would have shown.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "conf/config.h"
#include "proxy/control/alerting.h"
#include "proxy/control/metrics_tick.h"
#include "proxy/stats/json_format.h"
#include "proxy/stats/prometheus_format.h"
#include "proxy/stats/stats_server.h"
#include "tests/proxy/stats/loop_client.h"
#include "tests/proxy/stats/traffic.h"

namespace sidemeter {
namespace {

namespace al = metrics::alerts;
using testing::LoopClient;
using testing::SampleSpec;
using testing::TestRegistry;

constexpr uint64_t kNowUnixMs = 1'800'000'000'000;

// A stats server on its own loop over `traffic`, with the control loop's alerting.
class IdleCost {
 public:
  IdleCost(TestRegistry& traffic, const conf::Config& config)
      : traffic_(traffic), alerting_(config, traffic.registry) {
    EXPECT_EQ(uv_loop_init(&loop_), 0);
    stats::StatsOptions options;
    options.address = {"127.0.0.1", 0};
    server_ = std::make_unique<StatsServer>(&loop_, traffic.registry, options);
    std::string error;
    EXPECT_TRUE(server_->start(error)) << error;
    server_->set_listening(true);
    server_->set_upstream_reachable(true);
  }
  ~IdleCost() {
    client_.reset();
    server_->close();
    testing::drain_loop(&loop_);
    server_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // One second, as the control loop closes it.
  void tick() {
    traffic_.tick();
    after_registry_tick(traffic_.registry, alerting_, *server_, true, kNowUnixMs);
  }
  testing::HttpResponse get(std::string_view target) {
    if (!client_) client_ = std::make_unique<LoopClient>(&loop_, server_->port());
    return client_->get(target);
  }
  Alerting& alerting() { return alerting_; }

 private:
  TestRegistry& traffic_;
  Alerting alerting_;
  uv_loop_t loop_;
  std::unique_ptr<StatsServer> server_;
  std::unique_ptr<LoopClient> client_;
};

const al::AlertState* find_alert(const al::Status& s, std::string_view name,
                                 al::Severity severity) {
  for (const al::AlertState& a : s.alerts) {
    if (a.alertname == name && a.severity == severity) return &a;
  }
  return nullptr;
}

// The default configuration (built-in rules: latency, error rate, CPU, certificates).
TEST(IdleCost, DefaultRulesNeedNoRoutesNorFdListing) {
  const metrics::SnapshotParts p = Alerting::parts_for(al::default_rules());
  EXPECT_FALSE(p.routes);
  EXPECT_FALSE(p.histograms);
  EXPECT_FALSE(p.counters);
  EXPECT_FALSE(p.process.open_fds);
  EXPECT_FALSE(p.process.rest);
  EXPECT_TRUE(p.process.quota);  // CpuHigh: the share of the cgroup quota
  EXPECT_TRUE(p.certificates);   // TlsCertificateExpiringSoon
  EXPECT_EQ(p.windows, 1u << unsigned(metrics::Window::k1m));
}

TEST(IdleCost, TicksWithoutAReaderBuildNoStatsSnapshotAndListNoFds) {
  TestRegistry traffic(/*process_stats=*/true);  // the live /proc
  conf::Config config;
  IdleCost idle(traffic, config);
  for (int second = 0; second < 120; ++second) {
    // Every request an error: ErrorRateHigh (1m, 1 %, min 10 requests) must be judged
    // without anyone asking.
    traffic.record(SampleSpec{.path = "/a", .status = 500}, 20);
    idle.tick();
  }
  EXPECT_EQ(traffic.registry.ticks(), 120u);
  EXPECT_EQ(traffic.registry.route_snapshots(), 0u);
  EXPECT_EQ(traffic.registry.fd_listings(), 0u);
  const al::AlertState* a =
      find_alert(*idle.alerting().status(), "ErrorRateHigh", al::Severity::kCritical);
  ASSERT_NE(a, nullptr);
  EXPECT_NE(a->state, al::State::kOk);  // pending or firing: `for` runs on the real clock
  EXPECT_DOUBLE_EQ(a->value, 1.0);

  // A reader: one snapshot for the tick, shared by every endpoint until the next.
  testing::HttpResponse r = idle.get("/stats");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"/a\""), std::string::npos) << r.body;
  EXPECT_EQ(traffic.registry.route_snapshots(), 1u);
  EXPECT_EQ(traffic.registry.fd_listings(), 1u);
  r = idle.get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("process_open_fds "), std::string::npos);
  EXPECT_EQ(traffic.registry.route_snapshots(), 1u);
  EXPECT_EQ(traffic.registry.fd_listings(), 1u);

  // The reader gone: idle again.
  for (int second = 0; second < 10; ++second) idle.tick();
  EXPECT_EQ(traffic.registry.route_snapshots(), 1u);
  EXPECT_EQ(traffic.registry.fd_listings(), 1u);
}

TEST(IdleCost, AnOpenFdsRuleListsFdsEachTickButBuildsNoStatsSnapshot) {
  TestRegistry traffic(/*process_stats=*/true);
  conf::Config config;
  al::RuleSpec rule;
  rule.name = "FdsHigh";
  rule.figure = al::FigureRef{al::Figure::kOpenFds, al::Stat::kNone, metrics::UpstreamError::kNone};
  rule.warning = al::Threshold{1, std::nullopt};  // the test process has more than one
  rule.for_ms = 0;
  config.alerts.rules.push_back(rule);
  IdleCost idle(traffic, config);
  for (int second = 0; second < 5; ++second) idle.tick();
  EXPECT_EQ(traffic.registry.fd_listings(), 5u);
  EXPECT_EQ(traffic.registry.route_snapshots(), 0u);
  const al::AlertState* a =
      find_alert(*idle.alerting().status(), "FdsHigh", al::Severity::kWarning);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->state, al::State::kFiring);
  EXPECT_GT(a->value, 1.0);
}

// What a reader sees, in both formats, from a snapshot built only when it asks.
std::string served(metrics::Registry& registry) {
  const metrics::Snapshot snap = registry.snapshot();
  stats::JsonFilter filter;
  filter.windows = filter.route_windows = stats::kAllWindows;
  stats::JsonExtras extras;
  extras.now_unix_ms = kNowUnixMs;
  std::string out;
  stats::append_stats_json(snap, extras, filter, out);
  out += '\n';
  stats::append_exposition(snap, stats::ExpositionExtras{},
                           stats::ExpositionFormat::kPrometheusText, out);
  return out;
}

// The rolling windows (1s, 10s, 1m, 5m) and totals a late reader gets equal those of a
// registry snapshotted at every tick (the old control loop), before, during and after 10
// idle minutes, with history() too.
TEST(IdleCost, ALateReaderSeesTheSameWindowsAsOneSnapshottedEverySecond) {
  TestRegistry every_second, late;
  conf::Config config;
  IdleCost idle(late, config);
  auto second = [&](int s) {
    // Traffic for 400 s, 10 idle minutes, then 90 s more: varying counts, latencies,
    // routes, methods and errors, the same into both registries.
    const bool busy = s < 400 || s >= 1000;
    if (busy) {
      for (int i = 0; i < s % 7; ++i) {
        SampleSpec spec;
        spec.path = i % 3 == 0 ? "/a" : "/b";
        spec.method = i % 2 ? metrics::Method::kPost : metrics::Method::kGet;
        spec.status = s % 11 == 0 ? 503 : 200;
        spec.ttfb_ns = uint64_t(1 + (s * 37 + i * 11) % 500) * 100'000;
        spec.response_body = uint64_t(s * 13 + i);
        every_second.record(spec);
        late.record(spec);
      }
    }
    every_second.tick();
    (void)every_second.registry.snapshot();
    idle.tick();
  };
  int s = 0;
  for (int checkpoint : {200, 1000, 1090}) {
    for (; s < checkpoint; ++s) second(s);
    SCOPED_TRACE(checkpoint);
    EXPECT_EQ(served(late.registry), served(every_second.registry));
    std::string a, b;
    stats::append_history_json(late.registry.history(), a);
    stats::append_history_json(every_second.registry.history(), b);
    EXPECT_EQ(a, b);
  }
  EXPECT_EQ(late.registry.route_snapshots(), 3u);  // the three readers
  // Sanity: the figures compared were not all empty.
  const metrics::Snapshot snap = late.registry.snapshot();
  EXPECT_GT(snap.window(metrics::Window::k1m).requests, 0u);
  EXPECT_GT(snap.window(metrics::Window::kTotal).requests,
            snap.window(metrics::Window::k5m).requests);
}

}  // namespace
}  // namespace sidemeter
