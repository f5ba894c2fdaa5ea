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
                                      "windows", "routes", "connections", "process", "alerts", "slos"}));
  EXPECT_EQ(keys(doc.get("windows")), (std::vector<std::string>{"10s", "1m", "5m", "total"}));
  const JsonValue* w = doc.at("windows.1m");
  ASSERT_NE(w, nullptr);
  for (const char* k : {"requests", "rps", "errors", "error_rate", "latency_ms", "upstream_ttfb_ms",
                        "upstream_connect_ms", "proxy_overhead_ms", "request_bytes",
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

}  // namespace
}  // namespace sidemeter::stats
