#pragma once
// "Upstream reachable" for /readyz and sidemeter_upstream_up. Workers set it from every
// real connect (success or failure), so a healthy upstream sees no probe traffic at all.
// Once it is down, nothing may be trying to connect, so this probe opens a plain TCP
// connection every few seconds until one succeeds.
#include <uv.h>

#include <cstdint>

namespace sidemeter {

struct SharedState;

class UpstreamProbe {
 public:
  UpstreamProbe(uv_loop_t* loop, SharedState& shared, uint64_t interval_ms, uint64_t timeout_ms);
  void start();
  void close();

 private:
  struct Attempt;
  void probe();
  void finish(Attempt* a, bool ok);

  uv_loop_t* loop_;
  SharedState& shared_;
  uint64_t interval_ms_;
  uint64_t timeout_ms_;
  uv_timer_t timer_;
  Attempt* in_flight_ = nullptr;
  bool closed_ = false;
};

}  // namespace sidemeter
