#include "proxy/control/metrics_tick.h"

namespace sidemeter {

void after_registry_tick(metrics::Registry& registry, Alerting& alerting, StatsServer& stats,
                         bool upstream_up, uint64_t now_unix_ms) {
  const metrics::Snapshot snapshot = registry.snapshot(alerting.snapshot_parts());
  alerting.evaluate(snapshot, upstream_up, now_unix_ms);
  // Before on_tick: frames pushed in it carry this evaluation.
  stats.set_alerts(alerting.status(), alerting.deliveries());
  stats.on_tick();
}

}  // namespace sidemeter
