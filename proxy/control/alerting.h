#pragma once
// Alert rules and SLOs on the control thread: once per registry tick, evaluates the
// engine (metrics/alerts) on that tick's snapshot, logs one JSON line per state change
// and hands the state to the stats port and to delivery. Nothing here runs on a worker,
// and nothing here waits for a receiver.
#include <cstdint>
#include <memory>

#include "conf/config.h"
#include "metrics/alerts/engine.h"
#include "metrics/registry.h"
#include "proxy/alerts/alert_sender.h"
#include "proxy/stats/stats_server.h"

namespace sidemeter {

class Alerting {
 public:
  Alerting(const conf::Config& config, metrics::Registry& registry);
  ~Alerting();
  Alerting(const Alerting&) = delete;
  Alerting& operator=(const Alerting&) = delete;

  // Starts the delivery thread (alerts::AlertSender); `instance` names this proxy in what
  // receivers get (host:stats port). False with `error` set.
  bool start_delivery(std::string instance, std::string& error);
  // Joins the delivery thread; what was not delivered is dropped (and counted).
  void stop_delivery();

  // A reload: rules and objectives change, state and history stay where they can
  // (metrics::alerts::Engine::reconfigure); receivers and labels change for what is sent
  // next.
  void reconfigure(const conf::Config& config);

  // One evaluation on this tick's snapshot. Returns the state changes (already logged).
  std::vector<metrics::alerts::Transition> evaluate(const metrics::Snapshot& snapshot,
                                                    bool upstream_up, uint64_t now_unix_ms);

  // What the rules read from a snapshot (service windows, process figures, certificates):
  // the control loop builds only that every second. Scoped rules and SLOs read the
  // registry directly (scoped_window, slo_events), so they ask for nothing here.
  const metrics::SnapshotParts& snapshot_parts() const { return parts_; }
  static metrics::SnapshotParts parts_for(const std::vector<metrics::alerts::RuleSpec>& rules);

  // The state after the last evaluation, shared with the stats port until the next one.
  std::shared_ptr<const metrics::alerts::Status> status() const { return status_; }
  // Messages per receiver, for sidemeter_alert_deliveries_total.
  std::vector<StatsServer::AlertDeliveryCount> deliveries() const;

 private:
  metrics::Registry& registry_;
  metrics::alerts::Engine engine_;
  metrics::SnapshotParts parts_;
  std::shared_ptr<const metrics::alerts::Status> status_;
  double cpus_available_;
  conf::Alerts alerts_config_;  // receivers and labels for a sender started later
  std::unique_ptr<alerts::AlertSender> sender_;  // while delivery runs
};

}  // namespace sidemeter
