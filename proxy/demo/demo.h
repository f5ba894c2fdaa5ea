#pragma once
// Newcomer mode: with no --upstream, sidemeter starts a small demo backend (varied
// latency, sizes and some errors) and light traffic through itself, so the dashboard
// has something to show at once.
#include <cstdint>
#include <memory>

namespace sidemeter::demo {

class Demo {
 public:
  virtual ~Demo() = default;
  virtual uint16_t upstream_port() const = 0;
  // Start sending light traffic to the proxy's listen port (127.0.0.1).
  virtual void start_traffic(uint16_t proxy_port) = 0;
  virtual void stop() = 0;
};

// Starts the demo backend on 127.0.0.1 (kernel-chosen port) on its own thread.
std::unique_ptr<Demo> start_demo();

}  // namespace sidemeter::demo
