#pragma once
// "Upstream reachable" for /readyz and sidemeter_upstream_up. Workers set it from every
// real connect (success or failure), so a healthy upstream sees no probe traffic at all.
// Until it is reachable (at start, or once it is down, when nothing may be trying to
// connect) this probe opens a plain TCP connection every interval until one succeeds.
#include <uv.h>

#include <cstdint>
#include <memory>

#include "proxy/upstream/upstream_target.h"

namespace sidemeter {

class UpstreamProbe {
 public:
  explicit UpstreamProbe(uv_loop_t* loop) : loop_(loop) {}
  // Probes at once, then every interval_ms while the target is unreachable.
  void start(std::shared_ptr<UpstreamTarget> target, uint64_t interval_ms, uint64_t timeout_ms);
  // A reload: a new target (probed at once if not known reachable) or new timings.
  void reconfigure(std::shared_ptr<UpstreamTarget> target, uint64_t interval_ms,
                   uint64_t timeout_ms);
  void close();

 private:
  struct Attempt;
  void probe();
  void finish(Attempt* a, bool ok);

  uv_loop_t* loop_;
  std::shared_ptr<UpstreamTarget> target_;
  uint64_t interval_ms_ = 0;
  uint64_t timeout_ms_ = 0;
  uv_timer_t timer_;
  Attempt* in_flight_ = nullptr;
  bool started_ = false;
  bool closed_ = false;
};

}  // namespace sidemeter
