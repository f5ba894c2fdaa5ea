#pragma once
// One worker's cumulative figures. The worker thread is the only writer (no locks, no
// read-modify-write instructions); the registry's stats thread reads them with relaxed
// loads and turns successive readings into per-second deltas.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "metrics/counters.h"
#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/route_template.h"
#include "metrics/tls_stats.h"
#include "metrics/worker_gauges.h"

namespace sidemeter::metrics {

// What "an error" is, decided once for every figure that says "errors":
//  - a 5xx was sent downstream (whoever generated it), or
//  - no response was sent (status 0) because of an upstream error.
// 4xx are the client's problem: counted per class and code, never as errors. Client aborts
// and other downstream failures are counted per kind in downstream_errors, not as errors.
// A rejected request (local 4xx) never reaches upstream figures; retries count attempts,
// not requests (requests = exchanges recorded).
bool is_error(const ExchangeSample& s);

class Registry;

class alignas(64) Shard final : public Recorder {
 public:
  // routes: the process-wide table; the shard keeps its own lock-free cache of it.
  explicit Shard(RouteTable& routes);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard() override;

  // Worker thread only.
  void record(const ExchangeSample& sample) override;
  WorkerGauges& gauges() { return gauges_; }
  const WorkerGauges& gauges() const { return gauges_; }
  // The worker's TLS handshakes (its TLS transport is the one writer).
  TlsCounters& tls() { return tls_; }
  const TlsCounters& tls() const { return tls_; }

 private:
  friend class Registry;

  // One (route, method, status code) series of http_server_request_duration_seconds.
  struct CodeSeries {
    std::atomic<uint16_t> code{0};  // 0 = free; published with release once claimed
    std::array<Count, kRequestDurationBuckets> buckets;  // per bucket, not cumulative
    Count sum_ns;
  };
  static constexpr uint16_t kOverflowCode = 1;  // codes beyond kMaxCodesPerRoute

  struct RouteMethod {
    Count requests, errors, request_body_bytes, response_body_bytes;
    std::array<Count, kStatusClasses> status_classes;
    AtomicHistogram latency{kDurationLayout};
    std::array<CodeSeries, kMaxCodesPerRoute> codes;
    std::array<uint8_t, kStatusCodes> code_slot{};  // writer only: status -> slot + 1
    uint8_t codes_used = 0;                         // writer only
  };

  struct RejectReason {
    std::atomic<const char*> reason{nullptr};  // published with release once claimed
    Count count;
  };

  RouteMethod& route_method(uint32_t route, Method m);
  void record_code(RouteMethod& rm, uint16_t status, uint64_t latency_ns);
  void record_reject(const char* reason);

  RouteCache route_cache_;
  const size_t route_slots_;  // (max_routes + 1) * kMethods

  Count requests_, errors_;
  std::array<Count, kStatusClasses> status_classes_;
  std::array<Count, kStatusCodes> status_codes_;
  std::array<Count, kUpstreamErrorKinds> upstream_errors_;
  std::array<Count, kDownstreamErrorKinds> downstream_errors_;
  Count upstream_attempts_, upstream_retries_;
  Count request_head_bytes_, request_body_bytes_, response_head_bytes_, response_body_bytes_;
  std::array<AtomicHistogram, kDurationMetrics> durations_;
  std::array<AtomicHistogram, kSizeMetrics> sizes_;
  std::array<RejectReason, kMaxRejectReasons> rejects_;  // last one doubles as "other"
  // Created by the writer on first use of a (route, method), published with release.
  std::unique_ptr<std::atomic<RouteMethod*>[]> routes_;

  WorkerGauges gauges_;
  TlsCounters tls_;
};

}  // namespace sidemeter::metrics
