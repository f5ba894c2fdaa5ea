// Forwarded heads byte-exact: hop-by-hop removal, framing restated, X-Forwarded-*.
#include <gtest/gtest.h>

#include <string>

#include "proxy/http1/local_response.h"
#include "proxy/http1/parser.h"
#include "tests/proxy/http1/parsed_head.h"

namespace sidemeter::http {
namespace {

std::string fwd_req(const std::string& raw, ForwardRequestContext ctx = {}) {
  ParsedHead p(MessageKind::kRequest, raw);
  std::string out;
  append_forward_request_head(p.head(), ctx, out);
  return out;
}

std::string fwd_resp(const std::string& raw, ForwardResponseContext ctx = {},
                     Method m = Method::kGet) {
  ParsedHead p(MessageKind::kResponse, raw, m);
  std::string out;
  append_forward_response_head(p.head(), ctx, out);
  return out;
}

TEST(ForwardRequestTest, SimpleGetAddsForwardedFields) {
  ForwardRequestContext ctx;
  ctx.client_ip = "10.0.0.1";
  ctx.proto = "http";
  EXPECT_EQ(fwd_req("GET /a?b HTTP/1.1\r\nHost: ex.com\r\nAccept: */*\r\n\r\n", ctx),
            "GET /a?b HTTP/1.1\r\n"
            "Host: ex.com\r\n"
            "Accept: */*\r\n"
            "X-Forwarded-For: 10.0.0.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: ex.com\r\n"
            "\r\n");
}

TEST(ForwardRequestTest, AppendsToExistingXffAndMergesLines) {
  ForwardRequestContext ctx;
  ctx.client_ip = "10.0.0.9";
  ctx.trust_forwarded = true;  // a trusted proxy: its chain is kept
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: h\r\n"
                    "x-forwarded-for: 2.2.2.2, 3.3.3.3\r\n\r\n",
                    ctx),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
}

TEST(ForwardRequestTest, UntrustedClientsXffIsReplaced) {
  ForwardRequestContext ctx;
  ctx.client_ip = "10.0.0.9";
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: h\r\n"
                    "x-forwarded-for: 2.2.2.2\r\n\r\n",
                    ctx),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
  // Without a client address (unknown) an untrusted chain goes, and nothing replaces it.
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: h\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: h\r\n\r\n");
}

// RFC 7239: only when the request had a Forwarded; trusted, merged and our element
// appended (§4); untrusted, replaced by our element; IPv6 quoted and bracketed (§6).
TEST(ForwardRequestTest, ForwardedTrustedAppendedUntrustedReplaced) {
  const std::string two_lines =
      "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=192.0.2.60;proto=http;by=203.0.113.43\r\n"
      "forwarded: for=\"[2001:db8:cafe::17]:4711\"\r\n\r\n";
  ForwardRequestContext ctx;
  ctx.client_ip = "10.0.0.9";
  ctx.trust_forwarded = true;
  EXPECT_EQ(fwd_req(two_lines, ctx),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, "
            "for=\"[2001:db8:cafe::17]:4711\", for=10.0.0.9\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
  ctx.trust_forwarded = false;
  ctx.client_ip = "2001:db8::1";
  EXPECT_EQ(fwd_req(two_lines, ctx),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-For: 2001:db8::1\r\n"
            "Forwarded: for=\"[2001:db8::1]\"\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
  ctx.client_ip = "";
  EXPECT_EQ(fwd_req(two_lines, ctx),
            "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=unknown\r\nX-Forwarded-Host: h\r\n\r\n");
  // No Forwarded in the request: none added, trusted or not.
  ctx.client_ip = "10.0.0.9";
  for (bool trusted : {false, true}) {
    ctx.trust_forwarded = trusted;
    EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n", ctx),
              "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\n"
              "X-Forwarded-Host: h\r\n\r\n");
  }
}

TEST(ForwardRequestTest, ReplacesClientProtoKeepsClientForwardedHost) {
  ForwardRequestContext ctx;
  ctx.proto = "https";
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\n"
                    "X-Forwarded-Host: orig.example\r\n\r\n",
                    ctx),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Forwarded-Host: orig.example\r\n"
            "X-Forwarded-Proto: https\r\n"
            "\r\n");
}

TEST(ForwardRequestTest, DropsHopByHopAndFieldsNamedInConnection) {
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\n"
                    "Host: h\r\n"
                    "Connection: keep-alive, X-Secret, x-other\r\n"
                    "Keep-Alive: timeout=5\r\n"
                    "Proxy-Connection: keep-alive\r\n"
                    "TE: trailers\r\n"
                    "Trailer: X-Checksum\r\n"
                    "Upgrade: websocket\r\n"
                    "Proxy-Authorization: Basic eA==\r\n"
                    "X-Secret: 1\r\n"
                    "X-Other: 2\r\n"
                    "X-Kept: 3\r\n"
                    "\r\n"),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Kept: 3\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
}

TEST(ForwardRequestTest, ConnectionCannotStripHost) {
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: Host\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST(ForwardRequestTest, ContentLengthRestatedOnce) {
  // The parser refuses duplicate Content-Length, so the head the serializer
  // must still restate once is built by hand.
  MessageHead dup;
  dup.method = Method::kPost;
  dup.method_text = "POST";
  dup.target = dup.path = "/p";
  dup.fields = {{"Content-Length", "3, 3"}, {"Host", "h"}, {"Content-Length", "3"}};
  dup.framing = BodyFraming::kContentLength;
  dup.content_length = 3;
  dup.has_content_length = true;
  dup.host = "h";
  std::string out;
  append_forward_request_head(dup, {}, out);
  EXPECT_EQ(out,
            "POST /p HTTP/1.1\r\n"
            "Host: h\r\n"
            "Content-Length: 3\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
  EXPECT_EQ(fwd_req("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"),
            "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST(ForwardRequestTest, ChunkedRestated) {
  ForwardRequestContext ctx;
  ctx.chunked_body = true;
  EXPECT_EQ(fwd_req("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", ctx),
            "POST /p HTTP/1.1\r\n"
            "Host: h\r\n"
            "Transfer-Encoding: chunked\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
}

TEST(ForwardRequestTest, Http10RequestForwardedAsHttp11) {
  EXPECT_EQ(fwd_req("GET /x HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"),
            "GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST(ForwardRequestTest, Http10WithoutHostGetsFallbackHost) {
  ForwardRequestContext ctx;
  ctx.fallback_host = "backend:8080";
  EXPECT_EQ(fwd_req("GET /x HTTP/1.0\r\nAccept: */*\r\n\r\n", ctx),
            "GET /x HTTP/1.1\r\nAccept: */*\r\nHost: backend:8080\r\n\r\n");
  // Absolute-form without Host: the authority becomes Host.
  EXPECT_EQ(fwd_req("GET http://a.example/x HTTP/1.0\r\n\r\n", ctx),
            "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Host: a.example\r\n\r\n");
  // A request that has a Host keeps it.
  EXPECT_EQ(fwd_req("GET /x HTTP/1.0\r\nHost: h\r\n\r\n", ctx),
            "GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST(ForwardRequestTest, AbsoluteFormSentAsOriginForm) {
  EXPECT_EQ(fwd_req("GET http://h:81/p/q?z=1 HTTP/1.1\r\nHost: h:81\r\n\r\n"),
            "GET /p/q?z=1 HTTP/1.1\r\nHost: h:81\r\nX-Forwarded-Host: h:81\r\n\r\n");
  EXPECT_EQ(fwd_req("GET https://h HTTP/1.1\r\nHost: h\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: h\r\n\r\n");
  EXPECT_EQ(fwd_req("GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n"),
            "GET /?q HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: h\r\n\r\n");
  EXPECT_EQ(fwd_req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
            "OPTIONS * HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST(ForwardRequestTest, UpgradeKeepsUpgradeField) {
  ForwardRequestContext ctx;
  ctx.upgrade = true;
  EXPECT_EQ(fwd_req("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                    "Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
                    ctx),
            "GET /ws HTTP/1.1\r\n"
            "Host: h\r\n"
            "Upgrade: websocket\r\n"
            "Sec-WebSocket-Key: k\r\n"
            "Connection: upgrade\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
}

TEST(ForwardRequestTest, AppendsToExistingBuffer) {
  ParsedHead p(MessageKind::kRequest, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string out = "prefix";
  append_forward_request_head(p.head(), {}, out);
  EXPECT_EQ(out, "prefixGET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST(ForwardResponseTest, ContentLengthKeepAlive) {
  EXPECT_EQ(fwd_resp("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n"
                     "Keep-Alive: timeout=3\r\nConnection: keep-alive\r\n\r\nhi"),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/html\r\n"
            "Content-Length: 2\r\n"
            "\r\n");
}

TEST(ForwardResponseTest, CloseAndHttp10Client) {
  ForwardResponseContext ctx;
  ctx.keep_alive_downstream = false;
  EXPECT_EQ(fwd_resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ctx),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  ForwardResponseContext ka10;
  ka10.downstream_http10 = true;
  EXPECT_EQ(fwd_resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ka10),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
}

TEST(ForwardResponseTest, ChunkedRestatedAndDroppedForHttp10) {
  ForwardResponseContext ctx;
  ctx.chunked_body = true;
  const std::string raw =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n"
      "Connection: X-Hop\r\nX-Hop: 1\r\n\r\n";
  EXPECT_EQ(fwd_resp(raw, ctx), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  ctx.downstream_http10 = true;
  ctx.keep_alive_downstream = false;
  EXPECT_EQ(fwd_resp(raw, ctx), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
}

TEST(ForwardResponseTest, HeadAnd304KeepDeclaredLength) {
  EXPECT_EQ(fwd_resp("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", {}, Method::kHead),
            "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
  EXPECT_EQ(fwd_resp("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 99\r\n\r\n"),
            "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 99\r\n\r\n");
}

TEST(ForwardResponseTest, NoFramingOn204And1xx) {
  EXPECT_EQ(fwd_resp("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(fwd_resp("HTTP/1.1 100 Continue\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(ForwardResponseTest, SwitchingProtocols) {
  ForwardResponseContext ctx;
  ctx.upgrade = true;
  EXPECT_EQ(fwd_resp("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                     "Upgrade: websocket\r\nSec-WebSocket-Accept: a\r\n\r\n",
                     ctx),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Sec-WebSocket-Accept: a\r\n"
            "Connection: upgrade\r\n"
            "\r\n");
}

TEST(ForwardResponseTest, StatusLineNormalised) {
  // HTTP/1.0 upstream, empty reason: we speak HTTP/1.1 and fill in the phrase.
  ForwardResponseContext ctx;
  ctx.keep_alive_downstream = false;
  EXPECT_EQ(fwd_resp("HTTP/1.0 404\r\nContent-Length: 0\r\n\r\n", ctx),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(fwd_resp("HTTP/1.1 299 Custom Thing\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 299 Custom Thing\r\nContent-Length: 0\r\n\r\n");
}

TEST(ForwardResponseTest, ProxyAuthenticateDropped) {
  EXPECT_EQ(fwd_resp("HTTP/1.1 200 OK\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

TEST(LocalResponseTest, ExactBytes) {
  std::string out;
  constexpr std::string_view kDate = "Sun, 06 Nov 1994 08:49:37 GMT";
  LocalResponse r;
  r.status = 400;
  r.detail = "obs_fold";
  append_local_response(r, true, kDate, out);
  const std::string body = "Bad Request: obs_fold\n";
  EXPECT_EQ(out,
            "HTTP/1.1 400 Bad Request\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: " +
                std::to_string(body.size()) +
                "\r\n"
                "Connection: close\r\n"
                "\r\n" +
                body);
  out.clear();
  r.status = 502;
  r.detail = "";
  append_local_response(r, false, kDate, out);
  EXPECT_EQ(out,
            "HTTP/1.1 502 Bad Gateway\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 12\r\n"
            "\r\n"
            "Bad Gateway\n");
}

TEST(LocalResponseTest, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(504), "Gateway Timeout");
  EXPECT_EQ(reason_phrase(299), "Success");
}

}  // namespace
}  // namespace sidemeter::http
