// Upstream misbehaviour: resets, early closes, invalid responses, and the pooled-
// connection race (the backend closes a keep-alive connection just as the proxy reuses
// it). Idempotent requests are retried once on a fresh connection; others never are.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>

#include "tests/integration/control_plane.h"
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


// ---------------------------------------------------------------- early responses
// An upstream may answer before it has read the request body (401, 413) and close
// (RFC 9112 §9.5, §9.6). The response it sent must reach the client whatever the proxy
// was doing when the connection broke: writing the rest of the body is what fails
// first, and that failure must not hide response bytes already received.

constexpr size_t kBigBody = 1 << 20;
constexpr std::string_view kTooLarge =
    "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
    "too large";

std::string upload_head(size_t body) {
  return "POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: " +
         std::to_string(body) + "\r\n\r\n";
}

struct Upload {
  ReadResult read;
  HttpMessage response;
  IoStatus after = IoStatus::kError;  // how the proxy ended the client connection
  int next_status = 0;                // a GET sent after it, when the connection was kept
};

// One client connection sends a POST with a body of `body` bytes from its own thread
// (through a dup of the socket: the proxy may stop reading it, or reset it), while this
// thread reads the response. Then, once the body is sent: a close announced by the
// response is waited for; otherwise a GET goes on the kept connection.
Upload upload(uint16_t port, size_t body) {
  Upload u;
  RawClient client(port);
  EXPECT_TRUE(client.connected());
  Socket writer(::dup(client.socket().fd()));
  std::thread t([&writer, body] {
    const std::string bytes = upload_head(body) + std::string(body, 'b');
    (void)writer.write_all(bytes, soon());  // may fail: the proxy answered early
  });
  u.read = client.read_response(u.response);
  t.join();
  if (!u.read.ok()) return u;
  if (u.response.has_token("connection", "close")) {
    u.after = client.read_until_close(nullptr, soon());
  } else {
    HttpMessage next;
    if (client.exchange(simple_get("/next"), next).ok()) u.next_status = next.status;
  }
  return u;
}

// What the proxy counted, read from /metrics once it has recorded `exchanges`.
struct Counted {
  double status_413 = 0;
  double upstream_errors = 0;
  double upstream_active = -1;
};
Counted counted(uint16_t stats_port, double exchanges, double upstream_active) {
  Counted c;
  const Deadline end = soon();
  for (;;) {
    const ExpositionCheck m = control_plane::fetch_metrics(stats_port);
    c.status_413 = m.sum("http_server_request_duration_seconds_count",
                         {{"http_response_status_code", "413"}});
    c.upstream_errors = m.sum("sidemeter_upstream_errors");
    c.upstream_active =
        m.value("sidemeter_connections_active", {{"side", "upstream"}}).value_or(-1);
    const double all = m.sum("http_server_request_duration_seconds_count");
    if ((all >= exchanges && c.upstream_active == upstream_active) || Clock::now() >= end)
      return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling another process
  }
}

// The upstream answers after part of the body and closes with the rest unread: its
// kernel resets the connection, and the proxy's next write of the body fails. Linux
// keeps what it had received before the RST readable, so the 413 is still there to
// forward. Several rounds: before the fix, the write error won about 2 runs in 5.
// The client connection's fate depends on how much of the body the proxy had read when
// the answer came (loopback buffers take megabytes of a 1 MiB body): still reading, it
// answers with Connection: close and closes; done, it keeps the connection, which must
// then serve the next request. EarlyResponseStopsTheBodyAndClosesBothSides pins the
// first case down.
TEST_F(FaultsTest, EarlyResponseThenResetIsForwardedNot502) {
  start(
      [](UpstreamConn& c) {
        HttpMessage req;
        ReadOptions head_only;
        head_only.head_only = true;
        if (c.read_request(req, head_only)) {
          if (req.method == "GET") {  // not pooled: the last check counts no connection
            c.write(make_response(200, "OK", "next", {{"Connection", "close"}}));
            return;
          }
          if (c.socket().fill_to(64 * 1024, soon()) != IoStatus::kOk) return;
          c.write(kTooLarge);
          c.close();  // body bytes still unread: RST
        }
      },
      "", /*workers=*/2);
  constexpr int kRounds = 10;
  int closed = 0;
  for (int i = 0; i < kRounds; ++i) {
    // Odd rounds: 16 MiB, more than the buffers hold, so the client is still sending.
    Upload u = upload(port(), i % 2 == 0 ? kBigBody : 16 * kBigBody);
    ASSERT_TRUE(u.read.ok()) << "round " << i << ": " << to_string(u.read.status);
    EXPECT_EQ(u.response.status, 413) << "round " << i << "\n" << u.response.head_raw;
    EXPECT_EQ(u.response.body, "too large") << "round " << i;
    if (u.response.has_token("connection", "close")) {
      ++closed;
      EXPECT_EQ(u.after, IoStatus::kClosed) << "round " << i << ": " << to_string(u.after);
    } else {
      EXPECT_EQ(u.next_status, 200) << "round " << i << ": the kept connection is unusable";
    }
  }
  RecordProperty("closed_after_answer", closed);
  const Counted c = counted(proxy_->stats_port(), 2 * kRounds - closed, 0);
  EXPECT_EQ(c.status_413, kRounds);
  EXPECT_EQ(c.upstream_errors, 0) << "an early answer is the upstream's response, not its failure";
  EXPECT_EQ(c.upstream_active, 0) << "no upstream connection left open";
}

// The upstream answers 413 with Connection: close after part of the body, then shuts
// its side down (FIN, no reset) and reads on. The proxy forwards the answer, stops the
// body at once (RFC 9112 §9.5) and closes: the upstream sees the end of the request
// stream right after the bytes that came before its answer. The client is told to send
// the rest only once it has the answer's head, so "after" is exact.
TEST_F(FaultsTest, EarlyResponseStopsTheBodyAndClosesBothSides) {
  constexpr size_t kBefore = 64 * 1024;
  struct Seen {
    std::atomic<int64_t> body_after_answer{-1};
    std::atomic<bool> saw_end{false};
  };
  auto seen = std::make_shared<Seen>();
  start(
      [seen](UpstreamConn& c) {
        Socket& s = c.socket();
        size_t pos = 0;
        if (s.fill_until("\r\n\r\n", soon(), &pos) != IoStatus::kOk) return;
        if (s.fill_to(pos + 4 + kBefore, soon()) != IoStatus::kOk) return;
        const size_t before = s.buffer().size();
        if (!c.write(std::string(kTooLarge.substr(0, kTooLarge.size() - 9)))) return;
        const IoStatus end = s.read_to_close(soon());  // until the proxy's FIN
        seen->saw_end = end == IoStatus::kClosed;
        seen->body_after_answer = int64_t(s.buffer().size() - before);
        c.write("too large");
        s.shutdown_write();
      },
      "", /*workers=*/2);
  RawClient client(port());
  ASSERT_TRUE(client.send(upload_head(kBigBody) + std::string(kBefore, 'b')));
  Socket& s = client.socket();
  size_t pos = 0;
  ASSERT_EQ(s.fill_until("\r\n\r\n", soon(), &pos), IoStatus::kOk);
  ASSERT_EQ(s.buffer().compare(0, 12, "HTTP/1.1 413"), 0) << s.buffer();
  // The rest of the body, after the answer: none of it may reach the upstream. The
  // proxy reads and drops it (so this write completes), then closes after the answer.
  EXPECT_EQ(s.write_all(std::string(kBigBody - kBefore, 'b'), soon()), IoStatus::kOk);
  std::string rest;
  EXPECT_EQ(client.read_until_close(&rest, soon()), IoStatus::kClosed);
  EXPECT_NE((s.buffer() + rest).find("\r\n\r\ntoo large"), std::string::npos)
      << s.buffer() << rest;
  EXPECT_TRUE(seen->saw_end.load()) << "the proxy did not end the request stream";
  EXPECT_EQ(seen->body_after_answer.load(), 0) << "body bytes forwarded after the answer";
  const Counted c = counted(proxy_->stats_port(), 1, 0);
  EXPECT_EQ(c.status_413, 1);
  EXPECT_EQ(c.upstream_errors, 0);
  EXPECT_EQ(c.upstream_active, 0);
}

// ---------------------------------------------------------------- pooled connections

// The upstream closes a pooled keep-alive connection; once it has (on loopback, close()
// has delivered the FIN to the proxy's socket when it returns), a POST with a body on
// the same client connection must get the upstream's answer from a fresh connection: a
// body request is never retried, so picking the closed connection would be a 502.
TEST_F(FaultsTest, BodyRequestAfterUpstreamClosedPooledConnectionGetsItsAnswer) {
  struct State {
    Latch closed;
    std::atomic<int> open{0};  // connections the proxy still holds open
  };
  auto st = std::make_shared<State>();
  start(
      [st](UpstreamConn& c) {
        ++st->open;
        HttpMessage req;
        if (c.index() == 0) {
          if (c.read_request(req)) c.write(make_response(200, "OK", "warm"));
          c.close();  // keep-alive was implied: the proxy pooled it
          --st->open;
          st->closed.open();
          return;
        }
        while (c.read_request(req)) c.write(make_response(200, "OK", "got:" + req.body));
        --st->open;  // the proxy closed this one
      },
      "", /*workers=*/2);
  constexpr int kRounds = 5;
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(simple_get("/warm"), resp).ok());
  ASSERT_EQ(resp.body, "warm");
  ASSERT_TRUE(st->closed.wait(soon()));
  for (int i = 0; i < kRounds; ++i) {
    const std::string body = "payload-" + std::to_string(i);
    ASSERT_TRUE(client
                    .exchange("POST /p HTTP/1.1\r\nHost: test.local\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body,
                              resp)
                    .ok());
    EXPECT_EQ(resp.status, 200) << resp.head_raw << resp.body;
    EXPECT_EQ(resp.body, "got:" + body);
  }
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), size_t(1 + kRounds));
  for (int i = 1; i <= kRounds; ++i) EXPECT_EQ(seen[i].conn_index, 1) << "reused and pooled";
  client.close();
  // One pooled connection left, to the second upstream connection; nothing leaked.
  const Counted c = counted(proxy_->stats_port(), 1 + kRounds, 1);
  EXPECT_EQ(c.upstream_active, 1);
  EXPECT_EQ(c.upstream_errors, 0);
  EXPECT_EQ(st->open.load(), 1);
}

}  // namespace
}  // namespace sidemeter::testing
