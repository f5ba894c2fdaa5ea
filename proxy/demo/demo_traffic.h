#pragma once
// Light demo traffic: a few keep-alive clients sending a random mix of the demo routes
// to 127.0.0.1:<port> with exponential think times, reconnecting (with backoff) whenever
// a connection fails or is closed. Runs on the loop it is given; every method but the
// counters must be called on that loop's thread.
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/demo/demo_rng.h"

namespace sidemeter::demo {

struct TrafficOptions {
  uint32_t connections = 4;
  // Mean pause between a response and the next request on one connection. With 4
  // connections and the routes' latencies this gives roughly 25-35 requests/s in total.
  uint32_t mean_think_ms = 100;
  uint32_t request_timeout_ms = 10'000;
  uint32_t min_reconnect_ms = 250;
  uint32_t max_reconnect_ms = 5'000;
};

class TrafficClient;

// Shared with other threads (the demo's owner reads them), hence atomics.
struct TrafficCounters {
  std::atomic<uint64_t> responses{0};  // complete responses received
  std::atomic<uint64_t> connects{0};   // connections established
  std::atomic<uint64_t> failures{0};   // failed connects/exchanges (each backs off)
};

class DemoTraffic {
 public:
  DemoTraffic(uv_loop_t* loop, uint16_t port, uint64_t seed, TrafficCounters& counters,
              TrafficOptions options = {});
  ~DemoTraffic();
  DemoTraffic(const DemoTraffic&) = delete;
  DemoTraffic& operator=(const DemoTraffic&) = delete;

  void start();
  // Closes every handle; the clients stay allocated until this object is destroyed
  // (after the loop has run the close callbacks).
  void close();

  uint16_t port() const { return port_; }
  uint32_t approx_rate_per_s() const;

 private:
  friend class TrafficClient;
  uv_loop_t* loop_;
  uint16_t port_;
  TrafficOptions options_;
  DemoRng rng_;
  std::vector<std::unique_ptr<TrafficClient>> clients_;
  TrafficCounters& counters_;
  char read_buffer_[64 * 1024];
};

// One request of the demo mix (exposed for tests): raw bytes plus the method, so the
// response parser knows whether a body follows.
struct DemoTrafficRequest {
  std::string bytes;
  bool head = false;
};
DemoTrafficRequest next_demo_request(DemoRng& rng);

}  // namespace sidemeter::demo
