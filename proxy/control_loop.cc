#include "proxy/control_loop.h"

#include "proxy/log.h"

namespace sidemeter {
namespace {
// Often enough for readiness to follow a backend restart within a probe period or two.
constexpr uint64_t kProbeIntervalMs = 2000;

template <typename T>
uv_handle_t* H(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}
}  // namespace

ControlLoop::ControlLoop(const conf::Config& config, SharedState& shared,
                         metrics::Registry& registry,
                         std::vector<std::unique_ptr<Worker>>& workers)
    : config_(config),
      shared_(shared),
      registry_(registry),
      workers_(workers),
      probe_(&loop_, shared, kProbeIntervalMs, config.timeouts.upstream_connect_ms) {
  uv_loop_init(&loop_);
  loop_.data = this;
  stats_ = std::make_unique<StatsServer>(&loop_, config_, registry_, shared_);
}

ControlLoop::~ControlLoop() = default;

bool ControlLoop::start_stats(std::string& error) { return stats_->start(error); }
uint16_t ControlLoop::stats_port() const { return stats_->port(); }

int ControlLoop::run() {
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sigterm_.data = sigint_.data = this;
  auto on_signal = [](uv_signal_t* s, int signum) {
    static_cast<ControlLoop*>(s->data)->begin_drain(signum);
  };
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_start(&sigint_, on_signal, SIGINT);

  uv_timer_init(&loop_, &tick_timer_);
  tick_timer_.data = this;
  // Ticking a little faster than 1 Hz keeps slots aligned to whole seconds without
  // drift; the registry ignores a tick within the same second.
  uv_timer_start(&tick_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<ControlLoop*>(t->data);
    uint64_t before = self->registry_.ticks();
    self->stats_->set_upstream_reachable(self->shared_.upstream_reachable.load());
    self->registry_.tick();
    if (self->registry_.ticks() != before) self->stats_->on_tick();
    int64_t conns = self->shared_.downstream_connections.load(std::memory_order_relaxed);
    int64_t peak = self->shared_.downstream_connections_peak.exchange(conns);
    if (self->memory_release_.should_trim(peak, conns) && !self->draining_) {
      for (auto& w : self->workers_) w->request_memory_trim();
      int64_t delta = release_free_memory();
      log::info("memory_released", {{"connections", conns}, {"inner_pages_kib", -delta}});
    }
  }, 250, 250);

  uv_timer_init(&loop_, &resolve_timer_);
  resolve_timer_.data = this;
  resolve_work_.data = this;
  if (config_.pool.resolve_interval_ms > 0) {
    uv_timer_start(&resolve_timer_, [](uv_timer_t* t) {
      auto* self = static_cast<ControlLoop*>(t->data);
      if (self->resolving_) return;
      self->resolving_ = true;
      // getaddrinfo blocks: run it on libuv's thread pool, never on this loop.
      uv_queue_work(&self->loop_, &self->resolve_work_,
                    [](uv_work_t* w) {
                      static_cast<ControlLoop*>(w->data)->shared_.upstream->refresh();
                    },
                    [](uv_work_t* w, int) { static_cast<ControlLoop*>(w->data)->resolving_ = false; });
    }, config_.pool.resolve_interval_ms, config_.pool.resolve_interval_ms);
  }

  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  probe_.start();

  uv_async_init(&loop_, &worker_exit_, [](uv_async_t* a) {
    static_cast<ControlLoop*>(a->data)->on_worker_exit();
  });
  worker_exit_.data = this;

  workers_running_.store(int(workers_.size()));
  for (auto& w : workers_) {
    w->set_on_exit([this] {
      workers_running_.fetch_sub(1);
      uv_async_send(&worker_exit_);
    });
    w->start();
  }

  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& w : workers_) w->join();
  int rc = uv_loop_close(&loop_);
  if (rc != 0) log::error("control_loop_not_closed", {{"rc", rc}});
  log::info("drained", {{"forced", drain_forced_}});
  return 0;
}

void ControlLoop::begin_drain(int signum) {
  if (draining_) {
    log::warn("second_signal_forcing_stop", {{"signal", signum}});
    drain_forced_ = true;
    for (auto& w : workers_) w->force_stop();
    return;
  }
  draining_ = true;
  shared_.draining.store(true);  // /readyz answers 503 from now on
  log::info("draining", {{"signal", signum},
                         {"drain_delay_ms", config_.timeouts.drain_delay_ms},
                         {"drain_timeout_ms", config_.timeouts.drain_timeout_ms}});
  // Keep accepting for drain_delay so load balancers see the failing readiness first.
  uv_timer_start(&drain_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<ControlLoop*>(t->data);
    for (auto& w : self->workers_) w->begin_drain();
    uint64_t rest = self->config_.timeouts.drain_timeout_ms > self->config_.timeouts.drain_delay_ms
                        ? self->config_.timeouts.drain_timeout_ms - self->config_.timeouts.drain_delay_ms
                        : 1;
    uv_timer_start(&self->drain_timer_, [](uv_timer_t* t2) {
      auto* s = static_cast<ControlLoop*>(t2->data);
      log::warn("drain_timeout", {{"workers_running", s->workers_running_.load()}});
      s->drain_forced_ = true;
      for (auto& w : s->workers_) w->force_stop();
    }, rest, 0);
  }, config_.timeouts.drain_delay_ms, 0);
}

void ControlLoop::on_worker_exit() {
  if (workers_running_.load() == 0) shutdown();
}

void ControlLoop::shutdown() {
  stats_->close();
  probe_.close();
  uv_close(H(&sigterm_), nullptr);
  uv_close(H(&sigint_), nullptr);
  uv_close(H(&tick_timer_), nullptr);
  uv_close(H(&resolve_timer_), nullptr);
  uv_close(H(&drain_timer_), nullptr);
  uv_close(H(&worker_exit_), nullptr);
}

}  // namespace sidemeter
