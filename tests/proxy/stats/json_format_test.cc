#include "proxy/stats/json_format.h"

#include <gtest/gtest.h>

#include "tests/proxy/stats/traffic.h"
#include "tests/support/json_value.h"

namespace sidemeter::stats {
namespace {

using metrics::Method;
using testing::JsonValue;
using testing::TestRegistry;

JsonValue parse_ok(const std::string& text) {
  std::string error;
  auto v = testing::parse_json(text, &error);
  EXPECT_TRUE(v.has_value()) << error << "\n" << text;
  return v.value_or(JsonValue{});
}

std::vector<std::string> keys(const JsonValue* v) {
  std::vector<std::string> k;
  if (v) {
    for (const auto& [name, unused] : v->object) k.push_back(name);
  }
  return k;
}

void record_mix(TestRegistry& r) {
  r.record({.path = "/users/1", .ttfb_ns = 2'000'000, .response_body = 1000}, 3);
  r.record({.method = Method::kPost,
            .path = "/orders",
            .status = 201,
            .ttfb_ns = 50'000'000,
            .connect_ns = 300'000,
            .request_body = 2000},
           2);
  r.record({.path = "/users/3",
            .status = 0,
            .ttfb_ns = 1'000'000,
            .upstream_error = metrics::UpstreamError::kConnectRefused});
  r.tick();
}

TEST(JsonFormat, DocumentFollowsTheSchema) {
  TestRegistry r(/*process_stats=*/true);
  record_mix(r);
  std::string text;
  append_stats_json(r.registry.snapshot(), {}, {}, text);
  const JsonValue doc = parse_ok(text);
  EXPECT_EQ(keys(&doc),
            (std::vector<std::string>{"version", "uptime_s", "ticks", "upstream_up", "draining", "config_hash",
                                      "windows", "routes", "connections", "process", "tls", "route_table", "alerts", "slos"}));
  EXPECT_EQ(keys(doc.get("windows")), (std::vector<std::string>{"10s", "1m", "5m", "total"}));
  const JsonValue* w = doc.at("windows.1m");
  ASSERT_NE(w, nullptr);
  for (const char* k : {"requests", "rps", "errors", "error_rate", "latency_ms", "upstream_ttfb_ms",
                        "upstream_connect_ms", "upstream_tls_handshake_ms",
                        "proxy_overhead_ms", "request_bytes",
                        "response_bytes", "status", "upstream_errors", "downstream_errors"}) {
    EXPECT_NE(w->get(k), nullptr) << k;
  }
  for (const char* k : {"avg", "p50", "p90", "p95", "p99", "p999", "max"}) {
    EXPECT_TRUE(w->at(std::string("latency_ms.") + k)->is_number()) << k;
  }
  for (const char* k : {"total", "avg", "p50", "p95", "max"}) {
    EXPECT_TRUE(w->at(std::string("request_bytes.") + k)->is_number()) << k;
  }
  EXPECT_EQ(keys(w->get("status")), (std::vector<std::string>{"1xx", "2xx", "3xx", "4xx", "5xx"}));
  EXPECT_EQ(w->get("requests")->number, 6);
  EXPECT_EQ(w->at("status.2xx")->number, 5);
  EXPECT_EQ(w->get("errors")->number, 1);  // no response because of an upstream error
  EXPECT_EQ(w->at("upstream_errors.connect_refused")->number, 1);
  EXPECT_EQ(w->at("upstream_errors.connect_timeout")->number, 0);
  EXPECT_EQ(w->at("request_bytes.total")->number, 4000);
  EXPECT_EQ(w->at("upstream_connect_ms.count")->number, 2);
  EXPECT_NEAR(w->at("upstream_connect_ms.p50")->number, 0.3, 0.3 * 0.01);

  const JsonValue* routes = doc.get("routes");
  ASSERT_TRUE(routes && routes->is_array());
  ASSERT_EQ(routes->array.size(), 2u);  // GET /users/{id}, POST /orders
  for (const JsonValue& route : routes->array) {
    EXPECT_EQ(keys(route.get("windows")), (std::vector<std::string>{"10s", "1m", "5m", "total"}));
    if (route.get("route")->string == "/users/{id}") {
      EXPECT_EQ(route.get("method")->string, "GET");
      EXPECT_EQ(route.at("windows.1m.requests")->number, 4);
      EXPECT_NEAR(route.at("windows.1m.latency_ms.p50")->number, 2.03, 2.03 * 0.01);
    }
  }
  for (const char* k : {"cpu_percent", "cpu_seconds", "rss_bytes", "open_fds", "threads"}) {
    EXPECT_NE(doc.at(std::string("process.") + k), nullptr) << k;
  }
  EXPECT_GT(doc.at("process.rss_bytes")->number, 0);
  ASSERT_TRUE(doc.get("alerts")->is_array());
  EXPECT_TRUE(doc.get("alerts")->array.empty());  // no alert state handed in
  ASSERT_TRUE(doc.get("slos")->is_array());
  EXPECT_TRUE(doc.get("slos")->array.empty());
}

TEST(JsonFormat, WindowAndRouteFilters) {
  TestRegistry r;
  record_mix(r);
  JsonFilter f;
  f.windows = f.route_windows = window_bit(metrics::Window::k1m);
  f.route = "/orders";
  std::string text;
  append_stats_json(r.registry.snapshot(), {}, f, text);
  const JsonValue doc = parse_ok(text);
  EXPECT_EQ(keys(doc.get("windows")), (std::vector<std::string>{"1m"}));
  ASSERT_EQ(doc.get("routes")->array.size(), 1u);
  const JsonValue& route = doc.get("routes")->array[0];
  EXPECT_EQ(route.get("route")->string, "/orders");
  EXPECT_EQ(keys(route.get("windows")), (std::vector<std::string>{"1m"}));
  EXPECT_EQ(route.at("windows.1m.requests")->number, 2);

  f.route = "/nope";
  text.clear();
  append_stats_json(r.registry.snapshot(), {}, f, text);
  EXPECT_TRUE(parse_ok(text).get("routes")->array.empty());

  f = JsonFilter{};
  f.method = "POST";
  text.clear();
  append_stats_json(r.registry.snapshot(), {}, f, text);
  ASSERT_EQ(parse_ok(text).get("routes")->array.size(), 1u);
}

TEST(JsonFormat, EmptySnapshotIsValid) {
  TestRegistry r;
  JsonFilter f;
  f.windows = kAllWindows;
  std::string text;
  append_stats_json(r.registry.snapshot(), {false, true, "cafe0123cafe0123"}, f, text);
  const JsonValue doc = parse_ok(text);
  EXPECT_EQ(keys(doc.get("windows")).size(), 5u);
  EXPECT_EQ(doc.get("upstream_up")->boolean, false);
  EXPECT_EQ(doc.get("draining")->boolean, true);
  EXPECT_EQ(doc.get("config_hash")->string, "cafe0123cafe0123");
  EXPECT_EQ(doc.at("process.rss_bytes")->type, JsonValue::Type::kNull);  // process stats off
}

TEST(JsonFormat, StringsFromTheNetworkStayValidJson) {
  metrics::Snapshot snap;
  metrics::RouteStats route;
  route.route = std::string("/a\"b\\c\nd\x01\xFF", 10);
  snap.routes.push_back(route);
  snap.windows[size_t(metrics::Window::k1m)].rejected.emplace_back("x\"y", 1);
  std::string text;
  append_stats_json(snap, {}, {}, text);
  const JsonValue doc = parse_ok(text);
  EXPECT_EQ(doc.get("routes")->array[0].get("route")->string, "/a\"b\\c\nd\x01\xEF\xBF\xBD");
  EXPECT_EQ(doc.at("windows.1m.rejected")->get("x\"y")->number, 1);
}

TEST(JsonFormat, ParseWindow) {
  EXPECT_EQ(parse_window("1m"), metrics::Window::k1m);
  EXPECT_EQ(parse_window("total"), metrics::Window::kTotal);
  EXPECT_EQ(parse_window("1s"), metrics::Window::k1s);
  EXPECT_FALSE(parse_window("2m").has_value());
}

TEST(HistoryJson, ShapeAndFiguresPerSecond) {
  TestRegistry r;
  r.record({.path = "/a", .ttfb_ns = 4'000'000, .request_body = 10, .response_body = 300}, 3);
  r.tick();
  r.tick();  // an idle second
  r.record({.path = "/a", .status = 0, .upstream_error = metrics::UpstreamError::kConnectRefused});
  r.record({.path = "/a", .ttfb_ns = 8'000'000, .connect_ns = 500'000}, 1);
  r.tick();
  std::string out;
  append_history_json(r.registry.history(), out);
  const JsonValue doc = parse_ok(out);
  EXPECT_EQ(keys(&doc), (std::vector<std::string>{"version", "ticks", "points"}));
  EXPECT_EQ(doc.get("ticks")->number, 3);
  const JsonValue* points = doc.get("points");
  ASSERT_TRUE(points && points->is_array());
  ASSERT_EQ(points->array.size(), 3u);
  const std::vector<std::string> point_keys = {"seq",
                                               "requests",
                                               "rps",
                                               "errors",
                                               "error_rate",
                                               "upstream_errors",
                                               "latency_ms",
                                               "upstream_ttfb_ms",
                                               "upstream_connect_ms",
                                               "upstream_tls_handshake_ms",
                                               "proxy_overhead_ms",
                                               "request_bytes",
                                               "response_bytes",
                                               "cpu_percent",
                                               "rss_bytes"};
  for (size_t i = 0; i < 3; ++i) {
    const JsonValue& p = points->array[i];
    EXPECT_EQ(keys(&p), point_keys);
    EXPECT_EQ(p.get("seq")->number, double(i + 1));
    EXPECT_EQ(keys(p.get("latency_ms")),
              (std::vector<std::string>{"count", "avg", "p50", "p95", "p99", "max"}));
    EXPECT_EQ(keys(p.get("response_bytes")),
              (std::vector<std::string>{"total", "avg", "p95", "max"}));
    EXPECT_EQ(p.get("cpu_percent")->type, JsonValue::Type::kNull);  // process stats off
    EXPECT_EQ(p.get("rss_bytes")->type, JsonValue::Type::kNull);
  }
  const JsonValue& first = points->array[0];
  EXPECT_EQ(first.get("requests")->number, 3);
  EXPECT_EQ(first.get("rps")->number, 3);
  const double latency = double(testing::sample_latency_ns({.ttfb_ns = 4'000'000})) / 1e6;
  EXPECT_NEAR(first.at("latency_ms.p99")->number, latency, latency / 100);
  EXPECT_NEAR(first.at("upstream_ttfb_ms.p50")->number, 4.0, 4.0 / 100);
  EXPECT_EQ(first.at("upstream_connect_ms.count")->number, 0);  // pooled connections
  EXPECT_EQ(first.at("request_bytes.avg")->number, 10);
  EXPECT_EQ(first.at("response_bytes.total")->number, 900);
  EXPECT_EQ(points->array[1].get("requests")->number, 0);
  EXPECT_EQ(points->array[1].at("latency_ms.count")->number, 0);
  const JsonValue& third = points->array[2];
  EXPECT_EQ(third.get("requests")->number, 2);
  EXPECT_EQ(third.get("errors")->number, 1);
  EXPECT_EQ(third.get("error_rate")->number, 0.5);
  EXPECT_EQ(third.get("upstream_errors")->number, 1);
  EXPECT_NEAR(third.at("upstream_connect_ms.max")->number, 0.5, 0.5 / 100);
}

TEST(JsonFormat, TlsObject) {
  TestRegistry r;
  metrics::TlsCounters& tls = r.shard.tls();
  tls.record_handshake(metrics::TlsSide::kDownstream, metrics::TlsVersionSeen::k1_3, false, 2'000'000);
  tls.record_handshake(metrics::TlsSide::kDownstream, metrics::TlsVersionSeen::k1_3, true, 500'000);
  tls.record_handshake(metrics::TlsSide::kDownstream, metrics::TlsVersionSeen::k1_2, false, 4'000'000);
  tls.record_failure(metrics::TlsSide::kDownstream, metrics::TlsFailure::kPlainHttp);
  tls.record_failure(metrics::TlsSide::kUpstream, metrics::TlsFailure::kUnknownCa);
  r.registry.set_certificates(
      {{"api.example.com", "/tls/api.crt", metrics::TlsSide::kDownstream, 1'767'225'600},
       {"client", "/tls/client.crt", metrics::TlsSide::kUpstream, 1'764'547'200}});
  r.record({.path = "/a", .connect_ns = 100'000, .tls_ns = 3'000'000});
  r.tick();
  JsonExtras extras;
  extras.tls_configured[size_t(metrics::TlsSide::kDownstream)] = true;
  extras.now_unix_ms = 1'764'460'800'500;  // 2025-11-30T00:00:00.5Z
  std::string text;
  append_stats_json(r.registry.snapshot(), extras, {}, text);
  const JsonValue doc = parse_ok(text);
  const JsonValue* t = doc.get("tls");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(keys(t), (std::vector<std::string>{"downstream", "upstream", "certificates"}));
  const JsonValue* down = t->get("downstream");
  EXPECT_EQ(keys(down), (std::vector<std::string>{"enabled", "handshakes", "handshakes_total",
                                                  "failures", "failures_total", "handshake_ms"}));
  EXPECT_TRUE(down->get("enabled")->boolean);
  EXPECT_FALSE(t->at("upstream.enabled")->boolean);
  EXPECT_EQ(keys(down->get("handshakes")),
            (std::vector<std::string>{"TLSv1.2", "TLSv1.3", "other"}));
  const JsonValue* v13 = down->get("handshakes")->get("TLSv1.3");
  ASSERT_NE(v13, nullptr);
  EXPECT_EQ(v13->get("full")->number, 1);
  EXPECT_EQ(v13->get("resumed")->number, 1);
  EXPECT_EQ(down->get("handshakes")->get("TLSv1.2")->get("full")->number, 1);
  EXPECT_EQ(down->get("handshakes_total")->number, 3);
  EXPECT_EQ(down->at("failures.plain_http")->number, 1);
  EXPECT_EQ(down->at("failures.unknown_ca")->number, 0);
  EXPECT_EQ(keys(down->get("failures")).size(), metrics::kTlsFailures);
  EXPECT_EQ(down->get("failures_total")->number, 1);
  EXPECT_EQ(t->at("upstream.failures.unknown_ca")->number, 1);
  EXPECT_EQ(t->at("upstream.handshakes_total")->number, 0);
  EXPECT_EQ(down->at("handshake_ms.count")->number, 3);
  EXPECT_NEAR(down->at("handshake_ms.p50")->number, 2.0, 2.0 * 0.01);
  EXPECT_NEAR(down->at("handshake_ms.max")->number, 4.0, 4.0 * 0.01);
  EXPECT_EQ(t->at("upstream.handshake_ms.count")->number, 0);

  // Earliest expiry first, RFC 3339 and Unix seconds, seconds left from now (floored).
  const JsonValue* certs = t->get("certificates");
  ASSERT_TRUE(certs && certs->is_array());
  ASSERT_EQ(certs->array.size(), 2u);
  const JsonValue& first = certs->array[0];
  EXPECT_EQ(keys(&first), (std::vector<std::string>{"name", "side", "file", "not_after",
                                                    "not_after_unix_s", "seconds_left"}));
  EXPECT_EQ(first.get("name")->string, "client");
  EXPECT_EQ(first.get("side")->string, "upstream");
  EXPECT_EQ(first.get("file")->string, "/tls/client.crt");
  EXPECT_EQ(first.get("not_after")->string, "2025-12-01T00:00:00.000Z");
  EXPECT_EQ(first.get("not_after_unix_s")->number, 1'764'547'200);
  EXPECT_EQ(first.get("seconds_left")->number, 86'400);
  EXPECT_EQ(certs->array[1].get("name")->string, "api.example.com");
  EXPECT_EQ(certs->array[1].get("not_after")->string, "2026-01-01T00:00:00.000Z");

  // The exchange's upstream TLS phase, in the windows.
  EXPECT_EQ(doc.at("windows.1m.upstream_tls_handshake_ms.count")->number, 1);
  EXPECT_NEAR(doc.at("windows.1m.upstream_tls_handshake_ms.p50")->number, 3.0, 3.0 * 0.01);
  EXPECT_NEAR(doc.at("windows.1m.upstream_connect_ms.p50")->number, 0.1, 0.1 * 0.01);

  // Without a wall clock, seconds_left is null rather than a guess.
  text.clear();
  append_stats_json(r.registry.snapshot(), {}, {}, text);
  const JsonValue again = parse_ok(text);
  EXPECT_EQ(again.get("tls")->get("certificates")->array[0].get("seconds_left")->type,
            JsonValue::Type::kNull);
}

}  // namespace
}  // namespace sidemeter::stats
