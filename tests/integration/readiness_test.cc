// Readiness and start-up outcomes (issue 9): /readyz is 503 until the listeners are bound
// and the upstream has accepted a TCP connection, 200 after, 503 again while draining; a
// listener that cannot bind is fatal (exit 1, the address named); a bad config exits 2
// with every error as FILE:LINE:COL; --check-config says 0 or 2 without starting.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/control_plane.h"

namespace sidemeter::testing {
namespace {

using namespace control_plane;

class ReadinessTest : public ::testing::Test {
 protected:
  void start(const ConfigSpec& spec, std::vector<std::string> args = {}) {
    proxy_ = std::make_unique<SidemeterProcess>(std::move(args), spec.render());
    ASSERT_TRUE(proxy_->started()) << proxy_->error();
    ASSERT_TRUE(proxy_->wait_listening()) << "no listening line\n" << proxy_->log_text();
  }
  void TearDown() override {
    if (HasFailure() && proxy_) std::cerr << proxy_->log_text();
    proxy_.reset();
  }
  std::unique_ptr<SidemeterProcess> proxy_;
};

// Not ready while nothing listens on the upstream port; ready once something does (the
// probe retries every probe_interval); not ready again from the moment a drain starts.
void ready_after_upstream_listens(std::unique_ptr<SidemeterProcess>& proxy,
                                  std::vector<std::string> upstream_keys) {
  ReservedPort upstream;  // bound, not listening: connects are refused
  ASSERT_TRUE(upstream.ok());
  ConfigSpec spec;
  spec.workers = 2;
  spec.upstream = upstream.address();
  spec.upstream_keys = std::move(upstream_keys);
  // A drain_delay long enough that the stats port is surely still up when /readyz is
  // asked right after the "draining" line.
  spec.timeouts = {"drain_delay: 5s", "drain_timeout: 20s"};
  proxy = std::make_unique<SidemeterProcess>(std::vector<std::string>{}, spec.render());
  ASSERT_TRUE(proxy->started()) << proxy->error();
  ASSERT_TRUE(proxy->wait_listening()) << proxy->log_text();
  const uint16_t stats = proxy->stats_port();

  Answer a = readyz(stats);
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_NE(a.body.find("upstream_unreachable"), std::string::npos) << a.body;
  // Requests meanwhile fail cleanly (the proxy is up, the upstream is not).
  {
    RawClient c(proxy->listen_port());
    HttpMessage resp;
    ASSERT_TRUE(c.exchange(simple_get("/"), resp).ok());
    EXPECT_EQ(resp.status, 502);
  }

  ASSERT_TRUE(upstream.listen()) << "listen() on the reserved port failed";
  const auto listened = Clock::now();
  // The probe logs the change, and /readyz reads reachability live: once the line is
  // there, the answer must be 200 (no tick or poll in between).
  ASSERT_TRUE(proxy->wait_for_log("\"event\":\"upstream_reachable\"", deadline_in(seconds(10))))
      << "not reachable 10 s after the upstream started listening\n" << proxy->log_text();
  ::testing::Test::RecordProperty(
      "ready_after_ms",
      std::to_string(std::chrono::duration_cast<milliseconds>(Clock::now() - listened).count()));
  a = readyz(stats);
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, "ready\n");

  ASSERT_TRUE(proxy->send_signal(SIGTERM));
  ASSERT_TRUE(proxy->wait_for_log("\"event\":\"draining\"", soon())) << proxy->log_text();
  a = readyz(stats);
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_NE(a.body.find("draining"), std::string::npos) << a.body;
  EXPECT_EQ(a.body.find("upstream_unreachable"), std::string::npos) << a.body;
  auto code = proxy->wait_exit(deadline_in(seconds(30)));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
}

TEST_F(ReadinessTest, ReadyOnceUpstreamListensWithShortProbeInterval) {
  ready_after_upstream_listens(proxy_, {"probe_interval: 200ms"});
}

TEST_F(ReadinessTest, ReadyOnceUpstreamListensWithDefaultProbeInterval) {
  ready_after_upstream_listens(proxy_, {});  // 2 s: well inside the 10 s poll
}

// A port held by a plain listening socket (no SO_REUSEPORT), so the proxy's bind fails.
struct HeldPort {
  ReservedPort port;
  bool ok;
  HeldPort() : ok(port.ok() && port.listen()) {}
};

void expect_start_failure_names(const std::vector<std::string>& flags, const std::string& address,
                                uint16_t upstream_port) {
  ConfigSpec spec;
  spec.workers = 2;
  spec.upstream = "127.0.0.1:" + std::to_string(upstream_port);
  SidemeterProcess p(flags, spec.render());
  ASSERT_TRUE(p.started()) << p.error();
  auto code = p.wait_exit(deadline_in(seconds(20)));
  ASSERT_TRUE(code.has_value()) << "still running with " << address << " taken\n" << p.log_text();
  EXPECT_EQ(*code, 1) << p.log_text();
  EXPECT_NE(p.log_text().find(address), std::string::npos)
      << "stderr does not name " << address << "\n"
      << p.log_text();
  EXPECT_TRUE(p.events("listening").empty()) << p.log_text();
}

TEST(StartupTest, ListenAddressInUseExitsOneNamingIt) {
  HeldPort held;
  ASSERT_TRUE(held.ok);
  TestUpstream upstream(TestUpstream::fixed("x"));
  expect_start_failure_names({"--listen", held.port.address()}, held.port.address(),
                             upstream.port());
}

TEST(StartupTest, StatsAddressInUseExitsOneNamingIt) {
  HeldPort held;
  ASSERT_TRUE(held.ok);
  TestUpstream upstream(TestUpstream::fixed("x"));
  expect_start_failure_names({"--stats", held.port.address()}, held.port.address(),
                             upstream.port());
}

// The quick tour's slip: a second sidemeter started on a running one's addresses. Its
// stats port is exclusive, so it exits 1 naming it; its proxy sockets never listened, so
// while it started and failed, every request to the port still reached the first one
// (with SO_REUSEPORT on the stats port too, it used to run and take half of each).
TEST(StartupTest, SecondInstanceOnTheSameAddressesExitsAndTakesNoConnection) {
  TestUpstream first_upstream(TestUpstream::fixed("first"));
  TestUpstream second_upstream(TestUpstream::fixed("second"));
  ConfigSpec spec;
  spec.workers = 2;
  spec.upstream = "127.0.0.1:" + std::to_string(first_upstream.port());
  SidemeterProcess first({}, spec.render());
  ASSERT_TRUE(first.started()) << first.error();
  ASSERT_TRUE(first.wait_listening()) << first.log_text();
  const std::string listen = "127.0.0.1:" + std::to_string(first.listen_port());
  const std::string stats = "127.0.0.1:" + std::to_string(first.stats_port());

  spec.upstream = "127.0.0.1:" + std::to_string(second_upstream.port());
  SidemeterProcess second({"--listen", listen, "--stats", stats}, spec.render());
  ASSERT_TRUE(second.started()) << second.error();
  // Requests on fresh connections (the kernel spreads each new one over the port's
  // listening sockets) until the second process has exited.
  int answered = 0;
  std::optional<int> code;
  while (!(code = second.wait_exit(deadline_in(milliseconds(1)))).has_value()) {
    RawClient c(first.listen_port());
    HttpMessage resp;
    ASSERT_TRUE(c.exchange(simple_get("/"), resp).ok()) << "request " << answered;
    ASSERT_EQ(resp.status, 200) << resp.body;
    ASSERT_EQ(resp.body, "first") << "request " << answered << " reached the second instance";
    ++answered;
    ASSERT_LT(answered, 100000) << "the second instance is still running\n" << second.log_text();
  }
  EXPECT_EQ(*code, 1) << second.log_text();
  EXPECT_NE(second.log_text().find(stats), std::string::npos) << second.log_text();
  EXPECT_TRUE(second.events("listening").empty()) << second.log_text();
  // And after it: the first one still serves both ports.
  for (int i = 0; i < 20; ++i) {
    RawClient c(first.listen_port());
    HttpMessage resp;
    ASSERT_TRUE(c.exchange(simple_get("/"), resp).ok());
    EXPECT_EQ(resp.body, "first");
  }
  EXPECT_EQ(stats_call(first.stats_port(), "GET", "/healthz").status, 200);
}

// Three mistakes on lines 2, 5 and 7: all three reported, each as FILE:LINE:COL: message.
constexpr char kBadConfig[] =
    "listen: 127.0.0.1:0\n"          // 1
    "workers: lots\n"                // 2  not a number
    "upstream:\n"                    // 3
    "  address: 127.0.0.1:9\n"       // 4
    "  probe_interval: 5 parsecs\n"  // 5  not a duration
    "timeouts:\n"                    // 6
    "  drain_dely: 1s\n"             // 7  unknown key
    "stats:\n"                       // 8
    "  address: 127.0.0.1:0\n";      // 9

// Error lines "<path>:LINE:COL: message" in `err`, as LINE -> the whole line.
std::map<int, std::string> positioned_errors(const std::string& err, const std::string& path) {
  std::map<int, std::string> out;
  size_t start = 0;
  while (start < err.size()) {
    size_t end = err.find('\n', start);
    if (end == std::string::npos) end = err.size();
    std::string line = err.substr(start, end - start);
    start = end + 1;
    if (line.compare(0, path.size() + 1, path + ":") != 0) continue;
    const char* p = line.c_str() + path.size() + 1;
    char* after_line = nullptr;
    long ln = std::strtol(p, &after_line, 10);
    if (after_line == p || *after_line != ':') {
      ADD_FAILURE() << "no LINE in: " << line;
      continue;
    }
    char* after_col = nullptr;
    long col = std::strtol(after_line + 1, &after_col, 10);
    if (after_col == after_line + 1 || col < 1 ||
        std::string_view(after_col).substr(0, 2) != ": " ||
        std::string_view(after_col).size() <= 2) {
      ADD_FAILURE() << "not FILE:LINE:COL: message: " << line;
      continue;
    }
    EXPECT_TRUE(out.emplace(int(ln), line).second) << "two errors on line " << ln;
  }
  return out;
}

void expect_bad_config_errors(const std::string& err, const std::string& path) {
  std::map<int, std::string> errors = positioned_errors(err, path);
  EXPECT_EQ(errors.size(), 3u) << err;
  for (int line : {2, 5, 7}) {
    EXPECT_EQ(errors.count(line), 1u) << "no error for line " << line << ":\n" << err;
  }
  if (errors.count(7)) {
    EXPECT_NE(errors[7].find("drain_dely"), std::string::npos) << errors[7];
  }
}

TEST(StartupTest, ConfigErrorsExitTwoWithEveryPosition) {
  SidemeterProcess p({}, kBadConfig);
  ASSERT_TRUE(p.started()) << p.error();
  auto code = p.wait_exit(deadline_in(seconds(20)));
  ASSERT_TRUE(code.has_value()) << p.log_text();
  EXPECT_EQ(*code, 2) << p.log_text();
  EXPECT_TRUE(p.events("listening").empty());
  std::string err;
  for (const std::string& l : p.log_lines()) err += l + "\n";
  expect_bad_config_errors(err, p.config_path());
}

TEST(StartupTest, CheckConfigAcceptsValidFile) {
  TestUpstream upstream(TestUpstream::fixed("x"));
  ConfigSpec spec;
  spec.upstream = upstream.address();
  spec.timeouts = {"drain_delay: 250ms", "drain_timeout: 5m"};
  spec.routes = {"patterns: [\"/users/{id}/orders\"]", "max: 50"};
  TempFile f(spec.render());
  ASSERT_TRUE(f.ok());
  RunResult r = run_sidemeter({"--check-config", f.path()});
  ASSERT_TRUE(r.exit_code.has_value()) << "did not exit: --check-config must not start a proxy";
  EXPECT_EQ(*r.exit_code, 0) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find(f.path()), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.err.find("\"event\":\"listening\""), std::string::npos) << r.err;
}

TEST(StartupTest, CheckConfigRejectsInvalidFileWithPositions) {
  TempFile f(kBadConfig);
  ASSERT_TRUE(f.ok());
  RunResult r = run_sidemeter({"--check-config", f.path()});
  ASSERT_TRUE(r.exit_code.has_value()) << "did not exit";
  EXPECT_EQ(*r.exit_code, 2) << r.out << r.err;
  expect_bad_config_errors(r.err, f.path());
}

}  // namespace
}  // namespace sidemeter::testing
