#pragma once
// The stats port's settings, taken from the `stats:` section of a config snapshot
// (conf/config.h). Everything but the address applies on a reload.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "conf/config.h"

namespace sidemeter::stats {

struct StatsOptions {
  conf::HostPort address{"127.0.0.1", 9901};  // restart-only
  std::string bearer_token;  // empty: no protection
  conf::HostPort statsd;     // port 0: no push sink
  uint32_t statsd_interval_s = 10;
  bool statsd_dogstatsd_tags = true;
  std::string statsd_prefix = "sidemeter.";
  uint32_t stream_interval_s = 1;  // in registry ticks (one per second)
  // A subscriber whose unsent bytes would pass this is dropped: memory stays bounded
  // and the control loop never waits for a slow reader.
  size_t max_subscriber_buffer_bytes = size_t{1} << 20;
  // Plain requests: reading pauses while this many response bytes are unsent.
  size_t max_response_backlog_bytes = size_t{4} << 20;
  uint32_t max_connections = 1024;    // stats connections incl. subscribers
  uint64_t idle_timeout_ms = 30'000;  // no complete request for this long: close
  // TLS configured on the listener / towards the upstream: the TLS figures show that side
  // (with zeros) even before its first handshake.
  bool tls_downstream = false;
  bool tls_upstream = false;
  // Classic bounds of the request duration histograms (stats.histogram_buckets).
  std::vector<double> request_duration_bounds = conf::HistogramBuckets{}.request_duration;
  std::vector<double> route_request_duration_bounds =
      conf::HistogramBuckets{}.route_request_duration;
};

StatsOptions options_from_config(const conf::Config& config);

}  // namespace sidemeter::stats
