#pragma once
// GET /metrics: the snapshot in the Prometheus text format 0.0.4, OpenMetrics 1.0 or the
// protobuf format (delimited io.prometheus.client.MetricFamily, with native histograms).
// Names follow the OpenTelemetry HTTP semantic conventions in their Prometheus form
// (http_server_request_duration_seconds, ...); proxy-specific series carry the sidemeter_
// prefix. Units are seconds and bytes throughout.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "metrics/alerts/engine.h"
#include "metrics/counters.h"
#include "metrics/duration_bounds.h"
#include "metrics/histogram.h"
#include "metrics/snapshot.h"
#include "metrics/tls_stats.h"
#include "proxy/stats/exposition_sink.h"

namespace sidemeter::stats {

enum class ExpositionFormat : uint8_t { kPrometheusText, kOpenMetrics, kProtobuf };

// The Accept header's choice (RFC 9110 §12.5.1 q-values, content_negotiation.h) among
// Prometheus text 0.0.4, OpenMetrics 1.0.0 and protobuf
// (application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
// encoding=delimited); Prometheus text when the header accepts none of them or is absent.
ExpositionFormat negotiate_exposition(std::string_view accept_header);
std::string_view exposition_content_type(ExpositionFormat f);

// Fixed bucket boundaries, identical in every pod so that series aggregate across pods.
// Upstream connect and proxy overhead live well below 100 us, so their set starts lower;
// otherwise they match http_server_request_duration_seconds (metrics/counters.h).
inline constexpr auto kFineDurationBounds = [] {
  std::array<double, 4 + metrics::kRequestDurationBounds.size()> b{0.000005, 0.00001, 0.000025,
                                                                   0.00005};
  for (size_t i = 0; i < metrics::kRequestDurationBounds.size(); ++i) {
    b[4 + i] = metrics::kRequestDurationBounds[i];
  }
  return b;
}();
// Bytes: powers of four from 64 B to 1 GiB.
inline constexpr std::array<double, 13> kSizeBounds = {
    64,      256,     1024,     4096,     16384,     65536,     262144,
    1048576, 4194304, 16777216, 67108864, 268435456, 1073741824};

// Cumulative counts of a histogram at fixed boundaries: out[i] = samples <= bounds[i]
// (bounds in the histogram's unit times `unit`, e.g. 1e-9 for ns -> s). A bucket that
// straddles a boundary is counted above it: a value above a bound is never counted under
// it; one at or below it by less than a bucket width (1.09 %) may be counted above it.
void cumulative_at_bounds(const metrics::Histogram& h, std::span<const double> bounds, double unit,
                          std::span<uint64_t> out);

// Figures the registry does not hold: the stats server's own state.
struct ExpositionExtras {
  bool upstream_up = true;
  uint64_t stats_unauthorized = 0;  // requests refused with 401
  uint64_t stream_subscribers = 0;  // open /stats/stream connections
  uint64_t stream_dropped = 0;      // subscribers dropped for falling behind
  // The configuration in force (sidemeter_build_info{config_hash}) and reload outcomes.
  std::string_view config_hash;
  uint64_t config_reloads_success = 0;
  uint64_t config_reloads_failure = 0;
  double config_last_reload_success_s = 0;  // Unix time of the last successful load
  // Alert and SLO state of this tick (null: no families), deliveries per receiver.
  const metrics::alerts::Status* alerts = nullptr;
  struct Delivery {
    std::string_view receiver;  // the receiver's URL
    uint64_t success = 0, failure = 0, dropped = 0;
  };
  std::span<const Delivery> deliveries;
  // The access log's counters (proxy/access_log/writer.h); left out when absent.
  struct AccessLog {
    uint64_t lines = 0;
    uint64_t dropped_queue_full = 0;
    uint64_t dropped_write_error = 0;
  };
  std::optional<AccessLog> access_log;
  // Sides with TLS configured (by metrics::TlsSide): the TLS families show a side when it
  // is configured or has counted anything, with every version and reason at 0 included.
  std::array<bool, metrics::kTlsSides> tls_configured{};
  // Classic bounds (seconds, ascending) of sidemeter_request_duration_seconds (service-wide)
  // and of http_server_request_duration_seconds (per route, method, code, error type):
  // stats.histogram_buckets in the config. Spans must outlive the call.
  std::span<const double> request_duration_bounds = metrics::kRequestDurationBounds;
  std::span<const double> route_request_duration_bounds = metrics::kRouteRequestDurationBounds;
};

// Cumulative counts of one http_server_request_duration_seconds series at `bounds`
// (seconds): from its full-resolution histogram when the registry filled it (any bounds,
// see cumulative_at_bounds), else from its fixed buckets, where a bound between two of
// kRequestDurationBounds counts only the buckets wholly below it.
void series_cumulative_at_bounds(const metrics::DurationSeries& s, std::span<const double> bounds,
                                 std::span<uint64_t> out);

// Whether the TLS families (and /stats "tls") report `side`: configured now, or counted
// something since start (a side switched off by a reload keeps its counters).
bool tls_side_shown(const metrics::TlsStats& tls, metrics::TlsSide side, bool configured);

void append_exposition(const metrics::Snapshot& snap, const ExpositionExtras& extras,
                       ExpositionFormat format, std::string& out);
// The same families into any sink (exposition_sink.h).
void append_exposition(const metrics::Snapshot& snap, const ExpositionExtras& extras,
                       ExpositionSink& sink);

}  // namespace sidemeter::stats
