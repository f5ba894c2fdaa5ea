#pragma once
// The stats port: its own listener on the control thread's loop, so it stays responsive
// however busy the workers are, and its requests are never counted as traffic.
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "conf/config.h"
#include "metrics/registry.h"

namespace sidemeter {

struct SharedState;

class StatsServer {
 public:
  StatsServer(uv_loop_t* loop, const conf::Config& config, metrics::Registry& registry,
              SharedState& shared);
  ~StatsServer();
  // Binds config.stats; returns false with `error` set.
  bool start(std::string& error);
  uint16_t port() const;
  // Called by the control loop after each registry tick (pushes stream frames).
  void on_tick();
  // Closes the listener and every stats connection (asynchronously).
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sidemeter
