#pragma once
// The stats port: its own listener on the control thread's loop, so it stays responsive
// however busy the workers are, and its requests are never counted as traffic.
//
//   GET /               live dashboard (one self-contained page fed by /stats/stream)
//   GET /metrics        Prometheus text 0.0.4, OpenMetrics 1.0 or protobuf (native histograms),
//                       by the Accept header's q-values (content_negotiation.h)
//   GET /stats          JSON snapshot; ?window=10s|1m|5m|total|1s, ?route=<template>,
//                       ?method=GET filter it
//   GET /stats/stream   a frame per interval: SSE, or NDJSON with ?format=ndjson
//   GET /stats/history  the last 5 minutes, one point per second (json_format.h), so the
//                       dashboard starts with full charts and continues from the stream
//   GET /healthz        200 while the process runs
//   GET /readyz         200 when listening, upstream reachable and not draining, else 503
//   POST /-/reload      reload the configuration file (as SIGHUP does): 200 with the new
//                       config hash, or 500 with every error (the running config stays)
// With a bearer token configured every path but /healthz, /readyz and the dashboard page
// (which holds no data) needs it (401).
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metrics/alerts/engine.h"
#include "metrics/registry.h"
#include "proxy/stats/prometheus_format.h"
#include "proxy/stats/stats_options.h"

namespace sidemeter {

class StatsServer {
 public:
  StatsServer(uv_loop_t* loop, metrics::Registry& registry, stats::StatsOptions options);
  // Call close() and let the loop run its callbacks first. If handles are still open the
  // internals are closed and freed by the loop later, so an early destroy is still safe.
  ~StatsServer();
  StatsServer(const StatsServer&) = delete;
  StatsServer& operator=(const StatsServer&) = delete;

  // Binds options.address (and opens the StatsD socket if configured); returns false
  // with `error` set.
  bool start(std::string& error);
  uint16_t port() const;
  // Called by the control loop after each registry tick: drops the previous tick's
  // snapshot, pushes stream frames to subscribers, flushes StatsD. The snapshot every
  // endpoint serves until the next tick is built by the first that needs it (a request,
  // a subscriber's frame, a StatsD flush), so a port nobody reads costs no snapshot.
  void on_tick();

  // The alert and SLO state (/stats, stream frames, /metrics) and the alert deliveries per
  // receiver, from the control loop's evaluation; set before on_tick() of the same tick.
  struct AlertDeliveryCount {
    std::string receiver;
    uint64_t success = 0, failure = 0, dropped = 0;
  };
  void set_alerts(std::shared_ptr<const metrics::alerts::Status> status,
                  std::vector<AlertDeliveryCount> deliveries);
  // Closes the listener and every stats connection (asynchronously).
  void close();

  // A configuration reload: everything but the address applies at once (token, stream
  // interval, StatsD sink, limits). False with `error` set if the new StatsD address
  // cannot be used; the previous sink then stays.
  bool reconfigure(const stats::StatsOptions& options, std::string& error);

  // Readiness inputs; all start "not ready" but listening, which start() sets.
  // The upstream's reachability: a fixed value, or a source read at each request, so
  // /readyz follows a probe or worker connect at once rather than at the next tick.
  void set_upstream_reachable(bool reachable);
  void set_upstream_reachable(std::function<bool()> source);
  void set_listening(bool listening);  // the proxy's own listeners
  void set_draining(bool draining);
  bool ready() const;

  // What /metrics and /stats say about the configuration in force.
  struct ConfigStatus {
    std::string hash;
    uint64_t reloads_success = 0;
    uint64_t reloads_failure = 0;
    double last_reload_success_s = 0;  // Unix time
  };
  void set_config_status(const ConfigStatus& status);

  // POST /-/reload calls this (on the loop's thread) and answers with what it returns:
  // ok, and a body (the new hash, or every error, one per line).
  struct ReloadAnswer {
    bool ok = false;
    std::string body;
  };
  void set_reload_handler(std::function<ReloadAnswer()> handler);
  // /metrics reads the access log's counters from this at each scrape (unset: no series).
  void set_access_log_source(std::function<stats::ExpositionExtras::AccessLog()> source);

  struct Counters {
    uint64_t unauthorized = 0;         // 401 answers
    uint64_t connections = 0;          // open stats connections
    uint64_t connections_refused = 0;  // over max_connections
    uint64_t stream_subscribers = 0;
    uint64_t stream_dropped = 0;  // slow subscribers dropped
    uint64_t frames_built = 0;
    uint64_t statsd_packets_sent = 0;
    uint64_t statsd_packets_failed = 0;
    uint64_t reload_requests = 0;  // POST /-/reload answered
  };
  Counters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sidemeter
