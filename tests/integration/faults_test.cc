// Upstream misbehaviour: resets, early closes, invalid responses, and the pooled-
// connection race (the backend closes a keep-alive connection just as the proxy reuses
// it). Idempotent requests are retried once on a fresh connection; others never are.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "tests/integration/proxy_fixture.h"

namespace sidemeter::testing {
namespace {

using FaultsTest = ProxyTest;

void expect_502(const HttpMessage& resp) {
  EXPECT_EQ(resp.status, 502) << resp.head_raw << resp.body;
  EXPECT_EQ(resp.header("content-type").value_or("").rfind("text/plain", 0), 0u);
}

TEST_F(FaultsTest, UpstreamResetBeforeResponseIs502) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    if (c.read_request(req)) c.reset();
  });
  HttpMessage resp = fetch(simple_get("/"));
  expect_502(resp);
}

TEST_F(FaultsTest, UpstreamClosedWithoutResponseIs502) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    if (c.read_request(req)) c.close();
  });
  expect_502(fetch("POST / HTTP/1.1\r\nHost: test.local\r\nContent-Length: 1\r\n\r\nx"));
}

TEST_F(FaultsTest, UpstreamClosedMidHeadersIs502) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    c.write("HTTP/1.1 200 OK\r\nContent-Le");
    c.close();
  });
  expect_502(fetch(simple_get("/")));
}

TEST_F(FaultsTest, UpstreamClosedMidBodyTruncatesClientConnection) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    c.close();
  });
  RawClient client(port());
  HttpMessage resp;
  ReadResult r = client.exchange(simple_get("/"), resp);
  // Headers already went out, so no 502 is possible: the client must see the body cut
  // short by a close, never a complete (fabricated) message.
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status == IoStatus::kClosed || r.status == IoStatus::kReset)
      << to_string(r.status) << " " << r.error;
  EXPECT_EQ(resp.status, 200);
}

struct InvalidResponse {
  const char* name;
  const char* bytes;
};

void PrintTo(const InvalidResponse& r, std::ostream* os) { *os << r.name; }

class InvalidUpstreamResponseTest : public ProxyTest,
                                    public ::testing::WithParamInterface<InvalidResponse> {};

TEST_P(InvalidUpstreamResponseTest, Is502AndConnectionNotReused) {
  // Shared: handler threads outlive the test body (the fixture stops them in TearDown).
  auto first_conn_closed_by_proxy = std::make_shared<Latch>();
  const char* bad = GetParam().bytes;
  start([first_conn_closed_by_proxy, bad](UpstreamConn& c) {
    HttpMessage req;
    if (c.index() == 0) {
      if (!c.read_request(req)) return;
      c.write(bad);
      if (c.wait_peer_close(deadline_in(std::chrono::seconds(20)))) {
        first_conn_closed_by_proxy->open();
      }
      return;
    }
    while (c.read_request(req)) c.write(make_response(200, "OK", "good"));
  });
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(simple_get("/bad"), resp).ok());
  expect_502(resp);
  EXPECT_TRUE(first_conn_closed_by_proxy->wait(soon()));
  HttpMessage next = fetch(simple_get("/next"));
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "good");
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].target, "/next");
  EXPECT_EQ(seen[1].conn_index, 1);
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, InvalidUpstreamResponseTest,
    ::testing::Values(
        InvalidResponse{"Garbage", "this is not http\r\n\r\n"},
        InvalidResponse{"BadStatusCode", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"},
        InvalidResponse{"BadVersion", "HTTP/9.7 200 OK\r\nContent-Length: 0\r\n\r\n"},
        InvalidResponse{"HeaderWithoutColon",
                        "HTTP/1.1 200 OK\r\nBroken Header\r\nContent-Length: 0\r\n\r\n"},
        InvalidResponse{"ConflictingContentLength",
                        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"},
        InvalidResponse{"NonNumericContentLength",
                        "HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\nhello"},
        InvalidResponse{"SpaceBeforeColon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nhi"},
        InvalidResponse{"BareLf", "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"}),
    [](const ::testing::TestParamInfo<InvalidResponse>& info) {
      return std::string(info.param.name);
    });

// The race: conn 0 answers the warm-up request, then reads the next request the proxy
// sends on that pooled connection and drops it without a byte of response.
enum class Drop { kFin, kRst };
void PrintTo(Drop d, std::ostream* os) { *os << (d == Drop::kFin ? "FIN" : "RST"); }

UpstreamHandler racing_upstream(Drop how, bool fresh_connections_also_drop = false) {
  return [how, fresh_connections_also_drop](UpstreamConn& c) {
    HttpMessage req;
    if (c.index() == 0) {
      if (!c.read_request(req)) return;
      c.write(make_response(200, "OK", "warm"));
    }
    if (c.index() == 0 || fresh_connections_also_drop) {
      if (!c.read_request(req)) return;
      how == Drop::kFin ? c.close() : c.reset();
      return;
    }
    while (c.read_request(req)) c.write(make_response(200, "OK", "fresh:" + req.method));
  };
}

class PoolRaceTest : public ProxyTest, public ::testing::WithParamInterface<Drop> {};

TEST_P(PoolRaceTest, IdempotentRequestRetriedOnFreshConnection) {
  start(racing_upstream(GetParam()));
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(simple_get("/warm"), resp).ok());
  ASSERT_EQ(resp.body, "warm");
  ASSERT_TRUE(client.exchange(simple_get("/again"), resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "fresh:GET");
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 3u);
  // The pooled connection was really reused (the race happened) and the retry went to
  // a new connection.
  EXPECT_EQ(seen[1].target, "/again");
  EXPECT_EQ(seen[1].conn_index, 0);
  EXPECT_EQ(seen[2].target, "/again");
  EXPECT_EQ(seen[2].conn_index, 1);
}

TEST_P(PoolRaceTest, NonIdempotentRequestNeverRetried) {
  start(racing_upstream(GetParam()));
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(simple_get("/warm"), resp).ok());
  ASSERT_TRUE(client
                  .exchange("POST /pay HTTP/1.1\r\nHost: test.local\r\nContent-Length: 3\r\n\r\n"
                            "abc",
                            resp)
                  .ok());
  // Probe afterwards: by the time it is answered any retry would have been sent.
  EXPECT_EQ(fetch(simple_get("/probe")).status, 200);
  auto seen = upstream_->seen_requests();
  size_t posts = 0;
  int64_t post_conn = -1;
  for (const HttpMessage& m : seen) {
    if (m.method == "POST") {
      ++posts;
      post_conn = m.conn_index;
    }
  }
  EXPECT_EQ(posts, 1u) << "a POST was sent more than once";
  if (post_conn == 0) {
    expect_502(resp);  // failed on the reused connection: must not be retried
  } else {
    EXPECT_EQ(resp.status, 200);  // the proxy chose a fresh connection for the POST
    EXPECT_EQ(resp.body, "fresh:POST");
  }
}

TEST_P(PoolRaceTest, RetriedAtMostOnce) {
  start(racing_upstream(GetParam(), /*fresh_connections_also_drop=*/true));
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(simple_get("/warm"), resp).ok());
  ASSERT_TRUE(client.exchange(simple_get("/doomed"), resp).ok());
  expect_502(resp);
  size_t doomed = 0;
  for (const HttpMessage& m : upstream_->seen_requests()) doomed += m.target == "/doomed";
  EXPECT_EQ(doomed, 2u) << "expected the original attempt plus exactly one retry";
  EXPECT_EQ(upstream_->connections(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Drops, PoolRaceTest, ::testing::Values(Drop::kFin, Drop::kRst),
                         [](const ::testing::TestParamInfo<Drop>& info) {
                           return std::string(info.param == Drop::kFin ? "Fin" : "Rst");
                         });

TEST_F(FaultsTest, IdlePooledConnectionClosedByUpstreamIsNotUsed) {
  auto closed = std::make_shared<Latch>();
  start([closed](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    c.write(make_response(200, "OK", "one-shot"));
    c.close();  // keep-alive was implied, yet the backend goes away while idle
    closed->open();
  });
  EXPECT_EQ(fetch(simple_get("/1")).body, "one-shot");
  ASSERT_TRUE(closed->wait(soon()));
  HttpMessage resp = fetch(simple_get("/2"));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "one-shot");
}

TEST_F(FaultsTest, IdlePooledConnectionClosedAfterUpstreamIdleTimeout) {
  struct State {
    Latch proxy_closed;
    std::atomic<int64_t> idle_ms{-1};
  };
  auto state = std::make_shared<State>();
  start(
      [state](UpstreamConn& c) {
        HttpMessage req;
        if (!c.read_request(req)) return;
        c.write(make_response(200, "OK", "x"));
        auto answered = Clock::now();
        if (!c.wait_peer_close(deadline_in(std::chrono::seconds(20)))) return;
        state->idle_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - answered).count();
        state->proxy_closed.open();
      },
      "timeouts:\n  upstream_idle: 300ms\n");
  EXPECT_EQ(fetch(simple_get("/")).status, 200);
  ASSERT_TRUE(state->proxy_closed.wait(soon()));
  EXPECT_GE(state->idle_ms.load(), 250);
}

}  // namespace
}  // namespace sidemeter::testing
