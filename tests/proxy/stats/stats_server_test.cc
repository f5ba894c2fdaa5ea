// The stats port on a real loop and real loopback sockets, driven from the test thread:
// the test records exchanges into a shard, closes seconds on a fake clock and calls
// on_tick() itself, so every figure and frame is known in advance.
#include "proxy/stats/stats_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "proxy/worker/worker.h"
#include "tests/proxy/stats/loop_client.h"
#include "tests/proxy/stats/traffic.h"
#include "tests/support/exposition_check.h"
#include "tests/support/json_value.h"

namespace sidemeter {
namespace {

using testing::HttpResponse;
using testing::JsonValue;
using testing::LoopClient;

class StatsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
  }

  void TearDown() override {
    clients_.clear();
    if (server_) server_->close();
    testing::drain_loop(&loop_);
    server_.reset();
    ASSERT_EQ(uv_loop_close(&loop_), 0);
  }

  void start() {
    const stats::StatsOptions defaults;
    start(defaults);
  }
  void start(stats::StatsOptions options) {
    options.address = {"127.0.0.1", 0};
    server_ = std::make_unique<StatsServer>(&loop_, traffic_.registry, options);
    std::string error;
    ASSERT_TRUE(server_->start(error)) << error;
    ASSERT_NE(server_->port(), 0);
    // What the control loop says once the proxy listens and the upstream answered.
    server_->set_listening(true);
    server_->set_upstream_reachable(true);
  }

  // A POST with an empty body, as `curl -X POST` sends it.
  HttpResponse post(LoopClient& c, std::string_view target, std::string_view headers = {}) {
    std::string req = "POST " + std::string(target) + " HTTP/1.1\r\nHost: a\r\n";
    req += headers;
    req += "\r\n";
    HttpResponse r;
    EXPECT_TRUE(c.send(req));
    EXPECT_TRUE(c.read_response(r));
    return r;
  }

  LoopClient& client(int receive_buffer = 0) {
    clients_.push_back(std::make_unique<LoopClient>(&loop_, server_->port(), receive_buffer));
    EXPECT_TRUE(clients_.back()->connected());
    return *clients_.back();
  }

  void tick() {
    traffic_.tick();
    server_->on_tick();
  }

  static JsonValue json(const std::string& text) {
    std::string error;
    auto v = testing::parse_json(text, &error);
    EXPECT_TRUE(v.has_value()) << error << "\n" << text;
    return v.value_or(JsonValue{});
  }

  uv_loop_t loop_;
  testing::TestRegistry traffic_{/*process_stats=*/true};
  std::unique_ptr<StatsServer> server_;
  std::vector<std::unique_ptr<LoopClient>> clients_;
};

// Pulls complete SSE events ("...\n\n") off the front of a buffer.
std::vector<std::string> take_sse_events(std::string& buf) {
  std::vector<std::string> events;
  size_t end;
  while ((end = buf.find("\n\n")) != std::string::npos) {
    events.push_back(buf.substr(0, end));
    buf.erase(0, end + 2);
  }
  return events;
}

std::string sse_data(const std::string& event) {
  const size_t p = event.find("data: ");
  return p == std::string::npos ? std::string() : event.substr(p + 6);
}

TEST_F(StatsServerTest, HealthzAlwaysOkAndReadyzFollowsDrainingAndUpstream) {
  start();
  LoopClient& c = client();
  HttpResponse r = c.get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_EQ(c.get("/readyz").status, 200);

  server_->set_upstream_reachable(false);
  r = c.get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("upstream_unreachable"), std::string::npos);
  server_->set_upstream_reachable(true);

  server_->set_draining(true);
  r = c.get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("draining"), std::string::npos);
  EXPECT_EQ(c.get("/healthz").status, 200);  // alive while draining
  EXPECT_FALSE(server_->ready());
  server_->set_draining(false);
  EXPECT_EQ(c.get("/readyz").status, 200);

  server_->set_listening(false);
  EXPECT_EQ(c.get("/readyz").status, 503);
}

TEST_F(StatsServerTest, MetricsServeTheTickSnapshotInBothFormats) {
  start();
  traffic_.record({.path = "/users/7", .ttfb_ns = 4'000'000}, 3);
  tick();
  LoopClient& c = client();
  HttpResponse r = c.get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  auto check = testing::check_exposition(r.body, false);
  EXPECT_TRUE(check.errors.empty()) << check.errors.front();
  EXPECT_EQ(check.value("http_server_request_duration_seconds_count",
                        {{"http_route", "/users/{id}"}, {"http_response_status_code", "200"}}),
            3);

  // Recorded but not yet ticked: the endpoint keeps serving the last tick's figures.
  traffic_.record({.path = "/users/7"}, 2);
  check = testing::check_exposition(c.get("/metrics").body, false);
  EXPECT_EQ(
      check.value("http_server_request_duration_seconds_count", {{"http_route", "/users/{id}"}}),
      3);
  tick();
  r = c.get("/metrics", "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/openmetrics-text; version=1.0.0; charset=utf-8");
  check = testing::check_exposition(r.body, true);
  EXPECT_TRUE(check.errors.empty()) << check.errors.front();
  EXPECT_EQ(
      check.value("http_server_request_duration_seconds_count", {{"http_route", "/users/{id}"}}),
      5);

  // Protobuf for a scraper that prefers it (protobuf_exposition_test decodes it), and the
  // query parameter overrides the header either way.
  constexpr const char* kProto =
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
      "encoding=delimited";
  r = c.get("/metrics", std::string("Accept: ") + kProto + ";q=0.9,text/plain;q=0.5\r\n");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), kProto);
  EXPECT_GT(r.body.size(), 1000u);
  EXPECT_EQ(r.body.find("# HELP"), std::string::npos);
  r = c.get("/metrics?format=text", std::string("Accept: ") + kProto + "\r\n");
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  r = c.get("/metrics?format=protobuf");
  EXPECT_EQ(r.header("content-type"), kProto);
  // A format we do not have, or a bad escape in it, is refused rather than swapped.
  r = c.get("/metrics?format=json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("format must be"), std::string::npos);
  r = c.get("/metrics?format=%zz");
  EXPECT_EQ(r.status, 400);
  // q=0 refuses a format: OpenMetrics is not chosen just for being named.
  r = c.get("/metrics", "Accept: application/openmetrics-text;q=0\r\n");
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(StatsServerTest, StatsJsonWithWindowAndRouteFilters) {
  start();
  traffic_.record({.path = "/users/1"}, 4);
  traffic_.record({.method = metrics::Method::kPost, .path = "/orders", .status = 201}, 2);
  tick();
  LoopClient& c = client();
  HttpResponse r = c.get("/stats");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  JsonValue doc = json(r.body);
  EXPECT_EQ(doc.at("windows.1m.requests")->number, 6);
  EXPECT_EQ(doc.get("routes")->array.size(), 2u);
  EXPECT_EQ(doc.at("windows.1s"), nullptr);  // the stream's window, not in /stats by default

  doc = json(c.get("/stats?window=1m&route=%2Fusers%2F%7Bid%7D").body);
  ASSERT_EQ(doc.get("windows")->object.size(), 1u);
  EXPECT_EQ(doc.get("windows")->object[0].first, "1m");
  ASSERT_EQ(doc.get("routes")->array.size(), 1u);
  EXPECT_EQ(doc.get("routes")->array[0].at("windows.1m.requests")->number, 4);

  doc = json(c.get("/stats?window=1s").body);
  EXPECT_EQ(doc.at("windows.1s.requests")->number, 6);

  EXPECT_EQ(c.get("/stats?window=7m").status, 400);
  EXPECT_EQ(c.get("/stats?route=%zz").status, 400);
}

TEST_F(StatsServerTest, KeepAlivePipeliningHeadAndErrors) {
  start();
  LoopClient& c = client();
  ASSERT_TRUE(
      c.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
             "HEAD /stats HTTP/1.1\r\nHost: a\r\n\r\n"
             "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"));
  HttpResponse r;
  ASSERT_TRUE(c.read_response(r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  ASSERT_TRUE(c.read_response(r, /*head_only=*/true));
  EXPECT_EQ(r.status, 200);
  EXPECT_GT(std::stoul(r.header("content-length")), 100u);  // the length GET would have
  ASSERT_TRUE(c.read_response(r));
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(c.buffer().empty());  // HEAD sent no body

  r = c.get("/healthz");
  EXPECT_EQ(r.status, 200);

  ASSERT_TRUE(c.send("DELETE /stats HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.read_response(r));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET, HEAD");

  LoopClient& bad = client();
  ASSERT_TRUE(bad.send("GET /stats HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"));
  ASSERT_TRUE(bad.read_response(r));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(bad.wait_closed());

  LoopClient& garbage = client();
  ASSERT_TRUE(garbage.send("GET /stats\x01 HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(garbage.read_response(r));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(garbage.wait_closed());

  LoopClient& http10 = client();
  ASSERT_TRUE(http10.send("GET /healthz HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(http10.read_response(r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_TRUE(http10.wait_closed());
}

TEST_F(StatsServerTest, SseStreamPushesAFramePerTick) {
  start();
  tick();
  LoopClient& c = client();
  ASSERT_TRUE(c.send("GET /stats/stream HTTP/1.1\r\nHost: a\r\nAccept: text/event-stream\r\n\r\n"));
  HttpResponse head;
  ASSERT_TRUE(c.read_response(head, /*head_only=*/true));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-type"), "text/event-stream");
  EXPECT_EQ(head.header("content-length"), "");

  // retry hint, then the current frame at once.
  std::vector<std::string> events;
  ASSERT_TRUE(c.pump_until([&](std::string& b) {
    for (auto& e : take_sse_events(b)) events.push_back(e);
    return events.size() >= 2;
  }));
  EXPECT_EQ(events[0], "retry: 1000");
  EXPECT_EQ(events[1].rfind("id: 1\ndata: {", 0), 0u) << events[1];
  EXPECT_EQ(json(sse_data(events[1])).get("ticks")->number, 1);

  for (int second = 2; second <= 4; ++second) {
    traffic_.record({.path = "/x"}, second);
    tick();
    events.clear();
    ASSERT_TRUE(c.pump_until([&](std::string& b) {
      for (auto& e : take_sse_events(b)) events.push_back(e);
      return !events.empty();
    }));
    ASSERT_EQ(events.size(), 1u);
    const JsonValue frame = json(sse_data(events[0]));
    EXPECT_EQ(frame.get("ticks")->number, second);
    EXPECT_EQ(frame.at("windows.1s.requests")->number, second);  // the last second
    EXPECT_NE(frame.at("windows.1m"), nullptr);                  // plus the rolling windows
    ASSERT_EQ(frame.get("routes")->array.size(), 1u);
    EXPECT_NE(frame.get("routes")->array[0].at("windows.1s"), nullptr);
  }
  EXPECT_EQ(server_->counters().stream_subscribers, 1u);
  const uint64_t built = server_->counters().frames_built;
  // A second subscriber shares the frame already built for this tick.
  LoopClient& c2 = client();
  ASSERT_TRUE(c2.send("GET /stats/stream HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(
      c2.pump_until([](const std::string& b) { return b.find("data: ") != std::string::npos; }));
  EXPECT_EQ(server_->counters().frames_built, built);
  EXPECT_EQ(server_->counters().stream_subscribers, 2u);

  c.close();
  ASSERT_TRUE(c2.pump_until(
      [&](const std::string&) { return server_->counters().stream_subscribers == 1; }));
}

TEST_F(StatsServerTest, NdjsonStreamOneLinePerFrame) {
  stats::StatsOptions options;
  options.stream_interval_s = 2;
  start(options);
  LoopClient& c = client();
  ASSERT_TRUE(c.send("GET /stats/stream?format=ndjson HTTP/1.1\r\nHost: a\r\n\r\n"));
  HttpResponse head;
  ASSERT_TRUE(c.read_response(head, true));
  EXPECT_EQ(head.header("content-type"), "application/x-ndjson");
  auto next_line = [&] {
    std::string line;
    EXPECT_TRUE(
        c.pump_until([&](const std::string& b) { return b.find('\n') != std::string::npos; }));
    const size_t nl = c.buffer().find('\n');
    line = c.buffer().substr(0, nl);
    c.buffer().erase(0, nl + 1);
    return line;
  };
  EXPECT_EQ(json(next_line()).get("ticks")->number, 0);  // the frame at subscription
  tick();
  tick();  // interval 2: one frame per two ticks
  EXPECT_EQ(json(next_line()).get("ticks")->number, 2);
  tick();
  EXPECT_TRUE(c.buffer().empty());
  tick();
  EXPECT_EQ(json(next_line()).get("ticks")->number, 4);
}

TEST_F(StatsServerTest, SlowSubscriberIsDroppedWithoutSlowingOthers) {
  stats::StatsOptions options;
  options.max_subscriber_buffer_bytes = 256 * 1024;
  start(options);
  // Many routes make frames big, so the kernel buffers fill in a few hundred ticks.
  std::vector<std::string> paths;
  for (int i = 0; i < 60; ++i)
    paths.push_back("/route" + std::string(1, char('a' + i % 26)) +
                    std::string(1, char('a' + i / 26)));
  for (const auto& p : paths) traffic_.record({.path = p});
  tick();

  LoopClient& slow = client(/*receive_buffer=*/4096);
  ASSERT_TRUE(slow.send("GET /stats/stream?format=ndjson HTTP/1.1\r\nHost: a\r\n\r\n"));
  LoopClient& fast = client();
  ASSERT_TRUE(fast.send("GET /stats/stream?format=ndjson HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(fast.pump_until(
      [&](const std::string&) { return server_->counters().stream_subscribers == 2; }));

  size_t fast_lines = 0;
  int ticks = 0;
  for (; ticks < 3000 && server_->counters().stream_dropped == 0; ++ticks) {
    tick();
    // The fast reader keeps up: read what arrived, count whole lines.
    ASSERT_TRUE(fast.pump_until([&](std::string& b) {
      size_t nl;
      bool any = false;
      while ((nl = b.find('\n')) != std::string::npos) {
        b.erase(0, nl + 1);
        ++fast_lines;
        any = true;
      }
      return any;
    }));
  }
  ASSERT_EQ(server_->counters().stream_dropped, 1u) << "after " << ticks << " ticks";
  EXPECT_GE(fast_lines, size_t(ticks));  // one per tick plus the first
  // The slow one is closed (after whatever was in flight); the fast one stays.
  slow.buffer().clear();
  EXPECT_TRUE(slow.wait_closed(10'000));
  tick();
  EXPECT_TRUE(
      fast.pump_until([](const std::string& b) { return b.find('\n') != std::string::npos; }));
  EXPECT_EQ(server_->counters().stream_subscribers, 1u);
  auto check = testing::check_exposition(client().get("/metrics").body, false);
  EXPECT_EQ(check.value("sidemeter_stats_stream_dropped_total"), 1);
}

TEST_F(StatsServerTest, BearerTokenGuardsEverythingButHealth) {
  stats::StatsOptions options;
  options.bearer_token = "s3cret-t0ken";
  start(options);
  LoopClient& c = client();
  HttpResponse r = c.get("/metrics");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"), "Bearer realm=\"sidemeter\"");
  EXPECT_EQ(c.get("/stats", "Authorization: Bearer wrong-t0ken\r\n").status, 401);
  EXPECT_EQ(c.get("/stats/stream", "Authorization: Bearer s3cret-t0ke\r\n").status, 401);
  EXPECT_EQ(c.get("/healthz").status, 200);
  EXPECT_EQ(c.get("/readyz").status, 200);
  // The dashboard page holds no data, so a browser can load it and hand the token from
  // the URL's #fragment to its own requests (a fragment never reaches a server log).
  EXPECT_EQ(c.get("/").status, 200);
  EXPECT_EQ(c.get("/stats", "Authorization: Bearer s3cret-t0ken\r\n").status, 200);
  EXPECT_EQ(c.get("/stats", "Authorization: bearer s3cret-t0ken\r\n").status, 200);
  EXPECT_EQ(c.get("/stats/history?token=s3cret-t0ken").status, 200);  // what EventSource can do
  EXPECT_EQ(server_->counters().unauthorized, 3u);
  r = c.get("/metrics", "Authorization: Bearer s3cret-t0ken\r\n");
  auto check = testing::check_exposition(r.body, false);
  EXPECT_EQ(check.value("sidemeter_stats_unauthorized_requests_total"), 3);
}

TEST_F(StatsServerTest, DashboardIsSelfContained) {
  start();
  HttpResponse r = client().get("/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.header("content-security-policy").find("default-src 'none'"), std::string::npos);
  EXPECT_NE(r.body.find("EventSource"), std::string::npos);
  EXPECT_NE(r.body.find("stats/stream"), std::string::npos);
  EXPECT_NE(r.body.find("stats/history"), std::string::npos);  // the backfill on load
  EXPECT_NE(r.body.find("<canvas"), std::string::npos);
  // Nothing loaded from elsewhere.
  EXPECT_EQ(r.body.find("http://"), std::string::npos);
  EXPECT_EQ(r.body.find("https://"), std::string::npos);
  EXPECT_EQ(r.body.find("<link"), std::string::npos);
  EXPECT_EQ(r.body.find("src="), std::string::npos);
}

TEST_F(StatsServerTest, HistoryBackfillsUpToTheStreamsFirstFrame) {
  start();
  LoopClient& c = client();
  HttpResponse r = c.get("/stats/history");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(json(r.body).get("points")->array.size(), 0u);  // nothing closed yet

  for (int second = 1; second <= 5; ++second) {
    traffic_.record({.path = "/h", .ttfb_ns = uint64_t(second) * 2'000'000}, second);
    tick();
  }
  r = c.get("/stats/history");
  ASSERT_EQ(r.status, 200);
  JsonValue doc = json(r.body);
  EXPECT_EQ(doc.get("ticks")->number, 5);
  const auto& points = doc.get("points")->array;
  ASSERT_EQ(points.size(), 5u);
  for (int second = 1; second <= 5; ++second) {
    const JsonValue& p = points[size_t(second - 1)];
    EXPECT_EQ(p.get("seq")->number, second);
    EXPECT_EQ(p.get("requests")->number, second);
    const double ttfb = second * 2.0;
    EXPECT_NEAR(p.at("upstream_ttfb_ms.p99")->number, ttfb, ttfb / 100);
    EXPECT_GT(p.get("rss_bytes")->number, 0);  // the tick's snapshot noted it
  }

  // The stream's first frame is the newest history point: same second, same figures, so
  // the dashboard joins them by seq without a duplicate or a hole.
  ASSERT_TRUE(c.send("GET /stats/stream HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::vector<std::string> events;
  auto next_frame = [&] {
    events.clear();
    EXPECT_TRUE(c.pump_until([&](std::string& b) {
      for (auto& e : take_sse_events(b)) {
        if (e.find("data: ") != std::string::npos) events.push_back(e);
      }
      return !events.empty();
    }));
    return events.empty() ? JsonValue{} : json(sse_data(events.back()));
  };
  JsonValue frame = next_frame();
  EXPECT_EQ(frame.get("ticks")->number, points.back().get("seq")->number);
  EXPECT_EQ(frame.at("windows.1s.requests")->number, points.back().get("requests")->number);
  EXPECT_EQ(frame.at("windows.1s.latency_ms.p99")->number,
            points.back().at("latency_ms.p99")->number);

  traffic_.record({.path = "/h", .ttfb_ns = 30'000'000}, 6);
  tick();
  frame = next_frame();
  EXPECT_EQ(frame.get("ticks")->number, 6);
  // A client that re-fetches now gets that second as the last point, identical to the frame.
  LoopClient& c2 = client();
  doc = json(c2.get("/stats/history").body);
  const JsonValue& newest = doc.get("points")->array.back();
  EXPECT_EQ(doc.get("points")->array.size(), 6u);
  EXPECT_EQ(newest.get("seq")->number, 6);
  EXPECT_EQ(newest.get("requests")->number, frame.at("windows.1s.requests")->number);
  for (const char* q : {"p50", "p95", "p99", "max"}) {
    EXPECT_EQ(newest.at(std::string("latency_ms.") + q)->number,
              frame.at(std::string("windows.1s.latency_ms.") + q)->number)
        << q;
  }
  EXPECT_EQ(newest.at("response_bytes.avg")->number,
            frame.at("windows.1s.response_bytes.avg")->number);

  // Between ticks every request gets the tick's figures (built once, shared).
  const std::string body = c2.get("/stats/history").body;
  traffic_.record({.path = "/h"}, 3);
  EXPECT_EQ(c2.get("/stats/history").body, body);
  HttpResponse head;
  ASSERT_TRUE(c2.send("HEAD /stats/history HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c2.read_response(head, /*head_only=*/true));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(std::stoul(head.header("content-length")), body.size());
}

TEST_F(StatsServerTest, HistoryNeedsTheTokenLikeStats) {
  stats::StatsOptions options;
  options.bearer_token = "hist-t0ken";
  start(options);
  tick();
  LoopClient& c = client();
  EXPECT_EQ(c.get("/stats/history").status, 401);
  EXPECT_EQ(c.get("/stats/history", "Authorization: Bearer nope\r\n").status, 401);
  HttpResponse r = c.get("/stats/history", "Authorization: Bearer hist-t0ken\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json(r.body).get("points")->array.size(), 1u);
  EXPECT_EQ(c.get("/stats/history?token=hist-t0ken").status, 200);
  EXPECT_EQ(server_->counters().unauthorized, 2u);
}

TEST_F(StatsServerTest, ConnectionsBeyondTheCapAreClosed) {
  stats::StatsOptions options;
  options.max_connections = 2;
  start(options);
  LoopClient& a = client();
  LoopClient& b = client();
  EXPECT_EQ(a.get("/healthz").status, 200);
  EXPECT_EQ(b.get("/healthz").status, 200);
  LoopClient& c = client();
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(server_->counters().connections_refused, 1u);
  a.close();
  ASSERT_TRUE(
      b.pump_until([&](const std::string&) { return server_->counters().connections == 1; }));
  EXPECT_EQ(client().get("/healthz").status, 200);
}

TEST_F(StatsServerTest, IdleConnectionsAreClosed) {
  stats::StatsOptions options;
  options.idle_timeout_ms = 50;
  start(options);
  LoopClient& c = client();
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nHost: a\r\n"));  // never finished
  EXPECT_TRUE(c.wait_closed(5000));
}

class UdpReceiver {
 public:
  UdpReceiver() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~UdpReceiver() { ::close(fd_); }
  uint16_t port() const { return port_; }
  // Every datagram that arrives within timeout_ms of the previous one.
  std::string receive_all(int timeout_ms) {
    std::string all;
    pollfd p{fd_, POLLIN, 0};
    while (::poll(&p, 1, timeout_ms) == 1) {
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      all.append(buf, size_t(n));
      all += '\n';
      timeout_ms = 100;
    }
    return all;
  }

 private:
  int fd_;
  uint16_t port_ = 0;
};

TEST_F(StatsServerTest, StatsdDatagramsAtEachFlush) {
  UdpReceiver udp;
  stats::StatsOptions options;
  options.statsd = {"127.0.0.1", udp.port()};
  options.statsd_interval_s = 2;
  start(options);
  traffic_.record({.path = "/a", .ttfb_ns = 5'000'000}, 7);
  tick();
  tick();  // the flush
  // try_send hands datagrams to the kernel inside on_tick: they are already queued.
  const std::string got = udp.receive_all(2000);
  EXPECT_NE(got.find("sidemeter.requests:7|c\n"), std::string::npos) << got;
  EXPECT_NE(got.find("sidemeter.responses:7|c|#status_class:2xx"), std::string::npos) << got;
  EXPECT_NE(got.find("sidemeter.latency_ms.p50:"), std::string::npos) << got;
  EXPECT_GT(server_->counters().statsd_packets_sent, 0u);
  EXPECT_EQ(server_->counters().statsd_packets_failed, 0u);

  traffic_.record({.path = "/a"}, 1);
  tick();
  tick();
  EXPECT_NE(udp.receive_all(2000).find("sidemeter.requests:1|c\n"), std::string::npos);
}

TEST_F(StatsServerTest, NotReadyUntilListeningAndUpstreamReachable) {
  stats::StatsOptions options;
  options.address = {"127.0.0.1", 0};
  server_ = std::make_unique<StatsServer>(&loop_, traffic_.registry, options);
  std::string error;
  ASSERT_TRUE(server_->start(error)) << error;
  LoopClient& c = client();
  HttpResponse r = c.get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("not_listening"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("upstream_unreachable"), std::string::npos) << r.body;
  server_->set_listening(true);
  EXPECT_EQ(c.get("/readyz").status, 503);
  server_->set_upstream_reachable(true);
  EXPECT_EQ(c.get("/readyz").status, 200);
}

TEST_F(StatsServerTest, UnresolvableStatsdFailsStart) {
  stats::StatsOptions options;
  options.address = {"127.0.0.1", 0};
  options.statsd = {"no such host.invalid", 8125};
  StatsServer s(&loop_, traffic_.registry, options);
  std::string error;
  EXPECT_FALSE(s.start(error));
  EXPECT_NE(error.find("statsd address"), std::string::npos) << error;
  s.close();
}

TEST_F(StatsServerTest, OptionsComeFromTheConfigSnapshot) {
  conf::Config config;
  config.stats.token = "conftoken";
  config.stats.statsd.address = {"127.0.0.1", 9125};
  config.stats.statsd.interval_s = 3;
  config.stats.statsd.dogstatsd_tags = false;
  config.stats.stream_interval_s = 5;
  config.stats.max_connections = 7;
  config.stats.idle_timeout_ms = 1234;
  const stats::StatsOptions o = stats::options_from_config(config);
  EXPECT_EQ(o.bearer_token, "conftoken");
  EXPECT_EQ(o.statsd.port, 9125);
  EXPECT_EQ(o.statsd_interval_s, 3u);
  EXPECT_FALSE(o.statsd_dogstatsd_tags);
  EXPECT_EQ(o.stream_interval_s, 5u);
  EXPECT_EQ(o.max_connections, 7u);
  EXPECT_EQ(o.idle_timeout_ms, 1234u);
}

TEST_F(StatsServerTest, ReconfigureAppliesTokenAndStatsdLive) {
  start();
  EXPECT_EQ(client().get("/stats").status, 200);
  UdpReceiver udp;
  stats::StatsOptions next;
  next.bearer_token = "rotated";
  next.statsd = {"127.0.0.1", udp.port()};
  next.statsd_interval_s = 1;
  std::string error;
  ASSERT_TRUE(server_->reconfigure(next, error)) << error;
  EXPECT_EQ(client().get("/stats").status, 401);
  EXPECT_EQ(client().get("/stats", "Authorization: Bearer rotated\r\n").status, 200);
  tick();
  EXPECT_NE(udp.receive_all(2000).find("sidemeter.requests:0|c"), std::string::npos);
  // The address never moves on a reload: the same port still answers.
  EXPECT_EQ(client().get("/healthz").status, 200);

  next.statsd = {"no such host.invalid", 1};
  EXPECT_FALSE(server_->reconfigure(next, error));
  EXPECT_NE(error.find("statsd"), std::string::npos) << error;
}

TEST_F(StatsServerTest, ReloadEndpointAnswersWithTheHandlersOutcome) {
  stats::StatsOptions options;
  options.bearer_token = "tok";
  start(options);
  int calls = 0;
  bool succeed = true;
  server_->set_reload_handler([&] {
    ++calls;
    return succeed ? StatsServer::ReloadAnswer{true, "reloaded: config_hash=abc\n"}
                   : StatsServer::ReloadAnswer{false, "f.yaml:3:5: bad\n"};
  });
  LoopClient& c = client();
  EXPECT_EQ(post(c, "/-/reload").status, 401);  // the token guards it
  EXPECT_EQ(calls, 0);
  const std::string auth = "Authorization: Bearer tok\r\n";
  HttpResponse r = post(c, "/-/reload", auth);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "reloaded: config_hash=abc\n");
  succeed = false;
  r = post(c, "/-/reload", auth + "Content-Length: 0\r\n");  // curl -d ''
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "f.yaml:3:5: bad\n");
  EXPECT_EQ(calls, 2);
  r = c.get("/-/reload", auth);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "POST");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(server_->counters().reload_requests, 2u);
}

TEST_F(StatsServerTest, ConfigStatusIsExposed) {
  start();
  server_->set_config_status({"0123456789abcdef", 3, 1, 1700000000.5});
  tick();
  LoopClient& c = client();
  const HttpResponse m = c.get("/metrics");
  EXPECT_NE(m.body.find("sidemeter_build_info{version=\"" SIDEMETER_VERSION
                        "\",config_hash=\"0123456789abcdef\"} 1"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("sidemeter_config_reloads_total{result=\"success\"} 3"), std::string::npos);
  EXPECT_NE(m.body.find("sidemeter_config_reloads_total{result=\"failure\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("sidemeter_config_last_reload_success_timestamp_seconds 1700000000.5"),
            std::string::npos);
  const JsonValue j = json(c.get("/stats").body);
  ASSERT_NE(j.get("config_hash"), nullptr);
  EXPECT_EQ(j.get("config_hash")->string, "0123456789abcdef");
}

TEST_F(StatsServerTest, DestroyingWithOpenConnectionsIsSafe) {
  start();
  LoopClient& c = client();
  ASSERT_TRUE(c.send("GET /stats/stream HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.pump_until(
      [&](const std::string&) { return server_->counters().stream_subscribers == 1; }));
  server_.reset();  // no close() first: the internals outlive it until the loop closes them
  EXPECT_TRUE(c.wait_closed());
}

}  // namespace
}  // namespace sidemeter
