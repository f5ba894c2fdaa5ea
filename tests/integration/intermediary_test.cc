// What sidemeter owes its peers as an intermediary (RFC 9110 / 9112), through the real
// binary with two workers: Via on what it forwards both ways (and not on what it makes),
// Date, Max-Forwards for OPTIONS and TRACE, Allow on its 405, chunk extensions as the
// grammar allows them, and methods llhttp does not know, labelled _OTHER.
#include <gtest/gtest.h>

#include <ctime>
#include <string_view>
#include <thread>

#include "tests/integration/proxy_fixture.h"
#include "tests/support/json_value.h"

namespace sidemeter::testing {
namespace {

using IntermediaryTest = ProxyTest;
constexpr int kWorkers = 2;

// Answers every request 200 with the request's Via, Max-Forwards and method echoed back in
// fields, `extra` fields appended (e.g. a Via or a Date of the upstream's own).
UpstreamHandler reflect_fields(std::string extra = "") {
  return [extra](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      std::string out = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(req.body.size()) +
                        "\r\nX-Seen-Method: " + req.method +
                        "\r\nX-Seen-Via: " + req.header("via").value_or("-") +
                        "\r\nX-Seen-Max-Forwards: " + req.header("max-forwards").value_or("-") +
                        "\r\n" + extra + "\r\n" + req.body;
      if (!c.write(out)) return;
    }
  };
}

// The counter for `reason` in /metrics, once it reaches `at_least` (the stats port
// publishes once a second: polling is the only way to wait for another process).
uint64_t rejected(uint16_t stats_port, const std::string& reason, uint64_t at_least) {
  const std::string needle = "sidemeter_rejected_requests_total{reason=\"" + reason + "\"} ";
  const Deadline deadline = deadline_in(std::chrono::seconds(10));
  uint64_t value = 0;
  while (Clock::now() < deadline) {
    RawClient c(stats_port);
    HttpMessage m;
    if (c.exchange(simple_get("/metrics"), m).ok()) {
      const size_t at = m.body.find(needle);
      if (at != std::string::npos) value = std::stoull(m.body.substr(at + needle.size()));
      if (value >= at_least) return value;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return value;
}

// IMF-fixdate exactly (RFC 9110 §5.6.7): read, then written back in the C locale, it must
// come out byte for byte the same (two-digit day, English names, "GMT").
bool is_imf_fixdate(const std::string& s) {
  constexpr const char* kFormat = "%a, %d %b %Y %H:%M:%S GMT";
  std::tm tm{};
  const char* end = strptime(s.c_str(), kFormat, &tm);
  if (end == nullptr || *end != '\0') return false;
  char again[64];
  const size_t n = std::strftime(again, sizeof again, kFormat, &tm);
  return std::string_view(again, n) == s;
}

time_t parse_imf_fixdate(const std::string& s) {
  std::tm tm{};
  if (strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return 0;
  return timegm(&tm);
}

// --- Via (RFC 9110 §7.6.3)

TEST_F(IntermediaryTest, ViaAppendedBothWaysWithTheVersionReceived) {
  start(reflect_fields("Via: 1.1 app-cache\r\n"), "", kWorkers);
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange(simple_get("/a", "Via: 1.0 corp-proxy, 1.1 cdn\r\nVia: 2 edge\r\n"), resp)
                  .ok());
  EXPECT_EQ(resp.status, 200);
  // The upstream saw the client's hops, in order, then us; the client sees the
  // upstream's, then us. Each appears once, as one merged field.
  EXPECT_EQ(resp.header("x-seen-via").value_or(""),
            "1.0 corp-proxy, 1.1 cdn, 2 edge, 1.1 sidemeter");
  EXPECT_EQ(resp.header_count("via"), 1u);
  EXPECT_EQ(resp.header("via").value_or(""), "1.1 app-cache, 1.1 sidemeter");

  // An HTTP/1.0 client: received as 1.0, so "1.0 sidemeter" (forwarded as 1.1 all the same).
  HttpMessage r10 = fetch("GET /b HTTP/1.0\r\nHost: test.local\r\n\r\n");
  EXPECT_EQ(r10.header("x-seen-via").value_or(""), "1.0 sidemeter");
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].version, "HTTP/1.1");
}

TEST_F(IntermediaryTest, ViaOnAnHttp10UpstreamsResponseSaysOnePointZero) {
  start(
      [](UpstreamConn& c) {
        HttpMessage req;
        if (c.read_request(req)) c.write("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
      },
      "", kWorkers);
  HttpMessage resp = fetch(simple_get("/"));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("via").value_or(""), "1.0 sidemeter");
  EXPECT_EQ(resp.body, "ok");
}

TEST_F(IntermediaryTest, ViaOnInterimHeadAnd304Responses) {
  start(
      [](UpstreamConn& c) {
        HttpMessage req;
        while (c.read_request(req)) {
          if (req.target == "/304") {
            c.write("HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n");
          } else if (req.target == "/103") {
            c.write("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
            c.write(make_response(200, "OK", "final"));
          } else {
            c.write(make_response(200, "OK", "twelve bytes"));
          }
        }
      },
      "", kWorkers);
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange("HEAD / HTTP/1.1\r\nHost: test.local\r\n\r\n", resp, true).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("via").value_or(""), "1.1 sidemeter");
  EXPECT_EQ(resp.header("content-length").value_or(""), "12");
  ASSERT_TRUE(c.exchange(simple_get("/304", "If-None-Match: \"e\"\r\n"), resp).ok());
  EXPECT_EQ(resp.status, 304);
  EXPECT_EQ(resp.header("via").value_or(""), "1.1 sidemeter");
  EXPECT_TRUE(resp.has("date"));
  // The 103 as the client sees it, raw: Via there too (it is a forwarded message).
  ASSERT_TRUE(c.send(simple_get("/103")));
  HttpMessage interim;
  ReadOptions opts;
  opts.stop_at_interim = true;
  ASSERT_TRUE(c.read_response(interim, opts).ok());
  EXPECT_EQ(interim.status, 103);
  EXPECT_EQ(interim.header("via").value_or(""), "1.1 sidemeter");
  EXPECT_TRUE(is_imf_fixdate(interim.header("date").value_or(""))) << interim.head_raw;
  ASSERT_TRUE(c.read_response(resp).ok());
  EXPECT_EQ(resp.body, "final");
  EXPECT_EQ(resp.header("via").value_or(""), "1.1 sidemeter");
}

TEST_F(IntermediaryTest, ViaOnTheUpgradeRequestAndThe101) {
  start(
      [](UpstreamConn& c) {
        HttpMessage req;
        if (!c.read_request(req)) return;
        c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "X-Seen-Via: " + req.header("via").value_or("-") + "\r\n\r\n");
        c.wait_peer_close(deadline_in(std::chrono::seconds(10)));
      },
      "", kWorkers);
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange("GET /ws HTTP/1.1\r\nHost: test.local\r\nConnection: Upgrade\r\n"
                         "Upgrade: websocket\r\n\r\n",
                         resp)
                  .ok());
  ASSERT_EQ(resp.status, 101) << resp.head_raw;
  EXPECT_EQ(resp.header("x-seen-via").value_or(""), "1.1 sidemeter");
  EXPECT_EQ(resp.header("via").value_or(""), "1.1 sidemeter");
  EXPECT_TRUE(is_imf_fixdate(resp.header("date").value_or(""))) << resp.head_raw;
}

TEST_F(IntermediaryTest, PseudonymFromTheConfigAndReloaded) {
  start(reflect_fields(), "via_pseudonym: \"edge-a:8080\"\n", kWorkers);
  HttpMessage a = fetch(simple_get("/"));
  EXPECT_EQ(a.header("via").value_or(""), "1.1 edge-a:8080");
  EXPECT_EQ(a.header("x-seen-via").value_or(""), "1.1 edge-a:8080");
  std::string yaml = make_config(upstream_->address(), "via_pseudonym: edge-b\n", kWorkers);
  ASSERT_TRUE(proxy_->rewrite_config(yaml));
  ASSERT_TRUE(proxy_->send_signal(SIGHUP));
  ASSERT_TRUE(proxy_->wait_for_log("\"event\":\"config_reloaded\"", soon())) << proxy_->log_text();
  // Each worker adopts the new snapshot on its own loop, shortly after that line: until
  // 16 fresh connections in a row (spread over both workers) carry edge-b, every answer
  // names one pseudonym or the other, the same one both ways.
  const Deadline deadline = soon();
  int in_a_row = 0;
  while (in_a_row < 16 && Clock::now() < deadline) {
    HttpMessage b = fetch(simple_get("/"));
    const std::string via = b.header("via").value_or("");
    ASSERT_TRUE(via == "1.1 edge-a:8080" || via == "1.1 edge-b") << via;
    EXPECT_EQ(b.header("x-seen-via").value_or(""), via);
    in_a_row = via == "1.1 edge-b" ? in_a_row + 1 : 0;
  }
  EXPECT_EQ(in_a_row, 16);
}

// --- Date (RFC 9110 §6.6.1)

TEST_F(IntermediaryTest, DateAddedToAResponseWithoutOneAndKeptOtherwise) {
  start(
      [](UpstreamConn& c) {
        HttpMessage req;
        while (c.read_request(req)) {
          if (req.target == "/dated") {
            c.write("HTTP/1.1 200 OK\r\nDate: Tue, 01 Jan 2030 00:00:00 GMT\r\n"
                    "Content-Length: 0\r\n\r\n");
          } else {
            c.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
          }
        }
      },
      "", kWorkers);
  const time_t before = std::time(nullptr);
  HttpMessage added = fetch(simple_get("/"));
  const time_t after = std::time(nullptr);
  ASSERT_EQ(added.header_count("date"), 1u) << added.head_raw;
  const std::string date = added.header("date").value_or("");
  EXPECT_TRUE(is_imf_fixdate(date)) << date;
  const time_t t = parse_imf_fixdate(date);
  EXPECT_GE(t, before - 1) << date;  // the coarse clock may lag by a tick
  EXPECT_LE(t, after) << date;
  HttpMessage kept = fetch(simple_get("/dated"));
  EXPECT_EQ(kept.header_count("date"), 1u);
  EXPECT_EQ(kept.header("date").value_or(""), "Tue, 01 Jan 2030 00:00:00 GMT");
}

// Local answers carry Date, never Via: nothing was forwarded.
TEST_F(IntermediaryTest, LocalAnswersHaveDateAndNoVia) {
  start(TestUpstream::fixed("x"), "", kWorkers);
  for (const std::string& raw :
       {std::string("GET / HTTP/1.1\r\nHost: test.local\r\nX: a\r\n b\r\n\r\n"),  // 400
        std::string("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),              // 405
        std::string("OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n")}) {  // 200
    HttpMessage resp = fetch(raw);
    EXPECT_TRUE(is_imf_fixdate(resp.header("date").value_or(""))) << resp.head_raw;
    EXPECT_FALSE(resp.has("via")) << resp.head_raw;
  }
  // A 502 when the upstream is gone.
  upstream_.reset();
  HttpMessage bad_gateway = fetch(simple_get("/"));
  EXPECT_EQ(bad_gateway.status, 502);
  EXPECT_TRUE(is_imf_fixdate(bad_gateway.header("date").value_or(""))) << bad_gateway.head_raw;
  EXPECT_FALSE(bad_gateway.has("via"));
}

// --- Allow on 405 (RFC 9110 §15.5.6)

TEST_F(IntermediaryTest, ConnectIs405WithAllow) {
  start(TestUpstream::fixed("x"), "", kWorkers);
  HttpMessage resp = fetch("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
  EXPECT_EQ(resp.status, 405);
  EXPECT_EQ(resp.header("allow").value_or(""),
            "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH");
  EXPECT_EQ(upstream_->requests(), 0u);
}

// --- Max-Forwards (RFC 9110 §7.6.2)

TEST_F(IntermediaryTest, OptionsWithMaxForwardsZeroIsAnsweredHere) {
  start(reflect_fields(), "", kWorkers);
  RawClient c(port());
  HttpMessage resp;
  for (const char* target : {"*", "/some/resource"}) {
    ASSERT_TRUE(c.exchange(std::string("OPTIONS ") + target +
                               " HTTP/1.1\r\nHost: test.local\r\nMax-Forwards: 0\r\n\r\n",
                           resp)
                    .ok());
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.header("allow").value_or(""),
              "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH");
    EXPECT_EQ(resp.header("content-length").value_or(""), "0");
    EXPECT_EQ(resp.body, "");
    EXPECT_FALSE(resp.has_token("connection", "close"));
  }
  // The connection stays usable, and nothing of those reached the upstream.
  ASSERT_TRUE(c.exchange(simple_get("/after"), resp).ok());
  EXPECT_EQ(resp.status, 200);
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/after");
}

TEST_F(IntermediaryTest, PipelinedLocalAnswersStayInOrder) {
  start(reflect_fields(), "", kWorkers);
  RawClient c(port());
  const std::string options = "OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n";
  std::string batch;
  constexpr int kLocal = 500;  // one read: each answered at once, none nested in another
  for (int i = 0; i < kLocal; ++i) batch += options;
  batch += simple_get("/last");
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < kLocal; ++i) {
    HttpMessage r;
    ASSERT_TRUE(c.read_response(r).ok()) << i;
    ASSERT_EQ(r.status, 200) << i;
    ASSERT_TRUE(r.has("allow")) << i;
  }
  HttpMessage last;
  ASSERT_TRUE(c.read_response(last).ok());
  EXPECT_EQ(last.header("x-seen-method").value_or(""), "GET");
  EXPECT_EQ(upstream_->requests(), 1u);
}

TEST_F(IntermediaryTest, TraceWithMaxForwardsZeroReflectsTheRequest) {
  start(reflect_fields(), "", kWorkers);
  const std::string head = "TRACE /t?q=1 HTTP/1.1\r\nHost: test.local\r\nMax-Forwards: 0\r\n"
                           "X-Diag: 42\r\nAuthorization: Bearer secret\r\nCookie: sid=secret\r\n"
                           "X-Auth-Token: secret\r\n\r\n";
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange(head, resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("content-type").value_or(""), "message/http");
  EXPECT_EQ(resp.body, "TRACE /t?q=1 HTTP/1.1\r\nHost: test.local\r\nMax-Forwards: 0\r\n"
                       "X-Diag: 42\r\n\r\n");
  EXPECT_EQ(resp.body.find("secret"), std::string::npos);
  EXPECT_FALSE(resp.has("via"));
  ASSERT_TRUE(c.exchange(simple_get("/after"), resp).ok());  // still in sync
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(upstream_->requests(), 1u);
  // A TRACE with content (RFC 9110 §9.3.8: a client MUST NOT send any) is still answered,
  // then the connection is closed rather than reading content nobody will see.
  RawClient d(port());
  ASSERT_TRUE(d.exchange("TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n"
                         "Content-Length: 5\r\n\r\nhello",
                         resp)
                  .ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_TRUE(resp.has_token("connection", "close"));
  EXPECT_TRUE(d.wait_closed(soon()));
  EXPECT_EQ(upstream_->requests(), 1u);
}

TEST_F(IntermediaryTest, MaxForwardsDecrementedForOptionsAndTraceOnly) {
  start(reflect_fields(), "", kWorkers);
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(
      c.exchange("OPTIONS /x HTTP/1.1\r\nHost: a\r\nMax-Forwards: 5\r\n\r\n", resp).ok());
  EXPECT_EQ(resp.header("x-seen-max-forwards").value_or(""), "4");
  ASSERT_TRUE(c.exchange("TRACE /x HTTP/1.1\r\nHost: a\r\nMax-Forwards: 1\r\n\r\n", resp).ok());
  EXPECT_EQ(resp.header("x-seen-max-forwards").value_or(""), "0");
  ASSERT_TRUE(c.exchange("OPTIONS /x HTTP/1.1\r\nHost: a\r\nMax-Forwards: 100000000000000000000\r\n\r\n",
                         resp)
                  .ok());
  EXPECT_EQ(resp.header("x-seen-max-forwards").value_or(""), "99999999999999999999");
  // Other methods: forwarded as they came, 0 included.
  ASSERT_TRUE(c.exchange(simple_get("/g", "Max-Forwards: 0\r\n"), resp).ok());
  EXPECT_EQ(resp.header("x-seen-max-forwards").value_or(""), "0");
  ASSERT_TRUE(c.exchange(simple_get("/g", "Max-Forwards: nonsense\r\n"), resp).ok());
  EXPECT_EQ(resp.header("x-seen-max-forwards").value_or(""), "nonsense");
  EXPECT_EQ(upstream_->requests(), 5u);
}

TEST_F(IntermediaryTest, InvalidMaxForwardsOnOptionsIs400AndCounted) {
  start(reflect_fields(), "", kWorkers);
  int n = 0;
  for (const char* value : {"-1", "1, 2", "x", "", "1 1"}) {
    HttpMessage resp = fetch(std::string("OPTIONS / HTTP/1.1\r\nHost: a\r\nMax-Forwards: ") + value +
                             "\r\n\r\n");
    EXPECT_EQ(resp.status, 400) << value;
    EXPECT_NE(resp.body.find("invalid_max_forwards"), std::string::npos) << resp.body;
    ++n;
  }
  HttpMessage twice =
      fetch("TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 1\r\nMax-Forwards: 1\r\n\r\n");
  EXPECT_EQ(twice.status, 400);
  ++n;
  EXPECT_EQ(rejected(proxy_->stats_port(), "invalid_max_forwards", n), uint64_t(n));
  EXPECT_EQ(upstream_->requests(), 0u);
}

// --- Chunk extensions (RFC 9112 §7.1.1)

TEST_F(IntermediaryTest, ChunkExtensionsAcceptedAndStrippedBothWays) {
  start(
      [](UpstreamConn& c) {
        HttpMessage req;
        while (c.read_request(req)) {
          c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "4;a=1;b=2\r\nresp\r\n1 ; q = \"x;y\\\"z\" ;r\r\n!\r\n0;end\r\n\r\n");
        }
      },
      "", kWorkers);
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5;a=1;b=2\r\nhello\r\n1 ; c = \"q \\\" ;\" ;d\r\n!\r\n0 ;z=9\r\n\r\n",
                         resp)
                  .ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "resp!");
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, "hello!");
  const std::string raw = upstream_->raw_received();
  EXPECT_EQ(raw.find("a=1"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("z=9"), std::string::npos) << raw;
  EXPECT_EQ(raw.find(";"), std::string::npos) << raw;
  // And the client's raw bytes after the head: sizes and data only.
  RawClient d(port());
  ASSERT_TRUE(d.send(simple_get("/")));
  std::string bytes;
  Socket& s = d.socket();
  const Deadline deadline = soon();
  while (bytes.find("0\r\n\r\n") == std::string::npos && Clock::now() < deadline) {
    if (s.buffer().empty() && s.fill(deadline) != IoStatus::kOk) break;
    bytes += s.take(s.buffer().size());
  }
  const size_t body = bytes.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos) << bytes;
  // Re-framed (how the data is cut into chunks depends on reads), never an extension.
  EXPECT_EQ(bytes.substr(body + 4).find(';'), std::string::npos) << bytes;
  EXPECT_TRUE(bytes.ends_with("\r\n0\r\n\r\n")) << bytes;
}

TEST_F(IntermediaryTest, OverlongChunkExtensionsAre400AndCounted) {
  start(TestUpstream::echo(), "", kWorkers);
  std::string ext;
  while (ext.size() <= 4096) ext += ";name=value";
  RawClient c(port());
  ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5" + ext +
                     "\r\nhello\r\n0\r\n\r\n"));
  HttpMessage resp;
  ASSERT_TRUE(c.read_response(resp).ok());
  EXPECT_EQ(resp.status, 400);
  EXPECT_NE(resp.body.find("chunk_ext_too_long"), std::string::npos) << resp.body;
  EXPECT_TRUE(resp.has_token("connection", "close"));
  EXPECT_TRUE(c.wait_closed(soon()));
  EXPECT_EQ(rejected(proxy_->stats_port(), "chunk_ext_too_long", 1), 1u);
  // Malformed lines are still refused as before.
  HttpMessage bad = fetch("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5;a=\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("bad_chunk"), std::string::npos) << bad.body;
  EXPECT_EQ(upstream_->requests(), 0u);  // no request completed upstream
}

// --- Methods (RFC 9110 §9.1)

TEST_F(IntermediaryTest, UnknownTokenMethodsAreForwardedAndLabelledOther) {
  start(reflect_fields(), "", kWorkers);
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange("QUERY /search HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
                         "Content-Length: 7\r\n\r\nq=hello",
                         resp)
                  .ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("x-seen-method").value_or(""), "QUERY");
  EXPECT_EQ(resp.body, "q=hello");
  ASSERT_TRUE(c.exchange("get /lower HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nabc\r\n0\r\n\r\n",
                         resp)
                  .ok());
  EXPECT_EQ(resp.header("x-seen-method").value_or(""), "get");
  EXPECT_EQ(resp.body, "abc");
  ASSERT_TRUE(c.exchange("PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n", resp).ok());
  EXPECT_EQ(resp.header("x-seen-method").value_or(""), "PROPFIND");

  // An invalid token is still refused, and counted.
  HttpMessage bad = fetch("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(rejected(proxy_->stats_port(), "invalid_method", 1), 1u);
  EXPECT_EQ(upstream_->requests(), 3u);

  // The three are one method label, OpenTelemetry's _OTHER, in /metrics and /stats.
  const Deadline deadline = soon();
  std::string metrics;
  const std::string needle = "http_request_method=\"_OTHER\"";
  while (Clock::now() < deadline) {
    RawClient s(proxy_->stats_port());
    HttpMessage m;
    if (s.exchange(simple_get("/metrics"), m).ok() &&
        m.body.find("http_server_request_duration_seconds_count{") != std::string::npos &&
        m.body.find(needle) != std::string::npos) {
      metrics = m.body;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(metrics.find(needle), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("\"OTHER\""), std::string::npos);
  RawClient s(proxy_->stats_port());
  HttpMessage stats;
  ASSERT_TRUE(s.exchange(simple_get("/stats"), stats).ok());
  EXPECT_NE(stats.body.find("\"method\":\"_OTHER\""), std::string::npos) << stats.body;
  EXPECT_EQ(stats.body.find("\"method\":\"OTHER\""), std::string::npos);
}

}  // namespace
}  // namespace sidemeter::testing
