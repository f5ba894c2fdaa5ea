// alerts, slos and access_log: every key, every error with its position, the dump.
#include <gtest/gtest.h>

#include "conf/config.h"
#include "tests/conf/load_text.h"

using namespace sidemeter::conf;
using namespace sidemeter::conf::testing;
namespace al = sidemeter::metrics::alerts;
using sidemeter::metrics::Method;

namespace {

// `lines` as one rule of alerts.rules, each line at the item's indentation.
std::string rule(const std::string& lines) {
  std::string out = "alerts:\n  rules:\n";
  bool first = true;
  size_t pos = 0;
  while (pos < lines.size()) {
    size_t nl = lines.find('\n', pos);
    out += first ? "    - " : "      ";
    out.append(lines, pos, nl - pos).push_back('\n');
    first = false;
    pos = nl + 1;
  }
  return out;
}

const al::RuleSpec& only_rule(const TextLoad& r) {
  static const al::RuleSpec none;
  if (!r.config || r.config->alerts.rules.size() != 1) return none;
  return r.config->alerts.rules[0];
}

}  // namespace

TEST(AlertsConfig, EveryKey) {
  auto r = load_text(R"(alerts:
  default_rules: false
  rules:
    - name: SlowCheckout
      figure: latency.p99
      when: above
      warning: 800ms
      critical: 2s
      warning_resolve: 600ms
      critical_resolve: 1500ms
      window: 5m
      for: 1m
      keep_firing_for: 10s
      min_requests: 20
      route: /checkout/{id}
      method: POST
    - {name: "errors:5xx", figure: error_rate, warning: 0.5%, critical: 5%}
    - {name: Fds, figure: open_fds, critical: 1000}
    - {name: Mem, figure: rss, warning: 512MiB, critical: 1073741824}
    - {name: Down, figure: upstream_up, when: below, critical: 1}
    - {name: Quiet, figure: rps, when: below, warning: 0.5, critical_resolve: 2, critical: 0}
    - {name: Refused, figure: upstream_error_rate.connect_refused, warning: 1%}
  labels: {pod: "${POD_NAME}", namespace: "${POD_NAMESPACE}"}
  delivery:
    alertmanager_urls: ["http://127.0.0.1:9093", "http://[::1]:9094/am"]
    webhook_urls: ["http://hooks.internal:8080/sidemeter?x=1"]
    resend_interval: 2m
    timeout: 500ms
    queue_max: 7
slos:
  - name: checkout-availability
    kind: availability
    objective: 99.9%
    route: /checkout/{id}
    method: POST
  - {threshold: 300ms, name: api-latency, kind: latency, objective: 99%}
access_log:
  path: /var/log/sidemeter/access.log
  sample_rate: 12.5%
  always_log_errors: false
  slow: 2s
  include_query: true
  queue_max_bytes: 65536
)",
                     fake_env({{"POD_NAME", "web-1"}, {"POD_NAMESPACE", "shop"}}));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const Config& c = *r.config;
  EXPECT_FALSE(c.alerts.default_rules);
  ASSERT_EQ(c.alerts.rules.size(), 7u);
  const al::RuleSpec& slow = c.alerts.rules[0];
  EXPECT_EQ(slow.name, "SlowCheckout");
  EXPECT_EQ(slow.figure, (al::FigureRef{al::Figure::kLatency, al::Stat::kP99}));
  EXPECT_EQ(slow.comparison, al::Comparison::kAbove);
  EXPECT_EQ(slow.warning, (al::Threshold{800, 600}));
  EXPECT_EQ(slow.critical, (al::Threshold{2000, 1500}));
  EXPECT_EQ(slow.window, al::RuleWindow::k5m);
  EXPECT_EQ(slow.for_ms, 60'000u);
  EXPECT_EQ(slow.keep_firing_for_ms, 10'000u);
  EXPECT_EQ(slow.min_requests, 20u);
  EXPECT_EQ(slow.route, "/checkout/{id}");
  EXPECT_EQ(slow.method, Method::kPost);
  const al::RuleSpec& errors = c.alerts.rules[1];
  EXPECT_EQ(errors.name, "errors:5xx");
  EXPECT_EQ(errors.figure.figure, al::Figure::kErrorRate);
  EXPECT_DOUBLE_EQ(errors.warning->value, 0.005);
  EXPECT_DOUBLE_EQ(errors.critical->value, 0.05);
  EXPECT_EQ(errors.window, al::RuleWindow::k1m);  // the defaults
  EXPECT_EQ(errors.for_ms, 30'000u);
  EXPECT_EQ(errors.route, "");
  EXPECT_EQ(errors.method, std::nullopt);
  EXPECT_EQ(c.alerts.rules[2].critical, (al::Threshold{1000, std::nullopt}));
  EXPECT_EQ(c.alerts.rules[2].warning, std::nullopt);
  EXPECT_EQ(c.alerts.rules[3].warning->value, 512.0 * 1024 * 1024);
  EXPECT_EQ(c.alerts.rules[3].critical->value, 1024.0 * 1024 * 1024);
  EXPECT_EQ(c.alerts.rules[4].comparison, al::Comparison::kBelow);
  EXPECT_EQ(c.alerts.rules[5].warning, (al::Threshold{0.5, std::nullopt}));
  EXPECT_EQ(c.alerts.rules[5].critical, (al::Threshold{0, 2}));
  EXPECT_EQ(c.alerts.rules[6].figure.upstream_error,
            sidemeter::metrics::UpstreamError::kConnectRefused);
  EXPECT_EQ(c.alerts.labels, (std::vector<std::pair<std::string, std::string>>{
                                 {"pod", "web-1"}, {"namespace", "shop"}}));
  const AlertDelivery& d = c.alerts.delivery;
  EXPECT_EQ(d.alertmanager_urls,
            (std::vector<HttpUrl>{{"127.0.0.1", 9093, "/"}, {"::1", 9094, "/am"}}));
  EXPECT_EQ(d.webhook_urls, (std::vector<HttpUrl>{{"hooks.internal", 8080, "/sidemeter?x=1"}}));
  EXPECT_EQ(d.resend_interval_ms, 120'000u);
  EXPECT_EQ(d.timeout_ms, 500u);
  EXPECT_EQ(d.queue_max, 7u);
  ASSERT_EQ(c.slos.size(), 2u);
  EXPECT_EQ(c.slos[0].name, "checkout-availability");
  EXPECT_EQ(c.slos[0].kind, al::SloKind::kAvailability);
  EXPECT_DOUBLE_EQ(c.slos[0].objective, 0.999);
  EXPECT_EQ(c.slos[0].latency_threshold_ms, 0u);
  EXPECT_EQ(c.slos[0].route, "/checkout/{id}");
  EXPECT_EQ(c.slos[0].method, Method::kPost);
  EXPECT_EQ(c.slos[1].name, "api-latency");
  EXPECT_EQ(c.slos[1].kind, al::SloKind::kLatency);
  EXPECT_DOUBLE_EQ(c.slos[1].objective, 0.99);
  EXPECT_EQ(c.slos[1].latency_threshold_ms, 300u);
  EXPECT_EQ(c.access_log.path, "/var/log/sidemeter/access.log");
  EXPECT_DOUBLE_EQ(c.access_log.sample_rate, 0.125);
  EXPECT_FALSE(c.access_log.always_log_errors);
  EXPECT_EQ(c.access_log.slow_ms, 2000u);
  EXPECT_TRUE(c.access_log.include_query);
  EXPECT_EQ(c.access_log.queue_max_bytes, 65536u);
}

TEST(AlertsConfig, TheDefaults) {
  auto r = load_text("alerts:\nslos:\naccess_log:\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const Config& c = *r.config;
  EXPECT_EQ(c.alerts, Alerts{});
  EXPECT_TRUE(c.alerts.default_rules);
  EXPECT_TRUE(c.slos.empty());
  EXPECT_EQ(c.access_log, AccessLog{});
  EXPECT_EQ(c.access_log.path, "");
  EXPECT_EQ(c.access_log.sample_rate, 1.0);
}

TEST(AlertsConfig, ThresholdsInTheFiguresUnit) {
  auto value = [](const std::string& figure, const std::string& text) {
    auto r = load_text(rule("name: a\nfigure: " + figure + "\nwarning: " + text + "\n"));
    if (!r.config) return -1.0;
    return only_rule(r).warning->value;
  };
  EXPECT_EQ(value("latency.avg", "250ms"), 250);
  EXPECT_EQ(value("upstream_ttfb.max", "2s"), 2000);
  EXPECT_EQ(value("proxy_overhead.p50", "0"), 0);
  EXPECT_EQ(value("request_size.p95", "4096"), 4096);
  EXPECT_EQ(value("response_size.max", "512KiB"), 512 * 1024);
  EXPECT_EQ(value("rss", "2GiB"), 2.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(value("cpu", "80%"), 0.8);
  EXPECT_DOUBLE_EQ(value("error_rate", "0.25%"), 0.0025);
  EXPECT_DOUBLE_EQ(value("upstream_error_rate", "100%"), 1);
  EXPECT_EQ(value("rps", "12.5"), 12.5);
  EXPECT_EQ(value("open_fds", "900"), 900);
  EXPECT_EQ(value("upstream_up", "1"), 1);
}

TEST(AlertsConfig, KeyOrderInAnItemDoesNotMatter) {
  auto r =
      load_text(rule("critical_resolve: 1%\ncritical: 5%\nwhen: above\nname: e\n"
                     "figure: error_rate\n"));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(only_rule(r).critical, (al::Threshold{0.05, 0.01}));
}

TEST(AlertsConfig, RelativeAccessLogPathFollowsTheConfigFile) {
  TempDir dir;
  CommandLine cli;
  cli.config_path = dir.write("a.yaml", "access_log: {path: logs/access.log}\n");
  LoadResult r = load(cli, fake_env());
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->access_log.path, dir.path() + "/logs/access.log");
  cli.config_path = dir.write("b.yaml", "access_log: {path: stderr}\n");
  r = load(cli, fake_env());
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->access_log.path, "stderr");
}

TEST(AlertsConfig, EveryNewKeyReloadsLive) {
  auto a = load_text("");
  auto b = load_text(R"(alerts:
  default_rules: false
  rules: [{name: a, figure: cpu, warning: 50%}]
  labels: {pod: x}
  delivery: {alertmanager_urls: ["http://am:9093"], timeout: 1s}
slos: [{name: s, objective: 99%}]
access_log: {path: stderr, sample_rate: 1%}
)");
  ASSERT_TRUE(a.config && b.config) << ::testing::PrintToString(b.errors);
  EXPECT_TRUE(restart_only_changes(*a.config, *b.config).empty());
  Config effective = keep_restart_only_keys(*a.config, *b.config);
  EXPECT_EQ(effective.alerts, b.config->alerts);
  EXPECT_EQ(effective.slos, b.config->slos);
  EXPECT_EQ(effective.access_log, b.config->access_log);
  EXPECT_EQ(effective.hash, b.config->hash);
}

// ---- errors -----------------------------------------------------------------------------

TEST(AlertsConfigErrors, RuleShape) {
  EXPECT_EQ(error_of("alerts:\n  rules: {name: a}\n"),
            "F:2:10: alerts.rules must be a list, got a mapping");
  EXPECT_EQ(error_of("alerts:\n  rules: [a]\n"),
            "F:2:11: alerts.rules entries must be mappings, got the scalar 'a'");
  EXPECT_EQ(error_of("alerts:\n  rules: [{name: a, figure: cpu, warning: [1%]}]\n"),
            "F:2:43: alerts.rules.warning must be a single value, got a list");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 1%\nwraning: 2%\n")),
            "F:6:7: unknown key 'wraning' in an entry of alerts.rules (did you mean 'warning'?)");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 1%\nname: b\n")),
            "F:6:7: duplicate key 'name' in an entry of alerts.rules");
  EXPECT_EQ(error_of("alerts:\n  rules:\n    - {name: a, figure: cpu, warning: 1%, [x]: 1}\n"),
            "F:3:43: keys in entries of alerts.rules must be names, got a list");
}

TEST(AlertsConfigErrors, MissingRequiredKeysAtTheItem) {
  // No figure: the thresholds are not read (their unit is unknown), no cascade.
  auto r = load_text(rule("name: a\nwarning: 1%\ncritical: 2s\nwarning_resolve: x\n"));
  EXPECT_EQ(r.errors,
            (std::vector<std::string>{"F:3:7: an entry of alerts.rules is missing 'figure'"}));
  r = load_text("alerts:\n  rules:\n    - figure: cpu\n      warning: 1%\n    - {}\n");
  EXPECT_EQ(r.errors,
            (std::vector<std::string>{"F:3:7: an entry of alerts.rules is missing 'name'",
                                      "F:5:7: an entry of alerts.rules is missing 'name'",
                                      "F:5:7: an entry of alerts.rules is missing 'figure'"}));
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\n")),
            "F:3:7: rule 'a' has neither warning nor critical");
}

TEST(AlertsConfigErrors, AWrongFigureDoesNotCascade) {
  auto r =
      load_text(rule("name: a\nwarning: 800ms\nfigure: latncy.p99\ncritical: 2%\n"
                     "critical_resolve: 1s\nroute: /a\n"));
  EXPECT_EQ(r.errors, (std::vector<std::string>{
                          "F:5:15: alerts.rules.figure: unknown figure 'latncy.p99' (did you "
                          "mean 'latency'?)"}));
  EXPECT_EQ(error_of(rule("name: a\nfigure: latency\nwarning: 1s\n")),
            "F:4:15: alerts.rules.figure: figure 'latency' needs a statistic, e.g. "
            "'latency.p99'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: request_size.p99\nwarning: 1\n")),
            "F:4:15: alerts.rules.figure: figure 'request_size' has no statistic 'p99' (avg, "
            "p50, p95, max)");
  EXPECT_EQ(error_of(rule("name: a\nfigure: upstream_error_rate.teapot\nwarning: 1%\n")),
            "F:4:15: alerts.rules.figure: unknown upstream error kind 'teapot'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu.avg\nwarning: 1%\n")),
            "F:4:15: alerts.rules.figure: figure 'cpu' takes no '.avg'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: zzzzzz\nwarning: 1%\n")),
            "F:4:15: alerts.rules.figure: unknown figure 'zzzzzz' (latency.p99, "
            "upstream_ttfb.p99, proxy_overhead.p99, request_size.avg, response_size.avg, "
            "error_rate, upstream_error_rate, rps, cpu, rss, open_fds, upstream_up, "
            "tls_certificate_expiry, ...)");
  EXPECT_EQ(error_of(rule("name: a\nfigure:\nwarning: 1%\n")),
            "F:4:7: alerts.rules.figure: missing value (expected a figure like latency.p99 or "
            "error_rate)");
}

TEST(AlertsConfigErrors, ThresholdUnits) {
  EXPECT_EQ(error_of(rule("name: a\nfigure: error_rate\nwarning: 0.01\n")),
            "F:5:16: alerts.rules.warning: expected a percentage like 1% or 99.9%, got '0.01' "
            "(0.01 as a share is 1%)");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 80\n")),
            "F:5:16: alerts.rules.warning: expected a percentage like 1% or 99.9%, got '80'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 101%\n")),
            "F:5:16: alerts.rules.warning must be 0%-100%, got 101%");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: -1%\n")),
            "F:5:16: alerts.rules.warning: expected a percentage like 1% or 99.9%, got '-1%'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: latency.p99\nwarning: 800\n")),
            "F:5:16: alerts.rules.warning: '800': missing unit (ms, s, m or h), e.g. 800s");
  EXPECT_EQ(error_of(rule("name: a\nfigure: latency.p99\ncritical: 2d\n")),
            "F:5:17: alerts.rules.critical: '2d': unknown unit 'd' (ms, s, m or h)");
  EXPECT_EQ(error_of(rule("name: a\nfigure: latency.p99\ncritical: 25h\n")),
            "F:5:17: alerts.rules.critical must be 0s-24h, got 25h");
  EXPECT_EQ(error_of(rule("name: a\nfigure: rss\nwarning: 1MB\n")),
            "F:5:16: alerts.rules.warning: unknown size unit 'MB' (KiB, MiB or GiB), got '1MB'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: rss\nwarning: 2048GiB\n")),
            "F:5:16: alerts.rules.warning must be at most 1099511627776 bytes, got 2048GiB");
  EXPECT_EQ(error_of(rule("name: a\nfigure: rss\nwarning: big\n")),
            "F:5:16: alerts.rules.warning: expected a size like 4096, 512KiB, 100MiB or 2GiB, "
            "got 'big'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: rps\nwarning: 1e3\n")),
            "F:5:16: alerts.rules.warning: expected a number 0-1000000000 for rps, got '1e3'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: upstream_up\nwhen: below\nwarning: 2\n")),
            "F:6:16: alerts.rules.warning must be 0-1 for upstream_up, got 2");
  EXPECT_EQ(error_of(rule("name: a\nfigure: open_fds\nwarning: 1.5\n")),
            "F:5:16: alerts.rules.warning: expected a number 0-1000000000, got '1.5'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning:\n")),
            "F:5:7: alerts.rules.warning: missing value (expected a percentage like 1% or "
            "99.9%)");
}

TEST(AlertsConfigErrors, ThresholdOrderAndHysteresis) {
  EXPECT_EQ(error_of(rule("name: a\nfigure: latency.p99\nwarning: 2s\ncritical: 1s\n")),
            "F:6:17: alerts.rules.critical (1s) must not be below warning (2s) for a rule "
            "alerting above them");
  EXPECT_EQ(error_of(rule("name: a\nfigure: rps\nwhen: below\nwarning: 1\ncritical: 5\n")),
            "F:7:17: alerts.rules.critical (5) must not be above warning (1) for a rule "
            "alerting below them");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 80%\nwarning_resolve: 85%\n")),
            "F:6:24: alerts.rules.warning_resolve (85%) must not be above warning (80%): the "
            "alert resolves once the value is back below it");
  EXPECT_EQ(error_of(rule("name: a\nfigure: rps\nwhen: below\ncritical: 1\n"
                          "critical_resolve: 0.5\n")),
            "F:7:25: alerts.rules.critical_resolve (0.5) must not be below critical (1): the "
            "alert resolves once the value is back above it");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\ncritical: 80%\nwarning_resolve: 50%\n")),
            "F:6:24: alerts.rules.warning_resolve: the rule has no warning threshold to "
            "resolve");
  // A wrong warning: its resolve value is not read against it.
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 0.8\nwarning_resolve: 50%\n")),
            "F:5:16: alerts.rules.warning: expected a percentage like 1% or 99.9%, got '0.8' "
            "(0.8 as a share is 80%)");
  // Equal is allowed (the same as no resolve value).
  EXPECT_TRUE(load_text(rule("name: a\nfigure: cpu\nwarning: 80%\nwarning_resolve: 80%\n"
                             "critical: 80%\n"))
                  .config);
}

TEST(AlertsConfigErrors, OtherRuleKeys) {
  EXPECT_EQ(error_of(rule("name: a b\nfigure: cpu\nwarning: 1%\n")),
            "F:3:13: alerts.rules.name 'a b' may contain only letters, digits, '_', ':' and '-'");
  EXPECT_EQ(error_of(rule("name: ''\nfigure: cpu\nwarning: 1%\n")),
            "F:3:13: alerts.rules.name: missing value (expected a name of letters, digits, '_', "
            "':' or '-')");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 1%\nwhen: over\n")),
            "F:6:13: alerts.rules.when: expected above or below, got 'over'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 1%\nwindow: 2m\n")),
            "F:6:15: alerts.rules.window: expected 10s, 1m or 5m, got '2m'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 1%\nfor: 2d\n")),
            "F:6:12: alerts.rules.for: '2d': unknown unit 'd' (ms, s, m or h)");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 1%\nkeep_firing_for: 25h\n")),
            "F:6:24: alerts.rules.keep_firing_for must be 0s-24h, got 25h");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 1%\nmin_requests: 2000000000\n")),
            "F:6:21: alerts.rules.min_requests must be 0-1000000000, got 2000000000");
  EXPECT_EQ(error_of(rule("name: a\nfigure: latency.p99\nwarning: 1s\nroute: checkout\n")),
            "F:6:14: alerts.rules.route: route pattern 'checkout' must start with '/'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: latency.p99\nwarning: 1s\nmethod: get\n")),
            "F:6:15: alerts.rules.method: expected one of GET, HEAD, POST, PUT, DELETE, CONNECT, "
            "OPTIONS, TRACE, PATCH, got 'get'");
  EXPECT_EQ(error_of(rule("name: a\nfigure: cpu\nwarning: 1%\nroute: /a\n")),
            "F:6:14: figure 'cpu' cannot be scoped to a route or method (only latency, "
            "request_size.avg, response_size.avg, error_rate, rps can)");
  EXPECT_EQ(error_of(rule("name: a\nfigure: upstream_ttfb.p99\nwarning: 1s\nmethod: GET\n")),
            "F:6:15: figure 'upstream_ttfb.p99' cannot be scoped to a route or method (only "
            "latency, request_size.avg, response_size.avg, error_rate, rps can)");
  // Per-route windows keep byte totals, so a route has an average size, no percentile.
  EXPECT_EQ(error_of(rule("name: a\nfigure: response_size.p95\nwarning: 1MiB\nroute: /a\n")),
            "F:6:14: figure 'response_size.p95' cannot be scoped to a route or method (only "
            "latency, request_size.avg, response_size.avg, error_rate, rps can)");
}

TEST(AlertsConfigErrors, IndependentMistakesInOneRuleShowTogether) {
  // A misspelt key does not hide that the rule has no threshold (found by a new user).
  auto r = load_text(
      "alerts:\n  rules:\n    - name: NoThr\n      figure: latency.p99\n      treshold: 1s\n");
  EXPECT_EQ(r.errors, (std::vector<std::string>{
                          "F:5:7: unknown key 'treshold' in an entry of alerts.rules",
                          "F:3:7: rule 'NoThr' has neither warning nor critical"}));
  // A wrong figure still keeps the checks that depend on it quiet.
  r = load_text("alerts:\n  rules:\n    - {name: a, figure: latnecy.p99, warning: 1s}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("unknown figure"), std::string::npos) << r.errors[0];
}

TEST(AlertsConfigErrors, DuplicateRuleNames) {
  auto r = load_text(
      "alerts:\n  rules:\n    - {name: a, figure: cpu, warning: 1%}\n"
      "    - {name: b, figure: cpu, warning: 1%}\n"
      "    - {name: a, figure: rss, warning: 1GiB}\n");
  EXPECT_EQ(r.errors,
            (std::vector<std::string>{"F:5:14: alerts.rules.name: rule 'a' is defined twice"}));
  // Rules and SLOs are named apart.
  EXPECT_TRUE(load_text("alerts:\n  rules: [{name: a, figure: cpu, warning: 1%}]\n"
                        "slos: [{name: a, objective: 99%}]\n")
                  .config);
}

TEST(AlertsConfigErrors, EveryErrorOfSeveralItemsAtOnce) {
  auto r = load_text(R"(alerts:
  rules:
    - name: one
      figure: cpu
      warning: 5
      window: 1h
    - name: two
      figure: latency.p99
      warning: 1s
      critical: 500ms
slos:
  - name: s
    objective: 100%
    threshold: 1s
)");
  EXPECT_EQ(r.errors,
            (std::vector<std::string>{
                "F:5:16: alerts.rules.warning: expected a percentage like 1% or 99.9%, got '5'",
                "F:6:15: alerts.rules.window: expected 10s, 1m or 5m, got '1h'",
                "F:10:17: alerts.rules.critical (500ms) must not be below warning (1s) for a "
                "rule alerting above them",
                "F:13:16: slos.objective must be strictly between 0% and 100%, got 100%",
                "F:14:16: slos.threshold applies only to kind: latency (an availability SLO "
                "counts errors)"}));
}

TEST(AlertsConfigErrors, Labels) {
  EXPECT_EQ(error_of("alerts:\n  labels: [pod]\n"),
            "F:2:11: alerts.labels must be a mapping, got a list");
  EXPECT_EQ(error_of("alerts:\n  labels:\n    pod: a\n    1pod: b\n"),
            "F:4:5: alerts.labels: '1pod' is not a label name (letters, digits and '_', not "
            "starting with a digit)");
  EXPECT_EQ(error_of("alerts:\n  labels:\n    pod-name: a\n"),
            "F:3:5: alerts.labels: 'pod-name' is not a label name (letters, digits and '_', not "
            "starting with a digit)");
  EXPECT_EQ(error_of("alerts:\n  labels:\n    __name: a\n"),
            "F:3:5: alerts.labels: '__name': names starting with '__' are reserved");
  EXPECT_EQ(error_of("alerts:\n  labels:\n    severity: a\n"),
            "F:3:5: alerts.labels: 'severity' is set by sidemeter on every alert");
  EXPECT_EQ(error_of("alerts:\n  labels:\n    pod: a\n    pod: b\n"),
            "F:4:5: duplicate key 'pod' in alerts.labels");
  EXPECT_EQ(error_of("alerts:\n  labels:\n    pod: {a: 1}\n"),
            "F:3:10: alerts.labels.pod must be a single value, got a mapping");
  EXPECT_EQ(error_of("alerts:\n  labels:\n    pod:\n"),
            "F:3:5: alerts.labels.pod: missing value (expected a label value)");
  EXPECT_EQ(error_of("alerts:\n  labels:\n    [a]: b\n"),
            "F:3:5: keys in alerts.labels must be names, got a list");
  auto r = load_text("alerts:\n  labels: {_x: '', Pod_9: \"a b\"}\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->alerts.labels,
            (std::vector<std::pair<std::string, std::string>>{{"_x", ""}, {"Pod_9", "a b"}}));
}

TEST(AlertsConfigErrors, Delivery) {
  EXPECT_EQ(error_of("alerts:\n  delivery:\n    alertmanager_urls: [\"https://am:9093\"]\n"),
            "F:3:25: alerts.delivery.alertmanager_urls: 'https://am:9093': https receivers are "
            "not supported (alert delivery speaks plain HTTP; use http://, e.g. to a local relay)");
  EXPECT_EQ(error_of("alerts:\n  delivery:\n    webhook_urls: [\"http://a/\", \"http://a:80\"]\n"),
            "F:3:33: alerts.delivery.webhook_urls: 'http://a:80' is listed twice");
  EXPECT_EQ(error_of("alerts:\n  delivery:\n    webhook_urls: http://a/\n"),
            "F:3:19: alerts.delivery.webhook_urls must be a list, got the scalar 'http://a/'");
  EXPECT_EQ(error_of("alerts:\n  delivery:\n    resend_interval: 0s\n"),
            "F:3:22: alerts.delivery.resend_interval must be 1s-24h, got 0s");
  EXPECT_EQ(error_of("alerts:\n  delivery:\n    timeout: 10m\n"),
            "F:3:14: alerts.delivery.timeout must be 100ms-5m, got 10m");
  EXPECT_EQ(error_of("alerts:\n  delivery:\n    queue_max: 0\n"),
            "F:3:16: alerts.delivery.queue_max must be 1-1000000, got 0");
  EXPECT_EQ(error_of("alerts:\n  delivery:\n    webhook_url: []\n"),
            "F:3:5: unknown key 'webhook_url' in alerts.delivery (did you mean 'webhook_urls'?)");
  EXPECT_EQ(error_of("alerts:\n  rule: []\n"),
            "F:2:3: unknown key 'rule' in alerts (did you mean 'rules'?)");
}

TEST(AlertsConfigErrors, Slos) {
  EXPECT_EQ(error_of("slos:\n  - name: a\n"), "F:2:5: an entry of slos is missing 'objective'");
  EXPECT_EQ(error_of("slos:\n  - objective: 99%\n"), "F:2:5: an entry of slos is missing 'name'");
  EXPECT_EQ(error_of("slos:\n  - name: a\n    objective: 99.9\n"),
            "F:3:16: slos.objective: expected a percentage like 1% or 99.9%, got '99.9'");
  EXPECT_EQ(error_of("slos:\n  - name: a\n    objective: 0.999\n"),
            "F:3:16: slos.objective: expected a percentage like 1% or 99.9%, got '0.999' "
            "(0.999 as a share is 99.9%)");
  EXPECT_EQ(error_of("slos:\n  - name: a\n    objective: 0%\n"),
            "F:3:16: slos.objective must be strictly between 0% and 100%, got 0%");
  EXPECT_EQ(error_of("slos:\n  - name: a\n    objective: 99%\n    kind: speed\n"),
            "F:4:11: slos.kind: expected availability or latency, got 'speed'");
  EXPECT_EQ(error_of("slos:\n  - name: a\n    objective: 99%\n    kind: latency\n"),
            "F:4:11: SLO 'a' of kind latency needs a threshold");
  EXPECT_EQ(error_of("slos:\n  - name: a\n    objective: 99%\n    threshold: 1s\n"),
            "F:4:16: slos.threshold applies only to kind: latency (an availability SLO counts "
            "errors)");
  // A wrong kind: the threshold is not judged against it.
  EXPECT_EQ(error_of("slos:\n  - {name: a, objective: 99%, threshold: 1s, kind: latncy}\n"),
            "F:2:52: slos.kind: expected availability or latency, got 'latncy'");
  EXPECT_EQ(error_of("slos:\n  - {name: a, objective: 99%, kind: latency, threshold: 0s}\n"),
            "F:2:57: slos.threshold must be 1ms-24h, got 0s");
  EXPECT_EQ(error_of("slos:\n  - {name: a, objective: 99%, route: x}\n"),
            "F:2:38: slos.route: route pattern 'x' must start with '/'");
  EXPECT_EQ(error_of("slos:\n  - {name: a, objective: 99%, method: FETCH}\n"),
            "F:2:39: slos.method: expected one of GET, HEAD, POST, PUT, DELETE, CONNECT, "
            "OPTIONS, TRACE, PATCH, got 'FETCH'");
  EXPECT_EQ(error_of("slos:\n  - {name: a, objective: 99%}\n  - {name: a, objective: 90%}\n"),
            "F:3:12: slos.name: SLO 'a' is defined twice");
  EXPECT_EQ(error_of("slos:\n  - {name: a, objetive: 99%}\n"),
            "F:2:15: unknown key 'objetive' in an entry of slos (did you mean 'objective'?)");
  EXPECT_EQ(error_of("slos: {name: a}\n"), "F:1:7: slos must be a list, got a mapping");
}

TEST(AlertsConfigErrors, AccessLog) {
  EXPECT_EQ(error_of("access_log:\n  sample_rate: 0.5\n"),
            "F:2:16: access_log.sample_rate: expected a percentage like 1% or 99.9%, got '0.5' "
            "(0.5 as a share is 50%)");
  EXPECT_EQ(error_of("access_log:\n  sample_rate: 120%\n"),
            "F:2:16: access_log.sample_rate must be 0%-100%, got 120%");
  EXPECT_EQ(error_of("access_log:\n  slow: 10\n"),
            "F:2:9: access_log.slow: '10': missing unit (ms, s, m or h), e.g. 10s");
  EXPECT_EQ(error_of("access_log:\n  queue_max_bytes: 1024\n"),
            "F:2:20: access_log.queue_max_bytes must be 65536-1073741824, got 1024");
  EXPECT_EQ(error_of("access_log:\n  always_log_errors: yes\n"),
            "F:2:22: access_log.always_log_errors: expected true or false, got 'yes'");
  EXPECT_EQ(error_of("access_log:\n  include_querry: true\n"),
            "F:2:3: unknown key 'include_querry' in access_log (did you mean 'include_query'?)");
  EXPECT_EQ(error_of("access_log: stderr\n"),
            "F:1:13: access_log must be a mapping, got the scalar 'stderr'");
}

// ---- printing ---------------------------------------------------------------------------

TEST(AlertsConfigPrint, ListsOfMappingsAndAMapping) {
  auto r = load_text(R"(alerts:
  rules:
    - {name: Slow, figure: latency.p99, warning: 1500ms, warning_resolve: 1s, route: "/a/{id}",
       method: POST}
    - {name: Err, figure: error_rate, critical: 0.5%, when: below, keep_firing_for: 90s}
  labels: {pod: p, zone: "a\"b"}
slos:
  - {name: s, kind: latency, objective: 99.95%, threshold: 250ms}
access_log: {sample_rate: 0.1%, path: stderr}
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  std::string printed = print_config(*r.config);
  EXPECT_NE(printed.find(R"(alerts:
  default_rules: true
  rules:
    - name: "Slow"
      figure: latency.p99
      when: above
      warning: 1500ms
      warning_resolve: 1s
      window: 1m
      for: 30s
      keep_firing_for: 0s
      min_requests: 0
      route: "/a/{id}"
      method: POST
    - name: "Err"
      figure: error_rate
      when: below
      critical: 0.5%
      window: 1m
      for: 30s
      keep_firing_for: 90s
      min_requests: 0
  labels: {"pod": "p", "zone": "a\"b"}
  delivery:
)"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find(R"(slos:
  - name: "s"
    kind: latency
    objective: 99.95%
    threshold: 250ms
access_log:
  path: "stderr"
  sample_rate: 0.1%
)"),
            std::string::npos)
      << printed;
}

TEST(AlertsConfigPrint, PrintedConfigLoadsToTheSameHash) {
  auto r = load_text(R"(alerts:
  default_rules: false
  rules:
    - name: SlowCheckout
      figure: latency.p99
      warning: 800ms
      warning_resolve: 600ms
      critical: 2s
      critical_resolve: 1500ms
      window: 10s
      for: 0s
      keep_firing_for: 1m
      min_requests: 20
      route: /checkout/{id}
      method: POST
    - {name: e, figure: upstream_error_rate.reset_mid_response, warning: 0.3%, critical: 33.3%}
    - {name: m, figure: rss, warning: 100MiB, critical: 1000000001}
    - {name: q, figure: rps, when: below, warning: 0.1, critical: 0.05}
    - {name: c, figure: cpu, critical: 99.99%, critical_resolve: 0.07%}
  labels: {pod: web-1, namespace: shop}
  delivery:
    alertmanager_urls: ["http://127.0.0.1:9093", "http://[fe80::1]:9093/x"]
    webhook_urls: ["http://hooks.internal?q=1"]
    resend_interval: 30s
    timeout: 100ms
    queue_max: 1000000
slos:
  - {name: a, objective: 99.9%, route: "/x/{*}", method: GET}
  - {name: b, kind: latency, objective: 12.345%, threshold: 1h}
access_log:
  path: stderr
  sample_rate: 33.3333%
  always_log_errors: false
  slow: 1500ms
  include_query: true
  queue_max_bytes: 1073741824
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  std::string printed = print_config(*r.config);
  auto again = load_text(printed);
  ASSERT_TRUE(again.config) << ::testing::PrintToString(again.errors) << printed;
  EXPECT_EQ(again.config->hash, r.config->hash) << printed;
  EXPECT_EQ(again.config->alerts, r.config->alerts) << printed;
  EXPECT_EQ(again.config->slos, r.config->slos) << printed;
  EXPECT_EQ(again.config->access_log, r.config->access_log) << printed;
}

TEST(AlertsConfigPrint, EveryNewKeyIsInTheHash) {
  std::string base = "alerts:\n  rules: [{name: a, figure: error_rate, warning: 1%}]\n";
  auto a = load_text(base);
  auto b = load_text("alerts:\n  rules: [{name: a, figure: error_rate, warning: 1.5%}]\n");
  ASSERT_TRUE(a.config && b.config);
  EXPECT_NE(a.config->hash, b.config->hash);
}

TEST(AlertsConfigPrint, TheReadmeExampleLoads) {
  auto r = load_text(R"(alerts:
  rules:
    - name: SlowCheckout
      figure: latency.p99
      warning: 800ms
      warning_resolve: 600ms
      critical: 2s
      route: /checkout/{id}
      method: POST
      min_requests: 20
    - name: TrafficDropped
      figure: rps
      when: below
      warning: 1
      window: 5m
      for: 2m
  labels: {pod: "${POD_NAME}", namespace: "${POD_NAMESPACE}"}
  delivery:
    alertmanager_urls: ["http://127.0.0.1:9093"]
slos:
  - name: checkout-availability
    objective: 99.9%
    route: /checkout/{id}
  - name: api-latency
    kind: latency
    objective: 99%
    threshold: 300ms
)",
                     fake_env({{"POD_NAME", "p"}, {"POD_NAMESPACE", "n"}}));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
}

// ---- parse_http_url ---------------------------------------------------------------------

TEST(HttpUrl, Parses) {
  EXPECT_EQ(parse_http_url("http://127.0.0.1:9093"), (HttpUrl{"127.0.0.1", 9093, "/"}));
  EXPECT_EQ(parse_http_url("http://am"), (HttpUrl{"am", 80, "/"}));
  EXPECT_EQ(parse_http_url("HTTP://Am.Internal/"), (HttpUrl{"Am.Internal", 80, "/"}));
  EXPECT_EQ(parse_http_url("http://hooks.internal:8080/sidemeter?a=1&b"),
            (HttpUrl{"hooks.internal", 8080, "/sidemeter?a=1&b"}));
  EXPECT_EQ(parse_http_url("http://h?x"), (HttpUrl{"h", 80, "/?x"}));
  EXPECT_EQ(parse_http_url("http://[::1]:9093/am/"), (HttpUrl{"::1", 9093, "/am/"}));
  EXPECT_EQ(parse_http_url("http://[::1]"), (HttpUrl{"::1", 80, "/"}));
  EXPECT_EQ(parse_http_url("http://am_1.svc-x"), (HttpUrl{"am_1.svc-x", 80, "/"}));
  EXPECT_EQ(parse_http_url("http://[::1]:9093/am").to_string(), "http://[::1]:9093/am");
  EXPECT_EQ(parse_http_url("http://am").to_string(), "http://am:80/");
}

TEST(HttpUrl, RefusesWithPreciseMessages) {
  auto error = [](const std::string& text) -> std::string {
    try {
      parse_http_url(text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_EQ(error("https://am:9093"),
            "'https://am:9093': https receivers are not supported (alert delivery speaks plain "
            "HTTP; use http://, e.g. to a local relay)");
  EXPECT_EQ(error("am:9093"), "'am:9093': expected http://HOST[:PORT][/PATH]");
  EXPECT_EQ(error("ftp://am"), "'ftp://am': expected http://HOST[:PORT][/PATH]");
  EXPECT_EQ(error("http://"), "'http://': empty host");
  EXPECT_EQ(error("http:///x"), "'http:///x': empty host");
  EXPECT_EQ(error("http://:80/"), "'http://:80/': empty host");
  EXPECT_EQ(error("http://u:p@am/"),
            "'http://u:p@am/': user:password@ is not supported (no credentials in URLs)");
  EXPECT_EQ(error("http://am/#x"),
            "'http://am/#x': a #fragment is never sent to a server; remove it");
  EXPECT_EQ(error("http://am/a b"),
            "'http://am/a b': blanks and control characters are not allowed (percent-encode "
            "them)");
  EXPECT_EQ(error("http://am:0/"), "'http://am:0/': port must be a number 1-65535");
  EXPECT_EQ(error("http://am:65536/"), "'http://am:65536/': port must be a number 1-65535");
  EXPECT_EQ(error("http://am:/"), "'http://am:/': port must be a number 1-65535");
  EXPECT_EQ(error("http://am:8x/"), "'http://am:8x/': port must be a number 1-65535");
  EXPECT_EQ(error("http://::1/"),
            "'http://::1/': write an IPv6 address in brackets, http://[ADDRESS]:PORT/");
  EXPECT_EQ(error("http://[::1/"), "'http://[::1/': missing ']' after the IPv6 address");
  EXPECT_EQ(error("http://[zz]/"), "'http://[zz]/': 'zz' is not an IPv6 address");
  EXPECT_EQ(error("http://[::1]x/"), "'http://[::1]x/': expected ':PORT' or '/' after ']'");
  EXPECT_EQ(error("http://a%b/"), "'http://a%b/': invalid character '%' in host 'a%b'");
  EXPECT_EQ(error("http://300.1.1.1/"), "'http://300.1.1.1/': '300.1.1.1' is not an IPv4 address");
}
