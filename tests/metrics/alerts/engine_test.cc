#include "metrics/alerts/engine.h"
#include "metrics/alerts/figures.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace sidemeter::metrics::alerts {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kUnix0 = 1'700'000'000'000ull;

uint64_t ns(double s) { return 3 * kSec + uint64_t(s * 1e9); }
uint64_t unix_ms(double s) { return kUnix0 + uint64_t(s * 1e3); }

FigureRef figure(Figure f, Stat s = Stat::kNone) { return FigureRef{f, s, UpstreamError::kNone}; }

RuleSpec rule(std::string name, FigureRef f, std::optional<double> warning,
              std::optional<double> critical) {
  RuleSpec r;
  r.name = std::move(name);
  r.figure = f;
  if (warning) r.warning = Threshold{*warning, std::nullopt};
  if (critical) r.critical = Threshold{*critical, std::nullopt};
  return r;
}

// A snapshot whose 1m (and 10s, 5m) window is set by hand.
struct FakeWindow {
  Snapshot snap;
  FakeWindow() {
    for (WindowStats& w : snap.windows) w.seconds = 0;
    set_seconds(60);
  }
  WindowStats& w(Window win = Window::k1m) { return snap.windows[size_t(win)]; }
  void set_seconds(double s) {
    w(Window::k10s).seconds = std::min(s, 10.0);
    w(Window::k1m).seconds = std::min(s, 60.0);
    w(Window::k5m).seconds = std::min(s, 300.0);
  }
  void traffic(uint64_t requests, uint64_t errors, double avg_ms, Window win = Window::k1m) {
    WindowStats& x = w(win);
    x.requests = requests;
    x.errors = errors;
    x.rps = x.seconds > 0 ? double(requests) / x.seconds : 0;
    x.error_rate = requests ? double(errors) / double(requests) : 0;
    DurationSummary& d = x.durations[size_t(DurationMetric::kLatency)];
    d.count = requests;
    d.avg_ms = avg_ms;
    d.p50_ms = d.p90_ms = d.p95_ms = d.p99_ms = d.max_ms = avg_ms;
  }
  Inputs inputs() const {
    Inputs in;
    in.snapshot = &snap;
    return in;
  }
};

const AlertState* find(const Status& s, std::string_view name, Severity sev) {
  for (const AlertState& a : s.alerts) {
    if (a.alertname == name && a.severity == sev) return &a;
  }
  return nullptr;
}

TEST(AlertDefaults, EscalationGuide) {
  std::vector<RuleSpec> d = default_rules();
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].name, "LatencyAvgHigh");
  EXPECT_EQ(figure_ref_name(d[0].figure), "latency.avg");
  EXPECT_DOUBLE_EQ(d[0].warning->value, 500);
  EXPECT_DOUBLE_EQ(d[0].critical->value, 1000);
  EXPECT_EQ(d[0].min_requests, 10u);
  EXPECT_EQ(d[1].name, "ErrorRateHigh");
  EXPECT_DOUBLE_EQ(d[1].warning->value, 0.01);
  EXPECT_DOUBLE_EQ(d[1].critical->value, 0.05);
  EXPECT_EQ(d[1].min_requests, 10u);
  EXPECT_EQ(d[2].name, "CpuHigh");
  EXPECT_DOUBLE_EQ(d[2].warning->value, 0.80);
  EXPECT_DOUBLE_EQ(d[2].critical->value, 0.95);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(d[i].window, RuleWindow::k1m);
    EXPECT_EQ(d[i].for_ms, 30'000u);
    EXPECT_EQ(d[i].comparison, Comparison::kAbove);
  }
  EXPECT_EQ(d[3].name, "TlsCertificateExpiringSoon");
  EXPECT_EQ(figure_ref_name(d[3].figure), "tls_certificate_expiry");
  EXPECT_EQ(d[3].comparison, Comparison::kBelow);
  EXPECT_DOUBLE_EQ(d[3].warning->value, 14 * 86400);
  EXPECT_DOUBLE_EQ(d[3].critical->value, 3 * 86400);
  EXPECT_EQ(d[3].for_ms, 0u);
  EXPECT_EQ(d[3].min_requests, 0u);
}

TEST(AlertDefaults, UserRulesReplaceByNameOrFollow) {
  RuleSpec mine = rule("ErrorRateHigh", figure(Figure::kErrorRate), 0.02, std::nullopt);
  RuleSpec extra = rule("RssHigh", figure(Figure::kRss), 1e9, std::nullopt);
  std::vector<RuleSpec> e = effective_rules(true, {extra, mine});
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[1].name, "ErrorRateHigh");
  EXPECT_DOUBLE_EQ(e[1].warning->value, 0.02);
  EXPECT_FALSE(e[1].critical.has_value());
  EXPECT_EQ(e[4].name, "RssHigh");
  e = effective_rules(false, {extra, mine});
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].name, "RssHigh");
}

TEST(AlertEngine, DefaultLatencyRuleGoesPendingFiringAndBack) {
  Engine engine(default_rules(), {});
  FakeWindow fw;
  fw.traffic(100, 0, 1200);
  auto t = engine.evaluate(fw.inputs(), ns(0), unix_ms(0));
  ASSERT_EQ(t.size(), 2u);  // latency warning + critical pending
  EXPECT_EQ(t[0].alert.alertname, "LatencyAvgHigh");
  EXPECT_EQ(t[0].alert.figure, "latency.avg");
  EXPECT_EQ(t[0].alert.window, "1m");
  EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(29), unix_ms(29)).empty());
  t = engine.evaluate(fw.inputs(), ns(30), unix_ms(30));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1].alert.state, State::kFiring);
  EXPECT_EQ(t[1].alert.severity, Severity::kCritical);
  const Status& s = engine.status();
  EXPECT_EQ(s.evaluated_unix_ms, unix_ms(30));
  ASSERT_EQ(s.alerts.size(), 8u);  // 4 rules x 2 severities, warning first
  EXPECT_EQ(s.alerts[0].severity, Severity::kWarning);
  EXPECT_EQ(s.alerts[1].severity, Severity::kCritical);
  EXPECT_EQ(s.alerts[1].state, State::kFiring);
  // CPU unknown (no process figures): not evaluated; no certificate loaded: neither.
  EXPECT_TRUE(std::isnan(find(s, "CpuHigh", Severity::kWarning)->value));
  EXPECT_TRUE(std::isnan(find(s, "TlsCertificateExpiringSoon", Severity::kCritical)->value));

  fw.traffic(100, 0, 50);
  t = engine.evaluate(fw.inputs(), ns(40), unix_ms(40));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].alert.state, State::kOk);
  EXPECT_EQ(t[1].alert.state, State::kOk);
}

TEST(AlertEngine, MinRequestsSuppresses) {
  Engine engine(default_rules(), {});
  FakeWindow fw;
  fw.traffic(9, 9, 5000);  // one slow failing request in three... nine: still under 10
  EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(0), unix_ms(0)).empty());
  EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(60), unix_ms(60)).empty());
  const AlertState* a = find(engine.status(), "ErrorRateHigh", Severity::kCritical);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->state, State::kOk);
  EXPECT_TRUE(std::isnan(a->value));

  fw.traffic(10, 10, 5000);  // min_requests met: evaluated
  auto t = engine.evaluate(fw.inputs(), ns(61), unix_ms(61));
  EXPECT_EQ(t.size(), 4u);  // latency and error rate, both severities, pending
  EXPECT_DOUBLE_EQ(find(engine.status(), "ErrorRateHigh", Severity::kCritical)->value, 1.0);

  // Falling under min_requests while pending: back to ok.
  fw.traffic(3, 3, 5000);
  t = engine.evaluate(fw.inputs(), ns(62), unix_ms(62));
  ASSERT_EQ(t.size(), 4u);
  for (const Transition& x : t) EXPECT_EQ(x.alert.state, State::kOk);
}

TEST(AlertEngine, MinRequestsResolvesAFiringAlertThroughKeepFiringFor) {
  RuleSpec r = rule("Errors", figure(Figure::kErrorRate), std::nullopt, 0.05);
  r.for_ms = 0;
  r.min_requests = 10;
  r.keep_firing_for_ms = 20'000;
  Engine engine({r}, {});
  FakeWindow fw;
  fw.traffic(100, 50, 10);
  ASSERT_EQ(engine.evaluate(fw.inputs(), ns(0), unix_ms(0)).size(), 1u);
  fw.traffic(2, 2, 10);
  EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(1), unix_ms(1)).empty());
  EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(20), unix_ms(20)).empty());
  auto t = engine.evaluate(fw.inputs(), ns(21), unix_ms(21));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kOk);
}

TEST(AlertFigures, ErrorRatesNeverReadAboveOne) {
  // A window with more errors than requests (a reading that split a record, see
  // metrics/seqlock.h) reads 1, for the service, a route and the upstream error rate.
  WindowStats ws;
  ws.seconds = 60;
  ws.requests = 4;
  ws.errors = 5;
  ws.totals.upstream_errors[size_t(UpstreamError::kClosedEarly)] = 6;
  const ProcessFigures none;
  EXPECT_EQ(read_service(figure(Figure::kErrorRate), RuleWindow::k1m, ws, none, 1, true).value,
            1.0);
  EXPECT_EQ(
      read_service(figure(Figure::kUpstreamErrorRate), RuleWindow::k1m, ws, none, 1, true).value,
      1.0);
  RouteWindowStats rs;
  rs.seconds = 60;
  rs.requests = 2;
  rs.errors = 3;
  EXPECT_EQ(read_route(figure(Figure::kErrorRate), rs).value, 1.0);
  ws.requests = 0;
  EXPECT_TRUE(std::isnan(
      read_service(figure(Figure::kErrorRate), RuleWindow::k1m, ws, none, 1, true).value));
}

TEST(AlertEngine, RpsDropFiresOnlyOnceTheWindowIsCovered) {
  RuleSpec r = rule("TrafficStopped", figure(Figure::kRps), std::nullopt, 1);
  r.comparison = Comparison::kBelow;
  r.min_requests = 100;  // does not apply to kBelow
  r.for_ms = 10'000;
  Engine engine({r}, {});
  FakeWindow fw;
  // A fresh process: 1m window covers 5 s, 20 s, 59 s; no traffic.
  for (double up : {5.0, 20.0, 59.0}) {
    fw.set_seconds(up);
    fw.traffic(0, 0, 0);
    EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(up), unix_ms(up)).empty()) << up;
    EXPECT_TRUE(std::isnan(engine.status().alerts[0].value));
  }
  fw.set_seconds(60);
  fw.traffic(0, 0, 0);
  auto t = engine.evaluate(fw.inputs(), ns(60), unix_ms(60));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kPending);
  EXPECT_DOUBLE_EQ(t[0].alert.value, 0);
  t = engine.evaluate(fw.inputs(), ns(70), unix_ms(70));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kFiring);
  EXPECT_EQ(t[0].alert.comparison, Comparison::kBelow);
  fw.traffic(120, 0, 5);  // 2 rps
  t = engine.evaluate(fw.inputs(), ns(80), unix_ms(80));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kOk);
}

TEST(AlertEngine, RouteScopedRuleReadsScoped) {
  RuleSpec r = rule("SlowOrders", figure(Figure::kLatency, Stat::kP99), std::nullopt, 800);
  r.route = "/orders/{id}";
  r.method = Method::kPost;
  r.window = RuleWindow::k5m;
  r.for_ms = 0;
  r.min_requests = 5;
  Engine engine({r}, {});
  FakeWindow fw;
  fw.traffic(1000, 0, 10, Window::k5m);  // the service as a whole is fast
  struct Call {
    std::string route;
    std::optional<Method> method;
    Window window;
  };
  std::vector<Call> calls;
  RouteWindowStats route_stats;
  route_stats.seconds = 300;
  route_stats.requests = 6;
  route_stats.latency.count = 6;
  route_stats.latency.p99_ms = 900;
  Inputs in = fw.inputs();
  in.scoped = [&](std::string_view route, std::optional<Method> m, Window w) {
    calls.push_back({std::string(route), m, w});
    return route_stats;
  };
  auto t = engine.evaluate(in, ns(0), unix_ms(0));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].route, "/orders/{id}");
  EXPECT_EQ(calls[0].method, Method::kPost);
  EXPECT_EQ(calls[0].window, Window::k5m);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kFiring);
  EXPECT_DOUBLE_EQ(t[0].alert.value, 900);
  EXPECT_EQ(t[0].alert.window, "5m");
  ASSERT_EQ(t[0].alert.labels.size(), 2u);
  EXPECT_EQ(t[0].alert.labels[0], (std::pair<std::string, std::string>{"route", "/orders/{id}"}));
  EXPECT_EQ(t[0].alert.labels[1], (std::pair<std::string, std::string>{"method", "POST"}));

  route_stats.requests = route_stats.latency.count = 4;  // under min_requests
  t = engine.evaluate(in, ns(1), unix_ms(1));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kOk);
}

TEST(AlertEngine, RouteScopedSizeAvgIsBytesPerRequest) {
  RuleSpec r = rule("BigUploads", figure(Figure::kRequestSize, Stat::kAvg), 1000, std::nullopt);
  r.route = "/upload";
  r.for_ms = 0;
  EXPECT_TRUE(route_scopable(r.figure));
  EXPECT_FALSE(route_scopable(figure(Figure::kRequestSize, Stat::kP95)));
  EXPECT_FALSE(route_scopable(figure(Figure::kUpstreamTtfb, Stat::kAvg)));
  EXPECT_TRUE(route_scopable(figure(Figure::kLatency, Stat::kMax)));
  Engine engine({r}, {});
  RouteWindowStats rs;
  rs.seconds = 60;
  rs.requests = 4;
  rs.request_body_bytes = 4800;
  Inputs in;
  in.scoped = [&](std::string_view, std::optional<Method>, Window) { return rs; };
  auto t = engine.evaluate(in, ns(0), unix_ms(0));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_DOUBLE_EQ(t[0].alert.value, 1200);
}

TEST(AlertEngine, ProcessAndScalarFigures) {
  RuleSpec cpu = rule("CpuHigh", figure(Figure::kCpu), 0.8, 0.95);
  cpu.for_ms = 0;
  RuleSpec fds = rule("Fds", figure(Figure::kOpenFds), 1000, std::nullopt);
  fds.for_ms = 0;
  RuleSpec up = rule("UpstreamDown", figure(Figure::kUpstreamUp), std::nullopt, 1);
  up.comparison = Comparison::kBelow;
  up.for_ms = 0;
  RuleSpec uerr = rule("Refused", FigureRef{Figure::kUpstreamErrorRate, Stat::kNone,
                                            UpstreamError::kConnectRefused},
                       0.1, std::nullopt);
  uerr.for_ms = 0;
  Engine engine({cpu, fds, up, uerr}, {});
  FakeWindow fw;
  fw.traffic(100, 30, 5);
  fw.w().totals.upstream_errors[size_t(UpstreamError::kConnectRefused)] = 20;
  fw.w().totals.upstream_errors[size_t(UpstreamError::kResponseTimeout)] = 10;
  fw.w().cpu_percent = 340;  // 3.4 cores of 4
  fw.snap.process.valid = true;
  fw.snap.process.open_fds = 1001;
  Inputs in = fw.inputs();
  in.cpus_available = 4;
  in.upstream_up = false;
  engine.evaluate(in, ns(0), unix_ms(0));
  const Status& s = engine.status();
  EXPECT_DOUBLE_EQ(find(s, "CpuHigh", Severity::kWarning)->value, 0.85);
  EXPECT_EQ(find(s, "CpuHigh", Severity::kWarning)->state, State::kFiring);
  EXPECT_EQ(find(s, "CpuHigh", Severity::kCritical)->state, State::kOk);
  EXPECT_EQ(find(s, "Fds", Severity::kWarning)->state, State::kFiring);
  EXPECT_EQ(find(s, "UpstreamDown", Severity::kCritical)->state, State::kFiring);
  EXPECT_DOUBLE_EQ(find(s, "Refused", Severity::kWarning)->value, 0.2);
  EXPECT_EQ(find(s, "Refused", Severity::kWarning)->figure,
            "upstream_error_rate.connect_refused");

  fw.w().cpu_percent_of_quota = 97;  // the quota wins over cpu_percent
  engine.evaluate(in, ns(1), unix_ms(1));
  EXPECT_DOUBLE_EQ(find(engine.status(), "CpuHigh", Severity::kCritical)->value, 0.97);
  EXPECT_EQ(find(engine.status(), "CpuHigh", Severity::kCritical)->state, State::kFiring);
}

TEST(AlertEngine, ReconfigureKeepsStateWhenOnlyThresholdsChange) {
  RuleSpec r = rule("LatencyAvgHigh", figure(Figure::kLatency, Stat::kAvg), 500, 1000);
  Engine engine({r}, {});
  FakeWindow fw;
  fw.traffic(100, 0, 700);
  engine.evaluate(fw.inputs(), ns(0), unix_ms(0));
  engine.evaluate(fw.inputs(), ns(30), unix_ms(30));  // warning firing since 30 s
  const AlertState before = engine.status().alerts[0];
  ASSERT_EQ(before.state, State::kFiring);

  r.warning = Threshold{600, std::nullopt};  // still under the value
  r.for_ms = 60'000;
  r.min_requests = 50;
  engine.reconfigure({r}, {});
  const AlertState& now = engine.status().alerts[0];
  EXPECT_EQ(now.state, State::kFiring);
  EXPECT_EQ(now.since_unix_ms, before.since_unix_ms);
  EXPECT_EQ(now.active_since_unix_ms, unix_ms(0));
  EXPECT_DOUBLE_EQ(now.threshold, 600);
  EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(31), unix_ms(31)).empty());
  EXPECT_EQ(engine.status().alerts[0].since_unix_ms, unix_ms(30));

  r.warning = Threshold{800, std::nullopt};  // now above the value: resolves
  engine.reconfigure({r}, {});
  auto t = engine.evaluate(fw.inputs(), ns(32), unix_ms(32));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].from, State::kFiring);
  EXPECT_EQ(t[0].alert.state, State::kOk);
}

TEST(AlertEngine, PendingSurvivesReconfigureWithItsForClock) {
  RuleSpec r = rule("LatencyAvgHigh", figure(Figure::kLatency, Stat::kAvg), 500, std::nullopt);
  Engine engine({r}, {});
  FakeWindow fw;
  fw.traffic(100, 0, 700);
  engine.evaluate(fw.inputs(), ns(0), unix_ms(0));  // pending since 0
  r.for_ms = 10'000;
  engine.reconfigure({r}, {});
  auto t = engine.evaluate(fw.inputs(), ns(10), unix_ms(10));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kFiring);
  EXPECT_EQ(t[0].alert.active_since_unix_ms, unix_ms(0));
}

TEST(AlertEngine, RemovedRuleResolvesOnTheNextEvaluation) {
  RuleSpec a = rule("A", figure(Figure::kLatency, Stat::kAvg), 500, 1000);
  a.for_ms = 0;
  RuleSpec b = rule("B", figure(Figure::kErrorRate), 0.5, std::nullopt);
  b.for_ms = 0;
  Engine engine({a, b}, {});
  FakeWindow fw;
  fw.traffic(100, 0, 700);
  ASSERT_EQ(engine.evaluate(fw.inputs(), ns(0), unix_ms(0)).size(), 1u);  // A warning
  engine.reconfigure({b}, {});
  ASSERT_EQ(engine.status().alerts.size(), 1u);
  auto t = engine.evaluate(fw.inputs(), ns(1), unix_ms(1));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.alertname, "A");
  EXPECT_EQ(t[0].alert.severity, Severity::kWarning);
  EXPECT_EQ(t[0].from, State::kFiring);
  EXPECT_EQ(t[0].alert.state, State::kOk);
  EXPECT_EQ(t[0].alert.since_unix_ms, unix_ms(1));
  EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(2), unix_ms(2)).empty());  // only once

  // A changed identity (other window) is a new rule: the old one resolves too.
  b.window = RuleWindow::k5m;
  fw.traffic(100, 90, 700);
  fw.traffic(100, 90, 700, Window::k5m);
  engine.evaluate(fw.inputs(), ns(3), unix_ms(3));  // B fires (1m)
  RuleSpec b5 = b;
  engine.reconfigure({b5}, {});
  t = engine.evaluate(fw.inputs(), ns(4), unix_ms(4));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].alert.window, "1m");
  EXPECT_EQ(t[0].alert.state, State::kOk);
  EXPECT_EQ(t[1].alert.window, "5m");
  EXPECT_EQ(t[1].alert.state, State::kFiring);
}

// The default certificate rule on a process that starts with a certificate 10 days from
// expiry: warning at the first evaluation (no window to fill: expiry is no traffic
// figure), critical once under 3 days, and resolved by a reload with a renewed one.
TEST(AlertEngine, CertificateExpiryFiresAtStartAndResolvesOnRenewal) {
  Engine engine(default_rules(), {});
  FakeWindow fw;
  fw.set_seconds(1);  // one second after start: every window barely covered
  constexpr int64_t kDay = 86400;
  const int64_t now_s = int64_t(unix_ms(1) / 1000);
  fw.snap.tls.certificates = {
      {"example.com", "/tls/a.crt", TlsSide::kDownstream, now_s + 10 * kDay},
      {"client", "/tls/c.crt", TlsSide::kUpstream, now_s + 300 * kDay}};
  auto t = engine.evaluate(fw.inputs(), ns(1), unix_ms(1));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.alertname, "TlsCertificateExpiringSoon");
  EXPECT_EQ(t[0].alert.severity, Severity::kWarning);
  EXPECT_EQ(t[0].from, State::kOk);
  EXPECT_EQ(t[0].alert.state, State::kFiring);  // for 0: straight to firing
  EXPECT_DOUBLE_EQ(t[0].alert.value, double(10 * kDay));  // the earliest certificate
  EXPECT_EQ(t[0].alert.figure, "tls_certificate_expiry");
  EXPECT_EQ(t[0].alert.comparison, Comparison::kBelow);
  const AlertState* crit = find(engine.status(), "TlsCertificateExpiringSoon", Severity::kCritical);
  ASSERT_NE(crit, nullptr);
  EXPECT_EQ(crit->state, State::kOk);

  // Seven days later (the clock moves; the certificates do not): under 3 days left.
  const double later = 7.0 * kDay + 2;
  t = engine.evaluate(fw.inputs(), ns(later), unix_ms(later));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.severity, Severity::kCritical);
  EXPECT_EQ(t[0].alert.state, State::kFiring);
  EXPECT_DOUBLE_EQ(t[0].alert.value, double(3 * kDay - 1));  // strictly below 3 days

  // Expired: still firing, value negative.
  const double expired = 11.0 * kDay;
  EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(expired), unix_ms(expired)).empty());
  EXPECT_LT(find(engine.status(), "TlsCertificateExpiringSoon", Severity::kCritical)->value, 0);

  // A reload put a renewed certificate in force: both resolve at the next evaluation.
  fw.snap.tls.certificates[0].not_after_unix_s = now_s + 100 * kDay;
  t = engine.evaluate(fw.inputs(), ns(expired + 1), unix_ms(expired + 1));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].alert.state, State::kOk);
  EXPECT_EQ(t[1].alert.state, State::kOk);
}

TEST(AlertEngine, CertificateExpiryIsNotJudgedWithoutCertificates) {
  RuleSpec r = rule("Cert", figure(Figure::kTlsCertificateExpiry), 14.0 * 86400, 3.0 * 86400);
  r.comparison = Comparison::kBelow;
  r.for_ms = 0;
  Engine engine({r}, {});
  FakeWindow fw;
  EXPECT_TRUE(engine.evaluate(fw.inputs(), ns(0), unix_ms(0)).empty());
  EXPECT_TRUE(std::isnan(engine.status().alerts[0].value));
  // Nor without a snapshot.
  EXPECT_TRUE(engine.evaluate(Inputs{}, ns(1), unix_ms(1)).empty());
  // A fraction of a second counts: 500 ms left reads 0.5, not 0 or 1.
  const int64_t at = int64_t(unix_ms(2) / 1000) + 1;
  EXPECT_DOUBLE_EQ(certificate_expiry_seconds({{"a", "f", TlsSide::kDownstream, at}},
                                              uint64_t(at) * 1000 - 500),
                   0.5);
}

}  // namespace
}  // namespace sidemeter::metrics::alerts
