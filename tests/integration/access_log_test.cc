// The access log, end to end: the real binary with an access_log section, its lines read
// back from the file (or FIFO) it writes. Every line is JSON with the exchange's fields;
// sampling lands within a binomial bound; slow and failed exchanges are always there;
// SIGUSR1 after a rename writes to the new file; a FIFO whose reader stopped costs the
// requests nothing and the drops show on /metrics.
//
// The access_log keys are read by the configuration loader (conf/), which lands
// separately; until it does the proxy refuses these files as unknown keys.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/control_plane.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/support/json_value.h"

namespace sidemeter::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sidemeter-access-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Complete lines of the file (a partial last line is left out).
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> lines;
  size_t pos = 0;
  for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1)
    lines.push_back(text.substr(pos, nl - pos));
  return lines;
}

// The writer thread appends on its own schedule: poll the file until a line contains
// `needle` (the deadline only bounds a failure).
std::vector<std::string> wait_for_line(const std::string& path, std::string_view needle,
                                       Deadline deadline = deadline_in(seconds(15))) {
  for (;;) {
    std::vector<std::string> lines = read_lines(path);
    for (const std::string& l : lines) {
      if (l.find(needle) != std::string::npos) return lines;
    }
    if (Clock::now() > deadline) {
      ADD_FAILURE() << "no line with " << needle << " in " << path << " (" << lines.size()
                    << " lines)";
      return lines;
    }
    std::this_thread::sleep_for(milliseconds(5));  // poll interval, not synchronisation
  }
}

// Several workers, as deployed: each has its own queue and sampler.
constexpr int kWorkers = 2;

std::string access_log_yaml(const std::string& path, const std::vector<std::string>& keys) {
  std::string y = "access_log:\n  path: \"" + path + "\"\n";
  for (const std::string& k : keys) y += "  " + k + "\n";
  return y;
}

// /slow*: 300 ms late; /delay: 100 ms late; /fail: 500; /drop: the connection closes
// without an answer (502); anything else: 200 at once.
UpstreamHandler scripted_upstream() {
  return [](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      if (req.target.rfind("/slow", 0) == 0) {
        std::this_thread::sleep_for(milliseconds(300));  // the injected delay
      } else if (req.target == "/delay") {
        std::this_thread::sleep_for(milliseconds(100));  // the injected delay
      } else if (req.target.rfind("/fail", 0) == 0) {
        if (!c.write(make_response(500, "Internal Server Error", "boom"))) return;
        continue;
      } else if (req.target.rfind("/drop", 0) == 0) {
        c.close();
        return;
      }
      if (!c.write(make_response(200, "OK", "hello"))) return;
    }
  };
}

const JsonValue* field(const JsonValue& doc, std::string_view key) { return doc.get(key); }

class AccessLogTest : public ProxyTest {
 protected:
  HttpMessage get(RawClient& c, const std::string& target, const std::string& headers = "") {
    HttpMessage resp;
    ReadResult r = c.exchange(simple_get(target, headers), resp);
    EXPECT_TRUE(r.ok()) << target << ": " << to_string(r.status) << " " << r.error;
    return resp;
  }
  TempDir dir_;
};

TEST_F(AccessLogTest, EveryLineParsesWithTheFields) {
  const std::string path = dir_.file("access.log");
  start(scripted_upstream(), access_log_yaml(path, {"sample_rate: 100%"}), kWorkers);
  RawClient c(port());
  ASSERT_TRUE(c.connected());
  const std::string trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  EXPECT_EQ(get(c, "/api/users/42?secret=1",
                "traceparent: " + trace + "\r\nX-Request-Id: abc-123\r\n").status, 200);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(get(c, "/items/" + std::to_string(1000 + i)).status, 200);
  std::string post = "POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n\r\nhello";
  HttpMessage resp;
  ASSERT_TRUE(c.exchange(post, resp).ok());
  EXPECT_EQ(get(c, "/fail/last").status, 500);

  const std::vector<std::string> lines = wait_for_line(path, "/fail/last");
  ASSERT_EQ(lines.size(), 23u);
  int with_trace = 0;
  for (const std::string& l : lines) {
    std::string error;
    std::optional<JsonValue> doc = parse_json(l, &error);
    ASSERT_TRUE(doc) << error << "\n" << l;
    for (const char* k : {"time", "worker", "client", "method", "route", "path", "status", "error",
                          "request_ms", "upstream_ttfb_ms", "upstream_total_ms",
                          "proxy_overhead_ms", "latency_ms", "request_head_bytes",
                          "request_body_bytes", "response_head_bytes", "response_body_bytes",
                          "upstream_attempts", "upstream_connection", "retried"})
      EXPECT_NE(field(*doc, k), nullptr) << k << " missing in " << l;
    const std::string time = field(*doc, "time")->string;
    EXPECT_EQ(time.size(), 24u) << time;  // 2024-05-01T12:34:56.789Z
    EXPECT_EQ(time.back(), 'Z');
    EXPECT_EQ(field(*doc, "client")->string.rfind("127.0.0.1:", 0), 0u);
    const double worker = field(*doc, "worker")->number;
    EXPECT_TRUE(worker == 0 || worker == 1) << l;
    EXPECT_GT(field(*doc, "latency_ms")->number, 0);
    EXPECT_GT(field(*doc, "request_head_bytes")->number, 0);
    EXPECT_GT(field(*doc, "response_head_bytes")->number, 0);
    if (field(*doc, "traceparent") != nullptr) {
      ++with_trace;
      EXPECT_EQ(field(*doc, "traceparent")->string, trace);
      EXPECT_EQ(field(*doc, "x_request_id")->string, "abc-123");
      EXPECT_EQ(field(*doc, "path")->string, "/api/users/42");  // the query is dropped
      EXPECT_EQ(field(*doc, "route")->string, "/api/users/{id}");
    } else {
      EXPECT_EQ(field(*doc, "x_request_id"), nullptr);
    }
  }
  EXPECT_EQ(with_trace, 1);
  auto first = parse_json(lines.front());
  EXPECT_EQ(field(*first, "upstream_connection")->string, "new");
  auto second = parse_json(lines[1]);
  EXPECT_EQ(field(*second, "route")->string, "/items/{id}");
  EXPECT_EQ(field(*second, "upstream_connection")->string, "reused");
  auto upload = parse_json(lines[21]);
  EXPECT_EQ(field(*upload, "method")->string, "POST");
  EXPECT_EQ(field(*upload, "request_body_bytes")->number, 5);
  auto failed = parse_json(lines[22]);
  EXPECT_EQ(field(*failed, "status")->number, 500);
  EXPECT_TRUE(field(*failed, "error")->boolean);
}

TEST_F(AccessLogTest, QueryKeptWhenConfigured) {
  const std::string path = dir_.file("access.log");
  start(scripted_upstream(), access_log_yaml(path, {"include_query: true"}), kWorkers);
  RawClient c(port());
  EXPECT_EQ(get(c, "/search?q=a%20b&page=2").status, 200);
  const std::vector<std::string> lines = wait_for_line(path, "/search");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(field(*parse_json(lines[0]), "path")->string, "/search?q=a%20b&page=2");
}

TEST_F(AccessLogTest, SamplingWithinBinomialBound) {
  const std::string path = dir_.file("access.log");
  start(scripted_upstream(),
        access_log_yaml(path, {"sample_rate: 20%", "always_log_errors: true"}), kWorkers);
  // Connections are spread over the workers, each with its own sampler and queue.
  constexpr int kClients = 4;
  const int n = 1000;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int k = 0; k < kClients; ++k) {
    clients.push_back(std::make_unique<RawClient>(port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(get(*clients[size_t(i % kClients)], "/ok/" + std::to_string(i)).status, 200);
  // A connection stays on its worker, whose queue keeps order: once a connection's
  // (always written) failure is in the file, every sampled line it had before is too.
  for (int k = 0; k < kClients; ++k)
    EXPECT_EQ(get(*clients[size_t(k)], "/fail/marker" + std::to_string(k)).status, 500);
  std::vector<std::string> lines;
  for (int k = 0; k < kClients; ++k) lines = wait_for_line(path, "/fail/marker" + std::to_string(k));
  const double sampled = double(lines.size() - kClients);
  const double sigma = std::sqrt(n * 0.2 * 0.8);  // 12.6
  EXPECT_NEAR(sampled, n * 0.2, 5 * sigma) << sampled << " of " << n;
}

TEST_F(AccessLogTest, SlowAndFailedAlwaysPresent) {
  const std::string path = dir_.file("access.log");
  start(scripted_upstream(),
        access_log_yaml(path, {"sample_rate: 0%", "always_log_errors: true", "slow: 200ms"}),
        kWorkers);
  RawClient c(port());
  ASSERT_TRUE(c.connected());
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 10; ++i) EXPECT_EQ(get(c, "/fast/" + std::to_string(i)).status, 200);
    EXPECT_EQ(get(c, "/slow/" + std::to_string(round)).status, 200);
    EXPECT_EQ(get(c, "/fail/" + std::to_string(round)).status, 500);
    RawClient once(port());  // the upstream hangs up on this one: 502
    EXPECT_EQ(get(once, "/drop/" + std::to_string(round)).status, 502);
  }
  EXPECT_EQ(get(c, "/fail/marker").status, 500);
  // The marker follows c's lines in its worker's queue, but each drop came on a
  // connection of its own, maybe to the other worker, whose queue reaches the file on its
  // own schedule (a TSan run wrote the marker before the last drop): each is waited for.
  for (int round = 0; round < 3; ++round) wait_for_line(path, "/drop/" + std::to_string(round));
  const std::vector<std::string> lines = wait_for_line(path, "/fail/marker");
  int slow = 0, failed = 0, dropped = 0;
  for (const std::string& l : lines) {
    auto doc = parse_json(l);
    ASSERT_TRUE(doc) << l;
    const std::string p = field(*doc, "path")->string;
    EXPECT_EQ(p.rfind("/fast", 0), std::string::npos) << "a fast 200 was logged: " << l;
    if (p.rfind("/slow", 0) == 0) {
      ++slow;
      EXPECT_GE(field(*doc, "latency_ms")->number, 300);
      EXPECT_FALSE(field(*doc, "error")->boolean);
    } else if (p.rfind("/fail", 0) == 0) {
      ++failed;
      EXPECT_TRUE(field(*doc, "error")->boolean);
    } else if (p.rfind("/drop", 0) == 0) {
      ++dropped;
      EXPECT_EQ(field(*doc, "status")->number, 502);
      ASSERT_NE(field(*doc, "upstream_error"), nullptr) << l;
    }
  }
  EXPECT_EQ(slow, 3);
  EXPECT_EQ(failed, 4);
  EXPECT_EQ(dropped, 3);
  EXPECT_EQ(lines.size(), 10u);
}

TEST_F(AccessLogTest, Sigusr1ReopensAfterRename) {
  const std::string path = dir_.file("access.log");
  const std::string rotated = dir_.file("access.log.1");
  start(scripted_upstream(), access_log_yaml(path, {}), kWorkers);
  RawClient c(port());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get(c, "/before/" + std::to_string(i)).status, 200);
  wait_for_line(path, "/before/2");
  ASSERT_EQ(::rename(path.c_str(), rotated.c_str()), 0);  // what logrotate does
  ASSERT_TRUE(proxy_->send_signal(SIGUSR1));
  ASSERT_TRUE(proxy_->wait_for_log("\"reason\":\"reopen\"", soon())) << proxy_->log_text();
  for (int i = 0; i < 2; ++i) EXPECT_EQ(get(c, "/after/" + std::to_string(i)).status, 200);
  const std::vector<std::string> fresh = wait_for_line(path, "/after/1");
  EXPECT_EQ(fresh.size(), 2u);
  const std::vector<std::string> old = read_lines(rotated);
  ASSERT_EQ(old.size(), 3u);
  EXPECT_NE(old[2].find("/before/2"), std::string::npos);
  EXPECT_TRUE(proxy_->running());
}

TEST_F(AccessLogTest, ReloadTurnsItOnAndMovesIt) {
  const std::string first = dir_.file("first.log");
  const std::string second = dir_.file("second.log");
  start(scripted_upstream(), "", kWorkers);  // no access_log section: off
  RawClient c(port());
  EXPECT_EQ(get(c, "/off").status, 200);
  const std::string base = make_config(upstream_->address());
  ASSERT_TRUE(proxy_->rewrite_config(base + access_log_yaml(first, {})));
  ASSERT_TRUE(proxy_->send_signal(SIGHUP));
  ASSERT_TRUE(proxy_->wait_for_log("access_log_opened", soon())) << proxy_->log_text();
  EXPECT_EQ(get(c, "/one").status, 200);
  wait_for_line(first, "/one");
  ASSERT_TRUE(proxy_->rewrite_config(base + access_log_yaml(second, {"sample_rate: 0%"})));
  ASSERT_TRUE(proxy_->send_signal(SIGHUP));
  ASSERT_TRUE(proxy_->wait_for_count("access_log_opened", 2, soon()) >= 2) << proxy_->log_text();
  EXPECT_EQ(get(c, "/two").status, 200);     // not sampled any more
  EXPECT_EQ(get(c, "/fail/x").status, 500);  // an error: written
  const std::vector<std::string> lines = wait_for_line(second, "/fail/x");
  EXPECT_EQ(lines.size(), 1u);
  for (const std::string& l : read_lines(first)) EXPECT_EQ(l.find("/off"), std::string::npos);
}

TEST_F(AccessLogTest, StoppedPipeReaderCostsNoLatency) {
  const std::string fifo = dir_.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // The reader is there (so the proxy can open the FIFO) but never reads.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  start(scripted_upstream(), access_log_yaml(fifo, {"queue_max_bytes: 65536"}), kWorkers);
  // ~600-byte lines: the 64 KiB pipe and the 64 KiB queue per worker (the least the
  // schema allows) are full after ~330 of the 2000.
  const std::string long_path = "/fill/" + std::string(400, 'p');
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      RawClient c(port());
      for (int i = 0; i < 500; ++i) {
        HttpMessage resp;
        if (c.exchange(simple_get(long_path), resp).ok() && resp.status == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 2000);
  // With everything full, requests against an injected 100 ms delay take about that.
  RawClient c(port());
  for (int i = 0; i < 10; ++i) {
    const auto t0 = Clock::now();
    EXPECT_EQ(get(c, "/delay").status, 200);
    const auto took = Clock::now() - t0;
    EXPECT_GE(took, milliseconds(100));
    EXPECT_LT(took, milliseconds(100 + 900)) << "request " << i;
  }
  const ExpositionCheck m = control_plane::fetch_metrics(proxy_->stats_port());
  ASSERT_TRUE(m.errors.empty()) << m.errors.front();
  const double full = m.sum("sidemeter_access_log_dropped_total", {{"reason", "queue_full"}});
  const double written = m.sum("sidemeter_access_log_lines_total");
  EXPECT_GT(full, 1000) << "written " << written;
  EXPECT_LT(written, 2010);
  EXPECT_EQ(m.sum("sidemeter_access_log_dropped_total", {{"reason", "write_error"}}), 0);
  ASSERT_EQ(m.types.count("sidemeter_access_log_dropped_total"), 1u);
  EXPECT_EQ(m.types.at("sidemeter_access_log_dropped_total"), "counter");
  ::close(reader);
}

}  // namespace
}  // namespace sidemeter::testing
