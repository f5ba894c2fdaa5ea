#pragma once
// Shared by the issue-12 fault suites (upstream_fault_matrix_test, client_faults_test,
// exhaustion_test): a proxy with two workers, the at-rest checker every scenario ends
// with (tests/support/stats_invariants.h), and a bystander client.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/proxy_fixture.h"
#include "tests/support/stats_invariants.h"

namespace sidemeter::testing {

// ------------------------------------------------------------------ fixture

class FaultTest : public ProxyTest {
 protected:
  static constexpr int kWorkers = 2;

  void start2(UpstreamHandler handler, std::string extra_yaml = "") {
    start(std::move(handler), std::move(extra_yaml), kWorkers);
  }

  // The shared invariants once the proxy is at rest; every finding fails the test.
  void expect_at_rest(const StatsExpect& want) {
    ASSERT_TRUE(proxy_ != nullptr);
    StatsReport r = check_stats_at_rest(proxy_->stats_port(), want);
    EXPECT_TRUE(r.ok()) << "stats at rest:\n" << r.text();
  }
};

// ------------------------------------------------------------------ bystanders

// Another client's ordinary traffic while a fault scenario runs: fresh connections, one
// GET each, until stopped or `max` are done. It asserts completion (every request got a
// 200 and `ok` counts them), not speed; tests compare when it finished with the
// attacker's own timeout.
class Bystander {
 public:
  Bystander(uint16_t port, int max) : port_(port), max_(max) {
    thread_ = std::thread([this] { run(); });
  }
  ~Bystander() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Waits for the thread to end on its own (all `max` done or a failure).
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_.load(); }
  int ok() const { return ok_.load(); }
  int failed() const { return failed_.load(); }
  const std::string& first_error() const { return first_error_; }  // after join/stop
  Clock::time_point finished_at() const { return finished_at_; }   // after join/stop
  uint64_t body_bytes() const { return body_bytes_.load(); }

 private:
  void run() {
    for (int i = 0; i < max_ && !stop_; ++i) {
      RawClient c(port_);
      HttpMessage resp;
      ReadResult r = c.exchange(simple_get("/bystander/" + std::to_string(i)), resp);
      if (r.ok() && resp.status == 200) {
        ok_++;
        body_bytes_ += resp.body.size();
        continue;
      }
      failed_++;
      first_error_ = std::string(to_string(r.status)) + " " + r.error + " status " +
                     std::to_string(resp.status);
      break;
    }
    finished_at_ = Clock::now();
    done_ = true;
  }

  uint16_t port_;
  int max_;
  std::atomic<bool> stop_{false}, done_{false};
  std::atomic<int> ok_{0}, failed_{0};
  std::atomic<uint64_t> body_bytes_{0};
  std::string first_error_;
  Clock::time_point finished_at_{};
  std::thread thread_;
};

// Milliseconds since `t`.
inline int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

}  // namespace sidemeter::testing
