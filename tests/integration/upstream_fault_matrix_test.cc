// The upstream fault matrix (issue 12): one test per way a backend can fail, each with
// two workers, asserting three things and then the shared at-rest invariants:
//   - what the client gets: the status (a local 502/504), or, once the head had already
//     gone out, how its connection ends (a truncation, never a clean end);
//   - the error kind counted, the same in /stats and /metrics, blamed on the upstream;
//   - the connection's fate: a failed upstream connection is closed, never pooled, and
//     the client's keep-alive connection survives a local answer to a complete request.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "tests/integration/fault_fixture.h"

namespace sidemeter::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using UpstreamFaultTest = FaultTest;

constexpr std::string_view kHealthy = "healthy";

bool is_local_plain_text(const HttpMessage& resp) {
  return resp.header("content-type").value_or("").rfind("text/plain", 0) == 0;
}

// What the clients saw, as the checker's expectations: statuses, body bytes, and for a
// local 502/504 the upstream error kind its body names ("Bad Gateway: closed_early").
struct Seen {
  std::map<int, uint64_t> codes;
  std::map<std::string, uint64_t> kinds;
  uint64_t errors = 0, bytes = 0, exchanges = 0;

  void add(const HttpMessage& resp) {
    exchanges++;
    codes[resp.status]++;
    bytes += resp.body.size();
    if (resp.status < 500) return;
    errors++;
    const size_t colon = resp.body.find(": ");
    if (is_local_plain_text(resp) && colon != std::string::npos) {
      kinds[resp.body.substr(colon + 2, resp.body.find('\n', colon) - colon - 2)]++;
    }
  }
  std::string text() const {
    std::string out;
    for (const auto& [code, n] : codes) out += std::to_string(code) + " x" + std::to_string(n) + " ";
    return out;
  }
  StatsExpect expect() const {
    StatsExpect want;
    want.requests = exchanges;
    want.no_status = 0;
    want.status_codes = codes;
    want.errors = errors;
    want.upstream_errors = kinds;
    want.response_body_bytes = bytes;
    return want;
  }
};

// ------------------------------------------------------------------ before the head
// The upstream's first connection fails before any response byte; later ones are
// healthy. The client sends two requests on one keep-alive connection: the first gets
// the local answer, the second must reach the upstream on a NEW connection and get 200.

enum class Before { kSilence, kFin, kRst, kGarbage };

struct BeforeHeadRow {
  const char* name;
  Before fault;
  int status;
  const char* kind;
};

void PrintTo(const BeforeHeadRow& r, std::ostream* os) { *os << r.name; }

struct ConnZero {
  Latch closed_by_proxy;  // the proxy closed (or reset) the failed connection
};

UpstreamHandler failing_first_connection(Before fault, std::shared_ptr<ConnZero> state) {
  return [fault, state](UpstreamConn& c) {
    HttpMessage req;
    if (c.index() > 0) {
      while (c.read_request(req)) {
        if (!c.write(make_response(200, "OK", kHealthy))) return;
      }
      return;
    }
    if (!c.read_request(req)) return;
    switch (fault) {
      case Before::kSilence:
        break;
      case Before::kFin:
        c.close();
        return;
      case Before::kRst:
        c.reset();
        return;
      case Before::kGarbage:
        c.write("this is not http\r\n\r\n");
        break;
    }
    if (c.wait_peer_close(deadline_in(seconds(20)))) state->closed_by_proxy.open();
  };
}

class BeforeHeadTest : public FaultTest, public ::testing::WithParamInterface<BeforeHeadRow> {};

TEST_P(BeforeHeadTest, LocalAnswerCountedAndConnectionsFate) {
  const BeforeHeadRow& row = GetParam();
  auto state = std::make_shared<ConnZero>();
  start2(failing_first_connection(row.fault, state), "timeouts:\n  upstream_response: 300ms\n");

  RawClient client(port());
  HttpMessage failed, next;
  const auto sent = Clock::now();
  ASSERT_TRUE(client.exchange(simple_get("/fault"), failed).ok());
  const int64_t took_ms = ms_since(sent);
  EXPECT_EQ(failed.status, row.status) << failed.head_raw << failed.body;
  EXPECT_TRUE(is_local_plain_text(failed)) << failed.head_raw;
  EXPECT_FALSE(failed.has_token("connection", "close"))
      << "a complete request answered locally keeps its connection";
  if (row.fault == Before::kSilence) {
    EXPECT_GE(took_ms, 250) << "504 before the 300 ms response timeout";
  }

  // Same client connection: kept alive, and the request goes to a fresh upstream
  // connection (the failed one is never reused).
  ASSERT_TRUE(client.exchange(simple_get("/next"), next).ok()) << "client connection was closed";
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, kHealthy);
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].target, "/next");
  EXPECT_EQ(seen[1].conn_index, 1);
  if (row.fault == Before::kSilence || row.fault == Before::kGarbage) {
    EXPECT_TRUE(state->closed_by_proxy.wait(soon())) << "the failed connection stayed open";
  }
  const uint64_t bytes_seen = failed.body.size() + next.body.size();
  client.close();

  StatsExpect want;
  want.requests = 2;
  want.no_status = 0;
  want.status_codes = {{row.status, 1}, {200, 1}};
  want.errors = 1;
  want.upstream_errors = {{row.kind, 1}};
  want.retries = 0;
  want.request_body_bytes = 0;
  want.response_body_bytes = bytes_seen;
  want.upstream_active = 1;  // the healthy connection, pooled; the failed one closed
  expect_at_rest(want);
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, BeforeHeadTest,
    ::testing::Values(
        BeforeHeadRow{"AcceptThenSilence", Before::kSilence, 504, "response_timeout"},
        BeforeHeadRow{"CloseWithoutResponse", Before::kFin, 502, "closed_early"},
        BeforeHeadRow{"ResetBeforeHead", Before::kRst, 502, "reset_before_response"},
        BeforeHeadRow{"GarbageStatusLine", Before::kGarbage, 502, "invalid_response"}),
    [](const ::testing::TestParamInfo<BeforeHeadRow>& info) {
      return std::string(info.param.name);
    });

// ------------------------------------------------------------------ no connection at all

TEST_F(UpstreamFaultTest, ConnectRefused) {
  start_proxy("127.0.0.1:" + std::to_string(refused_port()), "", kWorkers);
  RawClient client(port());
  uint64_t bytes_seen = 0;
  for (int i = 0; i < 2; ++i) {  // both on one connection: it stays open
    HttpMessage resp;
    ASSERT_TRUE(client.exchange(simple_get("/refused"), resp).ok()) << "request " << i;
    EXPECT_EQ(resp.status, 502) << resp.head_raw;
    EXPECT_TRUE(is_local_plain_text(resp));
    EXPECT_FALSE(resp.has_token("connection", "close"));
    bytes_seen += resp.body.size();
  }
  client.close();

  StatsExpect want;
  want.requests = 2;
  want.status_codes = {{502, 2}};
  want.errors = 2;
  want.upstream_errors = {{"connect_refused", 2}};
  want.response_body_bytes = bytes_seen;
  expect_at_rest(want);
}

TEST_F(UpstreamFaultTest, ConnectBlackholed) {
  FullBacklogServer blackhole;
  if (!blackhole.ok()) GTEST_SKIP() << "this kernel does not drop SYNs to a full accept queue";
  start_proxy(blackhole.address(), "timeouts:\n  upstream_connect: 300ms\n", kWorkers);
  RawClient client(port());
  uint64_t bytes_seen = 0;
  for (int i = 0; i < 2; ++i) {
    HttpMessage resp;
    const auto sent = Clock::now();
    ASSERT_TRUE(client.exchange(simple_get("/blackhole"), resp).ok()) << "request " << i;
    EXPECT_EQ(resp.status, 504) << resp.head_raw;
    EXPECT_GE(ms_since(sent), 250) << "504 before the 300 ms connect timeout";
    EXPECT_FALSE(resp.has_token("connection", "close"));
    bytes_seen += resp.body.size();
  }
  client.close();

  StatsExpect want;
  want.requests = 2;
  want.status_codes = {{504, 2}};
  want.errors = 2;
  want.upstream_errors = {{"connect_timeout", 2}};
  want.response_body_bytes = bytes_seen;
  expect_at_rest(want);
}

// ------------------------------------------------------------------ after the head
// The status line and part of the body went out; then the upstream cuts the response.
// The client must see its connection end before the declared length (no fabricated
// clean end), and the exchange counts as an error of the upstream.

enum class Cut { kFin, kRst };

struct CutRow {
  const char* name;
  Cut how;
  const char* kind;
};

void PrintTo(const CutRow& r, std::ostream* os) { *os << r.name; }

class CutMidBodyTest : public FaultTest, public ::testing::WithParamInterface<CutRow> {};

TEST_P(CutMidBodyTest, ClientSeesTruncationCountedAsError) {
  const CutRow& row = GetParam();
  auto head_forwarded = std::make_shared<Latch>();
  constexpr std::string_view kPartial = "0123456789";
  start2([how = row.how, head_forwarded, kPartial](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(kPartial));
    // Cut only once the client holds the head: the fault is "after the head", by
    // construction rather than by timing.
    if (!c.wait_for(*head_forwarded, soon())) return;
    how == Cut::kFin ? c.close() : c.reset();
  });

  RawClient client(port());
  ASSERT_TRUE(client.send(simple_get("/cut")));
  Socket& s = client.socket();
  size_t head_end = 0;
  ASSERT_EQ(s.fill_until("\r\n\r\n", soon(), &head_end), IoStatus::kOk);
  const std::string head = s.take(head_end + 4);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  head_forwarded->open();
  std::string body;
  const IoStatus end = client.read_until_close(&body, soon());
  EXPECT_TRUE(end == IoStatus::kClosed || end == IoStatus::kReset) << to_string(end);
  EXPECT_EQ(body, kPartial) << "the client must get the bytes sent, and nothing more";

  StatsExpect want;
  want.requests = 1;
  want.status_codes = {{200, 1}};  // the status that went downstream
  want.errors = 1;                 // yet the client never got a complete response
  want.upstream_errors = {{row.kind, 1}};
  want.response_body_bytes = kPartial.size();
  expect_at_rest(want);
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, CutMidBodyTest,
    ::testing::Values(CutRow{"ResetAfterHead", Cut::kRst, "reset_mid_response"},
                      CutRow{"TruncatedBody", Cut::kFin, "closed_early"}),
    [](const ::testing::TestParamInfo<CutRow>& info) { return std::string(info.param.name); });

// ------------------------------------------------------------------ early response
// RFC 9112 §9.3 / RFC 9110 §15.5.14: a server may answer before reading the request body
// and close. The client must get that answer, not a 502 from the failed body write; it
// is counted as what it is (a 4xx), not an upstream failure. Several rounds, since the
// failure was a race (2 of 5 in the issue).

struct EarlyRow {
  const char* name;
  int status;
  const char* reason;
};

void PrintTo(const EarlyRow& r, std::ostream* os) { *os << r.name; }

class EarlyResponseTest : public FaultTest, public ::testing::WithParamInterface<EarlyRow> {};

TEST_P(EarlyResponseTest, ForwardedNotA502) {
  const EarlyRow row = GetParam();
  const std::string answer = "early " + std::to_string(row.status);
  start2([row, answer](UpstreamConn& c) {
    HttpMessage req;
    ReadOptions head_only;
    head_only.head_only = true;
    if (!c.read_request(req, head_only)) return;
    c.write(make_response(row.status, row.reason, answer, {{"Connection", "close"}}));
    c.close();  // with the body unread: the kernel resets
  });

  constexpr int kRounds = 5;
  constexpr size_t kBody = 1 << 20;
  const std::string request = "POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: " +
                              std::to_string(kBody) + "\r\n\r\n" + std::string(kBody, 'b');
  int got_upstream_answer = 0;
  Seen seen;
  for (int i = 0; i < kRounds; ++i) {
    RawClient client(port());
    // The body is written from another thread: the proxy may stop reading it.
    std::thread writer([&client, &request] { client.send(request, deadline_in(seconds(10))); });
    HttpMessage resp;
    ReadResult r = client.read_response(resp);
    writer.join();
    ASSERT_TRUE(r.ok()) << "round " << i << ": " << to_string(r.status) << " " << r.error;
    seen.add(resp);
    if (resp.status == row.status && resp.body == answer) got_upstream_answer++;
    // The upstream's Connection: close is about its own connection. The client's stays
    // open only if the proxy read the whole body (then it is in sync) and said so.
    if (resp.has_token("connection", "close")) {
      EXPECT_TRUE(client.wait_closed(soon())) << "the answer said Connection: close";
      continue;
    }
    HttpMessage next;
    ASSERT_TRUE(client.exchange(simple_get("/next"), next).ok())
        << "kept alive without Connection: close, yet not usable";
    EXPECT_EQ(next.status, row.status);
    seen.add(next);
  }
  expect_at_rest(seen.expect());
  EXPECT_EQ(got_upstream_answer, kRounds) << seen.text();
  EXPECT_EQ(seen.errors, 0u) << "an early answer is not an upstream failure";
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, EarlyResponseTest,
    ::testing::Values(EarlyRow{"Unauthorized401", 401, "Unauthorized"},
                      EarlyRow{"ContentTooLarge413", 413, "Content Too Large"}),
    [](const ::testing::TestParamInfo<EarlyRow>& info) { return std::string(info.param.name); });

// ------------------------------------------------------------------ the keep-alive race

// The upstream says how long it keeps an idle connection (`Keep-Alive: timeout=2`) and
// closes it then, as Node and others do. A request sent right when it closes races the
// FIN; the proxy must have retired the connection before the hint ran out, so the POST
// (not retriable) goes on a fresh connection.
TEST_F(UpstreamFaultTest, KeepAliveHintRetiresPooledConnectionBeforeTheUpstreamCloses) {
  struct State {
    Latch conn0_done;
    std::atomic<bool> proxy_closed_first{false};
    std::atomic<int64_t> idle_ms{-1};
  };
  auto state = std::make_shared<State>();
  static constexpr int kHintSeconds = 2;
  start2([state](UpstreamConn& c) {
    HttpMessage req;
    if (c.index() > 0) {
      while (c.read_request(req)) c.write(make_response(200, "OK", req.method));
      return;
    }
    if (!c.read_request(req)) return;
    c.write(make_response(200, "OK", "warm", {{"Keep-Alive", "timeout=2"}}));
    const auto answered = Clock::now();
    // Idle until the hint runs out: the proxy closing first is what we want to see.
    const IoStatus st = c.socket().fill(answered + seconds(kHintSeconds));
    state->idle_ms = ms_since(answered);
    state->proxy_closed_first = st == IoStatus::kClosed || st == IoStatus::kReset;
    if (st == IoStatus::kOk) {  // the proxy reused it in time: serve it
      while (c.read_request(req)) c.write(make_response(200, "OK", req.method));
    }
    c.close();
    state->conn0_done.open();
  });

  RawClient client(port());
  HttpMessage warm, resp;
  Seen seen;
  ASSERT_TRUE(client.exchange(simple_get("/warm"), warm).ok());
  ASSERT_EQ(warm.body, "warm");
  seen.add(warm);
  ASSERT_TRUE(state->conn0_done.wait(deadline_in(seconds(kHintSeconds + 10))));
  ASSERT_TRUE(client
                  .exchange("POST /pay HTTP/1.1\r\nHost: test.local\r\nContent-Length: 3\r\n\r\nabc",
                            resp)
                  .ok());
  seen.add(resp);
  client.close();
  // Counted as it happened; the healthy connection stays pooled.
  StatsExpect want = seen.expect();
  want.retries = 0;  // a POST is never resent
  want.request_body_bytes = 3;
  want.upstream_active = resp.status == 200 ? 1 : 0;
  expect_at_rest(want);
  EXPECT_EQ(resp.status, 200) << resp.head_raw;
  EXPECT_EQ(resp.body, "POST");
  EXPECT_TRUE(state->proxy_closed_first) << "after " << state->idle_ms.load() << " ms";
  EXPECT_LT(state->idle_ms.load(), kHintSeconds * 1000);
}

// The pooled connection is closed by the upstream just as the proxy reuses it: an
// idempotent request without a body is resent once on a fresh connection, counted as a
// retry, not as an error.
TEST_F(UpstreamFaultTest, KeepAliveRaceIdempotentRequestRetried) {
  start2([](UpstreamConn& c) {
    HttpMessage req;
    if (c.index() == 0) {
      if (!c.read_request(req)) return;
      c.write(make_response(200, "OK", "warm"));
      if (!c.read_request(req)) return;
      c.close();  // the request arrived on a connection the backend is dropping
      return;
    }
    while (c.read_request(req)) c.write(make_response(200, "OK", "fresh"));
  });
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(simple_get("/warm"), resp).ok());
  ASSERT_EQ(resp.body, "warm");
  ASSERT_TRUE(client.exchange(simple_get("/again"), resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "fresh");
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].conn_index, 0) << "the pooled connection was not reused: no race";
  EXPECT_EQ(seen[2].conn_index, 1);
  client.close();

  StatsExpect want;
  want.requests = 2;
  want.status_codes = {{200, 2}};
  want.errors = 0;
  want.retries = 1;
  want.response_body_bytes = 4 + 5;
  want.upstream_active = 1;
  expect_at_rest(want);
}

}  // namespace
}  // namespace sidemeter::testing
