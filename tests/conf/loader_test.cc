#include <gtest/gtest.h>

#include "conf/config.h"
#include "tests/conf/load_text.h"

using namespace sidemeter::conf;
using namespace sidemeter::conf::testing;

TEST(Loader, EmptyFileGivesTheDefaults) {
  auto r = load_text("");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  Config defaults;
  EXPECT_EQ(r.config->listen, defaults.listen);
  EXPECT_EQ(r.config->upstream, defaults.upstream);
  EXPECT_EQ(r.config->stats, defaults.stats);
  EXPECT_EQ(r.config->hash.size(), 16u);
}

TEST(Loader, EverySectionAndKey) {
  auto r = load_text(R"(listen: 127.0.0.1:0
workers: 3
upstream:
  address: backend:9000
  max_idle_per_worker: 9
  resolve_interval: 1m
  probe_interval: 250ms
  retry_on_stale_connection: false
timeouts:
  request_header: 250ms
  upstream_connect: 1s
  upstream_response: 2s
  downstream_idle: 3s
  upstream_idle: 4s
  tunnel_idle: 5s
  drain_delay: 0s
  drain_timeout: 7s
limits: {max_request_line_bytes: 1000, max_header_bytes: 2000, max_headers: 7,
         max_request_body_bytes: 1024, max_connections: 5}
stats:
  address: "[::1]:9901"
  token: abc
  stream_interval: 2s
  max_connections: 3
  idle_timeout: 1m
  statsd:
    address: 127.0.0.1:8125
    interval: 1m
    flavor: statsd
    prefix: app.
routes:
  patterns: ["/users/{id}/orders", "/static/{*}"]
  max: 50
measure: false
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const Config& c = *r.config;
  EXPECT_EQ(c.listen, (HostPort{"127.0.0.1", 0}));
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.upstream.address, (HostPort{"backend", 9000}));
  EXPECT_EQ(c.upstream.max_idle_per_worker, 9u);
  EXPECT_EQ(c.upstream.resolve_interval_ms, 60'000u);
  EXPECT_EQ(c.upstream.probe_interval_ms, 250u);
  EXPECT_FALSE(c.upstream.retry_on_stale_connection);
  EXPECT_EQ(c.timeouts.request_header_ms, 250u);
  EXPECT_EQ(c.timeouts.upstream_connect_ms, 1000u);
  EXPECT_EQ(c.timeouts.upstream_response_ms, 2000u);
  EXPECT_EQ(c.timeouts.downstream_idle_ms, 3000u);
  EXPECT_EQ(c.timeouts.upstream_idle_ms, 4000u);
  EXPECT_EQ(c.timeouts.tunnel_idle_ms, 5000u);
  EXPECT_EQ(c.timeouts.drain_delay_ms, 0u);
  EXPECT_EQ(c.timeouts.drain_timeout_ms, 7000u);
  EXPECT_EQ(c.limits.max_request_line_bytes, 1000u);
  EXPECT_EQ(c.limits.max_header_bytes, 2000u);
  EXPECT_EQ(c.limits.max_headers, 7u);
  EXPECT_EQ(c.limits.max_request_body_bytes, 1024u);
  EXPECT_EQ(c.limits.max_connections, 5u);
  EXPECT_EQ(c.stats.address, (HostPort{"::1", 9901}));
  EXPECT_EQ(c.stats.token, "abc");
  EXPECT_EQ(c.stats.token_file, "");
  EXPECT_EQ(c.stats.stream_interval_s, 2u);
  EXPECT_EQ(c.stats.max_connections, 3u);
  EXPECT_EQ(c.stats.idle_timeout_ms, 60'000u);
  EXPECT_EQ(c.stats.statsd.address, (HostPort{"127.0.0.1", 8125}));
  EXPECT_EQ(c.stats.statsd.interval_s, 60u);
  EXPECT_FALSE(c.stats.statsd.dogstatsd_tags);
  EXPECT_EQ(c.stats.statsd.prefix, "app.");
  EXPECT_EQ(c.routes.patterns, (std::vector<std::string>{"/users/{id}/orders", "/static/{*}"}));
  EXPECT_EQ(c.routes.max, 50u);
  EXPECT_FALSE(c.measure);
  EXPECT_FALSE(c.demo);
}

TEST(Loader, AllErrorsAtOnce) {
  auto r = load_text("upstrem:\n  address: x:1\nworkers: many\nroutes:\n  max: 4000000000\n");
  EXPECT_EQ(r.config, nullptr);
  EXPECT_EQ(r.errors, (std::vector<std::string>{
                          "F:1:1: unknown key 'upstrem' in top level (did you mean 'upstream'?)",
                          "F:3:10: workers: expected a number 0-256, got 'many'",
                          "F:5:8: routes.max must be 1-10000, got 4000000000",
                      }));
}

TEST(Loader, PrintedConfigLoadsBackToTheSameHash) {
  auto r = load_text("stats:\n  token: s3cret\nroutes:\n  patterns: [\"/a/{id}\"]\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  std::string printed = print_config(*r.config);
  EXPECT_EQ(printed.find("s3cret"), std::string::npos) << printed;
  auto at = printed.find("\"<redacted>\"");
  ASSERT_NE(at, std::string::npos) << printed;
  printed.replace(at, 12, "\"s3cret\"");
  auto again = load_text(printed);
  ASSERT_TRUE(again.config) << ::testing::PrintToString(again.errors) << printed;
  EXPECT_EQ(again.config->hash, r.config->hash);
}
