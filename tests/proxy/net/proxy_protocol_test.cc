// The PROXY protocol header parser (proxy/net/proxy_protocol.h): good v1/v2 vectors, each
// class of malformed header, truncations (need-more, never a wrong answer), byte-at-a-time
// feeding through HeaderReader, and the length bounds.
#include "proxy/net/proxy_protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

using namespace sidemeter::net;
using namespace sidemeter::net::proxy_protocol;

namespace {

const std::string kSig(kV2Signature);

std::string be16(unsigned v) { return std::string{char(v >> 8), char(v & 0xff)}; }

std::string ip4(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1);
  return std::string(reinterpret_cast<const char*>(&a), 4);
}

std::string ip6(const char* text) {
  in6_addr a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, &a), 1);
  return std::string(reinterpret_cast<const char*>(&a), 16);
}

// A v2 header: ver_cmd, fam, then `body` (addresses and TLVs); len computed.
std::string v2(uint8_t ver_cmd, uint8_t fam, const std::string& body) {
  std::string h = kSig;
  h.push_back(char(ver_cmd));
  h.push_back(char(fam));
  h += be16(unsigned(body.size()));
  h += body;
  return h;
}

std::string tcp4_body(const char* src, const char* dst, unsigned sport, unsigned dport) {
  return ip4(src) + ip4(dst) + be16(sport) + be16(dport);
}

std::string tcp6_body(const char* src, const char* dst, unsigned sport, unsigned dport) {
  return ip6(src) + ip6(dst) + be16(sport) + be16(dport);
}

std::string tlv(uint8_t type, const std::string& value) {
  return std::string(1, char(type)) + be16(unsigned(value.size())) + value;
}

void expect_source(const Result& r, const std::string& ip, uint16_t port) {
  ASSERT_EQ(r.status, Status::kDone) << r.detail;
  EXPECT_FALSE(r.local);
  EXPECT_EQ(r.source.ip(), ip);
  EXPECT_EQ(r.source.port(), port);
}

void expect_error(const std::string& data, Accept accept, Error e) {
  const Result r = parse(data, accept);
  EXPECT_EQ(r.status, Status::kError) << testing::PrintToString(data);
  EXPECT_EQ(r.error, e) << testing::PrintToString(data) << " " << r.detail;
}

// Every strict prefix of a valid header asks for more; the whole gives `expected`.
void expect_prefixes_need_more(const std::string& header, Accept accept) {
  for (size_t n = 0; n < header.size(); ++n) {
    const Result r = parse(std::string_view(header).substr(0, n), accept);
    EXPECT_EQ(r.status, Status::kNeedMore) << "prefix of " << n << " bytes: " << r.detail;
  }
}

const std::string kRequest = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

}  // namespace

TEST(ProxyProtocolV1, Tcp4) {
  const std::string h = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  const Result r = parse(h + kRequest, Accept::kV1);
  expect_source(r, "192.168.0.1", 56324);
  EXPECT_EQ(r.header_bytes, h.size());
  EXPECT_EQ(r.version, 1);
  expect_source(parse(h, Accept::kAny), "192.168.0.1", 56324);
  expect_prefixes_need_more(h, Accept::kV1);
}

TEST(ProxyProtocolV1, Tcp6AndPortBounds) {
  const std::string h = "PROXY TCP6 2001:db8::1 ::1 0 65535\r\n";
  const Result r = parse(h, Accept::kAny);
  expect_source(r, "2001:db8::1", 0);
  EXPECT_EQ(r.header_bytes, h.size());
}

TEST(ProxyProtocolV1, UnknownKeepsThePeer) {
  for (const std::string h : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN whatever is here 1 2\r\n"}) {
    const Result r = parse(h + kRequest, Accept::kV1);
    ASSERT_EQ(r.status, Status::kDone) << h;
    EXPECT_TRUE(r.local);
    EXPECT_EQ(r.header_bytes, h.size());
  }
}

TEST(ProxyProtocolV1, LongestLineIs107Bytes) {
  // §2.1's worst case: UNKNOWN with two full IPv6 addresses and two 5-digit ports.
  const std::string addr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string longest = "PROXY UNKNOWN " + addr + " " + addr + " 65535 65535\r\n";
  ASSERT_EQ(longest.size(), 107u);
  EXPECT_EQ(parse(longest, Accept::kV1).status, Status::kDone);
  // One more byte before the CRLF: the CRLF is not within the first 107 bytes.
  const std::string too_long = "PROXY UNKNOWN " + addr + " " + addr + " 65535 655350\r\n";
  expect_error(too_long, Accept::kV1, Error::kMalformed);
  // Without any CRLF, 107 bytes are enough to tell.
  expect_error("PROXY UNKNOWN " + std::string(93, 'x'), Accept::kV1, Error::kMalformed);
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(92, 'x'), Accept::kV1).status,
            Status::kNeedMore);
}

TEST(ProxyProtocolV1, Malformed) {
  const char* bad[] = {
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",          // LF without CR
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",         // CR without LF
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",        // unknown protocol
      "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",        // case matters
      "PROXY UNKNOWNX\r\n",                        // UNKNOWN glued to something
      "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",       // two spaces
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",       // trailing space
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",          // a field missing
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",      // a field too many
      "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",       // leading zero in an address
      "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",          // three parts
      "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",      // out of range
      "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",            // IPv6 announced as TCP4
      "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",            // IPv4 announced as TCP6
      "PROXY TCP6 ::g ::1 1 2\r\n",              // not hexadecimal
      "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",       // leading zero in a port
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",    // port out of range
      "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",       // sign
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n",       // sign
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n",       // not a number
      "PROXY \r\n",                                 // nothing at all
      "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",       // a control byte
  };
  for (const char* h : bad) expect_error(h, Accept::kV1, Error::kMalformed);
  // A byte outside printable ASCII is refused before the line ends.
  expect_error(std::string("PROXY TCP4 1.2.3.4 \x80"), Accept::kAny, Error::kMalformed);
}

TEST(ProxyProtocolV2, Tcp4WithTlvs) {
  const std::string h =
      v2(0x21, 0x11,
         tcp4_body("203.0.113.7", "10.0.0.1", 40000, 443) + tlv(0x01, "h2") + tlv(0x04, ""));
  const Result r = parse(h + kRequest, Accept::kV2);
  expect_source(r, "203.0.113.7", 40000);
  EXPECT_EQ(r.header_bytes, h.size());
  EXPECT_EQ(r.version, 2);
  expect_prefixes_need_more(h, Accept::kV2);
  expect_source(parse(h, Accept::kAny), "203.0.113.7", 40000);
}

TEST(ProxyProtocolV2, Tcp6) {
  const std::string h = v2(0x21, 0x21, tcp6_body("2001:db8::42", "2001:db8::1", 1, 8080));
  expect_source(parse(h, Accept::kV2), "2001:db8::42", 1);
}

TEST(ProxyProtocolV2, LocalAndFallbacksKeepThePeer) {
  // LOCAL (a balancer's health check): the family and the block are ignored, even a
  // block that would not fit its family.
  for (const std::string& h : {v2(0x20, 0x00, ""), v2(0x20, 0x11, "abc"),
                               v2(0x20, 0x11, tcp4_body("1.2.3.4", "5.6.7.8", 1, 2))}) {
    const Result r = parse(h + kRequest, Accept::kV2);
    ASSERT_EQ(r.status, Status::kDone) << r.detail;
    EXPECT_TRUE(r.local);
    EXPECT_EQ(r.header_bytes, h.size());
  }
  // PROXY with UNSPEC, UDP or UNIX: fall back to the connection's addresses (§2.2).
  for (const std::string& h :
       {v2(0x21, 0x00, "anything"), v2(0x21, 0x12, tcp4_body("1.2.3.4", "5.6.7.8", 1, 2)),
        v2(0x21, 0x22, tcp6_body("::1", "::2", 1, 2)), v2(0x21, 0x31, std::string(216, 'u')),
        v2(0x21, 0x32, std::string(216, 'u'))}) {
    const Result r = parse(h, Accept::kAny);
    ASSERT_EQ(r.status, Status::kDone) << r.detail;
    EXPECT_TRUE(r.local);
  }
}

TEST(ProxyProtocolV2, Malformed) {
  const std::string body4 = tcp4_body("1.2.3.4", "5.6.7.8", 1, 2);
  expect_error(v2(0x22, 0x11, body4), Accept::kV2, Error::kMalformed);  // command 2
  expect_error(v2(0x2f, 0x11, body4), Accept::kV2, Error::kMalformed);  // command 15
  expect_error(v2(0x21, 0x41, body4), Accept::kV2, Error::kMalformed);  // family 4
  expect_error(v2(0x21, 0x13, body4), Accept::kV2, Error::kMalformed);  // protocol 3
  expect_error(v2(0x21, 0x11, body4.substr(0, 11)), Accept::kV2, Error::kMalformed);  // short
  expect_error(v2(0x21, 0x21, body4), Accept::kV2, Error::kMalformed);  // 12 bytes for IPv6
  expect_error(v2(0x21, 0x31, std::string(215, 'u')), Accept::kV2, Error::kMalformed);
  // TLVs: a header cut inside a TLV's own header or value.
  expect_error(v2(0x21, 0x11, body4 + "\x01\x00"), Accept::kV2, Error::kMalformed);
  expect_error(v2(0x21, 0x11, body4 + tlv(0x01, "abcd").substr(0, 6)), Accept::kV2,
               Error::kMalformed);
  // Wrong version nibble: "version", as soon as the 13th byte is there.
  expect_error(kSig + "\x11", Accept::kV2, Error::kVersion);
  expect_error(kSig + "\x31", Accept::kAny, Error::kVersion);
  // A bad command is refused before the rest arrives.
  expect_error(kSig + "\x23", Accept::kV2, Error::kMalformed);
}

TEST(ProxyProtocolV2, LengthBound) {
  const std::string body4 = tcp4_body("1.2.3.4", "5.6.7.8", 1, 2);
  const size_t room = kMaxHeaderBytes - kV2FixedBytes - body4.size() - 3;
  const std::string biggest = v2(0x21, 0x11, body4 + tlv(0xe0, std::string(room, 'v')));
  ASSERT_EQ(biggest.size(), kMaxHeaderBytes);
  expect_source(parse(biggest, Accept::kV2), "1.2.3.4", 1);
  const std::string over = v2(0x21, 0x11, body4 + tlv(0xe0, std::string(room + 1, 'v')));
  // The announced length alone is enough to refuse it: 16 bytes suffice.
  expect_error(over.substr(0, 16), Accept::kV2, Error::kMalformed);
  expect_error(kSig + "\x21\x11\xff\xff", Accept::kAny, Error::kMalformed);
}

TEST(ProxyProtocol, MissingAndVersion) {
  expect_error(kRequest, Accept::kAny, Error::kMissing);
  expect_error("G", Accept::kAny, Error::kMissing);
  expect_error("PROXX", Accept::kV1, Error::kMissing);
  expect_error("\x16\x03\x01", Accept::kAny, Error::kMissing);  // a TLS ClientHello
  expect_error("\r\n\r\n\x01", Accept::kV2, Error::kMissing);
  // The other version than the listener's, once its signature is complete.
  const std::string h2 = v2(0x21, 0x11, tcp4_body("1.2.3.4", "5.6.7.8", 1, 2));
  EXPECT_EQ(parse(kSig.substr(0, 11), Accept::kV1).status, Status::kNeedMore);
  expect_error(h2, Accept::kV1, Error::kVersion);
  expect_error("PROXY ", Accept::kV2, Error::kVersion);
  expect_error("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", Accept::kV2, Error::kVersion);
  EXPECT_EQ(parse("", Accept::kAny).status, Status::kNeedMore);
}

// Byte at a time through HeaderReader gives the same answer as one read, and the bytes
// after the header come back as `rest`, none lost, none of the header in them.
TEST(ProxyProtocolReader, ByteAtATime) {
  const std::string headers[] = {
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
      "PROXY UNKNOWN\r\n",
      v2(0x21, 0x21, tcp6_body("2001:db8::42", "2001:db8::1", 1, 8080) + tlv(0x20, "ssl")),
      v2(0x20, 0x00, ""),
  };
  for (const std::string& h : headers) {
    const std::string wire = h + kRequest;
    const Result whole = parse(wire, Accept::kAny);
    ASSERT_EQ(whole.status, Status::kDone);
    HeaderReader reader(Accept::kAny);
    EXPECT_FALSE(reader.started());
    std::string_view rest;
    size_t i = 0;
    Result r;
    for (; i < wire.size(); ++i) {
      r = reader.feed(std::string_view(wire).substr(i, 1), rest);
      EXPECT_TRUE(reader.started());
      if (r.status != Status::kNeedMore) break;
    }
    ASSERT_EQ(r.status, Status::kDone);
    EXPECT_EQ(i + 1, h.size());  // done exactly on the header's last byte
    EXPECT_TRUE(rest.empty());
    EXPECT_EQ(r.local, whole.local);
    EXPECT_EQ(r.source.ip(), whole.source.ip());
    EXPECT_EQ(r.source.port(), whole.source.port());
    // In two pieces split anywhere: the rest is exactly the request's bytes that came
    // with the piece that completed the header.
    for (size_t cut = 1; cut < wire.size(); ++cut) {
      HeaderReader two(Accept::kAny);
      std::string_view first_rest;
      const Result a = two.feed(std::string_view(wire).substr(0, cut), first_rest);
      if (a.status == Status::kDone) {
        EXPECT_EQ(std::string(first_rest), wire.substr(h.size(), cut - h.size()));
        continue;
      }
      ASSERT_EQ(a.status, Status::kNeedMore);
      std::string_view second_rest;
      const Result b = two.feed(std::string_view(wire).substr(cut), second_rest);
      ASSERT_EQ(b.status, Status::kDone);
      EXPECT_EQ(std::string(second_rest), kRequest);
    }
  }
}

TEST(ProxyProtocolReader, ErrorByteAtATime) {
  HeaderReader reader(Accept::kAny);
  const std::string wire = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r";
  std::string_view rest;
  Result r;
  for (char c : wire) {
    r = reader.feed(std::string_view(&c, 1), rest);
    if (r.status != Status::kNeedMore) break;
  }
  EXPECT_EQ(r.status, Status::kError);
  EXPECT_EQ(r.error, Error::kMalformed);
}
