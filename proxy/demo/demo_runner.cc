#include "proxy/demo/demo_runner.h"

#include <random>
#include <string>

#include "proxy/log.h"

namespace sidemeter::demo {

DemoRunner::DemoRunner(TrafficOptions traffic) : traffic_options_(traffic) {
  std::random_device rd;
  seed_ = (uint64_t(rd()) << 32) | rd();
}

DemoRunner::~DemoRunner() { stop(); }

bool DemoRunner::start() {
  if (uv_loop_init(&loop_) != 0) return false;
  uv_async_init(&loop_, &wake_, on_wake);
  wake_.data = this;
  backend_ = std::make_unique<DemoBackend>(&loop_, seed_);
  std::string error;
  if (backend_->listen(error) != 0) {
    log::error("demo_backend_listen_failed", {{"error", error}});
    shut_down_handles();
    uv_run(&loop_, UV_RUN_DEFAULT);  // runs the close callbacks
    loop_close_rc_ = uv_loop_close(&loop_);
    return false;
  }
  port_ = backend_->port();
  thread_ = std::thread([this] {
    uv_run(&loop_, UV_RUN_DEFAULT);
    loop_close_rc_ = uv_loop_close(&loop_);
    // A leftover handle is a bug, not a runtime condition: say so loudly.
    if (loop_close_rc_ != 0)
      log::error("demo_loop_close_failed", {{"error", uv_strerror(loop_close_rc_)}});
  });
  return true;
}

void DemoRunner::start_traffic(uint16_t proxy_port) {
  uint16_t expected = 0;
  if (proxy_port == 0) return;
  if (traffic_port_.compare_exchange_strong(expected, proxy_port)) {
    std::lock_guard lock(stop_mu_);  // the async handle is closed once stop() ran
    if (thread_.joinable()) uv_async_send(&wake_);
  }
}

void DemoRunner::stop() {
  std::lock_guard lock(stop_mu_);
  if (!thread_.joinable()) return;
  stopping_.store(true);
  uv_async_send(&wake_);
  thread_.join();
}

void DemoRunner::on_wake(uv_async_t* a) {
  auto* self = static_cast<DemoRunner*>(a->data);
  // uv_async_send coalesces, so one wake-up may carry both requests; stop wins.
  if (self->stopping_.load()) return self->shut_down_handles();
  uint16_t port = self->traffic_port_.load();
  if (port == 0 || self->traffic_) return;
  self->traffic_ = std::make_unique<DemoTraffic>(&self->loop_, port, self->seed_ ^ 0x5eed,
                                                 self->counters_, self->traffic_options_);
  self->traffic_->start();
  log::info("demo_traffic", {{"target", "127.0.0.1:" + std::to_string(port)},
                             {"backend", "127.0.0.1:" + std::to_string(self->port_)},
                             {"connections", unsigned(self->traffic_options_.connections)},
                             {"approx_rate_per_s", unsigned(self->traffic_->approx_rate_per_s())}});
}

void DemoRunner::shut_down_handles() {
  if (traffic_) traffic_->close();
  backend_->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
}

}  // namespace sidemeter::demo
