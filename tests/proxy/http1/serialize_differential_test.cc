// The forwarding serializer against its pre-token-table self (serialize_reference.cc):
// the same bytes for heads drawn to stress the field classification (every special name
// in several cases, near misses, duplicates, Connection lists naming fields, Via /
// X-Forwarded-* / Forwarded chains) under every context flag.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/http1/max_forwards.h"
#include "proxy/http1/parser.h"
#include "tests/proxy/http1/parsed_head.h"
#include "tests/proxy/http1/serialize_reference.h"

namespace sidemeter::http {
namespace {

class Draw {
 public:
  explicit Draw(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  bool coin() { return (next() & 1) != 0; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }
  // Random letter case, so the compare must be case-insensitive.
  std::string recase(std::string s) {
    const size_t how = below(4);
    for (size_t i = 0; i < s.size(); ++i) {
      char& c = s[i];
      if (c < 'a' || c > 'z') continue;
      if (how == 1 || (how == 2 && (i == 0 || s[i - 1] == '-')) || (how == 3 && coin()))
        c = static_cast<char>(c - 32);
    }
    return s;
  }

 private:
  uint64_t state_;
};

const std::vector<std::string> kNames = {
    // every token
    "connection", "content-length", "date", "forwarded", "host", "keep-alive", "max-forwards",
    "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade", "via", "x-forwarded-for", "x-forwarded-host",
    "x-forwarded-proto",
    // near misses: same length, one byte off, or a neighbour
    "vie", "hosts", "dute", "upgradf", "trailed", "forwardee", "connectiom", "keep_alive",
    "max-forward", "x-forwarded-fox", "x-forwarded-port", "proxy-connectioN0", "tf",
    "x-forwarded-prot", "proxy-authorizatio", "etag", "set-cookie",
    // ordinary fields
    "accept", "user-agent", "server", "content-type", "cache-control", "x-custom", "foo",
    "bar", "traceparent"};

const std::vector<std::string> kConnectionValues = {
    "close", "keep-alive", "upgrade", "Keep-Alive, Upgrade", "foo", "x-custom, bar",
    "x-forwarded-for", "X-Forwarded-Host", "host", "date", "max-forwards", "via",
    "forwarded", "te", ",, ,close", "CLOSE , foo", "upgrade, x-forwarded-proto", "server",
    "content-type", "traceparent, accept"};

const std::vector<std::string> kValues = {"1", "a, b", "", "10.1.2.3", "1.1 proxy-a",
                                          "for=1.2.3.4", "text/plain", "  x  ", "3",
                                          "Mon, 01 Jan 2024 00:00:00 GMT", "websocket"};

std::string value_for(Draw& d, const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (lower == "connection") return d.pick(kConnectionValues);
  if (lower == "max-forwards") return d.coin() ? "5" : "0010";
  return d.pick(kValues);
}

std::string draw_fields(Draw& d, bool& has_host) {
  std::string out;
  const size_t n = d.below(14);
  for (size_t i = 0; i < n; ++i) {
    std::string name = d.pick(kNames);
    std::string lower = name;
    // Framing fields would make most draws invalid or bodied; the parser's own tests
    // cover them. One Host at most (a second is refused).
    if (lower == "content-length" || lower == "transfer-encoding") continue;
    if (lower == "host") {
      if (has_host) continue;
      has_host = true;
    }
    name = d.recase(name);
    out += name + (d.coin() ? ": " : ":") + value_for(d, lower) + "\r\n";
  }
  return out;
}

// False when the draw broke a parser rule (nothing compared).
bool expect_same_request(Draw& d, size_t round) {
  bool has_host = false;
  std::string fields = draw_fields(d, has_host);
  const bool http10 = d.below(5) == 0;
  if (!has_host && !http10) fields = "Host: h.example\r\n" + fields;
  static const std::vector<std::string> methods = {"GET", "OPTIONS", "TRACE", "POST"};
  static const std::vector<std::string> targets = {"/p?q", "/", "http://h.example/a", "*"};
  const std::string& method = d.pick(methods);
  std::string target = d.pick(targets);
  if (target == "*" && method != "OPTIONS") target = "/";
  if (target.rfind("http://", 0) == 0 && has_host) target = "/a";
  std::string raw = method + " " + target + (http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n") +
                    fields;
  const bool body = method == "POST" && d.coin();
  if (body) raw += "Content-Length: 3\r\n";
  raw += "\r\n";
  if (body) raw += "abc";
  ParsedHead p(MessageKind::kRequest, raw, Method::kGet, {}, /*expect_valid=*/false);
  if (!p.ok()) return false;  // not the serializer's business

  static const std::vector<std::string> kClients = {"", "10.0.0.1", "2001:db8::1"};
  static const std::vector<std::string> kProtos = {"", "http", "https"};
  ForwardRequestContext ctx;
  ctx.client_ip = d.pick(kClients);
  ctx.trust_forwarded = d.coin();
  ctx.proto = d.pick(kProtos);
  ctx.chunked_body = body && d.coin();
  ctx.upgrade = d.coin() && p.head().upgrade;
  ctx.fallback_host = d.coin() ? "upstream.example:8080" : "";
  ctx.via_pseudonym = d.coin() ? "sidemeter" : "";
  std::string_view mf;
  ctx.decrement_max_forwards = read_max_forwards(p.head(), mf) == MaxForwards::kPositive &&
                               d.below(4) != 0;
  std::string want = "prefix ";
  std::string got = "prefix ";
  reference::append_forward_request_head(p.head(), ctx, want);
  append_forward_request_head(p.head(), ctx, got);
  EXPECT_EQ(got, want) << "round " << round << "\n" << raw;
  return got == want;
}

bool expect_same_response(Draw& d, size_t round) {
  bool has_host = d.coin();  // responses may carry Host (kept as is)
  std::string fields = draw_fields(d, has_host);
  const std::vector<uint16_t> statuses = {100, 101, 103, 200, 204, 304, 404, 503};
  const uint16_t status = statuses[d.below(statuses.size())];
  const std::string reason = d.coin() ? "" : "Whatever";
  std::string raw = "HTTP/1." + std::string(d.coin() ? "1 " : "0 ") + std::to_string(status) +
                    " " + reason + "\r\n" + fields;
  const size_t framing = d.below(3);
  if (status >= 200 && status != 204 && status != 304) {
    if (framing == 1) raw += "Content-Length: 0\r\n";
    if (framing == 2) raw += "Transfer-Encoding: chunked\r\n";
  }
  raw += "\r\n";
  ParsedHead p(MessageKind::kResponse, raw, d.coin() ? Method::kHead : Method::kGet, {},
               /*expect_valid=*/false);
  if (!p.ok()) return false;

  ForwardResponseContext ctx;
  ctx.keep_alive_downstream = d.coin();
  ctx.chunked_body = d.coin();
  ctx.downstream_http10 = d.coin();
  ctx.upgrade = status == 101 && d.coin();
  ctx.via_pseudonym = d.coin() ? "sidemeter" : "";
  ctx.date = d.coin() ? "Tue, 02 Jan 2024 00:00:00 GMT" : "";
  std::string want;
  std::string got;
  reference::append_forward_response_head(p.head(), ctx, want);
  append_forward_response_head(p.head(), ctx, got);
  EXPECT_EQ(got, want) << "round " << round << "\n" << raw;
  return got == want;
}

TEST(SerializeDifferentialTest, RequestsAsBefore) {
  Draw d(0x5eed0001);
  size_t compared = 0;
  for (size_t round = 0; round < 30000 && !HasFailure(); ++round)
    compared += expect_same_request(d, round) ? 1 : 0;
  EXPECT_GT(compared, 25000u);
}

TEST(SerializeDifferentialTest, ResponsesAsBefore) {
  Draw d(0x5eed0002);
  size_t compared = 0;
  for (size_t round = 0; round < 30000 && !HasFailure(); ++round)
    compared += expect_same_response(d, round) ? 1 : 0;
  EXPECT_GT(compared, 25000u);
}

// More fields than the serializer keeps tokens for on its stack (128): those after are
// looked up again when asked, with the same result.
TEST(SerializeDifferentialTest, HeadsWithManyFields) {
  for (int connection_at : {0, 150, 199}) {
    std::string raw = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 200; ++i) {
      if (i == connection_at) raw += "Connection: x-custom-150, via\r\n";
      const char* names[] = {"X-Custom-", "Via", "X-Forwarded-For", "Te", "Date"};
      const std::string name = names[i % 5];
      raw += (name == "X-Custom-" ? name + std::to_string(i) : name) + ": v" +
             std::to_string(i) + "\r\n";
    }
    raw += "\r\n";
    ParserLimits limits;
    limits.max_fields = 1000;
    ParsedHead p(MessageKind::kRequest, raw, Method::kGet, limits, /*expect_valid=*/false);
    ASSERT_TRUE(p.ok());
    ForwardRequestContext ctx;
    ctx.client_ip = "10.0.0.1";
    ctx.trust_forwarded = true;
    ctx.via_pseudonym = "sm";
    std::string want;
    std::string got;
    reference::append_forward_request_head(p.head(), ctx, want);
    append_forward_request_head(p.head(), ctx, got);
    EXPECT_EQ(got, want) << "Connection at " << connection_at;
    EXPECT_EQ(got.find("X-Custom-150:"), std::string::npos);
  }
}

}  // namespace
}  // namespace sidemeter::http
