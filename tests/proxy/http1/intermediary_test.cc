// What an intermediary adds to the messages it forwards and makes (RFC 9110 §6.6.1 Date,
// §7.6.2 Max-Forwards, §7.6.3 Via, §9.3.8 TRACE, §15.5.6 Allow), byte-exact.
#include <gtest/gtest.h>

#include <ctime>
#include <string>

#include "proxy/http1/http_date.h"
#include "proxy/http1/local_response.h"
#include "proxy/http1/max_forwards.h"
#include "proxy/http1/parser.h"
#include "tests/proxy/http1/parsed_head.h"

namespace sidemeter::http {
namespace {

constexpr std::string_view kDate = "Sun, 06 Nov 1994 08:49:37 GMT";

std::string fwd_req(const std::string& raw, ForwardRequestContext ctx) {
  ParsedHead p(MessageKind::kRequest, raw);
  std::string out;
  append_forward_request_head(p.head(), ctx, out);
  return out;
}

std::string fwd_resp(const std::string& raw, ForwardResponseContext ctx,
                     Method m = Method::kGet) {
  ParsedHead p(MessageKind::kResponse, raw, m);
  std::string out;
  append_forward_response_head(p.head(), ctx, out);
  return out;
}

ForwardRequestContext via_req(std::string_view pseudonym = "sidemeter") {
  ForwardRequestContext ctx;
  ctx.via_pseudonym = pseudonym;
  return ctx;
}

ForwardResponseContext via_resp(std::string_view date = kDate) {
  ForwardResponseContext ctx;
  ctx.via_pseudonym = "sidemeter";
  ctx.date = date;
  return ctx;
}

// --- Via (RFC 9110 §7.6.3)

TEST(ViaTest, RequestGetsOursWithTheClientsVersion) {
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n", via_req()),
            "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 sidemeter\r\nX-Forwarded-Host: h\r\n\r\n");
  // Forwarded as HTTP/1.1, but received as 1.0: Via records what was received.
  EXPECT_EQ(fwd_req("GET / HTTP/1.0\r\nHost: h\r\n\r\n", via_req("edge:8080")),
            "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 edge:8080\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST(ViaTest, RequestKeepsEarlierHopsInOrderAndMergesLines) {
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nVia: 1.0 fred, 1.1 p.example.net\r\nHost: h\r\n"
                    "via: 1.1 cdn (Cache/1.0)\r\nVIA:\r\n\r\n",
                    via_req()),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "Via: 1.0 fred, 1.1 p.example.net, 1.1 cdn (Cache/1.0), 1.1 sidemeter\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
}

TEST(ViaTest, NoPseudonymKeepsWhatWasThereAndAddsNothing) {
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 a\r\n\r\n", via_req("")),
            "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 a\r\nX-Forwarded-Host: h\r\n\r\n");
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n", via_req("")),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST(ViaTest, AViaNamedInConnectionIsHopByHop) {
  EXPECT_EQ(fwd_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: via\r\nVia: 1.1 a\r\n\r\n",
                    via_req()),
            "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 sidemeter\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST(ViaTest, ResponseGetsOursWithTheUpstreamsVersion) {
  EXPECT_EQ(fwd_resp("HTTP/1.1 200 OK\r\nDate: Mon, 07 Nov 1994 00:00:00 GMT\r\n"
                     "Content-Length: 0\r\n\r\n",
                     via_resp()),
            "HTTP/1.1 200 OK\r\nDate: Mon, 07 Nov 1994 00:00:00 GMT\r\n"
            "Via: 1.1 sidemeter\r\nContent-Length: 0\r\n\r\n");
  ForwardResponseContext ctx = via_resp();
  ctx.keep_alive_downstream = false;
  EXPECT_EQ(fwd_resp("HTTP/1.0 200 OK\r\nVia: 1.1 app\r\nContent-Length: 0\r\n\r\n", ctx),
            "HTTP/1.1 200 OK\r\nVia: 1.1 app, 1.0 sidemeter\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
}

TEST(ViaTest, InterimSwitchingProtocolsHeadAnd304CarryIt) {
  EXPECT_EQ(fwd_resp("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", via_resp()),
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\nVia: 1.1 sidemeter\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
  ForwardResponseContext up = via_resp();
  up.upgrade = true;
  EXPECT_EQ(fwd_resp("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                     "Upgrade: websocket\r\n\r\n",
                     up),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nVia: 1.1 sidemeter\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: upgrade\r\n\r\n");
  EXPECT_EQ(fwd_resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", via_resp(), Method::kHead),
            "HTTP/1.1 200 OK\r\nVia: 1.1 sidemeter\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Length: 12\r\n\r\n");
  EXPECT_EQ(fwd_resp("HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n", via_resp()),
            "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nVia: 1.1 sidemeter\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
}

// --- Date (RFC 9110 §6.6.1)

TEST(DateTest, AddedToAResponseWithoutOne) {
  ForwardResponseContext ctx;
  ctx.date = kDate;
  EXPECT_EQ(fwd_resp("HTTP/1.1 204 No Content\r\n\r\n", ctx),
            "HTTP/1.1 204 No Content\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
  // The upstream's own Date is kept, whatever its case, and not doubled.
  EXPECT_EQ(fwd_resp("HTTP/1.1 204 No Content\r\ndate: Tue, 01 Jan 2030 00:00:00 GMT\r\n\r\n", ctx),
            "HTTP/1.1 204 No Content\r\ndate: Tue, 01 Jan 2030 00:00:00 GMT\r\n\r\n");
  // "A response message" (RFC 9110 §6.6.1): interim ones too.
  EXPECT_EQ(fwd_resp("HTTP/1.1 100 Continue\r\n\r\n", ctx),
            "HTTP/1.1 100 Continue\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
  // No clock reading given: nothing added.
  EXPECT_EQ(fwd_resp("HTTP/1.1 204 No Content\r\n\r\n", ForwardResponseContext{}),
            "HTTP/1.1 204 No Content\r\n\r\n");
  // A request's Date is the client's business: never added, never touched.
  ForwardRequestContext rctx;
  EXPECT_EQ(fwd_req("POST / HTTP/1.1\r\nHost: h\r\nDate: x\r\nContent-Length: 0\r\n\r\n", rctx),
            "POST / HTTP/1.1\r\nHost: h\r\nDate: x\r\nContent-Length: 0\r\n"
            "X-Forwarded-Host: h\r\n\r\n");
}

TEST(DateTest, ImfFixdateKnownInstants) {
  struct Row {
    int64_t t;
    const char* text;
  } rows[] = {
      {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
      {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},  // RFC 9110's example
      {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},  // a leap day in a /400 year
      {1709251199, "Thu, 29 Feb 2024 23:59:59 GMT"},
      {4102444800, "Fri, 01 Jan 2100 00:00:00 GMT"},  // 2100 is not a leap year
      {253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"},
  };
  for (const Row& row : rows) {
    char out[kImfFixdateSize];
    format_imf_fixdate(row.t, out);
    EXPECT_EQ(std::string_view(out, kImfFixdateSize), row.text) << row.t;
  }
}

TEST(DateTest, AgreesWithGmtimeOverManyDays) {
  // Every 7 hours 13 minutes over ~40 years, against the C library.
  for (int64_t t = 0; t < int64_t{1300000000}; t += 25980) {
    char ours[kImfFixdateSize];
    format_imf_fixdate(t, ours);
    const time_t tt = static_cast<time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char ref[64];
    const size_t n = std::strftime(ref, sizeof ref, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ASSERT_EQ(std::string_view(ours, kImfFixdateSize), std::string_view(ref, n)) << t;
  }
}

TEST(DateTest, CacheFormatsOncePerSecond) {
  DateCache cache;
  const std::string a(cache.at(784111777));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(cache.at(784111777), a);
  EXPECT_EQ(cache.formats(), 1u);
  EXPECT_EQ(cache.at(784111778), "Sun, 06 Nov 1994 08:49:38 GMT");
  EXPECT_EQ(cache.formats(), 2u);
}

TEST(DateTest, NowIsTheWallClockSecond) {
  const time_t before = std::time(nullptr);
  const std::string now(http_date_now());
  const time_t after = std::time(nullptr);
  char lo[kImfFixdateSize], hi[kImfFixdateSize];
  // The coarse clock may lag the precise one by a tick: allow the second before.
  format_imf_fixdate(before - 1, lo);
  format_imf_fixdate(after, hi);
  char mid[kImfFixdateSize];
  format_imf_fixdate(before, mid);
  EXPECT_TRUE(now == std::string_view(lo, kImfFixdateSize) ||
              now == std::string_view(mid, kImfFixdateSize) ||
              now == std::string_view(hi, kImfFixdateSize))
      << now;
}

// --- Max-Forwards (RFC 9110 §7.6.2)

MaxForwards read(const std::string& fields, std::string_view* value_out = nullptr) {
  ParsedHead p(MessageKind::kRequest, "OPTIONS * HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n");
  std::string_view value;
  const MaxForwards m = read_max_forwards(p.head(), value);
  if (value_out != nullptr) *value_out = value;
  return m;
}

TEST(MaxForwardsTest, Classified) {
  EXPECT_EQ(read(""), MaxForwards::kAbsent);
  EXPECT_EQ(read("Max-Forwards: 0\r\n"), MaxForwards::kZero);
  EXPECT_EQ(read("max-forwards:  000 \r\n"), MaxForwards::kZero);
  EXPECT_EQ(read("Max-Forwards: 1\r\n"), MaxForwards::kPositive);
  EXPECT_EQ(read("Max-Forwards: 99999999999999999999999\r\n"), MaxForwards::kPositive);
  for (const char* bad : {"Max-Forwards:\r\n", "Max-Forwards: -1\r\n", "Max-Forwards: +1\r\n",
                          "Max-Forwards: 1, 2\r\n", "Max-Forwards: 1 2\r\n",
                          "Max-Forwards: 0x1\r\n", "Max-Forwards: one\r\n",
                          "Max-Forwards: 3\r\nMax-Forwards: 3\r\n"}) {
    EXPECT_EQ(read(bad), MaxForwards::kInvalid) << bad;
  }
}

std::string decremented(std::string_view digits) {
  std::string out = "<";
  append_decremented(out, digits);
  return out;
}

TEST(MaxForwardsTest, Decrement) {
  EXPECT_EQ(decremented("1"), "<0");
  EXPECT_EQ(decremented("10"), "<9");
  EXPECT_EQ(decremented("007"), "<6");
  EXPECT_EQ(decremented("100"), "<99");
  EXPECT_EQ(decremented("70"), "<69");
  EXPECT_EQ(decremented("100000000000000000000"), "<99999999999999999999");
  EXPECT_EQ(decremented("18446744073709551616"), "<18446744073709551615");
}

TEST(MaxForwardsTest, DecrementedOnlyWhenAsked) {
  const std::string raw = "OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 10\r\n\r\n";
  ForwardRequestContext ctx;
  EXPECT_EQ(fwd_req(raw, ctx),
            "OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 10\r\nX-Forwarded-Host: h\r\n\r\n");
  ctx.decrement_max_forwards = true;
  EXPECT_EQ(fwd_req(raw, ctx),
            "OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 9\r\nX-Forwarded-Host: h\r\n\r\n");
}

// --- Local responses

TEST(LocalAnswerTest, MethodNotAllowedListsWhatIsForwarded) {
  LocalResponse r;
  r.status = 405;
  r.detail = "connect_not_allowed";
  std::string out;
  append_local_response(r, true, kDate, out);
  EXPECT_EQ(out,
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 40\r\n"
            "Connection: close\r\n"
            "\r\n"
            "Method Not Allowed: connect_not_allowed\n");
}

TEST(LocalAnswerTest, OptionsAnswerIsEmptyWithAllow) {
  LocalResponse r;
  r.status = 200;
  r.body = LocalBody::kEmpty;
  r.allow = true;
  std::string out;
  append_local_response(r, false, kDate, out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(LocalAnswerTest, TraceReflectsTheRequestWithoutSensitiveFields) {
  ParsedHead p(MessageKind::kRequest,
           "TRACE /t?q=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Basic eA==\r\nX-Keep: a\r\n"
           "Cookie: s=1\r\nProxy-Authorization: x\r\nX-Auth-Token: t\r\nX-Api-Key: k\r\n"
           "Max-Forwards: 0\r\nVia: 1.1 a\r\n\r\n");
  LocalResponse r;
  r.status = 200;
  r.body = LocalBody::kMessage;
  r.request = &p.head();
  std::string out;
  append_local_response(r, false, kDate, out);
  const std::string body =
      "TRACE /t?q=1 HTTP/1.1\r\nHost: h\r\nX-Keep: a\r\nMax-Forwards: 0\r\nVia: 1.1 a\r\n\r\n";
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\n"
                 "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                 "Content-Type: message/http\r\n"
                 "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST(LocalAnswerTest, SensitiveFieldNames) {
  for (const char* name : {"Authorization", "proxy-authorization", "Cookie", "X-Auth-Token",
                           "X-CSRF-TOKEN", "X-Api-Key", "X-Amz-Security-Token", "X-Session-Id",
                           "X-Client-Secret", "X-Password", "X-Credentials"}) {
    EXPECT_TRUE(is_sensitive_field(name)) << name;
  }
  for (const char* name : {"Host", "Accept", "User-Agent", "Via", "Max-Forwards", "X-Request-Id"})
    EXPECT_FALSE(is_sensitive_field(name)) << name;
}

}  // namespace
}  // namespace sidemeter::http
