// Forwarding semantics over real loopback sockets: headers, keep-alive and pooling,
// pipelining, Connection: close on either side.
#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>

#include "tests/integration/proxy_fixture.h"

namespace sidemeter::testing {
namespace {

using ForwardingTest = ProxyTest;

TEST_F(ForwardingTest, SimpleGetReachesUpstreamAndAnswerComesBack) {
  start(TestUpstream::fixed("hello"));
  HttpMessage resp = fetch(simple_get("/some/path?q=1"));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "hello");
  EXPECT_EQ(resp.header("content-type").value_or(""), "text/plain");
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/some/path?q=1");
  EXPECT_EQ(seen[0].header("host").value_or(""), "test.local");
}

// A trusted proxy's X-Forwarded-For is appended to (untrusted clients: replaced, in
// proxy_protocol_test's ForwardedTrust).
TEST_F(ForwardingTest, ForwardedHeadersAddedAndXffAppended) {
  start(TestUpstream::fixed("ok"), "trusted_proxies: [\"127.0.0.1/32\"]\n");
  fetch(simple_get("/a"));
  fetch(simple_get("/b", "X-Forwarded-For: 10.1.2.3\r\n"));
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].header("x-forwarded-for").value_or(""), "127.0.0.1");
  EXPECT_EQ(seen[0].header("x-forwarded-proto").value_or(""), "http");
  EXPECT_EQ(seen[0].header("x-forwarded-host").value_or(""), "test.local");
  // Appended, not replaced, and still a single field.
  EXPECT_EQ(seen[1].header_count("x-forwarded-for"), 1u);
  EXPECT_EQ(seen[1].header("x-forwarded-for").value_or(""), "10.1.2.3, 127.0.0.1");
}

TEST_F(ForwardingTest, HopByHopRequestHeadersRemoved) {
  start(TestUpstream::fixed("ok"));
  HttpMessage resp = fetch(
      "GET / HTTP/1.1\r\n"
      "Host: test.local\r\n"
      "Connection: keep-alive, X-Private-Hop\r\n"
      "X-Private-Hop: secret\r\n"
      "Keep-Alive: timeout=5\r\n"
      "TE: trailers\r\n"
      "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "Upgrade: h2c\r\n"  // not an upgrade request: Connection does not list it
      "X-End-To-End: kept\r\n"
      "\r\n");
  EXPECT_EQ(resp.status, 200);
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  for (const char* h : {"x-private-hop", "keep-alive", "te", "proxy-authorization",
                        "proxy-connection", "upgrade"}) {
    EXPECT_FALSE(seen[0].has(h)) << h << " reached the upstream\n" << seen[0].head_raw;
  }
  EXPECT_FALSE(seen[0].has_token("connection", "x-private-hop"));
  EXPECT_FALSE(seen[0].has_token("connection", "keep-alive"));
  EXPECT_EQ(seen[0].header("x-end-to-end").value_or(""), "kept");
}

TEST_F(ForwardingTest, HopByHopResponseHeadersRemoved) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      c.write(
          "HTTP/1.1 200 OK\r\n"
          "Connection: X-Resp-Hop\r\n"
          "X-Resp-Hop: 1\r\n"
          "Keep-Alive: timeout=5\r\n"
          "Proxy-Authenticate: Basic realm=x\r\n"
          "X-End-To-End: kept\r\n"
          "Content-Length: 2\r\n\r\nok");
    }
  });
  HttpMessage resp = fetch(simple_get("/"));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "ok");
  for (const char* h : {"x-resp-hop", "keep-alive", "proxy-authenticate"}) {
    EXPECT_FALSE(resp.has(h)) << h << " reached the client\n" << resp.head_raw;
  }
  EXPECT_FALSE(resp.has_token("connection", "x-resp-hop"));
  EXPECT_EQ(resp.header("x-end-to-end").value_or(""), "kept");
}

TEST_F(ForwardingTest, ClientKeepAliveServesManyRequestsOnOneConnection) {
  start(TestUpstream::echo());
  RawClient c(port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 20; ++i) {
    HttpMessage resp;
    std::string target = "/r" + std::to_string(i);
    ASSERT_TRUE(c.exchange(simple_get(target), resp).ok()) << i;
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.header("x-echo-target").value_or(""), target);
    EXPECT_FALSE(resp.has_token("connection", "close"));
  }
}

TEST_F(ForwardingTest, UpstreamConnectionsArePooledAcrossClients) {
  start(TestUpstream::fixed("pooled"));
  RawClient keep(port());
  HttpMessage resp;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(keep.exchange(simple_get("/k"), resp).ok());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(fetch(simple_get("/fresh")).body, "pooled");
  // Ten sequential requests through one worker: one upstream connection suffices.
  EXPECT_EQ(upstream_->requests(), 10u);
  EXPECT_EQ(upstream_->connections(), 1u);
}

TEST_F(ForwardingTest, PoolKeepsAtMostMaxIdlePerWorker) {
  // Three requests held concurrently force three upstream connections; once they are
  // answered, a pool capped at one idle connection must close the other two.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    int held = 0;
    int closed_by_proxy = 0;
  };
  auto st = std::make_shared<State>();
  start(
      [st](UpstreamConn& c) {
        HttpMessage req;
        while (c.read_request(req)) {
          if (req.target == "/hold") {
            std::unique_lock<std::mutex> lock(st->mu);
            st->held++;
            st->cv.notify_all();
            if (!st->cv.wait_until(lock, soon(), [&] { return st->held >= 3; })) return;
          }
          c.write(make_response(200, "OK", "held"));
        }
        // read_request failed: the proxy closed this connection.
        if (c.last().status == IoStatus::kClosed || c.last().status == IoStatus::kReset) {
          std::lock_guard<std::mutex> lock(st->mu);
          st->closed_by_proxy++;
          st->cv.notify_all();
        }
      },
      "upstream:\n  max_idle_per_worker: 1\n");
  RawClient a(port()), b(port()), c(port());
  for (RawClient* cl : {&a, &b, &c}) ASSERT_TRUE(cl->send(simple_get("/hold")));
  for (RawClient* cl : {&a, &b, &c}) {
    HttpMessage resp;
    ASSERT_TRUE(cl->read_response(resp).ok());
    EXPECT_EQ(resp.status, 200);
  }
  EXPECT_EQ(upstream_->connections(), 3u);
  {
    std::unique_lock<std::mutex> lock(st->mu);
    st->cv.wait_until(lock, soon(), [&] { return st->closed_by_proxy >= 2; });
    EXPECT_EQ(st->closed_by_proxy, 2);
  }
  // The one kept is reused.
  EXPECT_EQ(fetch(simple_get("/again")).status, 200);
  EXPECT_EQ(upstream_->connections(), 3u);
}

TEST_F(ForwardingTest, ContentLengthBodyForwardedExactly) {
  start(TestUpstream::echo());
  std::string body(100000, '\0');
  fill_pattern(7, body.data(), body.size());
  HttpMessage resp = fetch("POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body.size(), body.size());
  EXPECT_TRUE(resp.body == body);
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_TRUE(seen[0].body == body);
}

TEST_F(ForwardingTest, PipelinedRequestsAnsweredInOrder) {
  start(TestUpstream::echo());
  RawClient c(port());
  ASSERT_TRUE(c.send(simple_get("/first") +
                     "POST /second HTTP/1.1\r\nHost: test.local\r\nContent-Length: 3\r\n\r\nabc" +
                     simple_get("/third") + simple_get("/fourth")));
  const char* expected[] = {"/first", "/second", "/third", "/fourth"};
  for (const char* t : expected) {
    HttpMessage resp;
    ASSERT_TRUE(c.read_response(resp).ok()) << t;
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.header("x-echo-target").value_or(""), t);
    if (std::string(t) == "/second") {
      EXPECT_EQ(resp.body, "abc");
    }
  }
}

TEST_F(ForwardingTest, ClientConnectionCloseGetsCloseAndEof) {
  start(TestUpstream::fixed("bye"));
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange(simple_get("/", "Connection: close\r\n"), resp).ok());
  EXPECT_EQ(resp.body, "bye");
  EXPECT_TRUE(resp.has_token("connection", "close"));
  EXPECT_TRUE(c.wait_closed(soon()));
}

TEST_F(ForwardingTest, UpstreamConnectionCloseIsNotReused) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    c.write(make_response(200, "OK", "once", {{"Connection", "close"}}));
    c.close();
  });
  RawClient client(port());
  for (int i = 0; i < 3; ++i) {
    HttpMessage resp;
    ASSERT_TRUE(client.exchange(simple_get("/"), resp).ok()) << i;
    EXPECT_EQ(resp.status, 200) << i;
    EXPECT_EQ(resp.body, "once");
    // The upstream's "close" is hop-by-hop: the client connection stays usable.
    EXPECT_FALSE(resp.has_token("connection", "close"));
  }
  EXPECT_EQ(upstream_->connections(), 3u);
}

TEST_F(ForwardingTest, RequestSplitIntoTinyWritesIsReassembled) {
  start(TestUpstream::echo());
  RawClient c(port());
  std::string req = "POST /split HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n\r\nhello";
  for (char ch : req) ASSERT_TRUE(c.send(std::string_view(&ch, 1)));
  HttpMessage resp;
  ASSERT_TRUE(c.read_response(resp).ok());
  EXPECT_EQ(resp.body, "hello");
  EXPECT_EQ(resp.header("x-echo-target").value_or(""), "/split");
}

// ------------------------------------------------------------------ head written with body

// A backend that writes a response's head and body apart (nginx with sendfile, Python
// servers). The head of a short Content-Length body waits for the body and both go out
// in one write (Exchange::on_upstream_read_done); streams and long bodies do not wait.
class HeadAndBodyApart : public ForwardingTest {
 protected:
  // The backend sends `head`, then waits for the test before sending `body`.
  void start_split(std::string head, std::string body) {
    body_may_go_ = std::make_shared<Latch>();
    start([head, body, go = body_may_go_](UpstreamConn& c) {
      HttpMessage req;
      if (!c.read_request(req)) return;
      if (!c.write(head)) return;
      if (!c.wait_for(*go, soon())) return;
      c.write(body);
    }, "", 2);
  }
  // The head reaches the client while the backend still holds the body back; then the
  // whole response. Returns its body.
  std::string expect_head_before_body(const std::string& target, const char* why) {
    RawClient client(port());
    EXPECT_TRUE(client.send(simple_get(target)));
    size_t head_end = 0;
    EXPECT_EQ(client.socket().fill_until("\r\n\r\n", soon(), &head_end), IoStatus::kOk) << why;
    body_may_go_->open();
    HttpMessage resp;
    EXPECT_TRUE(client.read_response(resp).ok());
    return resp.body;
  }
  std::shared_ptr<Latch> body_may_go_;
};

TEST_F(HeadAndBodyApart, ShortBodysHeadWaitsForTheBody) {
  start_split("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "hello");
  RawClient client(port());
  ASSERT_TRUE(client.send(simple_get("/short")));
  // The backend has written the head; nothing reaches the client until the body exists.
  // (A proxy that forwards the head alone fails here; a correct one cannot.)
  const IoStatus early = client.socket().fill(deadline_in(std::chrono::milliseconds(300)));
  EXPECT_EQ(early, IoStatus::kTimeout) << "received early: " << client.socket().buffer();
  body_may_go_->open();
  HttpMessage resp;
  ASSERT_TRUE(client.read_response(resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "hello");
}

TEST_F(HeadAndBodyApart, ChunkedHeadIsNotHeld) {
  // A chunked response may be a stream (Server-Sent Events): its head goes at once.
  start_split("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
              "Transfer-Encoding: chunked\r\n\r\n",
              "6\r\ndata:1\r\n0\r\n\r\n");
  EXPECT_EQ(expect_head_before_body("/events", "the head of a stream must not wait for its first chunk"),
            "data:1");
}

TEST_F(HeadAndBodyApart, LongBodysHeadIsNotHeld) {
  const std::string body(64 * 1024 + 1, 'x');
  start_split("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n",
              body);
  EXPECT_EQ(expect_head_before_body("/download", "a download's head (its length) goes at once").size(),
            body.size());
}

}  // namespace
}  // namespace sidemeter::testing
