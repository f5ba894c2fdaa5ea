// Threshold rules and SLOs end to end (issue 10): the real binary, a backend whose delay
// and status the test sets, traffic from client threads, and the proxy's own answers
// (the alert_state log line per change, /stats, /metrics) as the evidence. Windows of 10 s
// and `for` of a second or two keep each case short; no case waits on a sleep, only on
// log lines and on the stats port, each under a deadline.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "tests/integration/control_plane.h"
#include "tests/support/alertmanager.h"

namespace sidemeter::testing {
namespace {

using namespace control_plane;
using std::chrono::milliseconds;
using std::chrono::seconds;

// What the backend does with each request; the test changes it while traffic flows.
struct Backend {
  std::atomic<int> delay_ms{0};
  std::atomic<int> status{200};
  std::atomic<int> every_nth_fails{0};  // > 0: every nth request answers 500
  std::atomic<uint64_t> seen{0};
};

UpstreamHandler scripted(std::shared_ptr<Backend> b) {
  return [b](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      const uint64_t n = ++b->seen;
      // The injected delay the latency rules measure, not a synchronisation.
      if (int d = b->delay_ms.load(); d > 0) std::this_thread::sleep_for(milliseconds(d));
      int status = b->status.load();
      const int nth = b->every_nth_fails.load();
      if (nth > 0 && n % uint64_t(nth) == 0) status = 500;
      const std::string reason = status == 200 ? "OK" : "Internal Server Error";
      if (!c.write("HTTP/1.1 " + std::to_string(status) + " " + reason +
                   "\r\nContent-Length: 2\r\n\r\nok"))
        return;
    }
  };
}

// Keep-alive clients sending GET /items/1 until stopped; `pause` spaces their requests.
class Traffic {
 public:
  Traffic(uint16_t port, int clients, milliseconds pause = milliseconds(0)) {
    for (int i = 0; i < clients; ++i) {
      threads_.emplace_back([this, port, pause] {
        std::unique_ptr<RawClient> c;
        while (!stop_.load()) {
          if (!c || !c->connected()) c = std::make_unique<RawClient>(port);
          HttpMessage resp;
          if (!c->exchange(simple_get("/items/1"), resp).ok()) {
            c.reset();
            ++failed_;
            continue;
          }
          ++done_;
          if (resp.status != 200) ++non_200_;
          if (pause.count() > 0) std::this_thread::sleep_for(pause);  // pacing, not sync
        }
      });
    }
  }
  ~Traffic() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  uint64_t done() const { return done_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> done_{0}, failed_{0}, non_200_{0};
  std::vector<std::thread> threads_;
};

// The log line of one state change: `"alertname":"X","severity":"S","from":"F","to":"T"`.
std::string change(std::string_view alert, std::string_view severity, std::string_view from,
                   std::string_view to) {
  return "\"alertname\":\"" + std::string(alert) + "\",\"severity\":\"" +
         std::string(severity) + "\",\"from\":\"" + std::string(from) + "\",\"to\":\"" +
         std::string(to) + "\"";
}

// The entry of /stats "alerts" for a rule and severity.
const JsonValue* find_alert(const JsonValue& stats, std::string_view rule,
                            std::string_view severity) {
  const JsonValue* alerts = stats.get("alerts");
  if (alerts == nullptr) return nullptr;
  for (const JsonValue& a : alerts->array) {
    const JsonValue* r = a.get("rule");
    const JsonValue* s = a.get("severity");
    if (r && s && r->string == rule && s->string == severity) return &a;
  }
  return nullptr;
}

Deadline long_wait() { return deadline_in(seconds(40)); }

class AlertsTest : public ProxyTest {
 protected:
  void start_with(const std::string& alerts_yaml) {
    backend_ = std::make_shared<Backend>();
    start(scripted(backend_), alerts_yaml, /*workers=*/2);
  }
  std::shared_ptr<Backend> backend_;
};

TEST_F(AlertsTest, SlowBackendFiresTheLatencyAlertAfterItsForAndResolvesWhenItRecovers) {
  start_with(R"(alerts:
  default_rules: false
  rules:
    - name: SlowBackend
      figure: latency.avg
      warning: 500ms
      critical: 1s
      window: 10s
      for: 2s
      min_requests: 3
    - name: SlowButNotEnoughRequests
      figure: latency.avg
      critical: 1s
      window: 10s
      for: 0s
      min_requests: 100000
)");
  backend_->delay_ms = 1200;
  Traffic traffic(port(), 4);
  ASSERT_TRUE(proxy_->wait_for_log(change("SlowBackend", "critical", "ok", "pending"), long_wait()))
      << proxy_->log_text();
  ASSERT_TRUE(proxy_->wait_for_log(change("SlowBackend", "critical", "pending", "firing"),
                                   long_wait()))
      << proxy_->log_text();
  {
    auto stats = fetch_stats(proxy_->stats_port());
    ASSERT_TRUE(stats);
    const JsonValue* crit = find_alert(*stats, "SlowBackend", "critical");
    ASSERT_NE(crit, nullptr);
    EXPECT_EQ(crit->get("state")->string, "firing");
    // Pending for at least `for` (2 s) before firing, by the proxy's own clock (wall
    // time, so a little slack for a clock step).
    const JsonValue* active = crit->get("active_since_unix_ms");
    ASSERT_TRUE(active && active->is_number());
    EXPECT_GE(crit->get("since_unix_ms")->number - active->number, 1900);
    EXPECT_GT(crit->get("value")->number, 1000);  // the injected 1.2 s, averaged
    EXPECT_EQ(crit->get("threshold")->number, 1000);
    EXPECT_EQ(crit->get("unit")->string, "ms");
    // One slow request in three does not page: that rule never left ok, and says why.
    const JsonValue* rare = find_alert(*stats, "SlowButNotEnoughRequests", "critical");
    ASSERT_NE(rare, nullptr);
    EXPECT_EQ(rare->get("state")->string, "ok");
    EXPECT_EQ(rare->get("value")->type, JsonValue::Type::kNull);
  }
  // The firing alert is on /metrics; the rule held back by min_requests is 0.
  {
    ExpositionCheck m = fetch_metrics(proxy_->stats_port());
    ASSERT_TRUE(m.errors.empty()) << m.errors.front();
    EXPECT_EQ(m.value("sidemeter_alert_firing", {{"alertname", "SlowBackend"},
                                                 {"severity", "critical"}}),
              1);
    EXPECT_EQ(m.value("sidemeter_alert_firing", {{"alertname", "SlowButNotEnoughRequests"},
                                                 {"severity", "critical"}}),
              0);
  }
  backend_->delay_ms = 0;  // recovery: fast answers pull the 10 s average down
  ASSERT_TRUE(proxy_->wait_for_log(change("SlowBackend", "critical", "firing", "ok"), long_wait()))
      << proxy_->log_text();
  ASSERT_TRUE(proxy_->wait_for_log(change("SlowBackend", "warning", "firing", "ok"), long_wait()))
      << proxy_->log_text();
  traffic.stop();
  EXPECT_TRUE(proxy_->events("alert_state").size() >= 6);
  for (const std::string& line : proxy_->events("alert_state"))
    EXPECT_EQ(line.find("SlowButNotEnoughRequests"), std::string::npos) << line;
}

TEST_F(AlertsTest, ErrorRateFiresAndTrafficStoppingFiresTheRpsRule) {
  start_with(R"(alerts:
  default_rules: false
  rules:
    - name: Errors
      figure: error_rate
      warning: 5%
      window: 10s
      for: 1s
      min_requests: 5
    - name: TrafficStopped
      figure: rps
      when: below
      critical: 0.5
      window: 10s
      for: 1s
)");
  backend_->status = 500;
  auto traffic = std::make_unique<Traffic>(port(), 2, milliseconds(20));
  ASSERT_TRUE(proxy_->wait_for_log(change("Errors", "warning", "pending", "firing"), long_wait()))
      << proxy_->log_text();
  // Traffic flows: whatever the uptime, the rps rule has not fired.
  for (const std::string& line : proxy_->events("alert_state"))
    EXPECT_EQ(line.find("TrafficStopped"), std::string::npos) << line;
  auto stats = fetch_stats(proxy_->stats_port());
  ASSERT_TRUE(stats);
  const JsonValue* err = find_alert(*stats, "Errors", "warning");
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->get("unit")->string, "ratio");
  EXPECT_GT(err->get("value")->number, 0.9);  // every answer was a 500

  traffic.reset();  // traffic stops
  ASSERT_TRUE(proxy_->wait_for_log(change("TrafficStopped", "critical", "pending", "firing"),
                                   long_wait()))
      << proxy_->log_text();
  // With fewer than min_requests left in the window the error rule stops judging.
  ASSERT_TRUE(proxy_->wait_for_log(change("Errors", "warning", "firing", "ok"), long_wait()))
      << proxy_->log_text();
}

TEST_F(AlertsTest, ReloadChangesAThresholdAndTheStateFollowsWithoutLosingHistory) {
  const std::string rule = R"(alerts:
  default_rules: false
  rules:
    - name: Slow
      figure: latency.avg
      warning: WARN
      critical: CRIT
      window: 10s
      for: 0s
      min_requests: 1
)";
  auto with = [&](std::string warn, std::string crit) {
    std::string y = rule;
    y.replace(y.find("WARN"), 4, warn);
    y.replace(y.find("CRIT"), 4, crit);
    return y;
  };
  start_with(with("100ms", "10s"));
  backend_->delay_ms = 300;
  Traffic traffic(port(), 3);
  ASSERT_TRUE(proxy_->wait_for_log(change("Slow", "warning", "ok", "firing"), long_wait()))
      << proxy_->log_text();
  auto before = fetch_stats(proxy_->stats_port());
  ASSERT_TRUE(before);
  const JsonValue* warn_before = find_alert(*before, "Slow", "warning");
  ASSERT_NE(warn_before, nullptr);
  const std::string active_since = warn_before->get("active_since")->string;

  // Critical lowered below the injected 300 ms: it fires; the warning keeps its history.
  ASSERT_TRUE(proxy_->rewrite_config(make_config(upstream_->address(), with("100ms", "200ms"), 2)));
  ASSERT_TRUE(proxy_->send_signal(SIGHUP));
  ASSERT_TRUE(proxy_->wait_for_log(change("Slow", "critical", "ok", "firing"), long_wait()))
      << proxy_->log_text();
  auto after = fetch_stats(proxy_->stats_port());
  ASSERT_TRUE(after);
  const JsonValue* warn_after = find_alert(*after, "Slow", "warning");
  ASSERT_NE(warn_after, nullptr);
  EXPECT_EQ(warn_after->get("state")->string, "firing");
  EXPECT_EQ(warn_after->get("active_since")->string, active_since);
  EXPECT_EQ(find_alert(*after, "Slow", "critical")->get("threshold")->number, 200);

  // Both raised above it: both resolve.
  ASSERT_TRUE(proxy_->rewrite_config(make_config(upstream_->address(), with("5s", "10s"), 2)));
  ASSERT_TRUE(proxy_->send_signal(SIGHUP));
  ASSERT_TRUE(proxy_->wait_for_log(change("Slow", "critical", "firing", "ok"), long_wait()))
      << proxy_->log_text();
  ASSERT_TRUE(proxy_->wait_for_log(change("Slow", "warning", "firing", "ok"), long_wait()))
      << proxy_->log_text();
  // Twice reloaded, never a config error.
  EXPECT_EQ(proxy_->events("config_reloaded").size(), 2u) << proxy_->log_text();
}

TEST_F(AlertsTest, TenPercentErrorsAgainstA999ObjectiveFiresTheFastBurnAlert) {
  start_with(R"(slos:
  - name: items-availability
    kind: availability
    objective: 99.9%
alerts:
  default_rules: false
)");
  backend_->every_nth_fails = 10;
  Traffic traffic(port(), 2, milliseconds(2));
  ASSERT_TRUE(proxy_->wait_for_log(change("ErrorBudgetBurn", "critical", "ok", "firing"),
                                   long_wait()))
      << proxy_->log_text();
  traffic.stop();
  auto stats = fetch_stats(proxy_->stats_port());
  ASSERT_TRUE(stats);
  const JsonValue* slos = stats->get("slos");
  ASSERT_TRUE(slos && slos->array.size() == 1);
  const JsonValue& slo = slos->array[0];
  EXPECT_EQ(slo.get("name")->string, "items-availability");
  const double good = slo.get("good")->number, total = slo.get("total")->number;
  ASSERT_GT(total, 0);
  // The burn rate is the error share over the budget (0.1 %): about 100 for 10 % errors.
  // Against the proxy's own good/total, so the check does not depend on timing.
  const double expected_burn = (1 - good / total) / 0.001;
  EXPECT_NEAR(expected_burn, 100, 25);
  EXPECT_NEAR(slo.at("burn_rates.5m")->number, expected_burn, expected_burn * 0.05);
  EXPECT_LT(slo.get("error_budget_remaining")->number, 0);  // 100x the budget: overspent
  ExpositionCheck m = fetch_metrics(proxy_->stats_port());
  ASSERT_TRUE(m.errors.empty()) << m.errors.front();
  EXPECT_GT(m.value("sidemeter_slo_burn_rate", {{"slo", "items-availability"}, {"window", "1h"}}),
            14.4);
  EXPECT_EQ(m.value("sidemeter_alert_firing", {{"alertname", "ErrorBudgetBurn"},
                                               {"severity", "critical"},
                                               {"slo", "items-availability"}}),
            1);
  EXPECT_GT(m.value("sidemeter_slo_memory_bytes", {}), 0);
  // The counters hold every event the slots got (all of them: under 6 h) and go on
  // from there; their ratio gives the same burn rate Prometheus would compute by
  // summing pods.
  EXPECT_EQ(slo.get("events_total")->number, total);
  EXPECT_EQ(slo.get("good_events_total")->number, good);
  const auto events = m.value("sidemeter_slo_events_total", {{"slo", "items-availability"}});
  const auto good_events =
      m.value("sidemeter_slo_good_events_total", {{"slo", "items-availability"}});
  ASSERT_TRUE(events && good_events);
  EXPECT_GE(*events, total);
  EXPECT_GE(*good_events, good);
  EXPECT_LE(*good_events, *events);
  EXPECT_NEAR((1 - *good_events / *events) / 0.001, 100, 25);
}

// A rule that fires on any traffic, delivered to `url` with the labels a pod would add.
std::string delivered_rule(const std::string& url, const std::string& warning) {
  return R"(alerts:
  default_rules: false
  labels: {pod: sidemeter-test-0, namespace: shop}
  delivery:
    alertmanager_urls: [")" +
         url + R"("]
    resend_interval: 2s
    timeout: 2s
  rules:
    - name: TrafficSeen
      figure: rps
      warning: )" +
         warning + R"(
      window: 10s
      for: 0s
)";
}

// Polls `pred` (which asks another process) until it holds or the deadline passes.
template <typename Pred>
bool poll_until(Pred pred, Deadline deadline) {
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(100));  // polling another process
  }
  return pred();
}

TEST_F(AlertsTest, AlertmanagerListsTheFiringAlertThenResolvesIt) {
  if (!Alertmanager::installed())
    GTEST_SKIP() << Alertmanager::kBinary << " not installed (Debian prometheus-alertmanager)";
  Alertmanager am;
  ASSERT_TRUE(am.started());
  ASSERT_TRUE(am.wait_ready()) << am.log();
  start_with(delivered_rule(am.url(), "0.1"));
  Traffic traffic(port(), 1, milliseconds(50));
  ASSERT_TRUE(proxy_->wait_for_log(change("TrafficSeen", "warning", "ok", "firing"), long_wait()))
      << proxy_->log_text();

  std::optional<JsonValue> seen;
  ASSERT_TRUE(poll_until(
      [&] {
        seen = am.listed("TrafficSeen", /*active_only=*/true).alert;
        return seen.has_value();
      },
      long_wait()))
      << am.log() << proxy_->log_text();
  EXPECT_EQ(seen->at("status.state")->string, "active");
  EXPECT_EQ(seen->at("labels.severity")->string, "warning");
  EXPECT_EQ(seen->at("labels.pod")->string, "sidemeter-test-0");
  EXPECT_EQ(seen->at("labels.namespace")->string, "shop");
  ASSERT_NE(seen->at("annotations.value"), nullptr);

  // The threshold raised by a reload: the alert resolves and Alertmanager is told once.
  ASSERT_TRUE(proxy_->rewrite_config(
      make_config(upstream_->address(), delivered_rule(am.url(), "1000000"), 2)));
  ASSERT_TRUE(proxy_->send_signal(SIGHUP));
  ASSERT_TRUE(proxy_->wait_for_log(change("TrafficSeen", "warning", "firing", "ok"), long_wait()))
      << proxy_->log_text();
  ASSERT_TRUE(poll_until(
      [&] {
        Alertmanager::Listing l = am.listed("TrafficSeen", /*active_only=*/true);
        return l.answered && !l.alert.has_value();
      },
      long_wait()))
      << "still active in Alertmanager\n" << am.log();
  traffic.stop();
  // Alertmanager may show the resolve before the sender has read its answer.
  EXPECT_TRUE(poll_until(
      [&] {
        return fetch_metrics(proxy_->stats_port())
                   .sum("sidemeter_alert_deliveries_total", {{"result", "success"}}) >= 2;
      },
      soon()));
  EXPECT_EQ(fetch_metrics(proxy_->stats_port())
                .sum("sidemeter_alert_deliveries_total", {{"result", "failure"}}),
            0);
}

TEST_F(AlertsTest, ADeadAlertmanagerCostsTrafficNothingAndItsFailuresAreCounted) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(refused_port());
  start_with(delivered_rule(dead, "0.1"));
  Traffic traffic(port(), 2, milliseconds(5));
  ASSERT_TRUE(proxy_->wait_for_log(change("TrafficSeen", "warning", "ok", "firing"), long_wait()))
      << proxy_->log_text();
  ASSERT_TRUE(poll_until(
      [&] {
        return fetch_metrics(proxy_->stats_port())
                   .sum("sidemeter_alert_deliveries_total", {{"result", "failure"}}) >= 2;
      },
      long_wait()))
      << proxy_->log_text();
  traffic.stop();
  EXPECT_GT(traffic.done(), 0u);
  EXPECT_EQ(traffic.failed(), 0u);  // every request answered while deliveries failed
  EXPECT_TRUE(proxy_->wait_for_log("\"alert_delivery_failed\"", soon())) << proxy_->log_text();
}

}  // namespace
}  // namespace sidemeter::testing
