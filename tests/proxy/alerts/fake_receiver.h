#pragma once
// A receiver for the delivery tests: the shared scriptable upstream (TestUpstream), each
// connection carrying one request (the sender says Connection: close) answered with the
// current status. TestUpstream records every request; a request counts here once it has
// been answered, so a test that changes the status after wait_for() never changes the
// answer to a request already counted.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/test_upstream.h"

namespace sidemeter::testing {

class FakeReceiver {
 public:
  explicit FakeReceiver(int status = 200)
      : status_(status), upstream_([this](UpstreamConn& c) { answer(c); }) {}

  bool listening() const { return upstream_.port() != 0; }
  uint16_t port() const { return upstream_.port(); }
  void set_status(int status) { status_.store(status); }

  std::vector<HttpMessage> requests() const { return upstream_.seen_requests(); }
  size_t count() const {
    std::lock_guard lock(mu_);
    return answered_;
  }
  // Waits until at least n requests were answered; false at the deadline.
  bool wait_for(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return answered_ >= n; });
  }

 private:
  void answer(UpstreamConn& c) {
    HttpMessage m;
    if (!c.read_request(m)) return;
    const int status = status_.load();
    c.write(make_response(status, status < 300 ? "OK" : "Nope", "", {{"Connection", "close"}}));
    c.close();
    {
      std::lock_guard lock(mu_);
      ++answered_;
    }
    cv_.notify_all();
  }

  std::atomic<int> status_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  size_t answered_ = 0;
  TestUpstream upstream_;  // last: its threads call answer() until it is destroyed
};

}  // namespace sidemeter::testing
