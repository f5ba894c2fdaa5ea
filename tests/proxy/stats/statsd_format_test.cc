#include "proxy/stats/statsd_format.h"

#include <gtest/gtest.h>

#include "tests/proxy/stats/traffic.h"

namespace sidemeter::stats {
namespace {

using testing::TestRegistry;

std::vector<std::string> lines_of(const std::vector<std::string>& packets) {
  std::vector<std::string> lines;
  for (const std::string& p : packets) {
    size_t pos = 0;
    while (pos <= p.size()) {
      const size_t nl = p.find('\n', pos);
      lines.push_back(p.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  return lines;
}

bool has(const std::vector<std::string>& lines, const std::string& line) {
  for (const auto& l : lines) {
    if (l == line) return true;
  }
  return false;
}

bool has_prefix(const std::vector<std::string>& lines, const std::string& prefix) {
  for (const auto& l : lines) {
    if (l.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

TEST(StatsdFormat, CountersAreDeltasSinceThePreviousFlush) {
  TestRegistry r;
  r.record({.path = "/a", .ttfb_ns = 3'000'000, .response_body = 10}, 5);
  r.record({.path = "/a",
            .status = 502,
            .response_body = 0,
            .upstream_error = metrics::UpstreamError::kConnectRefused});
  r.tick();
  StatsdFormatter f(StatsdFormatOptions{});
  std::vector<std::string> packets;
  f.format(r.registry.snapshot(), metrics::Window::k1s, true, packets);
  auto lines = lines_of(packets);
  EXPECT_TRUE(has(lines, "sidemeter.requests:6|c"));
  EXPECT_TRUE(has(lines, "sidemeter.errors:1|c"));
  EXPECT_TRUE(has(lines, "sidemeter.responses:5|c|#status_class:2xx"));
  EXPECT_TRUE(has(lines, "sidemeter.responses:1|c|#status_class:5xx"));
  EXPECT_TRUE(has(lines, "sidemeter.upstream_errors:1|c|#error_type:connect_refused"));
  EXPECT_TRUE(has(lines, "sidemeter.rps:6|g"));
  EXPECT_TRUE(has(lines, "sidemeter.upstream_up:1|g"));
  EXPECT_TRUE(has_prefix(lines, "sidemeter.latency_ms.p99:"));
  EXPECT_TRUE(has(lines, "sidemeter.response_bytes:50|c")) << packets[0];

  r.tick();
  packets.clear();
  f.format(r.registry.snapshot(), metrics::Window::k1s, false, packets);
  lines = lines_of(packets);
  EXPECT_TRUE(has(lines, "sidemeter.requests:0|c"));
  EXPECT_FALSE(has_prefix(lines, "sidemeter.responses:"));
  EXPECT_FALSE(has_prefix(lines, "sidemeter.latency_ms."));  // no data is not "0 ms"
  EXPECT_TRUE(has(lines, "sidemeter.upstream_up:0|g"));
}

TEST(StatsdFormat, PlainStatsdFoldsTagsIntoNamesAndPacketsStayBounded) {
  TestRegistry r;
  r.record({.path = "/a"}, 3);
  r.tick();
  StatsdFormatter f(StatsdFormatOptions{"app.", false, 120});
  std::vector<std::string> packets;
  f.format(r.registry.snapshot(), metrics::Window::k10s, true, packets);
  ASSERT_GT(packets.size(), 1u);
  for (const auto& p : packets) {
    EXPECT_LE(p.size(), 120u);
    EXPECT_EQ(p.find('#'), std::string::npos);
  }
  const auto lines = lines_of(packets);
  EXPECT_TRUE(has(lines, "app.responses.2xx:3|c"));
  EXPECT_TRUE(has(lines, "app.connections_active.downstream:0|g"));
}

TEST(StatsdFormat, WindowForInterval) {
  EXPECT_EQ(statsd_window_for(1), metrics::Window::k1s);
  EXPECT_EQ(statsd_window_for(10), metrics::Window::k10s);
  EXPECT_EQ(statsd_window_for(30), metrics::Window::k1m);
  EXPECT_EQ(statsd_window_for(120), metrics::Window::k5m);
}

TEST(StatsdFormat, TlsHandshakesAndTheUpstreamTlsPhase) {
  TestRegistry r;
  StatsdFormatter f(StatsdFormatOptions{});
  std::vector<std::string> packets;
  r.tick();
  f.format(r.registry.snapshot(), metrics::Window::k1s, true, packets);
  EXPECT_FALSE(has_prefix(lines_of(packets), "sidemeter.tls_"));  // plain HTTP: none
  r.shard.tls().record_handshake(metrics::TlsSide::kDownstream, metrics::TlsVersionSeen::k1_3,
                                 false, 1'000'000);
  r.shard.tls().record_handshake(metrics::TlsSide::kDownstream, metrics::TlsVersionSeen::k1_2,
                                 true, 1'000'000);
  r.shard.tls().record_failure(metrics::TlsSide::kUpstream, metrics::TlsFailure::kBadCertificate);
  r.record({.path = "/a", .connect_ns = 100'000, .tls_ns = 2'000'000});
  r.tick();
  packets.clear();
  f.format(r.registry.snapshot(), metrics::Window::k1s, true, packets);
  auto lines = lines_of(packets);
  EXPECT_TRUE(has(lines, "sidemeter.tls_handshakes:2|c|#side:downstream"));
  EXPECT_TRUE(has(lines, "sidemeter.tls_handshake_failures:1|c|#side:upstream"));
  EXPECT_FALSE(has_prefix(lines, "sidemeter.tls_handshakes:0"));
  EXPECT_TRUE(has_prefix(lines, "sidemeter.upstream_tls_handshake_ms.p50:"));
  // Deltas: nothing new, nothing sent.
  r.tick();
  packets.clear();
  f.format(r.registry.snapshot(), metrics::Window::k1s, true, packets);
  EXPECT_FALSE(has_prefix(lines_of(packets), "sidemeter.tls_"));
}

}  // namespace
}  // namespace sidemeter::stats
