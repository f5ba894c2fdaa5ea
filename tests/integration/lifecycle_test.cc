// Process lifecycle: command line, startup line, multiple workers, and graceful drain
// on SIGTERM/SIGINT (readiness 503, serve through drain_delay, stop accepting, finish
// in-flight with Connection: close, close idle keep-alives, exit 0, "drained" log).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "tests/integration/proxy_fixture.h"
#include "tests/support/json_line.h"

namespace sidemeter::testing {
namespace {

using LifecycleTest = ProxyTest;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kReadyPath[] = "/readyz";

int readiness_status(uint16_t stats_port) {
  RawClient c(stats_port);
  HttpMessage resp;
  std::string req =
      "GET " + std::string(kReadyPath) + " HTTP/1.1\r\nHost: stats\r\nConnection: close\r\n\r\n";
  if (!c.exchange(req, resp).ok()) return -1;
  return resp.status;
}

TEST(CommandLineTest, HelpExitsZeroWithUsage) {
  RunResult r = run_sidemeter({"--help"});
  ASSERT_TRUE(r.exit_code.has_value()) << "did not exit";
  EXPECT_EQ(*r.exit_code, 0) << r.err;
  EXPECT_NE((r.out + r.err).find("--upstream"), std::string::npos) << r.out << r.err;
}

TEST(CommandLineTest, VersionExitsZeroWithVersion) {
  RunResult r = run_sidemeter({"--version"});
  ASSERT_TRUE(r.exit_code.has_value()) << "did not exit";
  EXPECT_EQ(*r.exit_code, 0) << r.err;
  EXPECT_NE((r.out + r.err).find(SIDEMETER_VERSION), std::string::npos) << r.out << r.err;
}

TEST(CommandLineTest, UnknownFlagExitsNonZero) {
  RunResult r = run_sidemeter({"--no-such-flag", "1"});
  ASSERT_TRUE(r.exit_code.has_value()) << "did not exit";
  EXPECT_NE(*r.exit_code, 0);
}

TEST_F(LifecycleTest, ListeningLineReportsBoundPortsAndFlagsOverrideConfig) {
  upstream_ = std::make_unique<TestUpstream>(TestUpstream::fixed("x"));
  // The file says 1 worker and a refused upstream; the flags win.
  start_proxy("127.0.0.1:" + std::to_string(refused_port()), "", 1,
              {"--workers", "3", "--upstream", upstream_->address()});
  auto lines = proxy_->events("listening");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json_int(lines[0], "workers").value_or(-1), 3) << lines[0];
  EXPECT_NE(port(), 0);
  EXPECT_NE(proxy_->stats_port(), 0);
  EXPECT_NE(port(), proxy_->stats_port());
  EXPECT_EQ(fetch(simple_get("/")).status, 200);
  EXPECT_EQ(readiness_status(proxy_->stats_port()), 200);
}

TEST_F(LifecycleTest, FlagsAloneWithoutConfigFile) {
  upstream_ = std::make_unique<TestUpstream>(TestUpstream::fixed("flags"));
  proxy_ = std::make_unique<SidemeterProcess>(
      std::vector<std::string>{"--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0", "--upstream",
                               upstream_->address(), "--workers", "1"});
  ASSERT_TRUE(proxy_->wait_listening()) << proxy_->log_text();
  EXPECT_EQ(fetch(simple_get("/")).body, "flags");
}

// Idle, the control loop wakes for its once-a-second tick (just after each whole second),
// the upstream probe (every 2 s by default) and the periodic upstream resolve (every
// 10 s, with its thread-pool completion): about 1.7 times a second. It used to tick at
// 4 Hz to stay aligned (4.7 a second). Counted over 4 s, the bound is 3 a second: a
// count of events, not of speed, so a loaded machine does not move it.
TEST_F(LifecycleTest, IdleControlThreadWakesAboutOnceASecond) {
  upstream_ = std::make_unique<TestUpstream>(TestUpstream::fixed("x"));
  start_proxy(upstream_->address(), "", 2);
  ASSERT_EQ(fetch(simple_get("/")).status, 200);
  // The stats port is served by the control loop: an answer means start-up (whose waits
  // for the workers are wakeups too) is over and the loop runs. A clean-clone CI run read
  // 0 switches right after start, the thread not having blocked yet.
  ASSERT_GT(readiness_status(proxy_->stats_port()), 0);
  const uint64_t before = proxy_->main_thread_wakeups();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(seconds(4));  // the window measured, not a synchronisation
  const uint64_t woken = proxy_->main_thread_wakeups() - before;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LE(double(woken) / elapsed, 3.0) << woken << " wakeups in " << elapsed << " s";
  EXPECT_GE(woken, 3u) << "the tick should have run about 4 times";
}

TEST_F(LifecycleTest, FourWorkersServeConcurrentClients) {
  start(TestUpstream::echo(), "", 4);
  auto lines = proxy_->events("listening");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json_int(lines[0], "workers").value_or(-1), 4);
  constexpr int kThreads = 8, kPerThread = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // A mix of fresh and reused connections spreads over the SO_REUSEPORT listeners.
        RawClient c(port());
        std::string target = "/t" + std::to_string(t) + "/" + std::to_string(i);
        for (int k = 0; k < 2; ++k) {
          HttpMessage resp;
          if (c.exchange(simple_get(target), resp).ok() && resp.status == 200 &&
              resp.header("x-echo-target") == target) {
            ok++;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread * 2);
  EXPECT_EQ(upstream_->requests(), static_cast<uint64_t>(kThreads * kPerThread * 2));
}

// Upstream that holds "/slow" until released; everything else answers at once.
struct SlowState {
  Latch slow_arrived;
  Latch release;
};

UpstreamHandler holding_upstream(std::shared_ptr<SlowState> st) {
  return [st](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      if (req.target == "/slow") {
        st->slow_arrived.open();
        if (!c.wait_for(st->release, deadline_in(seconds(30)))) return;
        c.write(make_response(200, "OK", "slow-done"));
      } else {
        c.write(make_response(200, "OK", "quick"));
      }
    }
  };
}

void drain_scenario(ProxyTest& t, std::unique_ptr<TestUpstream>& upstream,
                    std::unique_ptr<SidemeterProcess>& proxy, int signal) {
  auto st = std::make_shared<SlowState>();
  upstream = std::make_unique<TestUpstream>(holding_upstream(st));
  constexpr int kDrainDelayMs = 1500;
  proxy = std::make_unique<SidemeterProcess>(
      std::vector<std::string>{},
      make_config(upstream->address(), "timeouts:\n  drain_delay: 1500ms\n  drain_timeout: 20s\n"));
  ASSERT_TRUE(proxy->wait_listening()) << proxy->log_text();
  uint16_t port = proxy->listen_port();
  // Ready once the probe has reached the upstream (it logs that), not before.
  ASSERT_TRUE(proxy->wait_for_log("\"upstream_reachable\"", soon())) << proxy->log_text();
  ASSERT_EQ(readiness_status(proxy->stats_port()), 200);

  RawClient idle(port);  // a keep-alive connection with nothing in flight
  HttpMessage resp;
  ASSERT_TRUE(idle.exchange(simple_get("/warm"), resp).ok());
  RawClient busy(port);
  ASSERT_TRUE(busy.send(simple_get("/slow")));
  ASSERT_TRUE(st->slow_arrived.wait(soon()));

  auto signalled = Clock::now();
  ASSERT_TRUE(proxy->send_signal(signal));
  // Signal delivery is asynchronous: poll readiness until it flips (bounded).
  int ready = 0;
  while (Clock::now() < signalled + seconds(10)) {
    ready = readiness_status(proxy->stats_port());
    if (ready == 503) break;
  }
  EXPECT_EQ(ready, 503);
  // Still serving during drain_delay so load balancers can notice readiness first.
  {
    RawClient during(port);
    EXPECT_TRUE(during.connected());
    HttpMessage r;
    EXPECT_TRUE(during.exchange(simple_get("/during-delay"), r).ok());
    EXPECT_EQ(r.status, 200);
    EXPECT_LT(Clock::now() - signalled, milliseconds(kDrainDelayMs))
        << "the machine was too slow to observe the drain_delay window";
  }
  // Then the listener closes: new connections are refused.
  bool refused = false;
  while (Clock::now() < signalled + seconds(15)) {
    if (try_connect(port, deadline_in(seconds(2))) == ConnectOutcome::kRefused) {
      refused = true;
      break;
    }
    std::this_thread::yield();
  }
  ASSERT_TRUE(refused) << proxy->thread_report() << proxy->log_text();
  EXPECT_GE(Clock::now() - signalled, milliseconds(kDrainDelayMs - 100));
  // Idle keep-alive connections are closed; the in-flight one keeps the process alive.
  ASSERT_TRUE(idle.wait_closed(soon())) << proxy->thread_report() << proxy->log_text();
  idle.close();  // so the proxy need not linger waiting for our FIN
  EXPECT_TRUE(proxy->running());
  EXPECT_TRUE(proxy->events("drained").empty());

  st->release.open();
  ASSERT_TRUE(busy.read_response(resp).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "slow-done");
  EXPECT_TRUE(resp.has_token("connection", "close")) << resp.head_raw;
  EXPECT_TRUE(busy.wait_closed(soon()));
  busy.close();

  auto code = proxy->wait_exit(deadline_in(seconds(15)));
  ASSERT_TRUE(code.has_value()) << "proxy did not exit after draining";
  EXPECT_EQ(*code, 0);
  EXPECT_LT(Clock::now() - signalled, seconds(20)) << "exceeded drain_timeout";
  EXPECT_EQ(proxy->events("drained").size(), 1u) << proxy->log_text();
  EXPECT_FALSE(can_connect(port));
  (void)t;
}

TEST_F(LifecycleTest, SigtermDrainsGracefully) {
  drain_scenario(*this, upstream_, proxy_, SIGTERM);
}

TEST_F(LifecycleTest, SigintDrainsGracefully) { drain_scenario(*this, upstream_, proxy_, SIGINT); }

TEST_F(LifecycleTest, DrainTimeoutBoundsStuckRequests) {
  auto st = std::make_shared<SlowState>();  // never released
  start(holding_upstream(st), "timeouts:\n  drain_delay: 100ms\n  drain_timeout: 1s\n");
  RawClient busy(port());
  ASSERT_TRUE(busy.send(simple_get("/slow")));
  ASSERT_TRUE(st->slow_arrived.wait(soon()));
  auto signalled = Clock::now();
  ASSERT_TRUE(proxy_->send_signal(SIGTERM));
  auto code = proxy_->wait_exit(deadline_in(seconds(15)));
  ASSERT_TRUE(code.has_value()) << "stuck request kept the proxy alive past drain_timeout";
  EXPECT_GE(Clock::now() - signalled, milliseconds(900));
  EXPECT_TRUE(busy.wait_closed(soon()));
  st->release.open();
}

TEST_F(LifecycleTest, StartsWithoutUpstreamReachableButIsNotReady) {
  // The upstream is only needed per request: startup must not depend on it. But a pod
  // must not report ready before its application accepts connections.
  start_proxy("127.0.0.1:" + std::to_string(refused_port()));
  EXPECT_EQ(fetch(simple_get("/")).status, 502);
  EXPECT_EQ(readiness_status(proxy_->stats_port()), 503);
}

// ASan's allocator quarantines freed memory (TSan's keeps shadow memory), so under them
// only the trigger is checked.
const bool kGlibcAllocator = !sidemeter_bin_sanitized();

// A sidecar that once held many connections must not keep their memory: RSS is what the
// pod's memory limit sees. 3000 keep-alive connections (about 7 MiB in the proxy) open
// and close; the proxy notices the drop and returns the pages. What stays is heap
// fragmentation, 0.5-1.3 MiB whatever the spike: the spike must be well above it.
TEST_F(LifecycleTest, MemoryOfAConnectionSpikeIsReturned) {
  constexpr int kConns = 3000;
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  // The proxy (which inherits the limit) serves at most half its descriptors' worth of
  // connections, keeping room for their upstream ones.
  if (lim.rlim_max < 2 * kConns + 200) GTEST_SKIP() << "hard fd limit " << lim.rlim_max;
  lim.rlim_cur = lim.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);

  start(TestUpstream::fixed("ok"));
  // Every worker's first request makes what the worker keeps for good (its read buffer's
  // pages, its route and histogram entries, a pooled head buffer): the baseline holds
  // them, so what is left after the spike is the spike's. 32 connections, each placed by
  // SO_REUSEPORT's hash, leave a worker out with odds of 2^-31 per worker.
  for (int i = 0; i < 32; ++i) ASSERT_EQ(fetch(simple_get("/")).status, 200);
  uint64_t idle = proxy_->rss_kb();
  {
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < kConns; ++i) {
      auto c = std::make_unique<RawClient>(port());
      ASSERT_TRUE(c->connected()) << "connection " << i;
      HttpMessage resp;
      ASSERT_TRUE(c->exchange(simple_get("/"), resp).ok()) << "connection " << i;
      ASSERT_EQ(resp.status, 200);
      clients.push_back(std::move(c));
    }
    uint64_t peak = proxy_->rss_kb();
    // Otherwise the test would prove nothing: the connections did cost memory.
    if (kGlibcAllocator) {
      ASSERT_GT(peak, idle + kConns) << "idle " << idle << " KiB, peak " << peak << " KiB";
    }
    clients.clear();  // all close at once
    // The control thread logs after its malloc_trim, the worker after trimming its heap
    // top: once both lines are there, all the memory that will come back has.
    ASSERT_TRUE(proxy_->wait_for_log("\"memory_released\"", deadline_in(seconds(20))))
        << proxy_->log_text();
    ASSERT_TRUE(proxy_->wait_for_log("\"heap_trimmed\"", deadline_in(seconds(20))))
        << proxy_->log_text();
    if (kGlibcAllocator) {
      const uint64_t now = proxy_->rss_kb();
      RecordProperty("rss_idle_peak_after_kib",
                     std::to_string(idle) + "/" + std::to_string(peak) + "/" + std::to_string(now));
      EXPECT_LE(now, idle + (peak - idle) / 4)
          << "idle " << idle << " KiB, peak " << peak << " KiB, now " << now;
    }
  }
  EXPECT_EQ(fetch(simple_get("/")).status, 200);  // and it still serves
}

}  // namespace
}  // namespace sidemeter::testing
