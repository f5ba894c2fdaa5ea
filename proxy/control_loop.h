#pragma once
// The control thread: signals, the once-a-second metrics tick, upstream re-resolution,
// the stats port, and the drain sequence. Workers never wait on it.
#include <uv.h>

#include <memory>
#include <vector>

#include "conf/config.h"
#include "metrics/registry.h"
#include "proxy/memory_release.h"
#include "proxy/stats/stats_server.h"
#include "proxy/upstream_probe.h"
#include "proxy/worker.h"

namespace sidemeter {

class ControlLoop {
 public:
  ControlLoop(const conf::Config& config, SharedState& shared, metrics::Registry& registry,
              std::vector<std::unique_ptr<Worker>>& workers);
  ~ControlLoop();
  uv_loop_t* loop() { return &loop_; }
  // Binds the stats port; false with `error` set.
  bool start_stats(std::string& error);
  uint16_t stats_port() const;
  // Runs until every worker has finished draining. Returns the exit code.
  int run();

 private:
  void begin_drain(int signum);
  void on_worker_exit();
  void shutdown();

  const conf::Config& config_;
  SharedState& shared_;
  metrics::Registry& registry_;
  std::vector<std::unique_ptr<Worker>>& workers_;
  uv_loop_t loop_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_timer_t tick_timer_;
  uv_timer_t resolve_timer_;
  uv_timer_t drain_timer_;
  uv_async_t worker_exit_;
  uv_work_t resolve_work_;
  std::unique_ptr<StatsServer> stats_;
  UpstreamProbe probe_;
  MemoryRelease memory_release_;
  std::atomic<int> workers_running_{0};
  bool resolving_ = false;
  bool draining_ = false;
  bool drain_forced_ = false;
};

}  // namespace sidemeter
