#pragma once
// Live gauges and event counters a worker keeps outside exchanges. One instance per
// worker, written only by that worker (relaxed load+store, no lock prefix), read by the
// stats thread which sums the workers. Each sits in the worker's own cache lines.
#include <atomic>
#include <cstdint>

namespace sidemeter::metrics {

class SingleWriterCounter {
 public:
  void add(int64_t d) { v_.store(v_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed); }
  void inc() { add(1); }
  void dec() { add(-1); }
  int64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

struct alignas(64) WorkerGauges {
  SingleWriterCounter downstream_connections_active;
  SingleWriterCounter upstream_connections_active;
  SingleWriterCounter requests_active;
  SingleWriterCounter downstream_connections_total;   // accepted
  SingleWriterCounter downstream_connections_refused; // over max_connections / draining
  SingleWriterCounter upstream_connections_total;     // opened
  SingleWriterCounter upstream_retries_total;         // idempotent retry on a fresh connection
  SingleWriterCounter tunnels_active;                 // upgraded (WebSocket) connections
};

}  // namespace sidemeter::metrics
