#pragma once
// Settings of the stats port that conf::Config does not carry yet. Until the YAML schema
// maps onto this struct they come from the environment (read once at startup):
//   SIDEMETER_STATS_TOKEN=<token>        require "Authorization: Bearer <token>" (or
//                                        ?token=<token>, for EventSource) on every stats
//                                        endpoint except /healthz and /readyz
//   SIDEMETER_STATSD=host:port           push StatsD/DogStatsD datagrams there
//   SIDEMETER_STATSD_INTERVAL=<seconds>  flush interval (default 10)
//   SIDEMETER_STATSD_FLAVOR=dogstatsd|statsd   tags as "|#k:v" (default) or folded in names
//   SIDEMETER_STATSD_PREFIX=<prefix>     metric name prefix (default "sidemeter.")
//   SIDEMETER_STATS_STREAM_INTERVAL=<seconds>  /stats/stream push interval (default 1)
#include <cstddef>
#include <cstdint>
#include <string>

#include "conf/config.h"

namespace sidemeter::stats {

struct StatsOptions {
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
};

// Reads the SIDEMETER_* variables above (getenv, so the control thread at startup only)
// on top of `out`. False with `error` set when one is malformed.
bool apply_stats_environment(StatsOptions& out, std::string& error);

}  // namespace sidemeter::stats
