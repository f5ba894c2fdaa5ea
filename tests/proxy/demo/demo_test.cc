// Demo mode. Three layers: the route contract as plain data (seeded, so the statistics
// are reproducible), the backend and traffic generator on their own loop over loopback,
// and the sidemeter binary started without --upstream.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy/demo/demo_routes.h"
#include "proxy/demo/demo_runner.h"
#include "proxy/demo/demo_traffic.h"
#include "proxy/http1/parser.h"
#include "tests/support/json_line.h"
#include "tests/support/raw_client.h"
#include "tests/support/sidemeter_process.h"
#include "tests/support/test_upstream.h"

namespace sidemeter::demo {
namespace {

namespace st = sidemeter::testing;
using http::Method;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Polls `cond` until it holds or the deadline passes. The pause only paces the polling;
// a passing test never waits for it to expire.
template <typename F>
bool eventually(F cond, milliseconds limit) {
  auto deadline = st::Clock::now() + limit;
  while (st::Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return cond();
}

DemoReply plan(Method m, std::string_view path, DemoRng& rng, uint64_t body = 0) {
  return plan_reply(DemoRequest{m, path, body}, rng);
}

// ---------------------------------------------------------------- route contract

TEST(DemoRoutes, UsersAreAboutOneKibAndFast) {
  DemoRng rng(1);
  for (int i = 1; i <= 1000; ++i) {
    std::string id = std::to_string(i);
    DemoReply r = plan(Method::kGet, "/api/users/" + id, rng);
    ASSERT_EQ(r.status, 200);
    EXPECT_FALSE(r.chunked);
    EXPECT_GE(r.delay_ms, 5u);
    EXPECT_LE(r.delay_ms, 20u);
    EXPECT_GE(r.body.size(), kUserMinBytes);
    EXPECT_LE(r.body.size(), kUserMaxBytes);
    EXPECT_TRUE(r.body.starts_with(R"({"id":)" + id + ",")) << r.body.substr(0, 40);
    EXPECT_TRUE(r.body.ends_with("\"}"));
  }
  EXPECT_EQ(plan(Method::kHead, "/api/users/5", rng).status, 200);
}

TEST(DemoRoutes, UsersNeedANumericIdAndGet) {
  DemoRng rng(2);
  EXPECT_EQ(plan(Method::kGet, "/api/users/abc", rng).status, 404);
  EXPECT_EQ(plan(Method::kGet, "/api/users/", rng).status, 404);
  EXPECT_EQ(plan(Method::kGet, "/api/users/12/x", rng).status, 404);
  DemoReply r = plan(Method::kPost, "/api/users/12", rng);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.extra_headers, "Allow: GET, HEAD\r\n");
}

TEST(DemoRoutes, SearchIsSlowerWithARightSkewedLatency) {
  DemoRng rng(3);
  std::vector<uint32_t> delays;
  size_t min_size = SIZE_MAX, max_size = 0;
  for (int i = 0; i < 5000; ++i) {
    DemoReply r = plan(Method::kGet, "/api/search", rng);
    ASSERT_EQ(r.status, 200);
    ASSERT_GE(r.delay_ms, 30u);
    ASSERT_LE(r.delay_ms, 150u);
    ASSERT_GE(r.body.size(), kSearchMinBytes);
    ASSERT_LE(r.body.size(), kSearchMaxBytes);
    ASSERT_TRUE(r.body.starts_with(R"({"results":[)") && r.body.ends_with("]}"));
    delays.push_back(r.delay_ms);
    min_size = std::min(min_size, r.body.size());
    max_size = std::max(max_size, r.body.size());
  }
  std::sort(delays.begin(), delays.end());
  double mean = 0;
  for (uint32_t d : delays) mean += d;
  mean /= double(delays.size());
  uint32_t median = delays[delays.size() / 2];
  EXPECT_GE(median, 50u);
  EXPECT_LE(median, 70u);
  EXPECT_GT(mean, double(median));  // long right tail, as real latencies have
  EXPECT_EQ(delays.back(), 150u);   // the tail reaches the cap
  // Sizes spread across the range so size histograms have shape.
  EXPECT_LT(min_size, 4u * 1024);
  EXPECT_GT(max_size, 16u * 1024);
}

TEST(DemoRoutes, OrdersAcceptPostAndReportTheBodySize) {
  DemoRng rng(4);
  DemoReply r = plan(Method::kPost, "/api/orders", rng, 345);
  EXPECT_EQ(r.status, 201);
  EXPECT_GE(r.delay_ms, 40u);
  EXPECT_LE(r.delay_ms, 60u);
  EXPECT_NE(r.body.find(R"("received_bytes":345})"), std::string::npos) << r.body;
  EXPECT_TRUE(r.extra_headers.starts_with("Location: /api/orders/"));
  DemoReply get = plan(Method::kGet, "/api/orders", rng);
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.extra_headers, "Allow: POST\r\n");
}

TEST(DemoRoutes, StaticBundleIsA64KibSharedChunkedBody) {
  DemoRng rng(5);
  DemoReply a = plan(Method::kGet, "/static/app.js", rng);
  DemoReply b = plan(Method::kGet, "/static/app.js", rng);
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(a.chunked);
  EXPECT_EQ(a.content_type, "application/javascript");
  EXPECT_EQ(a.body_view().size(), kStaticAppJsBytes);
  EXPECT_EQ(a.shared_body, b.shared_body);  // not rebuilt per request
  EXPECT_TRUE(a.body.empty());
}

TEST(DemoRoutes, FlakyFailsFivePercentWith500AndOnePercentWith503) {
  DemoRng rng(6);
  constexpr int kDraws = 20000;
  int n500 = 0, n503 = 0, n200 = 0;
  for (int i = 0; i < kDraws; ++i) {
    DemoReply r = plan(Method::kGet, "/api/flaky", rng);
    ASSERT_LE(r.delay_ms, 10u);
    if (r.status == 500) ++n500;
    if (r.status == 503) {
      ++n503;
      EXPECT_EQ(r.extra_headers, "Retry-After: 1\r\n");
    }
    if (r.status == 200) ++n200;
  }
  EXPECT_EQ(n500 + n503 + n200, kDraws);
  EXPECT_NEAR(double(n500) / kDraws, 0.05, 0.005);
  EXPECT_NEAR(double(n503) / kDraws, 0.01, 0.002);
}

TEST(DemoRoutes, SlowTakesFourHundredToNineHundredMs) {
  DemoRng rng(7);
  uint32_t lo = UINT32_MAX, hi = 0;
  for (int i = 0; i < 1000; ++i) {
    DemoReply r = plan(Method::kGet, "/api/slow", rng);
    ASSERT_EQ(r.status, 200);
    lo = std::min(lo, r.delay_ms);
    hi = std::max(hi, r.delay_ms);
  }
  EXPECT_GE(lo, 400u);
  EXPECT_LE(hi, 900u);
  EXPECT_LT(lo, 450u);
  EXPECT_GT(hi, 850u);
}

TEST(DemoRoutes, UnknownPathIs404WithTheEscapedPath) {
  DemoRng rng(8);
  DemoReply r = plan(Method::kGet, "/no\"such", rng);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"not found","path":"/no\"such"})");
}

// ---------------------------------------------------------------- traffic mix

struct CollectingSink final : http::MessageSink {
  http::SinkAction on_head(const http::MessageHead& h) override {
    method = h.method;
    path.assign(h.path);
    return http::SinkAction::kContinue;
  }
  http::SinkAction on_body(std::string_view d) override {
    body += d.size();
    return http::SinkAction::kContinue;
  }
  http::SinkAction on_message_complete() override {
    complete = true;
    return http::SinkAction::kContinue;
  }
  Method method = Method::kOther;
  std::string path;
  uint64_t body = 0;
  bool complete = false;
};

TEST(DemoTrafficMix, EveryRequestIsOneValidMessageForAKnownRoute) {
  DemoRng rng(9);
  DemoRng plan_rng(10);
  std::set<std::string> routes;
  std::set<std::string> user_paths;
  for (int i = 0; i < 2000; ++i) {
    DemoTrafficRequest req = next_demo_request(rng);
    CollectingSink sink;
    http::Parser parser(http::MessageKind::kRequest, http::ParserLimits{}, sink);
    http::FeedResult fr = parser.feed(req.bytes);
    ASSERT_NE(fr.status, http::FeedStatus::kError) << req.bytes;
    ASSERT_TRUE(sink.complete) << req.bytes;
    ASSERT_EQ(fr.consumed, req.bytes.size());  // exactly one message
    EXPECT_EQ(req.head, sink.method == Method::kHead);

    DemoReply r = plan_reply(DemoRequest{sink.method, sink.path, sink.body}, plan_rng);
    EXPECT_NE(r.status, 405) << req.bytes;  // the generator uses each route's method
    if (sink.path.starts_with("/api/users/")) {
      user_paths.insert(sink.path);
      routes.insert("/api/users/{id}");
    } else {
      routes.insert(sink.path);
    }
    if (r.status == 404) {
      EXPECT_EQ(sink.path, "/favicon.ico");
    }
  }
  EXPECT_EQ(routes,
            (std::set<std::string>{"/api/users/{id}", "/api/search", "/api/orders",
                                   "/static/app.js", "/api/flaky", "/api/slow", "/favicon.ico"}));
  // Random ids, so a dashboard has to template them to /api/users/{id}.
  EXPECT_GT(user_paths.size(), 500u);
}

// ---------------------------------------------------------------- backend over loopback

class DemoBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(runner_.start());
    ASSERT_NE(runner_.upstream_port(), 0);
  }
  void TearDown() override {
    runner_.stop();
    EXPECT_EQ(runner_.loop_close_result(), 0);
  }

  st::HttpMessage get(st::RawClient& c, const std::string& request, bool head = false) {
    st::HttpMessage m;
    st::ReadResult r = c.exchange(request, m, head);
    EXPECT_TRUE(r.ok()) << st::to_string(r.status) << " " << r.error;
    return m;
  }

  static uint64_t served_header(const st::HttpMessage& m) {
    auto v = m.header("X-Demo-Served");
    return v ? std::stoull(*v) : 0;
  }

  DemoRunner runner_;
};

TEST_F(DemoBackendTest, UsersAnswerOneKibJsonWithContentLength) {
  st::RawClient c(runner_.upstream_port());
  ASSERT_TRUE(c.connected());
  st::HttpMessage m = get(c, st::simple_get("/api/users/7"));
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.framing, st::BodyFraming::kContentLength);
  EXPECT_GE(m.body.size(), kUserMinBytes);
  EXPECT_LE(m.body.size(), kUserMaxBytes);
  EXPECT_TRUE(m.body.starts_with(R"({"id":7,)"));
  EXPECT_EQ(m.header("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(served_header(m), 1u);
  EXPECT_EQ(runner_.served(), 1u);
}

TEST_F(DemoBackendTest, KeepAliveServesManyRequestsOnOneConnection) {
  st::RawClient c(runner_.upstream_port());
  ASSERT_TRUE(c.connected());
  uint64_t last = 0;
  for (int i = 1; i <= 5; ++i) {
    st::HttpMessage m = get(c, st::simple_get("/api/users/" + std::to_string(i)));
    ASSERT_EQ(m.status, 200);
    EXPECT_FALSE(m.has_token("Connection", "close"));
    EXPECT_GT(served_header(m), last);
    last = served_header(m);
  }
  EXPECT_EQ(runner_.served(), 5u);
}

TEST_F(DemoBackendTest, PipelinedRequestsAreAnsweredInOrder) {
  st::RawClient c(runner_.upstream_port());
  ASSERT_TRUE(c.send(st::simple_get("/api/users/1") + st::simple_get("/api/users/2") +
                     st::simple_get("/api/flaky")));
  st::HttpMessage a, b, f;
  ASSERT_TRUE(c.read_response(a).ok());
  ASSERT_TRUE(c.read_response(b).ok());
  ASSERT_TRUE(c.read_response(f).ok());
  EXPECT_TRUE(a.body.starts_with(R"({"id":1,)"));
  EXPECT_TRUE(b.body.starts_with(R"({"id":2,)"));
  EXPECT_TRUE(f.status == 200 || f.status == 500 || f.status == 503) << f.status;
}

TEST_F(DemoBackendTest, SearchAnswersTwoToTwentyKib) {
  st::RawClient c(runner_.upstream_port());
  for (int i = 0; i < 5; ++i) {
    st::HttpMessage m = get(c, st::simple_get("/api/search?q=p99&page=" + std::to_string(i)));
    EXPECT_EQ(m.status, 200);
    EXPECT_EQ(m.framing, st::BodyFraming::kContentLength);
    EXPECT_GE(m.body.size(), kSearchMinBytes);
    EXPECT_LE(m.body.size(), kSearchMaxBytes);
  }
}

TEST_F(DemoBackendTest, OrdersReportTheReceivedBodySize) {
  st::RawClient c(runner_.upstream_port());
  std::string body(777, 'x');
  st::HttpMessage m =
      get(c, "POST /api/orders HTTP/1.1\r\nHost: t\r\nContent-Length: 777\r\n\r\n" + body);
  EXPECT_EQ(m.status, 201);
  EXPECT_NE(m.body.find(R"("received_bytes":777})"), std::string::npos) << m.body;
  EXPECT_TRUE(m.has("Location"));
  // Chunked request bodies are decoded before counting.
  m = get(c,
          "POST /api/orders HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(m.status, 201);
  EXPECT_NE(m.body.find(R"("received_bytes":8})"), std::string::npos) << m.body;
  m = get(c, st::simple_get("/api/orders"));
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.header("Allow").value_or(""), "POST");
}

TEST_F(DemoBackendTest, StaticBundleIsChunked64Kib) {
  st::RawClient c(runner_.upstream_port());
  st::HttpMessage m = get(c, st::simple_get("/static/app.js"));
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.framing, st::BodyFraming::kChunked);
  EXPECT_FALSE(m.has("Content-Length"));
  EXPECT_EQ(m.body.size(), kStaticAppJsBytes);
  EXPECT_EQ(m.body, static_app_js());
  // The connection is still usable after the chunked body.
  EXPECT_EQ(get(c, st::simple_get("/api/users/3")).status, 200);
}

TEST_F(DemoBackendTest, HeadGetsTheHeadersWithoutABody) {
  st::RawClient c(runner_.upstream_port());
  st::HttpMessage m = get(c, "HEAD /api/users/9 HTTP/1.1\r\nHost: t\r\n\r\n", true);
  EXPECT_EQ(m.status, 200);
  EXPECT_TRUE(m.has("Content-Length"));
  EXPECT_TRUE(m.body.empty());
  // Had a body been sent, it would be read as the next response's status line.
  EXPECT_EQ(get(c, st::simple_get("/api/users/9")).status, 200);
}

TEST_F(DemoBackendTest, FlakyAnswersOnly200_500Or503) {
  st::RawClient c(runner_.upstream_port());
  for (int i = 0; i < 40; ++i) {
    st::HttpMessage m = get(c, st::simple_get("/api/flaky"));
    ASSERT_TRUE(m.status == 200 || m.status == 500 || m.status == 503) << m.status;
    if (m.status == 503) {
      EXPECT_EQ(m.header("Retry-After").value_or(""), "1");
    }
  }
}

TEST_F(DemoBackendTest, SlowWaitsAtLeastItsDelay) {
  st::RawClient c(runner_.upstream_port());
  auto t0 = st::Clock::now();
  st::HttpMessage m = get(c, st::simple_get("/api/slow"));
  auto took = std::chrono::duration_cast<milliseconds>(st::Clock::now() - t0);
  EXPECT_EQ(m.status, 200);
  EXPECT_GE(took.count(), 400);  // the route's minimum delay (an upper bound would be speed)
  auto reported = st::json_int(m.body, "took_ms");
  ASSERT_TRUE(reported.has_value()) << m.body;
  EXPECT_GE(took.count(), *reported);
}

TEST_F(DemoBackendTest, UnknownPathIs404) {
  st::RawClient c(runner_.upstream_port());
  EXPECT_EQ(get(c, st::simple_get("/nope")).status, 404);
}

TEST_F(DemoBackendTest, MalformedRequestGets400AndClose) {
  st::RawClient c(runner_.upstream_port());
  // HTTP/1.1 without Host.
  st::HttpMessage m = get(c, "GET /api/users/1 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(m.status, 400);
  EXPECT_TRUE(m.has_token("Connection", "close"));
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(DemoBackendTest, ConnectionCloseIsHonoured) {
  st::RawClient c(runner_.upstream_port());
  st::HttpMessage m = get(c, st::simple_get("/api/users/1", "Connection: close\r\n"));
  EXPECT_EQ(m.status, 200);
  EXPECT_TRUE(m.has_token("Connection", "close"));
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(DemoBackendTest, StopClosesIdleAndBusyConnections) {
  st::RawClient idle(runner_.upstream_port());
  ASSERT_EQ(get(idle, st::simple_get("/api/users/1")).status, 200);
  st::RawClient busy(runner_.upstream_port());
  ASSERT_TRUE(busy.send(st::simple_get("/api/slow")));
  // Whether or not the backend has read the slow request yet, stop() must close both
  // connections and any armed delay timer without waiting for it.
  runner_.stop();
  EXPECT_EQ(runner_.loop_close_result(), 0);
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_TRUE(busy.wait_closed());
}

// ---------------------------------------------------------------- traffic generator

TEST(DemoTraffic, FlowsOverKeepAliveConnectionsToTheBackend) {
  TrafficOptions opts;
  opts.connections = 3;
  opts.mean_think_ms = 5;  // faster than the default so the test is short
  DemoRunner runner(opts);
  ASSERT_TRUE(runner.start());
  // Aimed at its own backend: every response received was served by it.
  runner.start_traffic(runner.upstream_port());
  EXPECT_TRUE(eventually([&] { return runner.traffic_responses() >= 40; }, seconds(30)))
      << runner.traffic_responses();
  runner.stop();
  EXPECT_EQ(runner.loop_close_result(), 0);
  EXPECT_GE(runner.served(), runner.traffic_responses());
  EXPECT_GE(runner.traffic_connects(), 1u);
  EXPECT_EQ(runner.traffic_failures(), 0u);
  // Keep-alive: connections are reused, not opened per request.
  EXPECT_LE(runner.traffic_connects(), runner.traffic_responses() / 4);
}

TEST(DemoTraffic, ReconnectsWhenTheServerClosesAndSendsKnownRoutes) {
  // Each connection gets one answer with Connection: close, then is closed.
  st::TestUpstream upstream([](st::UpstreamConn& conn) {
    st::HttpMessage req;
    if (!conn.read_request(req)) return;
    conn.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  TrafficOptions opts;
  opts.connections = 1;
  opts.mean_think_ms = 5;
  DemoRunner runner(opts);
  ASSERT_TRUE(runner.start());
  runner.start_traffic(upstream.port());
  EXPECT_TRUE(upstream.wait_connections(3, st::deadline_in(seconds(20))));
  EXPECT_TRUE(eventually([&] { return runner.traffic_responses() >= 2; }, seconds(20)));
  runner.stop();
  EXPECT_EQ(runner.loop_close_result(), 0);
  EXPECT_GE(runner.traffic_connects(), 2u);
  EXPECT_EQ(runner.traffic_failures(), 0u);  // a close after a response is not a failure
  DemoRng rng(11);
  for (const st::HttpMessage& m : upstream.seen_requests()) {
    std::string path = m.target.substr(0, m.target.find('?'));
    if (path != "/favicon.ico") {
      Method method = m.method == "POST" ? Method::kPost : Method::kGet;
      EXPECT_NE(plan(method, path, rng).status, 404) << m.target;
    }
    EXPECT_EQ(m.header("Host").value_or(""), "demo.local");
  }
}

TEST(DemoTraffic, StopIsCleanWhileReconnectingToARefusedPort) {
  TrafficOptions opts;
  opts.connections = 2;
  opts.min_reconnect_ms = 10;
  opts.max_reconnect_ms = 100;
  DemoRunner runner(opts);
  ASSERT_TRUE(runner.start());
  runner.start_traffic(st::refused_port());
  // Refused connects back off and retry (10, 20, 40 ms ...) instead of giving up.
  EXPECT_TRUE(eventually([&] { return runner.traffic_failures() >= 6; }, seconds(20)));
  runner.stop();
  runner.stop();  // idempotent
  EXPECT_EQ(runner.loop_close_result(), 0);
  EXPECT_EQ(runner.traffic_connects(), 0u);
}

// ---------------------------------------------------------------- the binary

// Without --demo and without an upstream the proxy must not serve demo data to whoever
// connects (a production config that lost its upstream line): it proxies to the
// documented default, 127.0.0.1:8000, and says nothing of a demo.
TEST(DemoMode, NoDemoWithoutTheFlag) {
  st::SidemeterProcess proc({"--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0"});
  ASSERT_TRUE(proc.started()) << proc.error();
  ASSERT_TRUE(proc.wait_listening()) << proc.log_text();
  EXPECT_TRUE(proc.events("demo_mode").empty()) << proc.log_text();
  auto line = proc.events("listening");
  ASSERT_EQ(line.size(), 1u);
  EXPECT_NE(line[0].find("\"upstream\":\"127.0.0.1:8000\""), std::string::npos) << line[0];
}

TEST(DemoMode, BinaryWithDemoFlagServesDemoTrafficThroughItself) {
  st::SidemeterProcess proc({"--demo", "--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0"});
  ASSERT_TRUE(proc.started()) << proc.error();
  ASSERT_TRUE(proc.wait_listening()) << proc.log_text();
  EXPECT_EQ(proc.events("demo_mode").size(), 1u) << proc.log_text();
  auto line = proc.wait_for_log("\"demo_traffic\"", st::deadline_in(seconds(10)));
  ASSERT_TRUE(line.has_value()) << proc.log_text();
  EXPECT_TRUE(st::json_has(*line, "event", "demo_traffic"));
  EXPECT_EQ(st::json_field(*line, "target").value_or(""),
            "127.0.0.1:" + std::to_string(proc.listen_port()));

  // Our own request goes through the proxy to the demo backend.
  auto fetch = [&](uint64_t* served) {
    st::RawClient c(proc.listen_port());
    st::HttpMessage m;
    if (!c.exchange(st::simple_get("/api/users/1"), m).ok() || m.status != 200) return false;
    if (!m.body.starts_with(R"({"id":1,)")) return false;
    auto v = m.header("X-Demo-Served");
    *served = v ? std::stoull(*v) : 0;
    return true;
  };
  uint64_t first = 0;
  ASSERT_TRUE(fetch(&first)) << proc.log_text();
  // The backend's response counter grows faster than our own requests alone would make
  // it: the generator's traffic reaches it, and it only knows the proxy's port.
  int own = 0;
  uint64_t now = first;
  bool flowing = eventually(
      [&] {
        ++own;
        return fetch(&now) && now >= first + uint64_t(own) + 20;
      },
      seconds(20));
  EXPECT_TRUE(flowing) << "served " << first << " -> " << now << " with " << own
                       << " own requests\n"
                       << proc.log_text();

  ASSERT_TRUE(proc.send_signal(SIGTERM));
  auto code = proc.wait_exit(st::deadline_in(seconds(30)));
  ASSERT_TRUE(code.has_value()) << proc.log_text();
  EXPECT_EQ(*code, 0) << proc.log_text();
  EXPECT_TRUE(proc.events("demo_loop_close_failed").empty()) << proc.log_text();
}

}  // namespace
}  // namespace sidemeter::demo
