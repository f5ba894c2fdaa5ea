#pragma once
// Threshold rules and SLOs, evaluated once per tick on the control thread from what the
// registry already holds. Pure: no I/O, no libuv, time comes in as arguments, so tests
// drive it with a fake clock. Delivery (Alertmanager, webhooks) lives in proxy/alerts/.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/alerts/spec.h"
#include "metrics/snapshot.h"

namespace sidemeter::metrics::alerts {

enum class State : uint8_t { kOk, kPending, kFiring };
std::string_view state_name(State s);  // "ok", "pending", "firing"

// One alert instance: a rule at one severity, or an SLO burn-rate alert.
struct AlertState {
  std::string alertname;  // the rule's name; for SLOs "ErrorBudgetBurn"
  Severity severity = Severity::kWarning;
  State state = State::kOk;
  double value = 0;        // last evaluated value, in the figure's unit; NaN = not evaluated
                           // (min_requests not met, no data yet)
  double threshold = 0;    // the threshold crossed to fire (SLOs: the burn rate)
  Comparison comparison = Comparison::kAbove;
  std::string figure;      // "latency.avg", "error_rate", ...; SLOs: "burn_rate"
  std::string window;      // "1m"; SLOs: "1h+5m" / "6h+30m"
  uint64_t since_unix_ms = 0;         // when `state` was entered
  uint64_t active_since_unix_ms = 0;  // when it went pending (Alertmanager startsAt); 0 if ok
  // route, method (when scoped), slo (SLO alerts), in that order; empty values omitted.
  std::vector<std::pair<std::string, std::string>> labels;
};

// One state change found by an evaluation (one JSON log line, one webhook message).
struct Transition {
  State from = State::kOk;
  AlertState alert;  // after the change
};

inline constexpr std::array<std::string_view, 4> kBurnWindows = {"5m", "30m", "1h", "6h"};

struct SloState {
  SloSpec spec;
  // Burn rate per kBurnWindows: (bad / total over the window) / (1 - objective);
  // 0 when the window saw no events.
  std::array<double, kBurnWindows.size()> burn_rates{};
  // Over the retained horizon: 1 - bad / ((1 - objective) * total); 1 with no events, below
  // 0 once the budget is overspent.
  double error_budget_remaining = 1;
  uint64_t good = 0, total = 0;   // events over the retained horizon
  double horizon_seconds = 0;     // how much of the horizon has data (≤ kSloHorizonMinutes*60)
};

struct Status {
  uint64_t evaluated_unix_ms = 0;
  std::vector<AlertState> alerts;  // rules in config order (warning before critical), then SLOs
  std::vector<SloState> slos;      // config order
  size_t slo_memory_bytes = 0;     // what the per-minute slots of every SLO take
};

// Cumulative counts since start for one objective (never decrease while the process runs).
struct EventCounts {
  uint64_t total = 0;
  uint64_t good = 0;
};

// What one evaluation reads.
struct Inputs {
  const Snapshot* snapshot = nullptr;  // this tick's (service windows, process figures)
  // A route and/or method's window: registry-backed; route "" = every route.
  std::function<RouteWindowStats(std::string_view route, std::optional<Method> method,
                                 Window window)>
      scoped;
  // Cumulative good/total for an objective, at this tick.
  std::function<EventCounts(const SloSpec&)> slo_counts;
  bool upstream_up = true;
  double cpus_available = 1;  // cores the process may use when there is no cgroup quota
};

// At least 6 hours of per-minute slots are kept (the longest burn window).
inline constexpr uint32_t kSloHorizonMinutes = 6 * 60;

// The escalation guide: LatencyAvgHigh (latency.avg 500ms / 1s), ErrorRateHigh
// (error_rate 1 % / 5 %), CpuHigh (cpu 80 % / 95 %); window 1m, for 30s.
std::vector<RuleSpec> default_rules();
// `user` rules after the defaults (when enabled); a user rule named like a default
// replaces it in place.
std::vector<RuleSpec> effective_rules(bool defaults, const std::vector<RuleSpec>& user);

class Engine {
 public:
  Engine(std::vector<RuleSpec> rules, std::vector<SloSpec> slos);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // A reload. A rule keeps its state (pending/firing since...) when its name, figure,
  // scope and window are unchanged, even if thresholds, `for` or min_requests changed; an
  // SLO keeps its slots when name, kind, threshold and scope are unchanged (the objective
  // may change: slots count events, not budget). Alerts of removed rules are reported as
  // resolved transitions by the next evaluate().
  void reconfigure(std::vector<RuleSpec> rules, std::vector<SloSpec> slos);

  // One evaluation. now_ns: monotonic (for `for`, keep_firing_for and SLO minute slots);
  // now_unix_ms: wall clock, only for the times shown. Returns the state changes.
  std::vector<Transition> evaluate(const Inputs& in, uint64_t now_ns, uint64_t now_unix_ms);

  const Status& status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sidemeter::metrics::alerts
