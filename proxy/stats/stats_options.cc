#include "proxy/stats/stats_options.h"

namespace sidemeter::stats {

StatsOptions options_from_config(const conf::Config& config) {
  const conf::Stats& s = config.stats;
  StatsOptions o;
  o.address = s.address;
  o.bearer_token = s.token;
  o.statsd = s.statsd.address;
  o.statsd_interval_s = s.statsd.interval_s;
  o.statsd_dogstatsd_tags = s.statsd.dogstatsd_tags;
  o.statsd_prefix = s.statsd.prefix;
  o.stream_interval_s = s.stream_interval_s;
  o.max_connections = s.max_connections;
  o.idle_timeout_ms = s.idle_timeout_ms;
  o.tls_downstream = config.tls.enabled();
  o.tls_upstream = config.upstream.tls.enabled;
  o.request_duration_bounds = s.histogram_buckets.request_duration;
  o.route_request_duration_bounds = s.histogram_buckets.route_request_duration;
  return o;
}

}  // namespace sidemeter::stats
