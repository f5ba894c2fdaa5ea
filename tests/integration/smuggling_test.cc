// Request smuggling and malformed-request corpus. For every vector the proxy must answer
// locally (400, or 501 for an unknown transfer coding, 405 for CONNECT) with
// "Connection: close", close the connection, and send NOTHING to the upstream.
#include <gtest/gtest.h>

#include "tests/integration/proxy_fixture.h"

namespace sidemeter::testing {
namespace {

struct Vector {
  const char* name;
  std::string request;
  int status;
};

// gtest would otherwise print the raw bytes of the struct on failure.
void PrintTo(const Vector& v, std::ostream* os) { *os << v.name; }

// Every vector mentions "smuggle" in its target and carries "/evil" in what would be
// a smuggled second request, so any leak is visible in the upstream's raw bytes.
std::vector<Vector> corpus() {
  using namespace std::string_literals;  // "..."s keeps embedded NULs
  const std::string evil = "GET /evil HTTP/1.1\r\nHost: test.local\r\n\r\n";
  return {
      {"ContentLengthAndTransferEncoding",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length: 6\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
           evil,
       400},
      {"TransferEncodingAndContentLength",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n"
       "Content-Length: 3\r\n\r\n0\r\n\r\n" +
           evil,
       400},
      {"DuplicateContentLengthDiffering",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length: 3\r\n"
       "Content-Length: 44\r\n\r\nabc" +
           evil,
       400},
      {"ContentLengthList",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length: 3, 44\r\n\r\nabc" + evil,
       400},
      {"ContentLengthNotNumeric",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length: abc\r\n\r\n" + evil, 400},
      {"ContentLengthPlusSign",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length: +3\r\n\r\nabc" + evil, 400},
      {"ContentLengthNegative",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length: -1\r\n\r\n" + evil, 400},
      {"ContentLengthHex",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length: 0x3\r\n\r\nabc" + evil, 400},
      {"ContentLengthOverflow",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\n"
       "Content-Length: 99999999999999999999999999\r\n\r\n" +
           evil,
       400},
      {"TransferEncodingChunkedNotFinal",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
       "0\r\n\r\n" +
           evil,
       400},
      {"TransferEncodingUnknownCoding",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: foo, chunked\r\n\r\n"
       "0\r\n\r\n" +
           evil,
       501},
      {"ObsFoldedHeader",
       "GET /smuggle HTTP/1.1\r\nHost: test.local\r\nX-Folded: a\r\n b\r\n\r\n" + evil, 400},
      {"ObsFoldedTransferEncoding",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length: 3\r\nTransfer-Encoding:\r\n"
       " chunked\r\n\r\nabc" +
           evil,
       400},
      {"SpaceBeforeColon", "GET /smuggle HTTP/1.1\r\nHost : test.local\r\n\r\n" + evil, 400},
      {"SpaceBeforeColonContentLength",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length : 3\r\n\r\nabc" + evil, 400},
      {"SpaceInHeaderName", "GET /smuggle HTTP/1.1\r\nHost: test.local\r\nX Bad: 1\r\n\r\n" + evil,
       400},
      {"ControlByteInHeaderName",
       std::string("GET /smuggle HTTP/1.1\r\nHost: test.local\r\nX-B\x01d: 1\r\n\r\n") + evil, 400},
      {"NulInHeaderValue",
       "GET /smuggle HTTP/1.1\r\nHost: test.local\r\nX-Bad: a\0b\r\n\r\n"s + evil, 400},
      {"BareCrInHeaderValue",
       "GET /smuggle HTTP/1.1\r\nHost: test.local\r\nX-Bad: a\rb\r\n\r\n" + evil, 400},
      {"EmptyHeaderName", "GET /smuggle HTTP/1.1\r\nHost: test.local\r\n: value\r\n\r\n" + evil,
       400},
      {"MissingHost", "GET /smuggle HTTP/1.1\r\nX-A: 1\r\n\r\n" + evil, 400},
      {"DuplicateHost",
       "GET /smuggle HTTP/1.1\r\nHost: test.local\r\nHost: other.local\r\n\r\n" + evil, 400},
      {"BadChunkSize",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
       "zz\r\nabc\r\n0\r\n\r\n" +
           evil,
       400},
      {"ChunkSizeOverflow",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
       "fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n" +
           evil,
       400},
      {"ChunkDataWithoutCrlf",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nabcXX0\r\n\r\n" +
           evil,
       400},
      {"ChunkSizeBareLf",
       "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\nabc\r\n0\r\n\r\n" +
           evil,
       400},
      {"BareLfLineEndings", "GET /smuggle HTTP/1.1\nHost: test.local\n\n" + evil, 400},
      {"BareLfInsideHeaders", "GET /smuggle HTTP/1.1\r\nHost: test.local\nX-A: 1\r\n\r\n" + evil,
       400},
      {"GarbageRequestLine", "SMUGGLE\r\n\r\n" + evil, 400},
      {"SpaceInTarget", "GET /smuggle /x HTTP/1.1\r\nHost: test.local\r\n\r\n" + evil, 400},
      {"NulInTarget", "GET /smuggle\0 HTTP/1.1\r\nHost: test.local\r\n\r\n"s + evil, 400},
      {"ConnectMethod",
       "CONNECT smuggle.local:443 HTTP/1.1\r\nHost: smuggle.local:443\r\n\r\n" + evil, 405},
  };
}

class SmugglingTest : public ProxyTest, public ::testing::WithParamInterface<Vector> {};

TEST_P(SmugglingTest, RejectedLocallyAndNothingReachesUpstream) {
  const Vector& v = GetParam();
  start(TestUpstream::fixed("probe-ok"));
  {
    RawClient c(port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(v.request));
    HttpMessage resp;
    ReadResult r = c.read_response(resp);
    ASSERT_TRUE(r.ok()) << to_string(r.status) << " " << r.error;
    EXPECT_EQ(resp.status, v.status) << resp.head_raw << resp.body;
    EXPECT_TRUE(resp.has_token("connection", "close")) << resp.head_raw;
    EXPECT_EQ(resp.header("content-type").value_or("").rfind("text/plain", 0), 0u) << resp.head_raw;
    // Nothing after the error response: the pipelined "/evil" request is not answered.
    std::string rest;
    IoStatus st = c.read_until_close(&rest, soon());
    EXPECT_TRUE(st == IoStatus::kClosed || st == IoStatus::kReset) << to_string(st);
    EXPECT_EQ(rest, "");
  }
  // A valid probe on a fresh connection: once the upstream has it, anything the bad
  // request could have leaked would already have arrived (same worker, in order).
  HttpMessage probe = fetch(simple_get("/probe"));
  EXPECT_EQ(probe.status, 200);
  ASSERT_TRUE(upstream_->wait_requests(1, soon()));
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/probe");
  std::string raw = upstream_->raw_received();
  EXPECT_EQ(raw.find("smuggle"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("/evil"), std::string::npos) << raw;
}

INSTANTIATE_TEST_SUITE_P(Corpus, SmugglingTest, ::testing::ValuesIn(corpus()),
                         [](const ::testing::TestParamInfo<Vector>& info) {
                           return std::string(info.param.name);
                         });

// A valid request followed on the same connection by a smuggling attempt: the first is
// answered normally, the second rejected, and only the first reaches the upstream.
TEST_F(ProxyTest, ValidThenInvalidOnSameConnection) {
  start(TestUpstream::fixed("first"));
  RawClient c(port());
  ASSERT_TRUE(c.send(simple_get("/ok") +
                     "POST /smuggle HTTP/1.1\r\nHost: test.local\r\nContent-Length: 4\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  HttpMessage r1, r2;
  ASSERT_TRUE(c.read_response(r1).ok());
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r1.body, "first");
  ASSERT_TRUE(c.read_response(r2).ok());
  EXPECT_EQ(r2.status, 400);
  EXPECT_TRUE(r2.has_token("connection", "close"));
  EXPECT_TRUE(c.wait_closed(soon()));
  EXPECT_EQ(fetch(simple_get("/probe")).status, 200);
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "/ok");
  EXPECT_EQ(seen[1].target, "/probe");
  EXPECT_EQ(upstream_->raw_received().find("smuggle"), std::string::npos);
}

}  // namespace
}  // namespace sidemeter::testing
