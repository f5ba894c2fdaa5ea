#include "proxy/control/alerting.h"

#include <cmath>

#include "metrics/alerts/figures.h"
#include "metrics/clock.h"
#include "proxy/control/cpu_quota.h"
#include "proxy/log.h"

namespace sidemeter {
namespace {

namespace al = metrics::alerts;

std::string_view label(const al::AlertState& a, std::string_view name) {
  for (const auto& [k, v] : a.labels) {
    if (k == name) return v;
  }
  return {};
}

void log_transition(const al::Transition& t) {
  const al::AlertState& a = t.alert;
  // A firing alert is what someone acts on; the rest is context.
  const log::Level level = a.state == al::State::kFiring ? log::Level::kWarn : log::Level::kInfo;
  log::write(level, "alert_state",
             {{"alertname", a.alertname},
              {"severity", al::severity_name(a.severity)},
              {"from", al::state_name(t.from)},
              {"to", al::state_name(a.state)},
              {"figure", a.figure},
              {"window", a.window},
              {"value", std::isnan(a.value) ? -1.0 : a.value},
              {"threshold", a.threshold},
              {"route", label(a, "route")},
              {"method", label(a, "method")},
              {"slo", label(a, "slo")}});
}

}  // namespace

Alerting::Alerting(const conf::Config& config, metrics::Registry& registry)
    : registry_(registry),
      engine_(al::effective_rules(config.alerts.default_rules, config.alerts.rules), config.slos),
      parts_(parts_for(al::effective_rules(config.alerts.default_rules, config.alerts.rules))),
      status_(std::make_shared<const al::Status>(engine_.status())),
      cpus_available_(std::max<uint32_t>(control::cpus_in_affinity_mask(), 1)),
      alerts_config_(config.alerts) {}

Alerting::~Alerting() { stop_delivery(); }

bool Alerting::start_delivery(std::string instance, std::string& error) {
  auto sender = std::make_unique<alerts::AlertSender>(alerts_config_.delivery,
                                                      alerts_config_.labels, std::move(instance));
  if (!sender->start(error)) return false;
  sender_ = std::move(sender);
  return true;
}

void Alerting::stop_delivery() {
  if (sender_) sender_->stop();
  // Kept (stopped) so the last counts stay readable.
}

void Alerting::reconfigure(const conf::Config& config) {
  std::vector<al::RuleSpec> rules =
      al::effective_rules(config.alerts.default_rules, config.alerts.rules);
  parts_ = parts_for(rules);
  engine_.reconfigure(std::move(rules), config.slos);
  alerts_config_ = config.alerts;
  if (sender_) sender_->reconfigure(config.alerts.delivery, config.alerts.labels);
}

// Mirrors metrics/alerts/figures.cc (rule_value, read_service): what each service rule
// reads. The /proc/self/fd listing is taken only for an open_fds rule.
metrics::SnapshotParts Alerting::parts_for(const std::vector<al::RuleSpec>& rules) {
  metrics::SnapshotParts p = metrics::SnapshotParts::nothing();
  for (const al::RuleSpec& r : rules) {
    if (!r.route.empty() || r.method) continue;  // Inputs::scoped
    switch (r.figure.figure) {
      case al::Figure::kUpstreamUp: break;  // Inputs::upstream_up
      case al::Figure::kTlsCertificateExpiry: p.certificates = true; break;
      case al::Figure::kRss: p.process.stat = true; break;
      case al::Figure::kOpenFds:
        p.process.stat = true;  // ProcessFigures::valid
        p.process.open_fds = true;
        break;
      case al::Figure::kCpu:
        // The window's CPU comes from the per-tick samples; the quota scales it.
        p.windows |= 1u << unsigned(al::metrics_window(r.window));
        p.process.quota = true;
        break;
      default: p.windows |= 1u << unsigned(al::metrics_window(r.window)); break;
    }
  }
  return p;
}

std::vector<StatsServer::AlertDeliveryCount> Alerting::deliveries() const {
  std::vector<StatsServer::AlertDeliveryCount> out;
  if (!sender_) return out;
  for (const alerts::AlertSender::ReceiverCounters& c : sender_->counters())
    out.push_back({c.receiver, c.success, c.failure, c.dropped});
  return out;
}

std::vector<al::Transition> Alerting::evaluate(const metrics::Snapshot& snapshot,
                                               bool upstream_up, uint64_t now_unix_ms) {
  al::Inputs in;
  in.snapshot = &snapshot;
  in.scoped = [this](std::string_view route, std::optional<metrics::Method> method,
                     metrics::Window window) {
    return registry_.scoped_window(route, method, window);
  };
  in.slo_counts = [this](const al::SloSpec& slo) { return registry_.slo_events(slo); };
  in.upstream_up = upstream_up;
  in.cpus_available = cpus_available_;
  std::vector<al::Transition> changes =
      engine_.evaluate(in, metrics::MonotonicClock().now_ns(), now_unix_ms);
  for (const al::Transition& t : changes) log_transition(t);
  status_ = std::make_shared<const al::Status>(engine_.status());
  if (sender_) sender_->submit(changes, status_->alerts, now_unix_ms);
  return changes;
}

}  // namespace sidemeter
