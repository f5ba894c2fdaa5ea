// proxy_protocol and trusted_proxies: defaults, values, every error with its position (all
// at once), the print/hash round trip, and CIDR matching (conf/cidr.h) for IPv4, IPv6 and
// IPv4-mapped IPv6 peers.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "conf/cidr.h"
#include "conf/config.h"
#include "tests/conf/load_text.h"

using namespace sidemeter::conf;
using namespace sidemeter::conf::testing;

namespace {

Cidr cidr(const char* text) {
  Cidr c;
  const std::string err = parse_cidr(text, c);
  EXPECT_EQ(err, "") << text;
  return c;
}

std::string cidr_error(const char* text) {
  Cidr c;
  return parse_cidr(text, c);
}

}  // namespace

TEST(ProxyConfig, Defaults) {
  auto r = load_text("workers: 1\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->proxy_protocol, ProxyProtocol::kOff);
  EXPECT_TRUE(r.config->trusted_proxies.empty());
}

TEST(ProxyConfig, Values) {
  for (auto [text, want] : {std::pair{"off", ProxyProtocol::kOff}, {"v1", ProxyProtocol::kV1},
                            {"v2", ProxyProtocol::kV2}, {"any", ProxyProtocol::kAny}}) {
    auto r = load_text(std::string("proxy_protocol: ") + text + "\n");
    ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
    EXPECT_EQ(r.config->proxy_protocol, want);
  }
  auto r = load_text("trusted_proxies: [\"10.0.0.0/8\", \"::1/128\", 127.0.0.1, 2001:db8::/32]\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const auto& t = r.config->trusted_proxies;
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].to_string(), "10.0.0.0/8");
  EXPECT_EQ(t[1].to_string(), "::1/128");
  EXPECT_EQ(t[2].to_string(), "127.0.0.1/32");
  EXPECT_EQ(t[3].to_string(), "2001:db8::/32");
  // A printed config loads back to the same one (same hash).
  const std::string printed = print_config(*r.config);
  EXPECT_NE(printed.find("trusted_proxies: [\"10.0.0.0/8\", \"::1/128\", \"127.0.0.1/32\", "
                         "\"2001:db8::/32\"]"),
            std::string::npos)
      << printed;
  auto again = load_text(printed);
  ASSERT_TRUE(again.config) << ::testing::PrintToString(again.errors);
  EXPECT_EQ(again.config->hash, r.config->hash);
  EXPECT_NE(load_text("proxy_protocol: v2\n").config->hash, load_text("workers: 0\n").config->hash);
}

TEST(ProxyConfig, EveryErrorAtOnceWithPositions) {
  auto r = load_text(
      "proxy_protocol: v3\n"
      "trusted_proxies:\n"
      "  - 10.0.0.1/8\n"
      "  - 10.0.0.0/33\n"
      "  - ::1/129\n"
      "  - example.com\n"
      "  - 10.0.0.0/08\n"
      "  - 192.168.0.0/16\n"
      "  - 192.168.0.0/16\n"
      "  -\n");
  EXPECT_EQ(r.config, nullptr);
  EXPECT_EQ(r.errors,
            (std::vector<std::string>{
                "F:1:17: proxy_protocol: expected off, v1, v2 or any, got 'v3'",
                "F:3:5: trusted_proxies: '10.0.0.1/8' has host bits set (did you mean 10.0.0.0/8?)",
                "F:4:5: trusted_proxies: '10.0.0.0/33' has a prefix length above 32",
                "F:5:5: trusted_proxies: '::1/129' has a prefix length above 128",
                "F:6:5: trusted_proxies: 'example.com' is not an IPv4 or IPv6 address",
                "F:7:5: trusted_proxies: '10.0.0.0/08' has a bad prefix length",
                "F:9:5: trusted_proxies: '192.168.0.0/16' is listed twice",
                "F:11:1: trusted_proxies: missing value (expected a CIDR such as 10.0.0.0/8 or "
                "::1/128)",
            }));
  EXPECT_EQ(load_text("proxy_protocol: true\n").errors,
            (std::vector<std::string>{
                "F:1:17: proxy_protocol: expected off, v1, v2 or any, got 'true'"}));
}

TEST(Cidr, Parse) {
  EXPECT_EQ(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
  EXPECT_EQ(cidr("::/0").to_string(), "::/0");
  EXPECT_EQ(cidr("10.1.2.3").prefix, 32);
  EXPECT_EQ(cidr("fe80::1").prefix, 128);
  EXPECT_EQ(cidr_error("10.0.0.0/"), "has a bad prefix length");
  EXPECT_EQ(cidr_error("10.0.0.0/-1"), "has a bad prefix length");
  EXPECT_EQ(cidr_error("10.0.0.0/8/8"), "has a bad prefix length");
  EXPECT_EQ(cidr_error("/8"), "is not an IP address");
  EXPECT_EQ(cidr_error("010.0.0.0/8"), "is not an IPv4 or IPv6 address");
  EXPECT_EQ(cidr_error("[::1]/128"), "is not an IPv4 or IPv6 address");
  EXPECT_EQ(cidr_error("2001:db8::1/32"), "has host bits set (did you mean 2001:db8::/32?)");
}

TEST(Cidr, Contains) {
  const Cidr ten = cidr("10.0.0.0/8");
  EXPECT_TRUE(ten.contains_ip("10.0.0.0"));
  EXPECT_TRUE(ten.contains_ip("10.255.255.255"));
  EXPECT_FALSE(ten.contains_ip("11.0.0.0"));
  EXPECT_FALSE(ten.contains_ip("9.255.255.255"));
  // An IPv4 peer seen through a dual-stack socket matches the IPv4 network.
  EXPECT_TRUE(ten.contains_ip("::ffff:10.1.2.3"));
  EXPECT_FALSE(ten.contains_ip("::ffff:11.1.2.3"));
  // ...but an IPv6 address that merely ends in those bytes does not.
  EXPECT_FALSE(ten.contains_ip("::10.1.2.3"));
  EXPECT_FALSE(ten.contains_ip("64:ff9b::10.1.2.3"));
  EXPECT_FALSE(ten.contains_ip("not an address"));
  EXPECT_FALSE(ten.contains_ip(""));

  const Cidr odd = cidr("192.168.0.0/23");  // a prefix that ends inside a byte
  EXPECT_TRUE(odd.contains_ip("192.168.1.255"));
  EXPECT_FALSE(odd.contains_ip("192.168.2.0"));

  const Cidr v6 = cidr("2001:db8::/33");
  EXPECT_TRUE(v6.contains_ip("2001:db8:7fff::1"));
  EXPECT_FALSE(v6.contains_ip("2001:db8:8000::1"));
  EXPECT_FALSE(v6.contains_ip("32.1.13.184"));  // IPv4 never matches an IPv6 network

  const Cidr loop6 = cidr("::1/128");
  EXPECT_TRUE(loop6.contains_ip("::1"));
  EXPECT_FALSE(loop6.contains_ip("127.0.0.1"));

  EXPECT_TRUE(cidr("0.0.0.0/0").contains_ip("203.0.113.9"));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains_ip("::ffff:203.0.113.9"));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains_ip("2001:db8::1"));
  EXPECT_TRUE(cidr("::/0").contains_ip("2001:db8::1"));

  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.2", &mapped.sin6_addr), 1);
  EXPECT_TRUE(cidr("127.0.0.0/8").contains(reinterpret_cast<const sockaddr*>(&mapped)));
  EXPECT_FALSE(cidr("127.0.0.1/32").contains(reinterpret_cast<const sockaddr*>(&mapped)));
}
