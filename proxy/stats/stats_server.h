#pragma once
// The stats port: its own listener on the control thread's loop, so it stays responsive
// however busy the workers are, and its requests are never counted as traffic.
//
//   GET /               live dashboard (one self-contained page fed by /stats/stream)
//   GET /metrics        Prometheus text 0.0.4, or OpenMetrics 1.0 when Accept asks for it
//   GET /stats          JSON snapshot; ?window=10s|1m|5m|total|1s, ?route=<template>,
//                       ?method=GET filter it
//   GET /stats/stream   a frame per interval: SSE, or NDJSON with ?format=ndjson
//   GET /stats/history  the last 5 minutes, one point per second (json_format.h), so the
//                       dashboard starts with full charts and continues from the stream
//   GET /healthz        200 while the process runs
//   GET /readyz         200 when listening, upstream reachable and not draining, else 503
// With a bearer token configured every path but /healthz and /readyz needs it (401).
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "conf/config.h"
#include "metrics/registry.h"
#include "proxy/stats/stats_options.h"

namespace sidemeter {

struct SharedState;

class StatsServer {
 public:
  // Options from the SIDEMETER_* environment variables (stats_options.h); start() fails if
  // one is malformed.
  StatsServer(uv_loop_t* loop, const conf::Config& config, metrics::Registry& registry,
              SharedState& shared);
  StatsServer(uv_loop_t* loop, const conf::Config& config, metrics::Registry& registry,
              SharedState& shared, stats::StatsOptions options);
  // Call close() and let the loop run its callbacks first. If handles are still open the
  // internals are closed and freed by the loop later, so an early destroy is still safe.
  ~StatsServer();
  StatsServer(const StatsServer&) = delete;
  StatsServer& operator=(const StatsServer&) = delete;

  // Binds config.stats (and opens the StatsD socket if configured); returns false with
  // `error` set.
  bool start(std::string& error);
  uint16_t port() const;
  // Called by the control loop after each registry tick: takes the snapshot every endpoint
  // serves until the next tick, pushes stream frames, flushes StatsD.
  void on_tick();
  // Closes the listener and every stats connection (asynchronously).
  void close();

  // Readiness inputs besides SharedState::draining. Both start true: the upstream probe and
  // the proxy listeners report through these.
  void set_upstream_reachable(bool reachable);
  void set_listening(bool listening);
  bool ready() const;

  struct Counters {
    uint64_t unauthorized = 0;         // 401 answers
    uint64_t connections = 0;          // open stats connections
    uint64_t connections_refused = 0;  // over max_connections
    uint64_t stream_subscribers = 0;
    uint64_t stream_dropped = 0;  // slow subscribers dropped
    uint64_t frames_built = 0;
    uint64_t statsd_packets_sent = 0;
    uint64_t statsd_packets_failed = 0;
  };
  Counters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sidemeter
