#pragma once
// What the stats endpoint formats: plain values, copied out of the registry under its lock,
// so the formatter never touches live counters.
#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/counters.h"
#include "metrics/histogram.h"
#include "metrics/process_stats.h"
#include "metrics/route_template.h"
#include "metrics/tls_stats.h"
#include "metrics/worker_gauges.h"

namespace sidemeter::metrics {

enum class Window : uint8_t { k1s, k10s, k1m, k5m, kTotal, kCount };
inline constexpr size_t kWindows = size_t(Window::kCount);
inline constexpr std::array<std::string_view, kWindows> kWindowNames = {"1s", "10s", "1m", "5m",
                                                                        "total"};
// Length in one-second slots of the rolling windows (total has none).
inline constexpr std::array<uint32_t, kWindows - 1> kWindowSlots = {1, 10, 60, 300};

// The quantiles every DurationSummary / SizeSummary is computed at, ascending.
inline constexpr std::array<double, 5> kSummaryQuantiles = {0.5, 0.9, 0.95, 0.99, 0.999};

// A quantile estimate is its bucket's midpoint (histogram.h), which can lie above the
// largest value that bucket actually held: estimates are capped at the summary's max when
// it is known (> 0), so no percentile shown exceeds the max shown beside it. The true
// quantile is never above the max, so the cap only brings an estimate closer to it.
inline void cap_quantiles_at_max(std::span<double> estimates, uint64_t max) {
  if (max == 0) return;
  for (double& e : estimates) e = std::min(e, double(max));
}

struct DurationSummary {
  uint64_t count = 0;
  double avg_ms = 0, p50_ms = 0, p90_ms = 0, p95_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};

// `h`'s count, mean and kSummaryQuantiles in ms (±1 %, see histogram.h); `max` is the
// largest value it saw (the histogram alone only knows its bucket).
DurationSummary summarize_duration(const Histogram& h, uint64_t max);

struct SizeSummary {
  uint64_t count = 0;
  uint64_t total = 0;  // bytes
  double avg = 0, p50 = 0, p95 = 0;
  uint64_t max = 0;
};

struct WindowStats {
  double seconds = 0;  // time actually covered: min(window, uptime in whole seconds)
  uint64_t requests = 0;
  double rps = 0;       // requests / seconds
  uint64_t errors = 0;  // see is_error() in shard.h
  double error_rate = 0;
  // Per DurationMetric / SizeMetric.
  std::array<DurationSummary, kDurationMetrics> durations{};
  std::array<SizeSummary, kSizeMetrics> sizes{};
  // Status classes, upstream/downstream errors per kind (index = enum value, [0] unused),
  // attempts, retries and byte totals.
  Scalars totals;
  std::vector<std::pair<uint16_t, uint64_t>> status_codes;  // non-zero, ascending code
  std::vector<std::pair<std::string, uint64_t>> rejected;   // per reason, non-zero
  // Process CPU over the window: 100 = one full core; of_quota: 100 = the whole cgroup
  // quota. -1 when unknown (no quota, no samples, or the "total" window for of_quota).
  double cpu_percent = -1;
  double cpu_percent_of_quota = -1;

  const DurationSummary& latency() const { return durations[size_t(DurationMetric::kLatency)]; }
};

struct RouteWindowStats {
  double seconds = 0;
  uint64_t requests = 0;
  double rps = 0;
  uint64_t errors = 0;
  double error_rate = 0;
  std::array<uint64_t, kStatusClasses> status_classes{};
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
  DurationSummary latency;
};

struct RouteStats {
  std::string route;  // template, or "other"
  Method method = Method::kOther;
  std::array<RouteWindowStats, kWindows> windows{};
};

// One http_server_request_duration_seconds series, cumulative since start.
struct DurationSeries {
  std::string route;
  Method method = Method::kOther;
  uint16_t code = 0;        // status sent downstream; 0 = none went out
  bool code_other = false;  // pairs beyond the route's kMaxSeriesPerRoute - 2, merged
  // kNone: completed normally; kOther also for merged pairs that did not.
  ErrorType error_type = ErrorType::kNone;
  // Per bucket, NOT cumulative: buckets[i] counts durations <= kRequestDurationBounds[i]
  // and > the previous bound; the last entry is the +Inf bucket. Derived from `histogram`
  // (counts_at_bounds: a duration above a bound is never counted under it; one below it by
  // less than a bucket width, 1.09 %, may be counted above it).
  std::array<uint64_t, kRequestDurationBuckets> buckets{};
  uint64_t count = 0;
  double sum_seconds = 0;
  // The same series at full resolution, in ns (Histogram's layout; to_native() gives the
  // Prometheus native / OTLP exponential view); count and sum are its count and sum.
  Histogram histogram{kDurationLayout};
};

struct GaugeTotals {  // WorkerGauges summed over the workers
  int64_t downstream_connections_active = 0;
  int64_t upstream_connections_active = 0;
  int64_t requests_active = 0;
  int64_t downstream_connections_total = 0;
  int64_t downstream_connections_refused = 0;
  int64_t upstream_connections_total = 0;
  int64_t upstream_retries_total = 0;
  int64_t tunnels_active = 0;
  std::array<int64_t, kProxyProtocolErrors> downstream_proxy_protocol_errors{};  // by ProxyProtocolError
};

struct Snapshot {
  uint64_t ticks = 0;         // one-second slots completed since start (incl. missed ones)
  double uptime_seconds = 0;  // clock time since the registry was created
  std::array<WindowStats, kWindows> windows{};
  std::vector<RouteStats> routes;  // (route, method) pairs seen, by route id then method
  std::vector<DurationSeries> request_duration;
  // Cumulative since start, per DurationMetric (ns) / SizeMetric (bytes), read from the
  // shards when the snapshot is built (as request_duration is); max() is the maximum since
  // start. Layouts give the bucket bounds.
  std::vector<Histogram> duration_histograms;
  std::vector<Histogram> size_histograms;
  GaugeTotals gauges;
  ProcessFigures process;  // valid=false when process stats are disabled
  // Handshakes summed over the workers since start, and the certificates loaded now.
  TlsStats tls;
  RouteTableStats route_table;  // admissions, evictions, routes in use

  const WindowStats& window(Window w) const { return windows[size_t(w)]; }
};

// One second of history: what one completed slot held, summarized when the slot closed
// (GET /stats/history backfills dashboards with these). The newest point carries the same
// figures as that tick's "1s" window.
struct HistoryPoint {
  uint64_t seq = 0;       // slot: 1-based second since start; equals Snapshot::ticks while newest
  uint64_t requests = 0;  // in that second, so also the rate per second
  uint64_t errors = 0;
  double error_rate = 0;
  uint64_t upstream_errors = 0;  // all kinds
  std::array<DurationSummary, kDurationMetrics> durations{};
  std::array<SizeSummary, kSizeMetrics> sizes{};
  // Process CPU over the second (100 = one core), -1 when unknown (process stats off, or a
  // second without a tick). After a gap in ticks the next point averages over the gap.
  double cpu_percent = -1;
  // Resident memory at the tick that closed that second (read with the CPU time), -1 when
  // unknown like cpu_percent.
  int64_t rss_bytes = -1;

  const DurationSummary& latency() const { return durations[size_t(DurationMetric::kLatency)]; }
};

// The last up to SlotRing::kCapacity (300) completed seconds, oldest first, one point per
// second with no holes: seconds nobody ticked are zero points.
struct History {
  uint64_t ticks = 0;  // seq of the newest point (0: none yet)
  std::vector<HistoryPoint> points;
};

}  // namespace sidemeter::metrics
