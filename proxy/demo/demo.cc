// Demo mode: the backend and the traffic generator share one libuv loop on a thread of
// their own, so they never steal time from the proxy's workers' loops. The main thread
// talks to that loop only through one uv_async (start traffic, stop).
#include "proxy/demo/demo.h"

#include <uv.h>

#include <atomic>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "proxy/demo/demo_backend.h"
#include "proxy/demo/demo_traffic.h"
#include "proxy/log.h"

namespace sidemeter::demo {
namespace {

class DemoImpl final : public Demo {
 public:
  DemoImpl() {
    std::random_device rd;
    seed_ = (uint64_t(rd()) << 32) | rd();
  }
  ~DemoImpl() override { stop(); }

  bool start() {
    if (uv_loop_init(&loop_) != 0) return false;
    loop_ready_ = true;
    uv_async_init(&loop_, &wake_, on_wake);
    wake_.data = this;
    backend_ = std::make_unique<DemoBackend>(&loop_, seed_);
    std::string error;
    if (backend_->listen(error) != 0) {
      log::error("demo_backend_listen_failed", {{"error", error}});
      shut_down_handles();
      uv_run(&loop_, UV_RUN_DEFAULT);  // runs the close callbacks
      close_loop();
      return false;
    }
    thread_ = std::thread([this] {
      uv_run(&loop_, UV_RUN_DEFAULT);
      close_loop();
    });
    return true;
  }

  uint16_t upstream_port() const override { return backend_->port(); }

  void start_traffic(uint16_t proxy_port) override {
    uint16_t expected = 0;
    if (!thread_.joinable() || proxy_port == 0) return;
    if (traffic_port_.compare_exchange_strong(expected, proxy_port)) uv_async_send(&wake_);
  }

  void stop() override {
    std::lock_guard lock(stop_mu_);
    if (!thread_.joinable()) return;
    stopping_.store(true);
    uv_async_send(&wake_);
    thread_.join();
    traffic_.reset();
    backend_.reset();
  }

 private:
  static void on_wake(uv_async_t* a) {
    auto* self = static_cast<DemoImpl*>(a->data);
    if (self->stopping_.load()) return self->shut_down_handles();
    uint16_t port = self->traffic_port_.load();
    if (port != 0 && !self->traffic_) {
      self->traffic_ = std::make_unique<DemoTraffic>(&self->loop_, port, self->seed_ ^ 0x5eed);
      self->traffic_->start();
      std::string target = "127.0.0.1:" + std::to_string(port);
      log::info("demo_traffic",
                {{"target", target},
                 {"connections", unsigned(TrafficOptions{}.connections)},
                 {"approx_rate_per_s", unsigned(self->traffic_->approx_rate_per_s())},
                 {"backend", "127.0.0.1:" + std::to_string(self->backend_->port())}});
    }
  }

  void shut_down_handles() {
    if (traffic_) traffic_->close();
    backend_->close();
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  }

  void close_loop() {
    int rc = uv_loop_close(&loop_);
    // A leftover handle is a bug here, not a runtime condition; say so loudly.
    if (rc != 0) log::error("demo_loop_close_failed", {{"error", uv_strerror(rc)}});
  }

  uint64_t seed_ = 0;
  uv_loop_t loop_;
  bool loop_ready_ = false;
  uv_async_t wake_;
  std::unique_ptr<DemoBackend> backend_;
  std::unique_ptr<DemoTraffic> traffic_;
  std::atomic<uint16_t> traffic_port_{0};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Demo> start_demo() {
  auto demo = std::make_unique<DemoImpl>();
  if (!demo->start()) return nullptr;
  return demo;
}

}  // namespace sidemeter::demo
