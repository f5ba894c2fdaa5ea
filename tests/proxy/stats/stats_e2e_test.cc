// The stats port of the live binary checked by the real consumers: promtool, a Prometheus
// server scraping it, and headless Chromium rendering the dashboard. The binary runs in
// demo mode (no --upstream), which brings its own backend and traffic. Each test skips with
// a message when its tool is missing: Debian packages `prometheus` (promtool, prometheus)
// and `chromium`.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/raw_client.h"
#include "tests/support/sidemeter_process.h"

namespace sidemeter::testing {
namespace {

std::string find_tool(const char* name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= dirs.size()) {
    const size_t colon = dirs.find(':', pos);
    const std::string dir = dirs.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    const std::string candidate = dir + "/" + name;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  return {};
}

// Runs a shell command, returns its exit status and combined output.
int run(const std::string& cmd, std::string& output) {
  output.clear();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string temp_dir() {
  char tmpl[] = "/tmp/sidemeter-stats-e2e-XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? d : "";
}

HttpMessage get(uint16_t port, const std::string& target, const std::string& headers = "") {
  RawClient c(port);
  HttpMessage m;
  c.exchange(simple_get(target, headers), m);
  return m;
}

class StatsEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::getenv("SIDEMETER_BIN")) GTEST_SKIP() << "SIDEMETER_BIN not set";
    proc_ = std::make_unique<SidemeterProcess>(std::vector<std::string>{
        "--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0", "--workers", "1"});
    ASSERT_TRUE(proc_->started()) << proc_->error();
    ASSERT_TRUE(proc_->wait_listening()) << proc_->log_text();
    port_ = proc_->stats_port();
    // Demo traffic needs a tick or two to show up in the figures.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      const HttpMessage m = get(port_, "/metrics");
      if (m.body.find("http_server_request_duration_seconds_count{") != std::string::npos) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling an external process
    }
    FAIL() << "no traffic in /metrics";
  }
  void TearDown() override {
    if (proc_ && proc_->started()) {
      proc_->send_signal(SIGTERM);
      proc_->wait_exit();
    }
  }
  std::unique_ptr<SidemeterProcess> proc_;
  uint16_t port_ = 0;
};

TEST_F(StatsEndToEnd, PromtoolAcceptsTheExposition) {
  const std::string promtool = find_tool("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed (Debian package: prometheus)";
  const HttpMessage m = get(port_, "/metrics");
  ASSERT_EQ(m.status, 200);
  const std::string dir = temp_dir();
  const std::string file = dir + "/metrics.txt";
  std::ofstream(file) << m.body;
  std::string out;
  const int rc = run(promtool + " check metrics < " + file, out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "promtool lint findings:\n" << out;  // no lint warnings either
  std::remove(file.c_str());
  rmdir(dir.c_str());
}

TEST_F(StatsEndToEnd, PrometheusScrapesItWithOpenMetrics) {
  const std::string prometheus = find_tool("prometheus");
  if (prometheus.empty()) GTEST_SKIP() << "prometheus not installed (Debian package: prometheus)";
  const uint16_t web_port = refused_port();  // a free kernel-chosen port for its web API
  const std::string dir = temp_dir();
  std::ofstream(dir + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
      << "scrape_configs:\n  - job_name: sidemeter\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << port_ << "']\n";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string web = "--web.listen-address=127.0.0.1:" + std::to_string(web_port);
    const std::string cfg = "--config.file=" + dir + "/prometheus.yml";
    const std::string data = "--storage.tsdb.path=" + dir + "/data";
    freopen("/dev/null", "w", stderr);
    execl(prometheus.c_str(), prometheus.c_str(), cfg.c_str(), data.c_str(), web.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  auto query = [&](const std::string& q) {
    std::string encoded;
    for (char c : q) {
      if (isalnum(static_cast<unsigned char>(c))) {
        encoded += c;
      } else {
        char hex[4];
        snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
        encoded += hex;
      }
    }
    return get(web_port, "/api/v1/query?query=" + encoded).body;
  };
  // Scraped successfully, the target reports OpenMetrics, and histogram math works.
  bool up = false, histogram = false;
  std::string last;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (std::chrono::steady_clock::now() < deadline && !(up && histogram)) {
    last = query("up{job=\"sidemeter\"}");
    up = last.find("\"value\":[") != std::string::npos && last.find(",\"1\"]") != std::string::npos;
    const std::string h = query(
        "histogram_quantile(0.99, sum by (le) (http_server_request_duration_seconds_bucket))");
    histogram = h.find("\"value\":[") != std::string::npos && h.find("NaN") == std::string::npos;
    if (!(up && histogram)) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  const std::string targets = get(web_port, "/api/v1/targets").body;
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  std::string ignored;
  run("rm -rf " + dir, ignored);
  EXPECT_TRUE(up) << last << "\n" << targets;
  EXPECT_TRUE(histogram);
  EXPECT_EQ(targets.find("\"lastError\":\"\""), targets.find("\"lastError\"")) << targets;
}

TEST_F(StatsEndToEnd, ChromiumRendersTheDashboardFromTheStream) {
  std::string chromium = find_tool("chromium");
  if (chromium.empty()) chromium = find_tool("chromium-browser");
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed (Debian package: chromium)";
  const std::string dir = temp_dir();
  std::string dom;
  const int rc = run("timeout 60 " + chromium +
                         " --headless --no-sandbox --disable-gpu --user-data-dir=" + dir +
                         " --timeout=5000 --dump-dom http://127.0.0.1:" + std::to_string(port_) +
                         "/ 2>/dev/null",
                     dom);
  std::string ignored;
  run("rm -rf " + dir, ignored);
  ASSERT_EQ(rc, 0) << dom;
  // Filled in by script from stream frames: the footer counts frames, the route table has
  // the demo routes, the stream pill says live.
  EXPECT_NE(dom.find("id=\"footer\">Frame "), std::string::npos) << dom.substr(0, 4000);
  EXPECT_NE(dom.find("class=\"route\""), std::string::npos);
  EXPECT_NE(dom.find(">live<"), std::string::npos);
  EXPECT_EQ(dom.find("Waiting for the first frame"), std::string::npos);
}

}  // namespace
}  // namespace sidemeter::testing
