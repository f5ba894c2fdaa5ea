#pragma once
// The control thread's metrics work after each registry tick, whether anyone reads the
// stats port or not. Alert rules and SLOs are judged every second (their firing reaches
// Alertmanager without a reader), on a snapshot of only what the rules read
// (Alerting::snapshot_parts). What only a reader needs (routes, per-series histograms,
// the /proc/self/fd count, formatted output) the stats port builds when one asks; with
// 20,000 idle connections the fd listing alone used to cost ~1 % of a core per second.
#include <cstdint>

#include "metrics/registry.h"
#include "proxy/control/alerting.h"
#include "proxy/stats/stats_server.h"

namespace sidemeter {

// Call once per tick that closed a second (Registry::ticks() moved).
void after_registry_tick(metrics::Registry& registry, Alerting& alerting, StatsServer& stats,
                         bool upstream_up, uint64_t now_unix_ms);

}  // namespace sidemeter
