// Upgrade handling: a 101 answer turns the connection into a byte tunnel both ways; any
// other answer leaves it an ordinary HTTP connection.
#include <gtest/gtest.h>

#include <memory>

#include "tests/integration/proxy_fixture.h"

namespace sidemeter::testing {
namespace {

using UpgradeTest = ProxyTest;

const char kUpgradeRequest[] =
    "GET /ws HTTP/1.1\r\nHost: test.local\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

// Answers 101, sends a greeting in the same write, then echoes raw bytes until EOF.
UpstreamHandler tunnel_echo() {
  return [](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    if (!req.has_token("connection", "upgrade") || !req.has("upgrade")) {
      c.write(make_response(400, "Bad Request", "upgrade headers missing", {}));
      return;
    }
    if (!c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\n\r\nhello")) {
      return;
    }
    Socket& s = c.socket();
    for (;;) {
      if (s.buffer().empty()) {
        IoStatus st = s.fill(deadline_in(std::chrono::seconds(20)));
        if (st != IoStatus::kOk) break;  // EOF: close our side too
      }
      std::string data = s.take(s.buffer().size());
      if (s.write_all(data, deadline_in(std::chrono::seconds(20))) != IoStatus::kOk) break;
    }
    c.close();
  };
}

TEST_F(UpgradeTest, SwitchingProtocolsBecomesByteTunnel) {
  start(tunnel_echo());
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(kUpgradeRequest, resp).ok());
  ASSERT_EQ(resp.status, 101) << resp.head_raw << resp.body;
  EXPECT_TRUE(resp.has_token("connection", "upgrade"));
  EXPECT_EQ(resp.header("upgrade").value_or(""), "websocket");
  Socket& s = client.socket();
  // The greeting the upstream sent right behind the 101.
  ASSERT_EQ(s.fill_to(5, soon()), IoStatus::kOk);
  EXPECT_EQ(s.take(5), "hello");
  // Not HTTP any more: bytes that would be an invalid request must pass untouched.
  using namespace std::string_literals;  // keeps the embedded NUL
  const std::string frame = "\x81\x05ping!\r\n\r\nNOT HTTP\0\xff"s;
  ASSERT_TRUE(client.send(frame));
  ASSERT_EQ(s.fill_to(frame.size(), soon()), IoStatus::kOk);
  EXPECT_EQ(s.take(frame.size()), frame);
  std::string big(300000, '\0');
  fill_pattern(5, big.data(), big.size());
  ASSERT_TRUE(client.send(big));
  ASSERT_EQ(s.fill_to(big.size(), soon()), IoStatus::kOk);
  EXPECT_TRUE(s.take(big.size()) == big);
  // Half-close travels through the tunnel; the upstream then closes, and so does the
  // client side.
  s.shutdown_write();
  EXPECT_TRUE(client.wait_closed(soon()));
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header("upgrade").value_or(""), "websocket");
  EXPECT_EQ(seen[0].header("sec-websocket-key").value_or(""), "dGhlIHNhbXBsZSBub25jZQ==");
}

TEST_F(UpgradeTest, NonSwitchingAnswerStaysHttp) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      c.write(make_response(req.has("upgrade") ? 426 : 200, "Status",
                            req.has("upgrade") ? "no upgrade here" : "plain"));
    }
  });
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(kUpgradeRequest, resp).ok());
  EXPECT_EQ(resp.status, 426);
  EXPECT_EQ(resp.body, "no upgrade here");
  // Still HTTP: the next request on the same connection is parsed and forwarded.
  ASSERT_TRUE(client.exchange(simple_get("/next"), resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "plain");
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].target, "/next");
}

TEST_F(UpgradeTest, IdleTunnelClosedAfterTunnelIdle) {
  start(tunnel_echo(), "timeouts:\n  tunnel_idle: 300ms\n");
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(kUpgradeRequest, resp).ok());
  ASSERT_EQ(resp.status, 101);
  auto t0 = Clock::now();
  std::string rest;
  IoStatus st = client.read_until_close(&rest, soon());
  EXPECT_TRUE(st == IoStatus::kClosed || st == IoStatus::kReset) << to_string(st);
  EXPECT_EQ(rest, "hello");
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(250));
}

}  // namespace
}  // namespace sidemeter::testing
