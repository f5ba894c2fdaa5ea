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
inline constexpr std::array<uint32_t, kBurnWindows.size()> kBurnWindowMinutes = {5, 30, 60, 360};

// At least 6 hours of per-minute slots are kept (the longest burn window).
inline constexpr uint32_t kSloHorizonMinutes = 6 * 60;

// SLO arithmetic (what a hand computation checks):
//  - Minutes are whole multiples of 60 s of the monotonic clock: minute m = now_ns / 60e9.
//  - Each evaluation reads the cumulative (good, total) and adds the difference from the
//    previous evaluation to the slot of the minute `now_ns` falls in. The first evaluation
//    of an SLO only takes the baseline; a cumulative value that went down resets the
//    baseline (that delta is dropped, never counted negative). bad = total - good.
//  - kSloHorizonMinutes + 1 slots are kept: the current (partial) minute and the 360 full
//    minutes before it.
//  - The burn window of N minutes is N + 1 slots: the current partial minute plus the N full
//    minutes before it (so it covers between N and N + 1 minutes of time, never less than
//    N once that much has been observed). burn(N) = (Σbad / Σtotal) / (1 - objective) over
//    those slots, 0 when Σtotal = 0. E.g. 1000 requests a minute, 100 of them errors,
//    objective 0.999: burn = 0.1 / 0.001 = 100 over every window.
//  - The retained horizon is the same 361 slots as the 6h window, so
//    error_budget_remaining = 1 - Σbad / ((1 - objective) * Σtotal) = 1 - burn(6h).
//  - Burn-rate alerts (Google SRE workbook, multiwindow multi-burn-rate), alertname
//    "ErrorBudgetBurn", label slo=<name> (after route/method when scoped), for 0 and no
//    keep_firing_for: critical while burn(1h) > 14.4 and burn(5m) > 14.4 (window "1h+5m");
//    warning while burn(6h) > 6 and burn(30m) > 6 (window "6h+30m"). value = the burn rate
//    of the shorter window, threshold = 14.4 / 6. They fire on the first evaluation where
//    the condition holds and resolve on the first where it does not.
inline constexpr double kFastBurn = 14.4;  // critical: 2 % of a 30-day budget in 1 h
inline constexpr double kSlowBurn = 6;     // warning: 5 % of a 30-day budget in 6 h

struct SloState {
  SloSpec spec;
  // Burn rate per kBurnWindows, as defined above; 0 when the window saw no events.
  std::array<double, kBurnWindows.size()> burn_rates{};
  // Over the retained horizon: 1 - bad / ((1 - objective) * total); 1 with no events, below
  // 0 once the budget is overspent.
  double error_budget_remaining = 1;
  uint64_t good = 0, total = 0;   // events over the retained horizon
  // Counters (sidemeter_slo_events_total / sidemeter_slo_good_events_total): every event
  // the slots were given since start, per SLO name, so Prometheus can sum pods and take
  // rate() over any range. They count exactly what the slots count (the same deltas), so
  // (1 - Δgood / Δevents) / (1 - objective) over a window is the burn rate above. They
  // never decrease: a reload that keeps the name but changes kind, threshold or scope
  // continues them (the new definition's first evaluation takes a baseline and adds
  // nothing); an SLO removed by a reload keeps its counts in the engine (name and two
  // integers) and continues from them if a later reload brings the name back.
  uint64_t events_total = 0, good_events_total = 0;
  // How much of the horizon has data: time since the baseline, at most the 361 slots'
  // span (kSloHorizonMinutes * 60 plus the elapsed part of the current minute).
  double horizon_seconds = 0;
};

struct Status {
  uint64_t evaluated_unix_ms = 0;
  std::vector<AlertState> alerts;  // rules in config order (warning before critical), then SLOs
  std::vector<SloState> slos;      // config order
  // What the per-minute slots of every SLO take: sizeof of each SLO's tracker (slots are
  // held inline, (kSloHorizonMinutes + 1) * 24 bytes), summed.
  size_t slo_memory_bytes = 0;
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

// The escalation guide: LatencyAvgHigh (latency.avg 500ms / 1s), ErrorRateHigh
// (error_rate 1 % / 5 %), CpuHigh (cpu 80 % / 95 %); window 1m, for 30s, min_requests 10
// for the two request-based ones. TlsCertificateExpiringSoon: tls_certificate_expiry
// below 14 days (warning) / 3 days (critical), for 0.
std::vector<RuleSpec> default_rules();
// `user` rules after the defaults (when enabled); a user rule named like a default
// replaces it in place.
std::vector<RuleSpec> effective_rules(bool defaults, const std::vector<RuleSpec>& user);

// Threshold rules, per severity instance (warning and critical are separate):
//  - value: the rule's figure over its window (service: the Snapshot's window; a route
//    and/or method: Inputs::scoped), NaN = not evaluated when the window has no data for
//    it, when a kAbove rule on a request-counting figure saw fewer than min_requests
//    requests, or when a kBelow rule's window is not yet fully covered (a fresh process
//    does not report "traffic stopped"; min_requests does not apply to kBelow). Not
//    evaluated counts as not breaching. (figures.h)
//  - breaching: value > threshold (kAbove) / < threshold (kBelow). ok → pending when
//    breaching; pending → firing once breaching for for_ms (for 0: ok → firing at once, a
//    single transition); pending → ok on the first evaluation not breaching. Firing stays
//    while the value is past the resolve line (Threshold::resolve, else the threshold);
//    from the first evaluation that is not, it stays firing keep_firing_for_ms more (being
//    past the line again cancels that), then → ok. (threshold_rule.h)
//  - `for` and keep_firing_for are measured on now_ns; since / active_since come from
//    now_unix_ms of the evaluation that made the change.
class Engine {
 public:
  Engine(std::vector<RuleSpec> rules, std::vector<SloSpec> slos);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // A reload. A rule keeps its state (pending/firing since...) when its name, figure,
  // comparison, scope and window are unchanged, even if thresholds, `for`,
  // keep_firing_for or min_requests changed (a severity no longer configured is dropped
  // and resolved like a removed rule); an SLO keeps its slots and burn-alert states when
  // name, kind, threshold and scope are unchanged (the objective may change: slots count
  // events, not budget); SloState's event counters continue by name whatever changed. Alerts of removed rules (or of a rule whose identity changed) are
  // reported as resolved transitions by the next evaluate().
  void reconfigure(std::vector<RuleSpec> rules, std::vector<SloSpec> slos);

  // One evaluation. now_ns: monotonic (for `for`, keep_firing_for and SLO minute slots);
  // now_unix_ms: wall clock, only for the times shown. Returns the state changes: first
  // the resolutions of alerts whose rule or SLO a reconfigure() removed, then rules in
  // order, then SLOs. SLOs are skipped when Inputs::slo_counts is empty.
  std::vector<Transition> evaluate(const Inputs& in, uint64_t now_ns, uint64_t now_unix_ms);

  const Status& status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sidemeter::metrics::alerts
