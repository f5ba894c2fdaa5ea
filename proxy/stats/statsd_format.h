#pragma once
// The StatsD / DogStatsD push sink's lines. Counters are exact deltas of the cumulative
// totals since the previous flush; gauges and duration figures come from the rolling
// window that best matches the flush interval. Durations are sent as gauges
// ("sidemeter.latency_ms.p99:12.5|g"), not as "|ms" timers: a StatsD timer expects raw
// samples, and feeding it our percentiles would make the server compute percentiles of
// percentiles.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "metrics/counters.h"
#include "metrics/snapshot.h"

namespace sidemeter::stats {

struct StatsdFormatOptions {
  std::string prefix = "sidemeter.";
  bool dogstatsd_tags = true;      // "|#k:v" tags; plain StatsD gets the tag folded into the name
  size_t max_packet_bytes = 1432;  // fits one Ethernet frame with IPv6 and UDP headers
};

// The smallest window covering `interval_s` seconds (1s, 10s, 1m, else 5m).
metrics::Window statsd_window_for(uint32_t interval_s);

class StatsdFormatter {
 public:
  explicit StatsdFormatter(StatsdFormatOptions options) : options_(std::move(options)) {}
  // New naming; the counters of the previous flush stay, so deltas continue.
  void set_options(StatsdFormatOptions options) { options_ = std::move(options); }

  // Appends datagram payloads (newline-separated lines, each <= max_packet_bytes unless a
  // single line is longer) to `packets`.
  void format(const metrics::Snapshot& snap, metrics::Window window, bool upstream_up,
              std::vector<std::string>& packets);

 private:
  StatsdFormatOptions options_;
  metrics::Scalars previous_;
  // Per side: TLS handshakes and failures at the previous flush.
  std::array<std::array<uint64_t, 2>, metrics::kTlsSides> previous_tls_{};
};

}  // namespace sidemeter::stats
