#include <gtest/gtest.h>

#include "conf/config.h"

using namespace sidemeter::conf;

TEST(HostPort, ParsesIpv4NamesAndIpv6) {
  auto a = parse_host_port("127.0.0.1:8080");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(parse_host_port("backend.default.svc:80").host, "backend.default.svc");
  auto c = parse_host_port("[::1]:0");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.to_string(), "[::1]:0");
}

TEST(HostPort, RejectsMalformed) {
  for (const char* bad : {"127.0.0.1", ":80", "host:", "host:65536", "host:8x", "[::1]80",
                          "[::1", "::1:80", "host:-1", "host: 80", "a b:80", "host:99999999999"})
    EXPECT_THROW(parse_host_port(bad), ConfigError) << bad;
}
