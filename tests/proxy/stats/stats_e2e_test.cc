// The stats port of the live binary checked by the real consumers: promtool, a Prometheus
// server scraping it, and headless Chromium rendering the dashboard. The binary runs in
// demo mode (--demo), which brings its own backend and traffic. Each test skips with
// a message when its tool is missing: Debian packages `prometheus` (promtool, prometheus)
// and `chromium`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/json_value.h"
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
    const std::string dir =
        dirs.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
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

// A rule the demo traffic fires at once and two objectives, so the exposition checked by
// promtool and Prometheus carries the alert and SLO families, and the dashboard shows them.
constexpr const char* kAlertsYaml = R"(alerts:
  rules:
    - name: DemoTrafficSeen
      figure: rps
      warning: 1
      window: 10s
      for: 0s
slos:
  - name: demo-availability
    kind: availability
    objective: 99.5%
  - name: demo-latency
    kind: latency
    objective: 99%
    threshold: 100ms
)";

class StatsEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::getenv("SIDEMETER_BIN")) GTEST_SKIP() << "SIDEMETER_BIN not set";
    proc_ = std::make_unique<SidemeterProcess>(
        std::vector<std::string>{"--demo", "--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0",
                                 "--workers", "1"},
        kAlertsYaml);
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

TEST_F(StatsEndToEnd, PrometheusScrapesIt) {
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
  // Scraped successfully (Prometheus asks for OpenMetrics first) and histogram math works.
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

// Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
// NUL-terminated JSON on fds 3 and 4), so the test can wait for the page's script to have
// drawn stream frames instead of dumping the DOM at the load event.
class Chromium {
 public:
  Chromium(const std::string& binary, const std::string& profile_dir) {
    int to_chrome[2], from_chrome[2];
    if (pipe(to_chrome) != 0 || pipe(from_chrome) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      // Move the ends out of the way first: the pipes may themselves sit on fds 3 and 4.
      const int in = fcntl(to_chrome[0], F_DUPFD, 10);
      const int out = fcntl(from_chrome[1], F_DUPFD, 10);
      dup2(in, 3);
      dup2(out, 4);
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      const std::string profile = "--user-data-dir=" + profile_dir;
      execl(binary.c_str(), binary.c_str(), "--headless", "--no-sandbox", "--disable-gpu",
            "--remote-debugging-pipe", profile.c_str(), "about:blank", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to_chrome[0]);
    close(from_chrome[1]);
    write_fd_ = to_chrome[1];
    read_fd_ = from_chrome[0];
  }
  ~Chromium() {
    if (write_fd_ >= 0) close(write_fd_);
    if (read_fd_ >= 0) close(read_fd_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0 && write_fd_ >= 0; }

  // Sends one command and returns its reply (events in between are skipped).
  std::optional<JsonValue> call(const std::string& method, const std::string& params_json,
                                const std::string& session = "") {
    const int id = ++next_id_;
    std::string msg = "{\"id\":" + std::to_string(id) + ",\"method\":\"" + method +
                      "\",\"params\":" + params_json;
    if (!session.empty()) msg += ",\"sessionId\":\"" + session + "\"";
    msg += "}";
    msg += '\0';
    if (::write(write_fd_, msg.data(), msg.size()) != ssize_t(msg.size())) return std::nullopt;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      size_t end;
      while ((end = buf_.find('\0')) != std::string::npos) {
        auto reply = parse_json(buf_.substr(0, end));
        buf_.erase(0, end + 1);
        if (reply && reply->get("id") && reply->get("id")->number == id) return reply;
      }
      pollfd p{read_fd_, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      char chunk[65536];
      const ssize_t n = ::read(read_fd_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, size_t(n));
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
  int write_fd_ = -1;
  int read_fd_ = -1;
  int next_id_ = 0;
  std::string buf_;
};

// Standard base64 (DevTools returns screenshots that way).
std::string base64_decode(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '+') {
      v = 62;
    } else if (ch == '/') {
      v = 63;
    } else {
      continue;  // padding, newlines
    }
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (!text.empty()) {
    const size_t bar = text.find('|', pos);
    out.push_back(text.substr(pos, bar == std::string::npos ? bar : bar - pos));
    if (bar == std::string::npos) break;
    pos = bar + 1;
  }
  return out;
}

// Where the screenshot goes: meson's log dir when the test runs under meson (set in
// meson.build), else the working directory.
std::string screenshot_path() {
  const char* dir = std::getenv("SIDEMETER_SCREENSHOT_DIR");
  std::string d = dir && *dir ? dir : ".";
  mkdir(d.c_str(), 0755);
  return d + "/dashboard.png";
}

TEST_F(StatsEndToEnd, ChromiumRendersTheDashboardFromTheStream) {
  std::string binary = find_tool("chromium");
  if (binary.empty()) binary = find_tool("chromium-browser");
  if (binary.empty()) GTEST_SKIP() << "chromium not installed (Debian package: chromium)";
  // A few seconds of history first, so the backfill has something to show.
  constexpr size_t kHistoryPoints = 5;
  size_t history_points = 0;
  {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (history_points < kHistoryPoints && std::chrono::steady_clock::now() < deadline) {
      const auto h = parse_json(get(port_, "/stats/history").body);
      const JsonValue* points = h ? h->get("points") : nullptr;
      history_points = points ? points->array.size() : 0;
      if (history_points < kHistoryPoints) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling a process
      }
    }
    ASSERT_GE(history_points, kHistoryPoints);
  }
  const std::string dir = temp_dir();
  std::string state, first_state, png;
  {
    Chromium chrome(binary, dir);
    ASSERT_TRUE(chrome.started());
    auto target = chrome.call("Target.createTarget", "{\"url\":\"about:blank\"}");
    ASSERT_TRUE(target && target->at("result.targetId")) << "no DevTools reply";
    auto attached = chrome.call(
        "Target.attachToTarget",
        "{\"targetId\":\"" + target->at("result.targetId")->string + "\",\"flatten\":true}");
    ASSERT_TRUE(attached && attached->at("result.sessionId"));
    const std::string session = attached->at("result.sessionId")->string;
    // The README's size: every panel of the dashboard on one screen.
    ASSERT_TRUE(chrome.call("Emulation.setDeviceMetricsOverride",
                            "{\"width\":1400,\"height\":1500,\"deviceScaleFactor\":1,"
                            "\"mobile\":false}",
                            session));
    const std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/";
    ASSERT_TRUE(chrome.call("Page.navigate", "{\"url\":\"" + url + "\"}", session));
    // What the script fills in: the footer counts frames, the route table lists the demo
    // routes, the stream pill says live; then history points taken in, stream frames
    // received and points in the throughput chart.
    const std::string expr =
        "{\"expression\":\"[document.getElementById('footer').textContent,"
        "document.querySelectorAll('td.route').length,"
        "document.getElementById('conn').textContent,"
        "document.getElementById('k-rps').textContent,"
        "document.body.dataset.backfilled || 0,"
        "document.body.dataset.frames || 0,"
        "document.getElementById('ch-rps').dataset.points || 0,"
        "document.querySelectorAll('#alerts li[data-state=firing][data-rule=DemoTrafficSeen]').length,"
        "document.querySelectorAll('#slos .slo').length,"
        "document.getElementById('tls-panel').hidden].join('|')\","
        "\"returnByValue\":true}";
    auto evaluate = [&] {
      auto r = chrome.call("Runtime.evaluate", expr, session);
      const JsonValue* v = r ? r->at("result.result.value") : nullptr;
      return v ? v->string : std::string();
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      state = evaluate();
      // The first moment both a frame and the history are in: right after load.
      const std::vector<std::string> fields = split(state);
      if (first_state.empty() && fields.size() == 10 && fields[0].rfind("Frame ", 0) == 0 &&
          fields[4] != "0") {
        first_state = state;
      }
      // Two frames seen: the stream keeps pushing, not just the one at subscription.
      // ... and the alert the demo traffic fires is on screen (for the screenshot too).
      if (!first_state.empty() && state.find("|live|") != std::string::npos &&
          fields.size() == 10 && fields[7] != "0") {
        const std::string first = state.substr(0, state.find(' ', 6));
        std::string later = evaluate();
        while (later.substr(0, later.find(' ', 6)) == first &&
               std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the browser
          later = evaluate();
        }
        EXPECT_NE(later.substr(0, later.find(' ', 6)), first) << "no second frame: " << later;
        state = later;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the browser
    }
    auto shot = chrome.call("Page.captureScreenshot", "{\"format\":\"png\"}", session);
    const JsonValue* data = shot ? shot->at("result.data") : nullptr;
    if (data) png = base64_decode(data->string);
  }
  std::string ignored;
  run("rm -rf " + dir, ignored);
  ASSERT_EQ(state.rfind("Frame ", 0), 0u) << state;
  EXPECT_NE(state.find("|live|"), std::string::npos) << state;
  // Fields: footer | route rows | conn | rps card | backfilled | frames | chart points |
  // firing alerts | SLO panels | TLS panel hidden.
  const std::vector<std::string> f = split(state), f0 = split(first_state);
  ASSERT_EQ(f.size(), 10u) << state;
  EXPECT_EQ(f[9], "true") << "the TLS panel shows without TLS: " << state;
  EXPECT_EQ(f[7], "1") << "the DemoTrafficSeen alert is not shown firing: " << state;
  EXPECT_EQ(f[8], "2") << "the two SLO panels are not shown: " << state;
  EXPECT_GT(std::atoi(f[1].c_str()), 0) << state;  // at least one route row (demo traffic)
  EXPECT_GT(std::atof(f[3].c_str()), 0) << state;  // demo RPS
  // Right after load the charts already hold the seconds before the page opened: more
  // points than frames received, and at least the history that existed before loading.
  ASSERT_EQ(f0.size(), 10u) << "history never arrived: " << state;
  const int backfilled = std::atoi(f0[4].c_str()), frames = std::atoi(f0[5].c_str());
  const int chart_points = std::atoi(f0[6].c_str());
  EXPECT_GE(backfilled, int(history_points)) << first_state;
  EXPECT_GE(chart_points, int(history_points)) << first_state;
  EXPECT_GT(chart_points, frames) << first_state;

  ASSERT_GT(png.size(), 10'000u) << "no screenshot";
  EXPECT_EQ(png.substr(1, 3), "PNG");
  const std::string path = screenshot_path();
  std::ofstream(path, std::ios::binary) << png;
  std::cout << "dashboard screenshot: " << path << " (" << png.size() << " bytes)" << std::endl;
  RecordProperty("screenshot", path);
}

}  // namespace
}  // namespace sidemeter::testing
