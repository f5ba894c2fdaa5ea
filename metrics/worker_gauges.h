#pragma once
// Live gauges and event counters a worker keeps outside exchanges. One instance per
// worker, written only by that worker (relaxed load+store, no lock prefix), read by the
// stats thread which sums the workers. Each sits in the worker's own cache lines.
#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

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

// Why a connection on a PROXY-protocol listener was closed before its header was read
// (proxy/net/proxy_protocol.h). Label values of
// sidemeter_downstream_proxy_protocol_errors_total{reason}.
enum class ProxyProtocolError : uint8_t {
  kMissing,    // the first bytes are no PROXY header (e.g. a plain HTTP request)
  kMalformed,  // a header that breaks the grammar or the length bound
  kTruncated,  // the client closed (or reset) in the middle of the header
  kTimeout,    // no complete header within timeouts.request_header
  kVersion,    // a header of the version the listener does not accept
};
inline constexpr size_t kProxyProtocolErrors = 5;
inline constexpr std::array<std::string_view, kProxyProtocolErrors> kProxyProtocolErrorNames = {
    "missing", "malformed", "truncated", "timeout", "version"};

struct alignas(64) WorkerGauges {
  SingleWriterCounter downstream_connections_active;
  SingleWriterCounter upstream_connections_active;
  SingleWriterCounter requests_active;
  SingleWriterCounter downstream_connections_total;   // accepted
  SingleWriterCounter downstream_connections_refused; // over max_connections / draining
  SingleWriterCounter upstream_connections_total;     // opened
  SingleWriterCounter upstream_retries_total;         // idempotent retry on a fresh connection
  SingleWriterCounter tunnels_active;                 // upgraded (WebSocket) connections
  // Connections closed for their PROXY protocol header, by ProxyProtocolError.
  std::array<SingleWriterCounter, kProxyProtocolErrors> downstream_proxy_protocol_errors;
};

}  // namespace sidemeter::metrics
