// Responses the proxy generates itself: 408, 413, 414, 431, 405, 503 (connection limit),
// 504 (upstream response and connect timeouts). Timeouts are configured short in YAML and
// only bounded from below by what was configured; the upper bounds are generous.
#include <gtest/gtest.h>

#include "tests/integration/proxy_fixture.h"

namespace sidemeter::testing {
namespace {

using LocalStatusTest = ProxyTest;
using std::chrono::milliseconds;

// "/aaaa…" of n+1 bytes. (Not "/" + std::string(n, 'a'): GCC 12 -O3 -Wrestrict false
// positive.)
std::string long_target(size_t n) {
  std::string t(n + 1, 'a');
  t[0] = '/';
  return t;
}

void expect_local_error(const HttpMessage& resp, int status) {
  EXPECT_EQ(resp.status, status) << resp.head_raw << resp.body;
  EXPECT_EQ(resp.header("content-type").value_or("").rfind("text/plain", 0), 0u) << resp.head_raw;
  EXPECT_FALSE(resp.body.empty());
  EXPECT_LT(resp.body.size(), 1024u);
}

TEST_F(LocalStatusTest, RequestHeaderTimeoutIs408) {
  start(TestUpstream::fixed("x"), "timeouts:\n  request_header: 300ms\n");
  RawClient c(port());
  auto t0 = Clock::now();
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: test.local\r\n"));  // head never finishes
  HttpMessage resp;
  ASSERT_TRUE(c.read_response(resp).ok());
  auto waited = Clock::now() - t0;
  expect_local_error(resp, 408);
  EXPECT_TRUE(resp.has_token("connection", "close"));
  EXPECT_GE(waited, milliseconds(250));
  EXPECT_TRUE(c.wait_closed(soon()));
  EXPECT_EQ(upstream_->bytes_received(), 0u);
}

TEST_F(LocalStatusTest, BodyOverLimitIs413AndNothingForwarded) {
  start(TestUpstream::echo(), "limits:\n  max_request_body_bytes: 10\n");
  HttpMessage resp =
      fetch("POST /big HTTP/1.1\r\nHost: test.local\r\nContent-Length: 11\r\n\r\n01234567890");
  expect_local_error(resp, 413);
  EXPECT_TRUE(resp.has_token("connection", "close"));
  // At the limit is fine; it also proves the 413 sent nothing ahead of it.
  HttpMessage ok =
      fetch("POST /fits HTTP/1.1\r\nHost: test.local\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "0123456789");
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/fits");
  EXPECT_EQ(upstream_->raw_received().find("/big"), std::string::npos);
}

TEST_F(LocalStatusTest, ChunkedBodyOverLimitIs413) {
  start(TestUpstream::echo(), "limits:\n  max_request_body_bytes: 10\n");
  RawClient c(port());
  ASSERT_TRUE(
      c.send("POST /big HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
             "6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n"));
  HttpMessage resp;
  ASSERT_TRUE(c.read_response(resp).ok());
  expect_local_error(resp, 413);
  EXPECT_TRUE(resp.has_token("connection", "close"));
  EXPECT_TRUE(c.wait_closed(soon()));
}

TEST_F(LocalStatusTest, LongRequestLineIs414) {
  start(TestUpstream::fixed("x"), "limits:\n  max_request_line_bytes: 1024\n");
  HttpMessage resp = fetch(simple_get(long_target(2000)));
  expect_local_error(resp, 414);
  EXPECT_TRUE(resp.has_token("connection", "close"));
  EXPECT_EQ(fetch(simple_get(long_target(900))).status, 200);
  EXPECT_EQ(upstream_->requests(), 1u);
}

TEST_F(LocalStatusTest, DefaultRequestLineLimitIs8KiB) {
  start(TestUpstream::fixed("x"));
  EXPECT_EQ(fetch(simple_get(long_target(9000))).status, 414);
  EXPECT_EQ(fetch(simple_get(long_target(7000))).status, 200);
}

TEST_F(LocalStatusTest, LargeHeaderSectionIs431) {
  start(TestUpstream::fixed("x"), "limits:\n  max_header_bytes: 2048\n");
  HttpMessage resp = fetch(simple_get("/", "X-Big: " + std::string(3000, 'b') + "\r\n"));
  expect_local_error(resp, 431);
  EXPECT_TRUE(resp.has_token("connection", "close"));
  EXPECT_EQ(fetch(simple_get("/", "X-Small: " + std::string(500, 'b') + "\r\n")).status, 200);
  EXPECT_EQ(upstream_->requests(), 1u);
}

TEST_F(LocalStatusTest, TooManyHeadersIs431) {
  start(TestUpstream::fixed("x"), "limits:\n  max_headers: 10\n");
  auto headers = [](int n) {
    std::string h;
    for (int i = 0; i < n; ++i) h += "X-H" + std::to_string(i) + ": v\r\n";
    return h;
  };
  HttpMessage resp = fetch(simple_get("/", headers(20)));  // + Host = 21
  expect_local_error(resp, 431);
  EXPECT_TRUE(resp.has_token("connection", "close"));
  EXPECT_EQ(fetch(simple_get("/", headers(5))).status, 200);
  EXPECT_EQ(upstream_->requests(), 1u);
}

TEST_F(LocalStatusTest, ConnectIs405) {
  start(TestUpstream::fixed("x"));
  HttpMessage resp = fetch("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  expect_local_error(resp, 405);
  EXPECT_EQ(upstream_->bytes_received(), 0u);
}

TEST_F(LocalStatusTest, OverConnectionLimitIs503) {
  start(TestUpstream::fixed("x"), "limits:\n  max_connections: 1\n");
  RawClient first(port());
  HttpMessage resp;
  ASSERT_TRUE(first.exchange(simple_get("/"), resp).ok());  // accepted and counted
  ASSERT_EQ(resp.status, 200);

  RawClient second(port());
  ASSERT_TRUE(second.connected());
  second.send(simple_get("/"));  // may fail if the proxy already closed: fine
  ASSERT_TRUE(second.read_response(resp).ok());
  expect_local_error(resp, 503);
  EXPECT_TRUE(resp.has_token("connection", "close"));
  EXPECT_TRUE(second.wait_closed(soon()));
  EXPECT_EQ(upstream_->requests(), 1u);

  // Releasing the first slot admits a new client. The proxy learns of the close
  // asynchronously, so retry (bounded) until it has.
  first.close();
  auto deadline = soon();
  int status = 0;
  while (Clock::now() < deadline) {
    RawClient next(port());
    HttpMessage r;
    if (next.exchange(simple_get("/"), r).ok()) status = r.status;
    if (status == 200) break;
  }
  EXPECT_EQ(status, 200);
}

TEST_F(LocalStatusTest, UpstreamResponseTimeoutIs504) {
  // Shared: handler threads outlive the test body (the fixture stops them in TearDown).
  auto upstream_saw_close = std::make_shared<Latch>();
  start(
      [upstream_saw_close](UpstreamConn& c) {
        HttpMessage req;
        if (!c.read_request(req)) return;
        // Never answer; note whether the proxy gives up on this connection.
        if (c.wait_peer_close(deadline_in(std::chrono::seconds(20)))) upstream_saw_close->open();
      },
      "timeouts:\n  upstream_response: 300ms\n");
  RawClient c(port());
  auto t0 = Clock::now();
  HttpMessage resp;
  ASSERT_TRUE(c.exchange(simple_get("/slow"), resp).ok());
  auto waited = Clock::now() - t0;
  expect_local_error(resp, 504);
  EXPECT_GE(waited, milliseconds(250));
  // A timed-out upstream connection is in an unknown state: it must be closed.
  EXPECT_TRUE(upstream_saw_close->wait(soon()));
}

TEST_F(LocalStatusTest, UpstreamConnectTimeoutIs504) {
  FullBacklogServer stuck;
  if (!stuck.ok()) GTEST_SKIP() << "kernel accepted beyond a full backlog; cannot stall connect";
  start_proxy(stuck.address(), "timeouts:\n  upstream_connect: 300ms\n");
  auto t0 = Clock::now();
  HttpMessage resp = fetch(simple_get("/"));
  auto waited = Clock::now() - t0;
  expect_local_error(resp, 504);
  EXPECT_GE(waited, milliseconds(250));
}

TEST_F(LocalStatusTest, UpstreamRefusedIs502) {
  start_proxy("127.0.0.1:" + std::to_string(refused_port()));
  HttpMessage resp = fetch(simple_get("/"));
  expect_local_error(resp, 502);
}

TEST_F(LocalStatusTest, DownstreamIdleConnectionClosed) {
  start(TestUpstream::fixed("x"), "timeouts:\n  downstream_idle: 300ms\n");
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange(simple_get("/"), resp).ok());
  auto t0 = Clock::now();
  std::string extra;
  IoStatus st = c.read_until_close(&extra, soon());
  EXPECT_TRUE(st == IoStatus::kClosed || st == IoStatus::kReset) << to_string(st);
  EXPECT_GE(Clock::now() - t0, milliseconds(250));
}

}  // namespace
}  // namespace sidemeter::testing
