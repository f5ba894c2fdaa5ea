#pragma once
// The Demo implementation: backend and traffic generator on one libuv loop on a thread
// of their own, so they never take time from the proxy workers' loops. Other threads talk
// to that loop only through one uv_async (start traffic, stop). Tests use this class
// directly for its counters and the loop-close check.
#include <uv.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "proxy/demo/demo.h"
#include "proxy/demo/demo_backend.h"
#include "proxy/demo/demo_traffic.h"

namespace sidemeter::demo {

class DemoRunner final : public Demo {
 public:
  explicit DemoRunner(TrafficOptions traffic = {});
  ~DemoRunner() override;
  DemoRunner(const DemoRunner&) = delete;
  DemoRunner& operator=(const DemoRunner&) = delete;

  // Binds the backend and starts the thread; false (logged) on failure.
  bool start();

  uint16_t upstream_port() const override { return port_; }
  // First call wins; later calls are ignored. Any thread.
  void start_traffic(uint16_t proxy_port) override;
  // Closes every handle on the loop thread and joins it. Idempotent, any thread.
  void stop() override;

  // Any thread.
  uint64_t served() const { return backend_ ? backend_->served() : 0; }
  uint64_t traffic_responses() const { return counters_.responses.load(); }
  uint64_t traffic_connects() const { return counters_.connects.load(); }
  uint64_t traffic_failures() const { return counters_.failures.load(); }
  // After stop(): uv_loop_close()'s result; 0 means every handle was closed.
  int loop_close_result() const { return loop_close_rc_; }

 private:
  static void on_wake(uv_async_t* a);
  void shut_down_handles();

  TrafficOptions traffic_options_;
  uint64_t seed_ = 0;
  uint16_t port_ = 0;
  uv_loop_t loop_;
  uv_async_t wake_;
  std::unique_ptr<DemoBackend> backend_;
  std::unique_ptr<DemoTraffic> traffic_;  // created on the loop thread
  TrafficCounters counters_;
  std::atomic<uint16_t> traffic_port_{0};
  std::atomic<bool> stopping_{false};
  int loop_close_rc_ = -1;
  std::mutex stop_mu_;
  std::thread thread_;
};

}  // namespace sidemeter::demo
