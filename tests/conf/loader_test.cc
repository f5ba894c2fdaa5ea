#include <gtest/gtest.h>

#include <set>

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
via_pseudonym: "edge-1:8080"
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
  EXPECT_EQ(c.via_pseudonym, "edge-1:8080");
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

TEST(Loader, NoFileGivesTheDefaultsPlusFlags) {
  CommandLine cli;
  cli.workers = 2;
  LoadResult r = load(cli, fake_env());
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->workers, 2u);
  EXPECT_EQ(r.config->source_path, "");
  EXPECT_EQ(r.config->hash, load_text("workers: 2\n").config->hash);
}

TEST(Loader, FlagsOverrideTheFile) {
  CommandLine cli;
  cli.listen = HostPort{"127.0.0.1", 2000};
  cli.upstream = HostPort{"b", 2};
  cli.stats = HostPort{"127.0.0.1", 3000};
  cli.workers = 4;
  cli.demo = true;
  auto r = load_text(
      "listen: 127.0.0.1:1000\nworkers: 2\nupstream:\n  address: a:1\nstats:\n  address: "
      "127.0.0.1:1001\n",
      fake_env(), cli);
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->listen, (HostPort{"127.0.0.1", 2000}));
  EXPECT_EQ(r.config->upstream.address, (HostPort{"b", 2}));
  EXPECT_EQ(r.config->stats.address, (HostPort{"127.0.0.1", 3000}));
  EXPECT_EQ(r.config->workers, 4u);
  EXPECT_TRUE(r.config->demo);
  EXPECT_NE(r.config->source_path, "");
}

TEST(Loader, ACombinationBrokenByAFlagBlamesTheFlag) {
  CommandLine cli;
  cli.stats = HostPort{"127.0.0.1", 1000};
  auto r = load_text("listen: 127.0.0.1:1000\n", fake_env(), cli);
  EXPECT_EQ(r.errors, (std::vector<std::string>{
                          "--stats: stats.address and listen are both 127.0.0.1:1000"}));
}

TEST(Loader, DemoIgnoresAnUpstreamThatIsTheListener) {
  CommandLine cli;
  cli.demo = true;
  auto r = load_text("listen: 127.0.0.1:8000\n", fake_env(), cli);
  EXPECT_TRUE(r.config) << ::testing::PrintToString(r.errors);
}

TEST(Loader, NullSectionsAndStringsAreEmpty) {
  auto r = load_text("stats:\n  token:\n  statsd:\nroutes:\n  patterns:\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->stats.token, "");
  EXPECT_TRUE(r.config->routes.patterns.empty());
}

TEST(TokenFile, RelativeToTheConfigFileWithTheNewlineStripped) {
  TempDir dir;
  dir.write("token", "s3cret \r\n\n");
  CommandLine cli;
  cli.config_path = dir.write("sidemeter.yaml", "stats:\n  token_file: token\n");
  LoadResult r = load(cli, fake_env());
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->stats.token, "s3cret");
  EXPECT_EQ(r.config->stats.token_file, dir.path() + "/token");
}

TEST(TokenFile, ReadAgainAtEachLoadSoARotatedSecretChangesTheHash) {
  TempDir dir;
  dir.write("token", "one\n");
  CommandLine cli;
  cli.config_path = dir.write("sidemeter.yaml", "stats:\n  token_file: " + dir.path() + "/token\n");
  LoadResult first = load(cli, fake_env());
  dir.write("token", "two\n");
  LoadResult second = load(cli, fake_env());
  ASSERT_TRUE(first.config && second.config);
  EXPECT_EQ(second.config->stats.token, "two");
  EXPECT_NE(first.config->hash, second.config->hash);
}

TEST(TokenFile, MissingOrEmptyIsAnErrorAtTheKey) {
  TempDir dir;
  dir.write("empty", "\n");
  CommandLine cli;
  cli.config_path =
      dir.write("sidemeter.yaml", "workers: 1\nstats:\n  token_file: missing\n");
  LoadResult r = load(cli, fake_env());
  EXPECT_EQ(r.errors, (std::vector<std::string>{
                          cli.config_path + ":3:15: stats.token_file: cannot read '" +
                          dir.path() + "/missing': No such file or directory"}));
  cli.config_path = dir.write("sidemeter.yaml", "stats:\n  token_file: empty\n");
  r = load(cli, fake_env());
  EXPECT_EQ(r.errors, (std::vector<std::string>{cli.config_path + ":2:15: stats.token_file: '" +
                                                dir.path() + "/empty' is empty"}));
}

TEST(Hash, SameConfigSameHashWhateverTheSpelling) {
  auto a = load_text("workers: 2\ntimeouts:\n  tunnel_idle: 5m\n");
  auto b = load_text("# a comment\ntimeouts: {tunnel_idle: 300s}\nworkers: \"2\"\n");
  auto defaults = load_text("");
  ASSERT_TRUE(a.config && b.config && defaults.config);
  EXPECT_EQ(a.config->hash, b.config->hash);
  EXPECT_NE(a.config->hash, defaults.config->hash);
  EXPECT_EQ(a.config->hash.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(Hash, EveryKeyChangesIt) {
  std::vector<std::string> changes = {
      "listen: 0.0.0.0:8081\n",
      "workers: 1\n",
      "upstream: {address: 127.0.0.1:8001}\n",
      "upstream: {max_idle_per_worker: 1}\n",
      "upstream: {resolve_interval: 0}\n",
      "upstream: {probe_interval: 1s}\n",
      "upstream: {retry_on_stale_connection: false}\n",
      "timeouts: {request_header: 1s}\n",
      "timeouts: {upstream_connect: 1s}\n",
      "timeouts: {upstream_response: 1s}\n",
      "timeouts: {downstream_idle: 1s}\n",
      "timeouts: {upstream_idle: 1s}\n",
      "timeouts: {tunnel_idle: 1s}\n",
      "timeouts: {drain_delay: 0s}\n",
      "timeouts: {drain_timeout: 1m}\n",
      "limits: {max_request_line_bytes: 1024}\n",
      "limits: {max_header_bytes: 10000}\n",
      "limits: {max_headers: 10}\n",
      "limits: {max_request_body_bytes: 10}\n",
      "limits: {max_connections: 10}\n",
      "stats: {address: 127.0.0.1:9902}\n",
      "stats: {token: a}\n",
      "stats: {stream_interval: 2s}\n",
      "stats: {max_connections: 10}\n",
      "stats: {idle_timeout: 10s}\n",
      "stats: {statsd: {address: 127.0.0.1:8125}}\n",
      "stats: {statsd: {interval: 1s}}\n",
      "stats: {statsd: {flavor: statsd}}\n",
      "stats: {statsd: {prefix: x}}\n",
      "stats: {histogram_buckets: {request_duration: [0.1]}}\n",
      "stats: {histogram_buckets: {route_request_duration: []}}\n",
      "routes: {patterns: [/a]}\n",
      "routes: {max: 10}\n",
      "routes: {admission: {hits: 6}}\n",
      "routes: {admission: {window: 30s}}\n",
      "routes: {eviction: {min_idle: 1m}}\n",
      "alerts: {default_rules: false}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s}]}\n",
      "alerts: {rules: [{name: b, figure: latency.p99, warning: 1s}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p95, warning: 1s}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s, when: below}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 2s}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s, warning_resolve: 1ms}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s, critical: 3s}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, critical: 1s, critical_resolve: 1ms}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s, window: 5m}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s, for: 0s}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s, keep_firing_for: 1m}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s, min_requests: 5}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s, route: /a}]}\n",
      "alerts: {rules: [{name: a, figure: latency.p99, warning: 1s, method: GET}]}\n",
      "alerts: {labels: {pod: p1}}\n",
      "alerts: {delivery: {alertmanager_urls: [\"http://127.0.0.1:9093\"]}}\n",
      "alerts: {delivery: {webhook_urls: [\"http://127.0.0.1:9093\"]}}\n",
      "alerts: {delivery: {resend_interval: 5m}}\n",
      "alerts: {delivery: {timeout: 1s}}\n",
      "alerts: {delivery: {queue_max: 5}}\n",
      "slos: [{name: a, objective: 99%}]\n",
      "slos: [{name: b, objective: 99%}]\n",
      "slos: [{name: a, objective: 99%, kind: latency, threshold: 1s}]\n",
      "slos: [{name: a, objective: 99.5%}]\n",
      "slos: [{name: a, objective: 99%, kind: latency, threshold: 2s}]\n",
      "slos: [{name: a, objective: 99%, route: /a}]\n",
      "slos: [{name: a, objective: 99%, method: GET}]\n",
      "access_log: {path: stderr}\n",
      "access_log: {sample_rate: 10%}\n",
      "access_log: {always_log_errors: false}\n",
      "access_log: {slow: 1s}\n",
      "access_log: {include_query: true}\n",
      "access_log: {queue_max_bytes: 65536}\n",
      "via_pseudonym: edge-1\n",
      "measure: false\n",
      "proxy_protocol: v1\n",
      "trusted_proxies: [10.0.0.0/8]\n",
  };
  // The TLS keys that name files need real ones.
  TempDir dir;
  const std::string a = dir.write("a.crt", "x"), b = dir.write("b.crt", "x");
  const std::string k = dir.write("a.key", "x"), l = dir.write("b.key", "x");
  const std::string ca = dir.write("ca.pem", "x"), ca2 = dir.write("ca2.pem", "x");
  const auto cert = [](const std::string& crt, const std::string& key) {
    std::string out = "certificates: [{certificate_file: ";
    return out.append(crt).append(", private_key_file: ").append(key).append("}]");
  };
  const auto braces = [](std::string section, const std::string& inner) {
    return section.append(": {").append(inner).append("}\n");
  };
  for (const std::string& inner :
       {cert(a, k), cert(b, k), cert(a, l), std::string("min_version: TLSv1.3"),
        std::string("ciphers: ECDHE-RSA-AES128-GCM-SHA256"),
        std::string("ciphersuites: TLS_AES_128_GCM_SHA256"),
        cert(a, k) + ", client_certificate: optional, client_ca_file: " + ca,
        cert(a, k) + ", client_certificate: optional, client_ca_file: " + ca2,
        std::string("session_tickets: false"), std::string("session_ticket_rotation: 2h"),
        std::string("session_cache_size: 0"), std::string("handshake_timeout: 1s")})
    changes.push_back(braces("tls", inner));
  for (const std::string& inner :
       {std::string("enabled: true"), "ca_file: " + ca, std::string("server_name: app"),
        std::string("verify: false"), "certificate_file: " + a + ", private_key_file: " + k,
        "certificate_file: " + a + ", private_key_file: " + l,
        std::string("min_version: TLSv1.3"), std::string("session_resumption: false")})
    changes.push_back(std::string("upstream: {tls: {") + inner + "}}\n");
  std::set<std::string> hashes{load_text("").config->hash};
  for (const std::string& yaml : changes) {
    auto r = load_text(yaml);
    ASSERT_TRUE(r.config) << yaml << ::testing::PrintToString(r.errors);
    EXPECT_TRUE(hashes.insert(r.config->hash).second) << yaml;
  }
  // One per key: a key added to the schema without a line here fails this.
  EXPECT_EQ(std::size(changes), schema_keys().size() - 1);  // token_file: see TokenFile tests
}

// A reload puts the file in force but for the restart-only keys, which keep what runs;
// the hash names that effective config, and the restart warning compares against it.
TEST(RestartOnly, ReloadKeepsRunningValuesAndHashesWhatRuns) {
  auto running = load_text("workers: 2\ntimeouts: {tunnel_idle: 1s}\n");
  auto file = load_text("workers: 3\ntimeouts: {tunnel_idle: 2s}\nmeasure: false\n");
  ASSERT_TRUE(running.config && file.config);
  const Config effective = keep_restart_only_keys(*running.config, *file.config);
  EXPECT_EQ(effective.workers, 2u);
  EXPECT_TRUE(effective.measure);
  EXPECT_EQ(effective.timeouts.tunnel_idle_ms, 2000u);  // live keys come from the file
  EXPECT_NE(effective.hash, file.config->hash);
  auto same_as_effective = load_text("workers: 2\ntimeouts: {tunnel_idle: 2s}\n");
  ASSERT_TRUE(same_as_effective.config);
  EXPECT_EQ(effective.hash, same_as_effective.config->hash);
  // The file still disagrees with what runs: the warning stays on the next reload too.
  EXPECT_EQ(restart_only_changes(effective, *file.config),
            (std::vector<std::string>{"workers", "measure"}));
  // Putting the running value back in the file is no change at all.
  EXPECT_TRUE(restart_only_changes(effective, *same_as_effective.config).empty());
}

TEST(RestartOnly, NamesTheKeysThatCannotApplyLive) {
  auto a = load_text("");
  auto b = load_text(
      "listen: 0.0.0.0:1\nworkers: 3\nstats: {address: 127.0.0.1:2, token: x}\n"
      "timeouts: {tunnel_idle: 1s}\nroutes: {max: 7, patterns: ['/a/{id}']}\nmeasure: false\n");
  ASSERT_TRUE(a.config && b.config);
  EXPECT_EQ(restart_only_changes(*a.config, *b.config),
            (std::vector<std::string>{"listen", "workers", "stats.address", "routes.max",
                                      "measure"}));
  EXPECT_TRUE(restart_only_changes(*a.config, *a.config).empty());
  Config demo = *a.config;
  demo.demo = true;
  EXPECT_EQ(restart_only_changes(*a.config, demo), (std::vector<std::string>{"demo"}));
}
