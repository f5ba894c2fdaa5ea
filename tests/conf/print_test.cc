#include <gtest/gtest.h>

#include <algorithm>

#include "conf/config.h"
#include "conf/schema.h"
#include "tests/conf/load_text.h"

using namespace sidemeter::conf;
using namespace sidemeter::conf::testing;

namespace {

// print_config without its leading comment lines.
std::string body(const std::string& printed) {
  size_t pos = 0;
  while (printed.compare(pos, 1, "#") == 0) pos = printed.find('\n', pos) + 1;
  return printed.substr(pos);
}

}  // namespace

TEST(PrintConfig, TheDefaultsInTheSchemasShape) {
  Config defaults;
  EXPECT_EQ(body(print_config(defaults)), R"(listen: "0.0.0.0:8080"
workers: 0
tls:
  certificates: []
  min_version: TLSv1.2
  ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
  ciphersuites: "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
  client_certificate: none
  client_ca_file: ""
  session_tickets: true
  session_ticket_rotation: 1h
  session_cache_size: 20480
  handshake_timeout: 10s
proxy_protocol: off
trusted_proxies: []
upstream:
  address: "127.0.0.1:8000"
  max_idle_per_worker: 1024
  resolve_interval: 10s
  probe_interval: 2s
  retry_on_stale_connection: true
  tls:
    enabled: false
    ca_file: ""
    server_name: ""
    verify: true
    certificate_file: ""
    private_key_file: ""
    min_version: TLSv1.2
    session_resumption: true
timeouts:
  request_header: 10s
  upstream_connect: 5s
  upstream_response: 1m
  downstream_idle: 1m
  upstream_idle: 4s
  tunnel_idle: 5m
  drain_delay: 1s
  drain_timeout: 30s
limits:
  max_request_line_bytes: 8192
  max_header_bytes: 65536
  max_headers: 100
  max_request_body_bytes: 0
  max_connections: 20000
stats:
  address: "127.0.0.1:9901"
  token: ""
  token_file: ""
  stream_interval: 1s
  max_connections: 1024
  idle_timeout: 30s
  statsd:
    address: ""
    interval: 10s
    flavor: dogstatsd
    prefix: "sidemeter."
  histogram_buckets:
    request_duration: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.0035, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 60]
    route_request_duration: [0.005, 0.025, 0.1, 0.25, 1, 5]
routes:
  patterns: []
  max: 100
  admission:
    hits: 5
    window: 1m
  eviction:
    min_idle: 5m
alerts:
  default_rules: true
  rules: []
  labels: {}
  delivery:
    alertmanager_urls: []
    webhook_urls: []
    resend_interval: 1m
    timeout: 10s
    queue_max: 1000
slos: []
access_log:
  path: ""
  sample_rate: 100%
  always_log_errors: true
  slow: 0s
  include_query: false
  queue_max_bytes: 4194304
via_pseudonym: "sidemeter"
measure: true
)");
}

TEST(PrintConfig, SaysWhereFromAndTheHash) {
  auto r = load_text("workers: 1\n");
  ASSERT_TRUE(r.config);
  std::string printed = print_config(*r.config);
  EXPECT_EQ(printed.rfind("# sidemeter effective configuration from " + r.config->source_path +
                              ", hash " + r.config->hash + "\n",
                          0),
            0u)
      << printed;
}

TEST(PrintConfig, DurationsInTheirNaturalUnit) {
  auto r = load_text("timeouts: {request_header: 250ms, upstream_connect: 1500ms, tunnel_idle: 120m,"
                     " drain_timeout: 7200s}\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  std::string printed = print_config(*r.config);
  for (const char* line : {"  request_header: 250ms\n", "  upstream_connect: 1500ms\n",
                           "  tunnel_idle: 2h\n", "  drain_timeout: 2h\n"})
    EXPECT_NE(printed.find(line), std::string::npos) << line << printed;
}

TEST(PrintConfig, EveryKeyOfTheSchema) {
  // One rule and one SLO with every optional key, so the item keys show too, and one
  // certificate.
  TempDir dir;
  const std::string crt = dir.write("tls.crt", "x"), key = dir.write("tls.key", "x");
  auto r = load_text(
      std::string("tls:\n  certificates: [{certificate_file: ") + crt + ", private_key_file: " + key + "}]\n"
      "alerts:\n  rules: [{name: a, figure: latency.p99, warning: 2s, warning_resolve: 1s,"
      " critical: 4s, critical_resolve: 3s, route: /a, method: GET}]\n"
      "slos: [{name: s, kind: latency, objective: 99%, threshold: 1s, route: /a,"
      " method: GET}]\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const std::string printed = print_config(*r.config);
  for (const std::string& key : schema_keys()) {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "\n" + ... chains.
    size_t dots = static_cast<size_t>(std::count(key.begin(), key.end(), '.'));
    std::string line(1, '\n');
    line.append(2 * dots, ' ');
    line.append(key, key.rfind('.') + 1).push_back(':');
    // An item key: "    - name: " or "      figure: ".
    std::string first = line, other = line;
    if (dots > 0) {
      first.insert(1 + 2 * dots, "- ");
      other.insert(1 + 2 * dots, "  ");
    }
    bool found = false;
    for (const std::string& l : {line, first, other}) {
      // "key: value", or "key:" opening a block list
      found = found || printed.find(l + " ") != std::string::npos ||
              printed.find(l + "\n") != std::string::npos;
    }
    EXPECT_TRUE(found) << key << "\n" << printed;
  }
}

TEST(PrintConfig, RedactsTheTokenAndRoundTrips) {
  auto r = load_text(
      "stats:\n  token: \"${T}\"\n  statsd: {address: \"[::1]:8125\", prefix: a-b}\n"
      "routes:\n  patterns: [\"/users/{id}\", \"/static/{*}\"]\nlisten: \"[::]:0\"\n",
      fake_env({{"T", "s3cret"}}));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  std::string printed = print_config(*r.config);
  EXPECT_EQ(printed.find("s3cr"), std::string::npos) << printed;
  const std::string redacted = "token: \"<redacted>\"";
  auto at = printed.find(redacted);
  ASSERT_NE(at, std::string::npos) << printed;
  printed.replace(at, redacted.size(), "token: \"${T}\"");
  auto again = load_text(printed, fake_env({{"T", "s3cret"}}));
  ASSERT_TRUE(again.config) << ::testing::PrintToString(again.errors) << printed;
  EXPECT_EQ(again.config->hash, r.config->hash);
  EXPECT_EQ(again.config->stats, r.config->stats);
  EXPECT_EQ(again.config->routes, r.config->routes);
}

TEST(PrintConfig, ATokenFromAFileRoundTripsThroughTheFile) {
  TempDir dir;
  dir.write("token", "s3cret\n");
  CommandLine cli;
  cli.config_path = dir.write("a.yaml", "stats:\n  token_file: token\n");
  LoadResult r = load(cli, fake_env());
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  std::string printed = print_config(*r.config);
  EXPECT_EQ(printed.find("s3cret"), std::string::npos) << printed;
  EXPECT_NE(printed.find("  token: \"\"\n  token_file: \"" + dir.path() + "/token\"\n"),
            std::string::npos)
      << printed;
  cli.config_path = dir.write("b.yaml", printed);
  LoadResult again = load(cli, fake_env());
  ASSERT_TRUE(again.config) << ::testing::PrintToString(again.errors);
  EXPECT_EQ(again.config->hash, r.config->hash);
}

TEST(PrintConfig, QuotesAndBackslashesAreEscaped) {
  Config c;
  c.routes.patterns = {"/a\"b\\c"};
  std::string printed = print_config(c);
  auto again = load_text(printed);
  ASSERT_TRUE(again.config) << ::testing::PrintToString(again.errors) << printed;
  EXPECT_EQ(again.config->routes.patterns, c.routes.patterns);
}

// Found by tests/fuzz/config_fuzzer: a literal "${" (written "$${" in the file) was
// printed as "${", which the loader then took for a variable reference.
TEST(PrintConfig, ALiteralDollarBraceRoundTrips) {
  // file text -> value: "$${" is a literal "${"; a '$' before it stays a '$'.
  for (const auto& [text, value] : std::vector<std::pair<std::string, std::string>>{
           {"$${NOT_SET}", "${NOT_SET}"}, {"a$$${b}", "a$${b}"}, {"$$", "$$"}}) {
    auto r = load_text("stats:\n  token: \"" + text + "\"\n");
    ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
    EXPECT_EQ(r.config->stats.token, value);
    const std::string printed = dump_config(*r.config, false);
    auto again = load_text(printed);
    ASSERT_TRUE(again.config) << ::testing::PrintToString(again.errors) << printed;
    EXPECT_EQ(again.config->stats.token, value) << printed;
    EXPECT_EQ(again.config->hash, r.config->hash);
  }
}

TEST(PrintConfig, ControlCharactersAreEscaped) {
  Config c;
  c.routes.patterns = {"/a\x01"};
  EXPECT_NE(print_config(c).find("patterns: [\"/a\\x01\"]"), std::string::npos);
}
