#pragma once
// One worker's cumulative figures. The worker thread is the only writer (no locks, no
// read-modify-write instructions); the registry's stats thread reads them with relaxed
// loads and turns successive readings into per-second deltas. Each record() is one write
// section of a sequence lock, so the reader can take the counters of whole records only
// (requests, errors, classes, kinds of the same records: a ratio of two of them is exact,
// never above 1); histograms are read outside it and may lead or lag by a record.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "metrics/counters.h"
#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/route_template.h"
#include "metrics/seqlock.h"
#include "metrics/tls_stats.h"
#include "metrics/worker_gauges.h"

namespace sidemeter::metrics {

// What "an error" is: is_error() in exchange_sample.h, with the rest of the policy.
// A rejected request (local 4xx) never reaches upstream figures; retries count attempts,
// not requests (requests = exchanges recorded).

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

  // One (route, method, status code, error type) series of
  // http_server_request_duration_seconds, allocated when the series is claimed. Its key:
  // kSeriesClaimed | error type << 16 | status code (0: none sent), or one of the two
  // overflow keys. The route's latency is the sum of its series (the registry adds them),
  // so each exchange is recorded in one histogram only.
  struct CodeSeries {
    explicit CodeSeries(uint32_t k) : key(k) {}
    const uint32_t key;
    AtomicHistogram latency{kDurationLayout};  // ns, full resolution; its sum is the series'
  };
  static constexpr uint32_t kSeriesClaimed = 1u << 31;
  static constexpr uint32_t series_key(uint16_t status, ErrorType type) {
    return kSeriesClaimed | uint32_t(type) << 16 | status;
  }
  // Pairs beyond the first kMaxSeriesPerRoute - 2 of a route share one of the last two
  // slots: completed normally, or not (whose error type is then "_OTHER").
  static constexpr uint32_t kOverflowOk = 1;
  static constexpr uint32_t kOverflowError = 2;

  struct RouteMethod {
    RouteMethod() = default;
    RouteMethod(const RouteMethod&) = delete;
    RouteMethod& operator=(const RouteMethod&) = delete;
    ~RouteMethod();
    // The route id's RouteTable::generation() when created: an id reused for another
    // template gets a fresh RouteMethod, so the new route inherits nothing.
    uint32_t generation = 0;
    Count requests, errors, request_body_bytes, response_body_bytes;
    std::array<Count, kStatusClasses> status_classes;
    // Claimed series, each published with release (nullptr: free).
    std::array<std::atomic<CodeSeries*>, kMaxSeriesPerRoute> codes{};
    // Writer only: the keys of the first codes_used slots; the slot of the previous record
    // (most records of a route repeat its key), else a scan of at most 14 keys.
    std::array<uint32_t, kMaxSeriesPerRoute - 2> keys{};
    uint8_t codes_used = 0;
    uint8_t last_slot = 0;
  };

  struct RejectReason {
    std::atomic<const char*> reason{nullptr};  // published with release once claimed
    Count count;
  };

  RouteMethod& route_method(uint32_t route, Method m);
  // route_method's slow path: a fresh RouteMethod in slot (the old one retired).
  RouteMethod& fresh_route_method(std::atomic<RouteMethod*>& slot, uint32_t generation);
  void record_series(RouteMethod& rm, uint16_t status, ErrorType type, uint64_t latency_ns);
  // The slot of key's series, claimed (and allocated) if new.
  size_t claim_series(RouteMethod& rm, uint32_t key);
  void record_reject(const char* reason);

  // Each record() is one write section: the registry reads whole records only.
  SeqLock seq_;
  RouteTable& route_table_;
  RouteCache route_cache_;
  const size_t route_slots_;  // RouteTable::id_count() * kMethods

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
  // RouteMethods replaced because their id changed template (rare: evictions, dropped
  // patterns). The registry may still be reading them, so it frees them (take_retired).
  std::mutex retired_mu_;
  std::vector<RouteMethod*> retired_;  // guarded by retired_mu_

  WorkerGauges gauges_;
  TlsCounters tls_;
};

}  // namespace sidemeter::metrics
