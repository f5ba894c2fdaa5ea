// Alert delivery: the documents, a fake webhook, a dead receiver, the queue bound, the
// resend interval, retries, and a real Alertmanager (Debian prometheus-alertmanager).
#include "proxy/alerts/alert_sender.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "proxy/alerts/alert_payload.h"
#include "proxy/text/rfc3339.h"
#include "tests/proxy/alerts/fake_receiver.h"
#include "tests/support/alertmanager.h"
#include "tests/support/http_message.h"
#include "tests/support/json_value.h"
#include "tests/support/socket.h"

namespace sidemeter::alerts {
namespace {

using metrics::alerts::AlertState;
using metrics::alerts::Severity;
using metrics::alerts::State;
using metrics::alerts::Transition;
using namespace std::chrono_literals;
using testing::FakeReceiver;
using testing::JsonValue;
using testing::parse_json;

std::string rfc3339(uint64_t unix_ms) {
  std::string s;
  text::append_rfc3339_ms(s, unix_ms);
  return s;
}

uint64_t wall_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

conf::HttpUrl loopback(uint16_t port, std::string path = "/") {
  conf::HttpUrl u;
  u.host = "127.0.0.1";
  u.port = port;
  u.path = std::move(path);
  return u;
}

std::string receiver_name(uint16_t port, std::string path = "/") {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

AlertState make_alert(std::string name, State state, uint64_t since, uint64_t active_since) {
  AlertState a;
  a.alertname = std::move(name);
  a.severity = Severity::kCritical;
  a.state = state;
  a.value = 1234.5;
  a.threshold = 1000;
  a.figure = "latency.avg";
  a.window = "1m";
  a.since_unix_ms = since;
  a.active_since_unix_ms = active_since;
  a.labels = {{"route", "/users/{id}"}, {"method", "GET"}};
  return a;
}

// Polls `pred` every 10 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

AlertSender::ReceiverCounters counters_of(const AlertSender& s, const std::string& name) {
  for (const auto& c : s.counters())
    if (c.receiver == name) return c;
  return {};
}

JsonValue parse_or_fail(const std::string& text) {
  std::string error;
  auto v = parse_json(text, &error);
  EXPECT_TRUE(v.has_value()) << error << "\n" << text;
  return v.value_or(JsonValue{});
}

std::string str_at(const JsonValue& v, std::string_view path) {
  const JsonValue* x = v.at(path);
  return x != nullptr ? x->string : std::string("<missing " + std::string(path) + ">");
}

// ---------------------------------------------------------------------------------------
// The documents.

TEST(AlertPayloadTest, Rfc3339IsUtcWithMilliseconds) {
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339(1714564800123), "2024-05-01T12:00:00.123Z");
}

TEST(AlertPayloadTest, AlertmanagerBodyCarriesLabelsAnnotationsAndTimes) {
  AlertState a = make_alert("LatencyAvgHigh", State::kFiring, 1714564800000, 1714564770000);
  a.labels.push_back({"severity", "overridden?"});  // the alert's own severity wins
  std::vector<AmAlert> batch = {{&a, a.active_since_unix_ms, 1714565040000}};
  std::string body = alertmanager_body(
      batch, {{"pod", "p-1"}, {"route", "configured"}, {"empty", ""}, {"namespace", "ns"}},
      "10.0.0.1:8080");
  JsonValue doc = parse_or_fail(body);
  ASSERT_TRUE(doc.is_array());
  ASSERT_EQ(doc.array.size(), 1u);
  const JsonValue& al = doc.array[0];
  EXPECT_EQ(str_at(al, "labels.alertname"), "LatencyAvgHigh");
  EXPECT_EQ(str_at(al, "labels.severity"), "critical");
  EXPECT_EQ(str_at(al, "labels.route"), "/users/{id}");
  EXPECT_EQ(str_at(al, "labels.method"), "GET");
  EXPECT_EQ(str_at(al, "labels.pod"), "p-1");
  EXPECT_EQ(str_at(al, "labels.namespace"), "ns");
  EXPECT_EQ(str_at(al, "labels.instance"), "10.0.0.1:8080");
  EXPECT_EQ(al.at("labels.empty"), nullptr);
  EXPECT_EQ(str_at(al, "annotations.value"), "1234.5");
  EXPECT_EQ(str_at(al, "annotations.threshold"), "1000");
  EXPECT_EQ(str_at(al, "annotations.figure"), "latency.avg");
  EXPECT_EQ(str_at(al, "annotations.window"), "1m");
  EXPECT_EQ(str_at(al, "annotations.summary"), "latency.avg is 1234.5 (above 1000) over 1m");
  EXPECT_EQ(str_at(al, "startsAt"), "2024-05-01T11:59:30.000Z");
  EXPECT_EQ(str_at(al, "endsAt"), "2024-05-01T12:04:00.000Z");
  EXPECT_EQ(str_at(al, "generatorURL"), "http://10.0.0.1:8080/stats");
  // Label order: alertname, severity, the rule's labels, configured ones, instance.
  std::vector<std::string> keys;
  for (const auto& [k, v] : al.get("labels")->object) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"alertname", "severity", "route", "method", "pod",
                                            "namespace", "instance"}));
}

TEST(AlertPayloadTest, WebhookBodyHasOneEntryPerTransition) {
  Transition t1{State::kOk, make_alert("A", State::kPending, 1000, 1000)};
  Transition t2{State::kFiring, make_alert("B", State::kOk, 5000, 0)};
  t2.alert.value = std::nan("");
  std::string body = webhook_body({t1, t2}, {{"pod", "p"}}, "h:1", 6000);
  JsonValue doc = parse_or_fail(body);
  EXPECT_EQ(str_at(doc, "version"), "1");
  EXPECT_EQ(str_at(doc, "instance"), "h:1");
  ASSERT_NE(doc.get("alerts"), nullptr);
  const auto& alerts = doc.get("alerts")->array;
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(str_at(alerts[0], "alertname"), "A");
  EXPECT_EQ(str_at(alerts[0], "from"), "ok");
  EXPECT_EQ(str_at(alerts[0], "to"), "pending");
  EXPECT_EQ(alerts[0].get("value")->number, 1234.5);
  EXPECT_EQ(alerts[0].get("threshold")->number, 1000);
  EXPECT_EQ(str_at(alerts[0], "labels.route"), "/users/{id}");
  EXPECT_EQ(str_at(alerts[0], "labels.pod"), "p");
  EXPECT_EQ(str_at(alerts[0], "labels.instance"), "h:1");
  EXPECT_EQ(str_at(alerts[1], "from"), "firing");
  EXPECT_EQ(str_at(alerts[1], "to"), "ok");
  EXPECT_EQ(alerts[1].get("value")->type, JsonValue::Type::kNull);
  EXPECT_EQ(alerts[1].get("active_since")->type, JsonValue::Type::kNull);
  EXPECT_EQ(str_at(alerts[1], "since"), "1970-01-01T00:00:05.000Z");
}

// ---------------------------------------------------------------------------------------
// The sender against fake receivers.

TEST(AlertSenderTest, WebhookReceivesEachEvaluationsTransitions) {
  FakeReceiver hook;
  ASSERT_TRUE(hook.listening());
  conf::AlertDelivery d;
  d.webhook_urls = {loopback(hook.port(), "/hooks/alerts?token=x")};
  AlertSender sender(d, {{"namespace", "prod"}}, "127.0.0.1:8080");
  std::string error;
  ASSERT_TRUE(sender.start(error)) << error;

  uint64_t now = wall_ms();
  // Nothing changed: no message.
  sender.submit({}, {}, now);
  Transition t{State::kPending, make_alert("LatencyAvgHigh", State::kFiring, now, now - 30000)};
  sender.submit({t}, {t.alert}, now);
  ASSERT_TRUE(hook.wait_for(1, 10s));
  auto reqs = hook.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/hooks/alerts?token=x");
  EXPECT_EQ(reqs[0].header("content-type").value_or(""), "application/json");
  EXPECT_EQ(reqs[0].header("connection").value_or(""), "close");
  EXPECT_EQ(reqs[0].header("host").value_or(""), "127.0.0.1:" + std::to_string(hook.port()));
  JsonValue doc = parse_or_fail(reqs[0].body);
  ASSERT_NE(doc.get("alerts"), nullptr);
  ASSERT_EQ(doc.get("alerts")->array.size(), 1u);
  const JsonValue& a = doc.get("alerts")->array[0];
  EXPECT_EQ(str_at(a, "alertname"), "LatencyAvgHigh");
  EXPECT_EQ(str_at(a, "from"), "pending");
  EXPECT_EQ(str_at(a, "to"), "firing");
  EXPECT_EQ(str_at(a, "labels.namespace"), "prod");

  std::string name = receiver_name(hook.port(), "/hooks/alerts?token=x");
  EXPECT_TRUE(eventually([&] { return counters_of(sender, name).success == 1; }));
  auto c = counters_of(sender, name);
  EXPECT_EQ(c.kind, "webhook");
  EXPECT_EQ(c.failure, 0u);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.queued, 0u);
  sender.stop();
  EXPECT_EQ(sender.loop_close_result(), 0);
  EXPECT_EQ(hook.count(), 1u);  // the empty evaluation sent nothing
}

TEST(AlertSenderTest, HostNamesGoThroughTheResolver) {
  FakeReceiver hook;
  ASSERT_TRUE(hook.listening());
  conf::AlertDelivery d;
  conf::HttpUrl named = loopback(hook.port(), "/named");
  named.host = "localhost";
  conf::HttpUrl bogus = loopback(hook.port(), "/bogus");
  bogus.host = "no-such-host.invalid";
  d.webhook_urls = {named, bogus};
  d.timeout_ms = 5'000;
  AlertSender sender(d, {}, "");
  std::string error;
  ASSERT_TRUE(sender.start(error)) << error;
  uint64_t now = wall_ms();
  Transition t{State::kOk, make_alert("Named", State::kPending, now, now)};
  sender.submit({t}, {t.alert}, now);
  ASSERT_TRUE(hook.wait_for(1, 10s));
  EXPECT_EQ(hook.requests()[0].target, "/named");
  EXPECT_EQ(hook.requests()[0].header("host").value_or(""),
            "localhost:" + std::to_string(hook.port()));
  std::string bogus_name = "http://no-such-host.invalid:" + std::to_string(hook.port()) + "/bogus";
  EXPECT_TRUE(eventually([&] { return counters_of(sender, bogus_name).failure >= 1; }, 15s));
  sender.stop();
  EXPECT_EQ(sender.loop_close_result(), 0);
}

TEST(AlertSenderTest, DeadReceiversCountFailuresAndSubmitNeverWaits) {
  // One port refuses connections; the other listens but never accepts nor answers.
  uint16_t refused = testing::refused_port();
  testing::Listener silent = testing::listen_loopback(1);
  ASSERT_GE(silent.fd, 0);
  conf::AlertDelivery d;
  d.alertmanager_urls = {loopback(refused)};
  d.webhook_urls = {loopback(silent.port)};
  d.timeout_ms = 200;
  AlertSender sender(d, {}, "127.0.0.1:8080");
  std::string error;
  ASSERT_TRUE(sender.start(error)) << error;

  uint64_t now = wall_ms();
  auto worst = std::chrono::nanoseconds(0);
  for (int i = 0; i < 200; ++i) {
    State from = i % 2 == 0 ? State::kPending : State::kFiring;
    State to = i % 2 == 0 ? State::kFiring : State::kOk;
    Transition t{from, make_alert("ErrorRateHigh", to, now + i * 10, to == State::kOk ? 0 : now)};
    std::vector<AlertState> alerts;
    if (to == State::kFiring) alerts.push_back(t.alert);
    auto t0 = std::chrono::steady_clock::now();
    sender.submit({t}, alerts, now + uint64_t(i) * 10);
    worst = std::max(worst, std::chrono::steady_clock::now() - t0);
    std::this_thread::sleep_for(2ms);
  }
  // A submit copies and pushes: far below the 200 ms attempt timeout a blocking send
  // would wait for, even on a loaded box.
  EXPECT_LT(worst, 100ms) << "a submit() took "
                         << std::chrono::duration_cast<std::chrono::microseconds>(worst).count()
                         << " µs";
  std::string am = receiver_name(refused), hook = receiver_name(silent.port);
  EXPECT_TRUE(eventually([&] {
    return counters_of(sender, am).failure >= 2 && counters_of(sender, hook).failure >= 2;
  }, 15s)) << "alertmanager failures " << counters_of(sender, am).failure << ", webhook failures "
           << counters_of(sender, hook).failure;
  EXPECT_EQ(counters_of(sender, am).success, 0u);
  EXPECT_EQ(counters_of(sender, hook).success, 0u);
  EXPECT_GT(counters_of(sender, hook).queued, 0u);

  auto t0 = std::chrono::steady_clock::now();
  sender.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);  // in-flight attempts are cancelled
  EXPECT_EQ(sender.loop_close_result(), 0);
  auto c = counters_of(sender, hook);
  EXPECT_EQ(c.queued, 0u);
  EXPECT_GT(c.dropped, 0u);  // what was waiting at stop
  ::close(silent.fd);
}

TEST(AlertSenderTest, QueueBoundDropsTheOldest) {
  testing::Listener silent = testing::listen_loopback(1);
  ASSERT_GE(silent.fd, 0);
  conf::AlertDelivery d;
  d.webhook_urls = {loopback(silent.port)};
  d.timeout_ms = 60'000;  // the first message stays in flight for the whole test
  d.queue_max = 3;
  AlertSender sender(d, {}, "");
  std::string error;
  ASSERT_TRUE(sender.start(error)) << error;
  uint64_t now = wall_ms();
  for (int i = 0; i < 10; ++i) {
    std::string name = "Q";  // appended, not "Q" + ...: GCC 12 -O3 warns falsely on that
    name += std::to_string(i);
    Transition t{State::kOk, make_alert(name, State::kPending, now, now)};
    sender.submit({t}, {t.alert}, now);
  }
  std::string name = receiver_name(silent.port);
  // One in flight, three waiting, six dropped.
  EXPECT_TRUE(eventually([&] { return counters_of(sender, name).dropped == 6; }))
      << counters_of(sender, name).dropped;
  EXPECT_EQ(counters_of(sender, name).queued, 4u);
  EXPECT_EQ(counters_of(sender, name).failure, 0u);
  sender.stop();
  EXPECT_EQ(counters_of(sender, name).dropped, 10u);
  EXPECT_EQ(sender.loop_close_result(), 0);
  ::close(silent.fd);
}

TEST(AlertSenderTest, ServerErrorsAreRetriedAndClientErrorsAreNot) {
  FakeReceiver hook(503);
  ASSERT_TRUE(hook.listening());
  conf::AlertDelivery d;
  d.webhook_urls = {loopback(hook.port())};
  AlertSender sender(d, {}, "");
  std::string error;
  ASSERT_TRUE(sender.start(error)) << error;
  std::string name = receiver_name(hook.port());
  uint64_t now = wall_ms();
  Transition t{State::kOk, make_alert("Retry", State::kPending, now, now)};
  sender.submit({t}, {t.alert}, now);
  // 503: retried after the backoff (0.5 s, then 1 s): the same document arrives again.
  ASSERT_TRUE(hook.wait_for(2, 10s));
  hook.set_status(200);
  EXPECT_TRUE(eventually([&] { return counters_of(sender, name).success == 1; }));
  auto reqs = hook.requests();
  EXPECT_EQ(reqs.front().body, reqs.back().body);
  EXPECT_GE(counters_of(sender, name).failure, 2u);

  // 400: counted once and given up; the next message is the next request.
  // The sender counts a success as soon as it reads the answer, which can be before the
  // receiver's thread counts the request as answered: settle first, or `before` would
  // miss the last retry (an ASan run under load caught exactly that).
  EXPECT_TRUE(eventually([&] { return hook.count() == hook.requests().size(); }));
  hook.set_status(400);
  uint64_t failures = counters_of(sender, name).failure;
  size_t before = hook.count();
  Transition t2{State::kPending, make_alert("Rejected", State::kFiring, now, now)};
  sender.submit({t2}, {t2.alert}, now);
  ASSERT_TRUE(hook.wait_for(before + 1, 10s));
  EXPECT_TRUE(eventually([&] { return counters_of(sender, name).failure == failures + 1; }));
  hook.set_status(200);
  Transition t3{State::kFiring, make_alert("Rejected", State::kOk, now + 1, 0)};
  sender.submit({t3}, {}, now + 1);
  ASSERT_TRUE(hook.wait_for(before + 2, 10s));
  EXPECT_TRUE(eventually([&] { return counters_of(sender, name).success == 2; }));
  reqs = hook.requests();
  ASSERT_EQ(reqs.size(), before + 2);  // the rejected one was not sent again
  EXPECT_NE(reqs.back().body.find("\"to\":\"ok\""), std::string::npos) << reqs.back().body;
  EXPECT_EQ(counters_of(sender, name).failure, failures + 1);
  sender.stop();
  EXPECT_EQ(sender.loop_close_result(), 0);
}

TEST(AlertSenderTest, AlertmanagerGetsFiringResentEachIntervalAndResolvedOnce) {
  FakeReceiver am;
  ASSERT_TRUE(am.listening());
  FakeReceiver am2;  // the other half of an HA pair
  ASSERT_TRUE(am2.listening());
  conf::AlertDelivery d;
  d.alertmanager_urls = {loopback(am.port(), "/am/"), loopback(am2.port())};
  d.resend_interval_ms = 1000;
  AlertSender sender(d, {{"pod", "p-1"}}, "127.0.0.1:8080");
  std::string error;
  ASSERT_TRUE(sender.start(error)) << error;

  // A fake evaluation clock: one evaluation every 100 ms of it.
  const uint64_t t0 = 1'714'564'800'000;
  AlertState pending = make_alert("LatencyAvgHigh", State::kPending, t0 - 5000, t0 - 5000);
  sender.submit({Transition{State::kOk, pending}}, {pending}, t0 - 5000);  // pending: not sent
  AlertState firing = make_alert("LatencyAvgHigh", State::kFiring, t0, t0 - 5000);
  sender.submit({Transition{State::kPending, firing}}, {firing}, t0);
  for (uint64_t t = t0 + 100; t <= t0 + 3500; t += 100) sender.submit({}, {firing}, t);
  // Sent at t0 (started firing), then at t0 + 1000, + 2000, + 3000.
  std::string name = receiver_name(am.port(), "/am/");
  EXPECT_TRUE(eventually([&] { return counters_of(sender, name).success == 4; }))
      << counters_of(sender, name).success;

  AlertState resolved = make_alert("LatencyAvgHigh", State::kOk, t0 + 3600, 0);
  sender.submit({Transition{State::kFiring, resolved}}, {resolved}, t0 + 3600);
  for (uint64_t t = t0 + 3700; t <= t0 + 6000; t += 100) sender.submit({}, {resolved}, t);
  EXPECT_TRUE(eventually([&] { return counters_of(sender, name).success == 5; }));
  EXPECT_TRUE(eventually([&] {
    return counters_of(sender, receiver_name(am2.port())).success == 5;
  }));
  sender.stop();
  EXPECT_EQ(sender.loop_close_result(), 0);

  auto reqs = am.requests();
  ASSERT_EQ(reqs.size(), 5u);  // nothing more after the resolve
  EXPECT_EQ(am2.count(), 5u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(reqs[i].target, "/am/api/v2/alerts");
    JsonValue doc = parse_or_fail(reqs[i].body);
    ASSERT_TRUE(doc.is_array());
    ASSERT_EQ(doc.array.size(), 1u);
    EXPECT_EQ(str_at(doc.array[0], "labels.pod"), "p-1");
    EXPECT_EQ(str_at(doc.array[0], "startsAt"), rfc3339(t0 - 5000));
    // endsAt: the send's evaluation time + 4 × resend_interval.
    EXPECT_EQ(str_at(doc.array[0], "endsAt"), rfc3339(t0 + i * 1000 + 4000)) << i;
  }
  JsonValue last = parse_or_fail(reqs[4].body);
  ASSERT_EQ(last.array.size(), 1u);
  EXPECT_EQ(str_at(last.array[0], "startsAt"), rfc3339(t0 - 5000));
  EXPECT_EQ(str_at(last.array[0], "endsAt"), rfc3339(t0 + 3600));
  EXPECT_EQ(am2.requests()[0].target, "/api/v2/alerts");
}

TEST(AlertSenderTest, ReconfigureMovesReceiversKeepsCountersAndAppliesLabels) {
  testing::Listener silent = testing::listen_loopback(1);
  ASSERT_GE(silent.fd, 0);
  FakeReceiver hook;
  ASSERT_TRUE(hook.listening());
  conf::AlertDelivery d;
  d.webhook_urls = {loopback(silent.port)};
  d.timeout_ms = 60'000;
  AlertSender sender(d, {{"pod", "old"}}, "");
  std::string error;
  ASSERT_TRUE(sender.start(error)) << error;
  uint64_t now = wall_ms();
  Transition t{State::kOk, make_alert("R", State::kPending, now, now)};
  sender.submit({t}, {t.alert}, now);
  sender.submit({t}, {t.alert}, now);
  std::string old_name = receiver_name(silent.port), new_name = receiver_name(hook.port());
  EXPECT_TRUE(eventually([&] { return counters_of(sender, old_name).queued == 2; }));

  conf::AlertDelivery d2 = d;
  d2.webhook_urls = {loopback(hook.port())};
  sender.reconfigure(d2, {{"pod", "new"}});
  sender.submit({t}, {t.alert}, now + 1);
  ASSERT_TRUE(hook.wait_for(1, 10s));
  JsonValue doc = parse_or_fail(hook.requests()[0].body);
  EXPECT_EQ(str_at(doc.get("alerts")->array.at(0), "labels.pod"), "new");
  EXPECT_TRUE(eventually([&] { return counters_of(sender, new_name).success == 1; }));
  // The removed receiver's counters stay; what it held is dropped.
  auto old_c = counters_of(sender, old_name);
  EXPECT_EQ(old_c.receiver, old_name);
  EXPECT_EQ(old_c.dropped, 2u);
  EXPECT_EQ(old_c.queued, 0u);
  EXPECT_EQ(sender.counters().size(), 2u);
  sender.stop();
  EXPECT_EQ(sender.loop_close_result(), 0);
  // After stop: nothing happens, nothing crashes.
  sender.submit({t}, {t.alert}, now + 2);
  sender.reconfigure(d, {});
  ::close(silent.fd);
}

// ---------------------------------------------------------------------------------------
// A real Alertmanager.

TEST(AlertSenderAlertmanagerTest, RealAlertmanagerListsTheAlertThenResolvesIt) {
  if (!testing::Alertmanager::installed())
    GTEST_SKIP() << testing::Alertmanager::kBinary
                 << " not installed (Debian package prometheus-alertmanager)";
  testing::Alertmanager am;
  ASSERT_TRUE(am.started());
  ASSERT_TRUE(am.wait_ready()) << am.log();

  conf::AlertDelivery d;
  d.alertmanager_urls = {loopback(am.port())};
  d.resend_interval_ms = 60'000;
  d.timeout_ms = 5'000;
  AlertSender sender(d, {{"pod", "sidemeter-0"}, {"namespace", "shop"}}, "127.0.0.1:8080");
  std::string error;
  ASSERT_TRUE(sender.start(error)) << error;

  const std::string name = "SidemeterDeliveryTest";
  uint64_t now = wall_ms();
  AlertState firing = make_alert(name, State::kFiring, now, now - 30'000);
  sender.submit({Transition{State::kPending, firing}}, {firing}, now);

  std::optional<JsonValue> seen;
  EXPECT_TRUE(eventually([&] {
    seen = am.listed(name, /*active_only=*/false).alert;
    return seen && str_at(*seen, "status.state") == "active";
  }, 20s)) << am.log();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(str_at(*seen, "labels.severity"), "critical");
  EXPECT_EQ(str_at(*seen, "labels.route"), "/users/{id}");
  EXPECT_EQ(str_at(*seen, "labels.method"), "GET");
  EXPECT_EQ(str_at(*seen, "labels.pod"), "sidemeter-0");
  EXPECT_EQ(str_at(*seen, "labels.namespace"), "shop");
  EXPECT_EQ(str_at(*seen, "labels.instance"), "127.0.0.1:8080");
  EXPECT_EQ(str_at(*seen, "annotations.value"), "1234.5");
  EXPECT_EQ(str_at(*seen, "annotations.threshold"), "1000");
  EXPECT_EQ(str_at(*seen, "generatorURL"), "http://127.0.0.1:8080/stats");

  uint64_t resolved_at = wall_ms();
  AlertState ok = make_alert(name, State::kOk, resolved_at, 0);
  sender.submit({Transition{State::kFiring, ok}}, {ok}, resolved_at);
  // Resolved: no longer listed as active (or listed with endsAt in the past).
  std::string last_seen;
  EXPECT_TRUE(eventually([&] {
    testing::Alertmanager::Listing l = am.listed(name, /*active_only=*/true);
    if (!l.answered) return false;
    if (!l.alert) return true;
    last_seen = str_at(*l.alert, "status.state") + " endsAt " + str_at(*l.alert, "endsAt");
    return str_at(*l.alert, "status.state") != "active";
  }, 20s)) << "still listed: " << last_seen << "\n" << am.log();
  EXPECT_TRUE(eventually([&] { return counters_of(sender, receiver_name(am.port())).success == 2; }));
  EXPECT_EQ(counters_of(sender, receiver_name(am.port())).failure, 0u);
  sender.stop();
  EXPECT_EQ(sender.loop_close_result(), 0);
}

}  // namespace
}  // namespace sidemeter::alerts
