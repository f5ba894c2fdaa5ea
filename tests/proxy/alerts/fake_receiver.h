#pragma once
// A tiny HTTP receiver for the delivery tests: a blocking accept loop on a thread, on a
// loopback port chosen by the kernel. Each connection carries one request (the sender
// says Connection: close); it is recorded and answered with the current status.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_message.h"

namespace sidemeter::testing {

class FakeReceiver {
 public:
  explicit FakeReceiver(int status = 200);
  ~FakeReceiver();
  FakeReceiver(const FakeReceiver&) = delete;
  FakeReceiver& operator=(const FakeReceiver&) = delete;

  bool listening() const { return listener_.fd >= 0; }
  uint16_t port() const { return listener_.port; }
  void set_status(int status) { status_.store(status); }

  std::vector<HttpMessage> requests() const;
  size_t count() const;
  // Waits until at least n requests arrived; false at the deadline.
  bool wait_for(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void run();

  Listener listener_;
  std::atomic<int> status_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<HttpMessage> requests_;
  std::thread thread_;
};

}  // namespace sidemeter::testing
