// Every class of load error, with its exact position and text.
#include <gtest/gtest.h>

#include "conf/config.h"
#include "tests/conf/load_text.h"

using namespace sidemeter::conf;
using namespace sidemeter::conf::testing;

TEST(LoaderErrors, MissingFile) {
  CommandLine cli;
  cli.config_path = "/nonexistent/sidemeter.yaml";
  LoadResult r = load(cli, fake_env());
  EXPECT_EQ(r.config, nullptr);
  EXPECT_EQ(r.errors, (std::vector<std::string>{
                          "/nonexistent/sidemeter.yaml: cannot read file: No such file or directory"}));
}

TEST(LoaderErrors, DirectoryInsteadOfFile) {
  TempDir dir;
  CommandLine cli;
  cli.config_path = dir.path();
  LoadResult r = load(cli, fake_env());
  EXPECT_EQ(r.errors, (std::vector<std::string>{dir.path() + ": cannot read file: Is a directory"}));
}

TEST(LoaderErrors, YamlSyntaxIsOneErrorWithItsPosition) {
  EXPECT_EQ(error_of("workers: 1\nlisten: [\n"), "F:3:1: end of sequence flow not found");
  EXPECT_EQ(error_of("workers: 1\n  bad indent: 2\n"), "F:2:13: illegal map value");
}

TEST(LoaderErrors, UnknownKeysWithSuggestions) {
  EXPECT_EQ(error_of("upstrem:\n  address: a:1\n"),
            "F:1:1: unknown key 'upstrem' in top level (did you mean 'upstream'?)");
  EXPECT_EQ(error_of("upstream:\n  adress: a:1\n"),
            "F:2:3: unknown key 'adress' in upstream (did you mean 'address'?)");
  EXPECT_EQ(error_of("stats:\n  statsd:\n    falvor: statsd\n"),
            "F:3:5: unknown key 'falvor' in stats.statsd (did you mean 'flavor'?)");
  EXPECT_EQ(error_of("Listen: 1.2.3.4:5\n"),
            "F:1:1: unknown key 'Listen' in top level (did you mean 'listen'?)");
  EXPECT_EQ(error_of("frobnicate: 1\n"), "F:1:1: unknown key 'frobnicate' in top level");
  // A leaf name is not accepted as a section and vice versa.
  EXPECT_EQ(error_of("address: a:1\n"), "F:1:1: unknown key 'address' in top level");
}

TEST(LoaderErrors, KeysFromTheOldSchemaSayWhereTheyWent) {
  EXPECT_EQ(error_of("route_cap: 4000000000\n"),
            "F:1:1: unknown key 'route_cap' in top level (it is now routes.max)");
  EXPECT_EQ(error_of("upstream_pool:\n  max_idle_per_worker: 1\n"),
            "F:1:1: unknown key 'upstream_pool' in top level (its keys moved into upstream:)");
  EXPECT_EQ(error_of("upstream: 127.0.0.1:8000\n"),
            "F:1:11: upstream must be a mapping, got the scalar '127.0.0.1:8000' (did you mean "
            "'upstream: {address: 127.0.0.1:8000}'?)");
}

TEST(LoaderErrors, WrongTypes) {
  EXPECT_EQ(error_of("limits: 5\n"), "F:1:9: limits must be a mapping, got the scalar '5'");
  EXPECT_EQ(error_of("- a\n- b\n"), "F:1:1: top level must be a mapping, got a list");
  EXPECT_EQ(error_of("workers: {a: 1}\n"), "F:1:10: workers must be a single value, got a mapping");
  EXPECT_EQ(error_of("listen: [a]\n"), "F:1:9: listen must be a single value, got a list");
  EXPECT_EQ(error_of("workers: many\n"), "F:1:10: workers: expected a number 0-256, got 'many'");
  EXPECT_EQ(error_of("workers: -1\n"), "F:1:10: workers must be 0-256, got -1");
  EXPECT_EQ(error_of("workers: 0x10\n"), "F:1:10: workers: expected a number 0-256, got '0x10'");
  EXPECT_EQ(error_of("workers: 2.0\n"), "F:1:10: workers: expected a number 0-256, got '2.0'");
  EXPECT_EQ(error_of("workers: +2\n"), "F:1:10: workers: expected a number 0-256, got '+2'");
  EXPECT_EQ(error_of("workers:\n"), "F:1:1: workers: missing value (expected a number 0-256)");
  EXPECT_EQ(error_of("measure: yes\n"), "F:1:10: measure: expected true or false, got 'yes'");
  EXPECT_EQ(error_of("measure: ture\n"), "F:1:10: measure: expected true or false, got 'ture'");
  EXPECT_EQ(error_of("routes:\n  patterns: /a\n"),
            "F:2:13: routes.patterns must be a list, got the scalar '/a'");
  EXPECT_EQ(error_of("routes:\n  patterns: [[/a]]\n"),
            "F:2:14: routes.patterns entries must be strings, got a list");
  EXPECT_EQ(error_of("stats:\n  statsd:\n    flavor: datadog\n"),
            "F:3:13: stats.statsd.flavor: expected dogstatsd or statsd, got 'datadog'");
  EXPECT_EQ(error_of("[a]: 1\n"), "F:1:1: keys in top level must be names, got a list");
}

TEST(LoaderErrors, ASectionOfTheWrongTypeReportsOnce) {
  auto r = load_text("timeouts: [1s, 2s, 3s]\n");
  EXPECT_EQ(r.errors, (std::vector<std::string>{
                          "F:1:11: timeouts must be a mapping, got a list"}));
}

TEST(LoaderErrors, DuplicateKeys) {
  EXPECT_EQ(error_of("workers: 1\nworkers: 2\n"), "F:2:1: duplicate key 'workers' in top level");
}

TEST(LoaderErrors, NumbersOutOfBounds) {
  EXPECT_EQ(error_of("routes:\n  max: 4000000000\n"), "F:2:8: routes.max must be 1-10000, got 4000000000");
  EXPECT_EQ(error_of("routes:\n  max: 99999999999999999999999\n"),
            "F:2:8: routes.max must be 1-10000, got 99999999999999999999999");
  EXPECT_EQ(error_of("routes:\n  max: 0\n"), "F:2:8: routes.max must be 1-10000, got 0");
  EXPECT_EQ(error_of("workers: 257\n"), "F:1:10: workers must be 0-256, got 257");
  EXPECT_EQ(error_of("limits:\n  max_header_bytes: 512\n"),
            "F:2:21: limits.max_header_bytes must be 1024-1048576, got 512");
  EXPECT_EQ(error_of("limits:\n  max_headers: 0\n"),
            "F:2:16: limits.max_headers must be 1-10000, got 0");
  EXPECT_EQ(error_of("limits:\n  max_connections: 1000001\n"),
            "F:2:20: limits.max_connections must be 1-1000000, got 1000001");
  EXPECT_EQ(error_of("upstream:\n  max_idle_per_worker: 100001\n"),
            "F:2:24: upstream.max_idle_per_worker must be 0-100000, got 100001");
}

TEST(LoaderErrors, Durations) {
  EXPECT_EQ(error_of("timeouts:\n  request_header: 5124095576030432h\n"),
            "F:2:19: timeouts.request_header: '5124095576030432h': too large");
  EXPECT_EQ(error_of("timeouts:\n  request_header: 25h\n"),
            "F:2:19: timeouts.request_header must be 1ms-24h, got 25h");
  EXPECT_EQ(error_of("timeouts:\n  request_header: 0\n"),
            "F:2:19: timeouts.request_header must be 1ms-24h, got 0");
  EXPECT_EQ(error_of("timeouts:\n  request_header: 10\n"),
            "F:2:19: timeouts.request_header: '10': missing unit (ms, s, m or h), e.g. 10s");
  EXPECT_EQ(error_of("timeouts:\n  request_header: soon\n"),
            "F:2:19: timeouts.request_header: 'soon': expected a duration like 250ms, 10s, 5m, 1h");
  EXPECT_EQ(error_of("upstream:\n  probe_interval: 10ms\n"),
            "F:2:19: upstream.probe_interval must be 100ms-1h, got 10ms");
  EXPECT_EQ(error_of("upstream:\n  resolve_interval: 500ms\n"),
            "F:2:21: upstream.resolve_interval must be 0 or 1s-24h, got 500ms");
  EXPECT_EQ(error_of("stats:\n  statsd:\n    interval: 1500ms\n"),
            "F:3:15: stats.statsd.interval must be whole seconds, got 1500ms");
  EXPECT_EQ(error_of("stats:\n  stream_interval: 2m\n"),
            "F:2:20: stats.stream_interval must be 1s-1m, got 2m");
}

TEST(LoaderErrors, Addresses) {
  EXPECT_EQ(error_of("listen: nowhere\n"), "F:1:9: listen: 'nowhere': expected HOST:PORT");
  EXPECT_EQ(error_of("upstream:\n  address: backend:0\n"),
            "F:2:12: upstream.address: port must be 1-65535, got backend:0");
  EXPECT_EQ(error_of("upstream:\n  address: \"\"\n"),
            "F:2:12: upstream.address: missing value (expected HOST:PORT)");
  EXPECT_EQ(error_of("stats:\n  statsd:\n    address: statsd:0\n"),
            "F:3:14: stats.statsd.address: port must be 1-65535, got statsd:0");
}

TEST(LoaderErrors, RoutePatterns) {
  EXPECT_EQ(error_of("routes:\n  patterns: [users]\n"),
            "F:2:14: route pattern 'users' must start with '/'");
  EXPECT_EQ(error_of("routes:\n  patterns: [\"/a/{id\"]\n"),
            "F:2:14: route pattern '/a/{id' has unbalanced braces or a {parameter} that is not "
            "a whole segment");
  EXPECT_EQ(error_of("routes:\n  patterns: [\"/a/x{id}\"]\n"),
            "F:2:14: route pattern '/a/x{id}' has unbalanced braces or a {parameter} that is "
            "not a whole segment");
  EXPECT_EQ(error_of("routes:\n  patterns: [\"/{*}/a\"]\n"),
            "F:2:14: route pattern '/{*}/a' may have {*} only as its last segment");
  EXPECT_EQ(error_of("routes:\n  patterns: [\"/a//b\"]\n"),
            "F:2:14: route pattern '/a//b' has an empty segment ('//')");
  EXPECT_EQ(error_of("routes:\n  patterns: [\"/{1d}\"]\n"),
            "F:2:14: route pattern '/{1d}' has an invalid parameter name '{1d}'");
  EXPECT_EQ(error_of("routes:\n  patterns:\n    - /a\n    - /a\n"),
            "F:4:7: route pattern '/a' is listed twice");
}

TEST(LoaderErrors, Combinations) {
  EXPECT_EQ(error_of("timeouts:\n  drain_delay: 10s\n  drain_timeout: 5s\n"),
            "F:3:18: timeouts.drain_timeout (5s) must not be shorter than timeouts.drain_delay (10s)");
  // Only the other key in the file: the error points at it.
  EXPECT_EQ(error_of("timeouts:\n  drain_delay: 1h\n"),
            "F:2:16: timeouts.drain_timeout (30s) must not be shorter than timeouts.drain_delay (1h)");
  // Lowering the head limit alone is fine: it bounds the request line too.
  EXPECT_TRUE(load_text("limits:\n  max_header_bytes: 2048\n").errors.empty());
  EXPECT_EQ(error_of("listen: 127.0.0.1:9901\n"),
            "F:1:9: stats.address and listen are both 127.0.0.1:9901");
  EXPECT_EQ(error_of("listen: 127.0.0.1:8000\n"),
            "F:1:9: upstream.address is listen (127.0.0.1:8000): requests would loop through "
            "sidemeter");
  EXPECT_EQ(error_of("routes:\n  max: 1\n  patterns: [/a, /b]\n"),
            "F:3:13: 2 route patterns but routes.max is 1");
  // Port 0 means "any free port": two of them never collide.
  auto r = load_text("listen: 127.0.0.1:0\nstats:\n  address: 127.0.0.1:0\n");
  EXPECT_TRUE(r.config) << ::testing::PrintToString(r.errors);
}

TEST(LoaderErrors, TokenAndTokenFileAreExclusive) {
  TempDir dir;
  dir.write("token", "x\n");
  EXPECT_EQ(error_of("stats:\n  token: a\n  token_file: " + dir.path() + "/token\n"),
            "F:3:15: stats.token and stats.token_file are mutually exclusive");
}

TEST(LoaderErrors, Tokens) {
  EXPECT_EQ(error_of("stats:\n  token: \"a b\"\n"),
            "F:2:10: stats.token must be printable ASCII without spaces (it is compared with an "
            "Authorization header)");
  EXPECT_EQ(error_of("stats:\n  statsd:\n    prefix: \"a:b\"\n"),
            "F:3:13: stats.statsd.prefix may contain only letters, digits, '.', '_' and '-'");
}

// Via's received-by (RFC 9110 §7.6.3): a token, optionally ":PORT".
TEST(LoaderErrors, ViaPseudonym) {
  const std::string token_rule =
      "must be a token (letters, digits, !#$%&'*+-.^_`|~), optionally followed by :PORT";
  EXPECT_EQ(error_of("via_pseudonym: \"a b\"\n"), "F:1:16: via_pseudonym " + token_rule);
  EXPECT_EQ(error_of("via_pseudonym: \"a,b\"\n"), "F:1:16: via_pseudonym " + token_rule);
  EXPECT_EQ(error_of("via_pseudonym: \":80\"\n"), "F:1:16: via_pseudonym " + token_rule);
  EXPECT_EQ(error_of("via_pseudonym: \"a:8x\"\n"),
            "F:1:16: via_pseudonym must be a token, optionally followed by :PORT (1-5 digits)");
  EXPECT_EQ(error_of("via_pseudonym: \"\"\n"),
            "F:1:16: via_pseudonym must not be empty (RFC 9110 requires a Via on forwarded "
            "messages)");
  EXPECT_EQ(error_of("via_pseudonym: " + std::string(101, 'a') + "\n"),
            "F:1:16: via_pseudonym is longer than 100 characters");
  for (const char* ok : {"edge", "proxy.example.com:8080", "a!#$%&'*+-.^_`|~9"}) {
    auto r = load_text(std::string("via_pseudonym: \"") + ok + "\"\n");
    ASSERT_TRUE(r.config) << ok << ::testing::PrintToString(r.errors);
    EXPECT_EQ(r.config->via_pseudonym, ok);
  }
}

TEST(LoaderErrors, ManyErrorsInFileOrder) {
  auto r = load_text(R"(listen: 0.0.0.0:99999
workers: 300
upstream:
  address: backend
  retry_on_stale_connection: maybe
timeouts:
  tunnel_idle: forever
limits: []
stats:
  statsd:
    interval: 0s
routes:
  max: 4000000000
  patterns: [x]
mesure: true
)");
  EXPECT_EQ(r.config, nullptr);
  EXPECT_EQ(r.errors, (std::vector<std::string>{
      "F:1:9: listen: '0.0.0.0:99999': port must be a number 0-65535",
      "F:2:10: workers must be 0-256, got 300",
      "F:4:12: upstream.address: 'backend': expected HOST:PORT",
      "F:5:30: upstream.retry_on_stale_connection: expected true or false, got 'maybe'",
      "F:7:16: timeouts.tunnel_idle: 'forever': expected a duration like 250ms, 10s, 5m, 1h",
      "F:8:9: limits must be a mapping, got a list",
      "F:11:15: stats.statsd.interval must be 1s-1h, got 0s",
      "F:13:8: routes.max must be 1-10000, got 4000000000",
      "F:14:14: route pattern 'x' must start with '/'",
      "F:15:1: unknown key 'mesure' in top level (did you mean 'measure'?)",
  }));
}
