// Message framing across the proxy: chunked both ways, HEAD, 1xx and 100-continue,
// bodiless statuses, close-delimited responses and HTTP/1.0 clients.
#include <gtest/gtest.h>

#include "tests/integration/proxy_fixture.h"

namespace sidemeter::testing {
namespace {

using FramingTest = ProxyTest;

std::string pattern(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  fill_pattern(seed, s.data(), n);
  return s;
}

TEST_F(FramingTest, ChunkedRequestBodyArrivesIdentical) {
  start(TestUpstream::echo());
  std::string a = pattern(10, 1), b = pattern(70000, 2), c = "x";
  std::string req =
      "POST /chunked HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto hex = [](size_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%zx", n);
    return std::string(buf);
  };
  req += hex(a.size()) + ";ext=1\r\n" + a + "\r\n";
  req += hex(b.size()) + "\r\n" + b + "\r\n";
  req += hex(c.size()) + "\r\n" + c + "\r\n";
  req += "0\r\n\r\n";
  HttpMessage resp = fetch(req);
  EXPECT_EQ(resp.status, 200);
  EXPECT_TRUE(resp.body == a + b + c);
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].body == a + b + c);
  // Re-framed or not, exactly one framing reached the upstream.
  EXPECT_FALSE(seen[0].has("transfer-encoding") && seen[0].has("content-length"))
      << seen[0].head_raw;
}

TEST_F(FramingTest, ChunkedResponseBodyArrivesIdentical) {
  std::string a = pattern(5, 3), b = pattern(100000, 4);
  start([a, b](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      out += "5;name=val\r\n" + a + "\r\n";
      char size[32];
      std::snprintf(size, sizeof size, "%zx", b.size());
      out += std::string(size) + "\r\n" + b + "\r\n0\r\n\r\n";
      c.write(out);
    }
  });
  RawClient client(port());
  for (int i = 0; i < 2; ++i) {  // twice: the connection must stay in sync after it
    HttpMessage resp;
    ASSERT_TRUE(client.exchange(simple_get("/"), resp).ok());
    EXPECT_EQ(resp.status, 200);
    EXPECT_TRUE(resp.body == a + b);
  }
}

TEST_F(FramingTest, HeadResponseHasNoBodyAndConnectionStaysInSync) {
  start(TestUpstream::fixed("twelve bytes"));
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange("HEAD / HTTP/1.1\r\nHost: test.local\r\n\r\n", resp, true).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("content-length").value_or(""), "12");
  // A following GET parses correctly only if no body bytes followed the HEAD response.
  ASSERT_TRUE(c.exchange(simple_get("/"), resp).ok());
  EXPECT_EQ(resp.body, "twelve bytes");
}

TEST_F(FramingTest, NoBodyStatusesKeepConnectionInSync) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      if (req.target == "/204") {
        c.write("HTTP/1.1 204 No Content\r\nX-S: 204\r\n\r\n");
      } else if (req.target == "/304") {
        // 304 carries the Content-Length of the full representation, not a body.
        c.write("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"e\"\r\n\r\n");
      } else {
        c.write(make_response(200, "OK", "after"));
      }
    }
  });
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange(simple_get("/204"), resp).ok());
  EXPECT_EQ(resp.status, 204);
  ASSERT_TRUE(c.exchange(simple_get("/304", "If-None-Match: \"e\"\r\n"), resp).ok());
  EXPECT_EQ(resp.status, 304);
  EXPECT_EQ(resp.header("etag").value_or(""), "\"e\"");
  ASSERT_TRUE(c.exchange(simple_get("/x"), resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "after");
}

TEST_F(FramingTest, InterimResponsesForwardedBeforeFinal) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      c.write("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n");
      c.write(make_response(200, "OK", "final"));
    }
  });
  RawClient c(port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange(simple_get("/"), resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "final");
  EXPECT_EQ(resp.interim, std::vector<int>{103});
  ASSERT_TRUE(c.exchange(simple_get("/"), resp).ok());  // still in sync
  EXPECT_EQ(resp.body, "final");
}

TEST_F(FramingTest, ExpectContinueLetsClientSendBodyAfter100) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    ReadOptions head_only;
    head_only.head_only = true;
    while (c.read_request(req, head_only)) {
      if (req.has_token("expect", "100-continue")) c.write("HTTP/1.1 100 Continue\r\n\r\n");
      if (!c.read_body(req)) return;
      c.write(make_response(200, "OK", req.body));
    }
  });
  RawClient c(port());
  ASSERT_TRUE(
      c.send("PUT /put HTTP/1.1\r\nHost: test.local\r\nExpect: 100-continue\r\n"
             "Content-Length: 7\r\n\r\n"));
  // The client holds the body until it sees 100: no 100 means this read times out.
  HttpMessage interim;
  ReadOptions stop;
  stop.stop_at_interim = true;
  ASSERT_TRUE(c.read_response(interim, stop).ok());
  ASSERT_EQ(interim.status, 100);
  ASSERT_TRUE(c.send("payload"));
  HttpMessage resp;
  ASSERT_TRUE(c.read_response(resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "payload");
}

TEST_F(FramingTest, CloseDelimitedResponseBecomesChunkedForHttp11Client) {
  std::string body = pattern(50000, 9);
  start([body](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    c.write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + body);
    c.close();
  });
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange(simple_get("/"), resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_TRUE(resp.body == body);
  EXPECT_EQ(resp.framing, BodyFraming::kChunked) << resp.head_raw;
  // Chunked framing let the client connection survive the upstream close.
  ASSERT_TRUE(client.exchange(simple_get("/again"), resp).ok());
  EXPECT_TRUE(resp.body == body);
}

TEST_F(FramingTest, Http10ClientGetsCloseDelimitedAndEof) {
  std::string body = pattern(30000, 11);
  start([body](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    c.write("HTTP/1.1 200 OK\r\n\r\n" + body);
    c.close();
  });
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange("GET / HTTP/1.0\r\nHost: test.local\r\n\r\n", resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_NE(resp.framing, BodyFraming::kChunked) << "HTTP/1.0 cannot parse chunked";
  EXPECT_TRUE(resp.body == body);
  EXPECT_TRUE(client.wait_closed(soon()));
}

TEST_F(FramingTest, Http10ClientWithoutKeepAliveIsClosedAfterResponse) {
  start(TestUpstream::fixed("ten-bytes!"));
  RawClient client(port());
  HttpMessage resp;
  ASSERT_TRUE(client.exchange("GET / HTTP/1.0\r\nHost: test.local\r\n\r\n", resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "ten-bytes!");
  EXPECT_NE(resp.framing, BodyFraming::kChunked);
  EXPECT_TRUE(client.wait_closed(soon()));
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header("host").value_or(""), "test.local");
}

}  // namespace
}  // namespace sidemeter::testing
