#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "conf/config.h"

using namespace sidemeter::conf;

namespace {

// A YAML file in the test's temp dir, removed at the end of the test.
class TempYaml {
 public:
  explicit TempYaml(const std::string& text) {
    char tmpl[] = "/tmp/sidemeter-conf-XXXXXX";
    int fd = mkstemp(tmpl);
    path_ = tmpl;
    close(fd);
    std::ofstream(path_) << text;
  }
  ~TempYaml() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string error_of(const std::string& yaml) {
  TempYaml f(yaml);
  Config cfg;
  try {
    load_yaml_file(f.path(), cfg);
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    return msg.substr(f.path().size());  // drop the temp path, keep ":line:col: ..."
  }
  return "no error";
}

}  // namespace

TEST(HostPort, ParsesIpv4NamesAndIpv6) {
  auto a = parse_host_port("127.0.0.1:8080");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  auto b = parse_host_port("backend.default.svc:80");
  EXPECT_EQ(b.host, "backend.default.svc");
  auto c = parse_host_port("[::1]:0");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.to_string(), "[::1]:0");
  EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
}

TEST(HostPort, RejectsMalformed) {
  for (const char* bad : {"127.0.0.1", ":80", "host:", "host:65536", "host:8x", "[::1]80", "[::1"})
    EXPECT_THROW(parse_host_port(bad), ConfigError) << bad;
}

TEST(Duration, UnitsAndErrors) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250u);
  EXPECT_EQ(parse_duration_ms("10s"), 10'000u);
  EXPECT_EQ(parse_duration_ms("5"), 5'000u);
  EXPECT_EQ(parse_duration_ms("2m"), 120'000u);
  EXPECT_EQ(parse_duration_ms("1h"), 3'600'000u);
  EXPECT_THROW(parse_duration_ms("10 s"), ConfigError);
  EXPECT_THROW(parse_duration_ms("fast"), ConfigError);
  EXPECT_THROW(parse_duration_ms("3d"), ConfigError);
}

TEST(Yaml, LoadsEverySection) {
  TempYaml f(R"(listen: 127.0.0.1:0
upstream: backend:9000
stats: "[::1]:9901"
workers: 3
route_cap: 50
measure: false
limits: {max_request_line_bytes: 100, max_header_bytes: 2000, max_headers: 7,
         max_request_body_bytes: 1024, max_connections: 5}
timeouts:
  request_header: 250ms
  upstream_connect: 1s
  upstream_response: 2s
  downstream_idle: 3s
  upstream_idle: 4s
  tunnel_idle: 5s
  drain_delay: 0s
  drain_timeout: 7s
upstream_pool: {max_idle_per_worker: 9, resolve_interval: 1m}
)");
  Config cfg;
  load_yaml_file(f.path(), cfg);
  EXPECT_EQ(cfg.listen.port, 0);
  EXPECT_EQ(cfg.upstream.host, "backend");
  EXPECT_TRUE(cfg.upstream_given);
  EXPECT_EQ(cfg.stats.host, "::1");
  EXPECT_EQ(cfg.workers, 3u);
  EXPECT_EQ(cfg.route_cap, 50u);
  EXPECT_FALSE(cfg.measure);
  EXPECT_EQ(cfg.limits.max_request_line_bytes, 100u);
  EXPECT_EQ(cfg.limits.max_header_bytes, 2000u);
  EXPECT_EQ(cfg.limits.max_headers, 7u);
  EXPECT_EQ(cfg.limits.max_request_body_bytes, 1024u);
  EXPECT_EQ(cfg.limits.max_connections, 5u);
  EXPECT_EQ(cfg.timeouts.request_header_ms, 250u);
  EXPECT_EQ(cfg.timeouts.upstream_connect_ms, 1000u);
  EXPECT_EQ(cfg.timeouts.upstream_response_ms, 2000u);
  EXPECT_EQ(cfg.timeouts.downstream_idle_ms, 3000u);
  EXPECT_EQ(cfg.timeouts.upstream_idle_ms, 4000u);
  EXPECT_EQ(cfg.timeouts.tunnel_idle_ms, 5000u);
  EXPECT_EQ(cfg.timeouts.drain_delay_ms, 0u);
  EXPECT_EQ(cfg.timeouts.drain_timeout_ms, 7000u);
  EXPECT_EQ(cfg.pool.max_idle_per_worker, 9u);
  EXPECT_EQ(cfg.pool.resolve_interval_ms, 60'000u);
}

TEST(Yaml, ErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("listen: 127.0.0.1:80\nlisten_typo: 1\n"),
            ":2:1: unknown key 'listen_typo' in top level");
  EXPECT_EQ(error_of("timeouts:\n  request_header: soon\n"),
            ":2:19: request_header: 'soon': expected a duration like 250ms, 10s, 5m");
  EXPECT_EQ(error_of("workers: many\n"), ":1:10: workers: invalid value 'many'");
  EXPECT_EQ(error_of("limits: 5\n"), ":1:9: limits must be a mapping");
  EXPECT_NE(error_of("listen: [\n").find(":2:1:"), std::string::npos);
}

TEST(Yaml, MissingFileIsAClearError) {
  Config cfg;
  try {
    load_yaml_file("/nonexistent/sidemeter.yaml", cfg);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/sidemeter.yaml: cannot read file");
  }
}

TEST(CommandLine, FlagsOverrideTheFile) {
  TempYaml f("listen: 127.0.0.1:1000\nworkers: 2\n");
  Config cfg;
  const char* argv[] = {"sidemeter", "--workers", "4", "--config", f.path().c_str(),
                        "--listen=127.0.0.1:2000"};
  EXPECT_EQ(parse_command_line(6, argv, cfg), CliAction::kRun);
  EXPECT_EQ(cfg.listen.port, 2000);
  EXPECT_EQ(cfg.workers, 4u);
  EXPECT_FALSE(cfg.upstream_given);
}

TEST(CommandLine, HelpVersionAndErrors) {
  Config cfg;
  const char* help[] = {"sidemeter", "--help"};
  EXPECT_EQ(parse_command_line(2, help, cfg), CliAction::kHelp);
  const char* version[] = {"sidemeter", "--version"};
  EXPECT_EQ(parse_command_line(2, version, cfg), CliAction::kVersion);
  const char* unknown[] = {"sidemeter", "--frobnicate", "1"};
  EXPECT_THROW(parse_command_line(3, unknown, cfg), ConfigError);
  const char* missing[] = {"sidemeter", "--upstream"};
  EXPECT_THROW(parse_command_line(2, missing, cfg), ConfigError);
  const char* workers[] = {"sidemeter", "--workers", "-1"};
  EXPECT_THROW(parse_command_line(3, workers, cfg), ConfigError);
  EXPECT_NE(usage_text().find("--upstream HOST:PORT"), std::string::npos);
}
