// Shutdown with 1, 2 and 4 workers (issue 9): a drain whose exchanges finish exits 0; one
// cut short at drain_timeout exits 3 with every connection closed, HTTP requests in
// flight and WebSocket tunnels alike; a second SIGTERM during the drain exits 4 at once.
// In every case the last log line is "drained", every worker loop and the control loop
// close, and nothing aborts (before issue 9, --workers 2/4 with a held request and a
// 1 s drain_timeout died with SIGABRT, exit 134, and so did a second SIGTERM).
//
// With SO_REUSEPORT the kernel spreads connections over the workers by a hash, so each
// case opens several connections of each kind (2 per worker + 1) to give every worker
// some; nothing asserts on the distribution.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/control_plane.h"

namespace sidemeter::testing {
namespace {

using namespace control_plane;

class DrainTest : public ::testing::TestWithParam<int> {
 protected:
  void start(std::vector<std::string> timeouts) {
    state_ = std::make_shared<HoldState>();
    upstream_ = std::make_unique<TestUpstream>(holding_upstream(state_));
    ConfigSpec spec;
    spec.workers = workers();
    spec.upstream = upstream_->address();
    spec.timeouts = std::move(timeouts);
    proxy_ = std::make_unique<SidemeterProcess>(std::vector<std::string>{}, spec.render());
    ASSERT_TRUE(proxy_->started()) << proxy_->error();
    ASSERT_TRUE(proxy_->wait_listening()) << "no listening line\n" << proxy_->log_text();
    auto listening = proxy_->events("listening");
    ASSERT_EQ(listening.size(), 1u);
    ASSERT_EQ(json_int(listening[0], "workers").value_or(-1), workers()) << listening[0];
  }

  int workers() const { return GetParam(); }
  int per_kind() const { return 2 * workers() + 1; }
  uint16_t port() const { return proxy_->listen_port(); }

  // `per_kind()` connections each holding a "/slow" request the upstream keeps open.
  void open_held_requests() {
    for (int i = 0; i < per_kind(); ++i) {
      auto c = std::make_unique<RawClient>(port());
      ASSERT_TRUE(c->connected()) << "held connection " << i;
      ASSERT_TRUE(c->send(simple_get("/slow")));
      held_.push_back(std::move(c));
    }
    ASSERT_TRUE(state_->wait_held(per_kind(), soon()))
        << "the upstream saw " << state_->held.load() << " of " << per_kind() << " held requests";
  }

  void open_tunnels() {
    for (int i = 0; i < per_kind(); ++i) {
      auto t = open_tunnel(port());
      ASSERT_TRUE(t) << "tunnel " << i;
      tunnels_.push_back(std::move(t));
    }
  }

  // The "drained" line closes the log; loops closed; the exit code it reports.
  void expect_clean_end(int exit_code, bool forced) {
    const std::vector<std::string> lines = proxy_->log_lines();
    ASSERT_FALSE(lines.empty());
    EXPECT_TRUE(json_has(lines.back(), "event", "drained")) << "last line: " << lines.back();
    const auto drained = proxy_->events("drained");
    ASSERT_EQ(drained.size(), 1u);
    EXPECT_EQ(json_int(drained[0], "exit_code").value_or(-1), exit_code) << drained[0];
    EXPECT_EQ(json_field(drained[0], "forced").value_or("?"), forced ? "true" : "false")
        << drained[0];
    for (const std::string& l : unclean_loop_events(*proxy_)) ADD_FAILURE() << "unclean: " << l;
  }

  void TearDown() override {
    if (HasFailure() && proxy_) std::cerr << proxy_->log_text();
    if (state_) state_->release.open();
    held_.clear();
    tunnels_.clear();
    proxy_.reset();
    upstream_.reset();
  }

  std::shared_ptr<HoldState> state_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<SidemeterProcess> proxy_;
  std::vector<std::unique_ptr<RawClient>> held_;
  std::vector<std::unique_ptr<RawClient>> tunnels_;
};

TEST_P(DrainTest, CompletedDrainExitsZero) {
  start({"drain_delay: 100ms", "drain_timeout: 30s"});
  // Idle keep-alive connections (one exchange done, nothing in flight)...
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < per_kind(); ++i) {
    auto c = std::make_unique<RawClient>(port());
    HttpMessage resp;
    ASSERT_TRUE(c->exchange(simple_get("/warm"), resp).ok()) << "idle connection " << i;
    ASSERT_EQ(resp.status, 200);
    idle.push_back(std::move(c));
  }
  // ...and exchanges in flight.
  open_held_requests();

  ASSERT_TRUE(proxy_->send_signal(SIGTERM));
  ASSERT_TRUE(proxy_->wait_for_log("\"event\":\"draining\"", soon())) << "no draining line";
  // After drain_delay the idle connections are closed; the in-flight ones keep the
  // process up (drain_timeout is 30 s away).
  for (size_t i = 0; i < idle.size(); ++i) {
    EXPECT_TRUE(idle[i]->wait_closed(soon())) << "idle keep-alive " << i << " stayed open";
    idle[i]->close();
  }
  EXPECT_TRUE(proxy_->running()) << "exited with exchanges still in flight";
  EXPECT_TRUE(proxy_->events("drained").empty());

  state_->release.open();
  for (size_t i = 0; i < held_.size(); ++i) {
    HttpMessage resp;
    ReadResult r = held_[i]->read_response(resp);
    ASSERT_TRUE(r.ok()) << "held request " << i << ": " << to_string(r.status);
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, "slow-done");
    EXPECT_TRUE(resp.has_token("connection", "close")) << resp.head_raw;
    EXPECT_TRUE(held_[i]->wait_closed(soon())) << "held connection " << i << " stayed open";
    held_[i]->close();
  }

  auto code = proxy_->wait_exit(deadline_in(seconds(20)));
  ASSERT_TRUE(code.has_value()) << "did not exit once every exchange finished";
  EXPECT_EQ(*code, 0);
  expect_clean_end(0, false);
  EXPECT_TRUE(proxy_->events("drain_timeout").empty());
  EXPECT_EQ(upstream_->requests(), uint64_t(2 * per_kind()));
}

TEST_P(DrainTest, DrainTimeoutForceClosesRequestsAndTunnels) {
  constexpr auto kDrainTimeout = milliseconds(1000);
  start({"drain_delay: 100ms", "drain_timeout: 1s"});
  open_held_requests();  // never released
  open_tunnels();        // never closed by the test

  const auto signalled = Clock::now();
  ASSERT_TRUE(proxy_->send_signal(SIGTERM));
  auto code = proxy_->wait_exit(deadline_in(seconds(20)));
  const auto elapsed = Clock::now() - signalled;
  ASSERT_TRUE(code.has_value()) << "still running 20 s after SIGTERM with a 1 s drain_timeout";
  EXPECT_NE(*code, 128 + SIGABRT) << "aborted";
  EXPECT_NE(*code, 128 + SIGSEGV) << "crashed";
  EXPECT_EQ(*code, 3);
  // The timer starts when the signal is handled, after `signalled`; 100 ms of slack for
  // libuv's millisecond clock.
  EXPECT_GE(elapsed, kDrainTimeout - milliseconds(100));
  EXPECT_EQ(proxy_->events("drain_timeout").size(), 1u);
  expect_clean_end(3, true);
  for (size_t i = 0; i < held_.size(); ++i)
    EXPECT_TRUE(held_[i]->wait_closed(soon())) << "held connection " << i << " stayed open";
  for (size_t i = 0; i < tunnels_.size(); ++i)
    EXPECT_TRUE(tunnels_[i]->wait_closed(soon())) << "tunnel " << i << " stayed open";
}

TEST_P(DrainTest, SecondSignalForcesStop) {
  constexpr auto kDrainTimeout = seconds(30);
  start({"drain_delay: 100ms", "drain_timeout: 30s"});
  open_held_requests();
  open_tunnels();

  const auto signalled = Clock::now();
  ASSERT_TRUE(proxy_->send_signal(SIGTERM));
  ASSERT_TRUE(proxy_->wait_for_log("\"event\":\"draining\"", soon())) << "no draining line";
  ASSERT_TRUE(proxy_->send_signal(SIGTERM));
  auto code = proxy_->wait_exit(deadline_in(seconds(20)));
  const auto elapsed = Clock::now() - signalled;
  ASSERT_TRUE(code.has_value()) << "a second SIGTERM did not stop the proxy";
  EXPECT_NE(*code, 128 + SIGABRT) << "aborted";
  EXPECT_NE(*code, 128 + SIGSEGV) << "crashed";
  EXPECT_EQ(*code, 4);
  // Half the drain_timeout is a margin no scheduler hiccup reaches; waiting for the
  // timeout would take the whole 30 s.
  EXPECT_LT(elapsed, kDrainTimeout / 2);
  EXPECT_EQ(proxy_->events("second_signal_forcing_stop").size(), 1u);
  EXPECT_TRUE(proxy_->events("drain_timeout").empty());
  expect_clean_end(4, true);
  for (size_t i = 0; i < held_.size(); ++i)
    EXPECT_TRUE(held_[i]->wait_closed(soon())) << "held connection " << i << " stayed open";
  for (size_t i = 0; i < tunnels_.size(); ++i)
    EXPECT_TRUE(tunnels_[i]->wait_closed(soon())) << "tunnel " << i << " stayed open";
}

INSTANTIATE_TEST_SUITE_P(Workers, DrainTest, ::testing::Values(1, 2, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return "workers_" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace sidemeter::testing
