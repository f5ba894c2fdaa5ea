#pragma once
// The ok → pending → firing state machine of one alert instance, and a threshold rule
// (one instance per severity, warning first) driven by it. SLO burn-rate alerts reuse
// AlertMachine with for 0.
#include <cstdint>
#include <optional>
#include <vector>

#include "metrics/alerts/engine.h"
#include "metrics/alerts/spec.h"

namespace sidemeter::metrics::alerts {

// value past line in the direction c (strictly: > for kAbove, < for kBelow); NaN never is.
bool past(double value, double line, Comparison c);

// Timers of one instance; the visible part (state, since, active_since) is the AlertState.
//  ok      → pending  when breaching (active_since = since = now); with for_ms 0 straight
//                     to firing in the same step (one transition, ok → firing).
//  pending → firing   when breaching and it has been breaching since going pending for at
//                     least for_ms (now_ns - pending_since_ns >= for_ms).
//  pending → ok       on the first step not breaching.
//  firing  stays      while `holding` (still past the resolve line). The first step not
//                     holding starts the keep_firing_for clock; holding again cancels it;
//  firing  → ok       on a step not holding once now_ns - that start >= keep_firing_for_ms
//                     (keep 0: on the first step not holding).
class AlertMachine {
 public:
  // Returns the state `a` was in when this step changed it.
  std::optional<State> step(AlertState& a, bool breaching, bool holding, uint64_t for_ms,
                            uint64_t keep_firing_for_ms, uint64_t now_ns, uint64_t now_unix_ms);

 private:
  uint64_t pending_since_ns_ = 0;
  uint64_t clear_since_ns_ = 0;
  bool clearing_ = false;
};

class ThresholdRule {
 public:
  explicit ThresholdRule(RuleSpec spec);

  const RuleSpec& spec() const { return spec_; }
  // Whether a reload may carry this rule's state over to `other`: same name, figure,
  // comparison, scope (route, method) and window.
  bool same_identity(const RuleSpec& other) const;
  // A reload of a rule with the same identity: new thresholds, for, keep_firing_for,
  // min_requests. Severities kept keep their state; a severity no longer configured is
  // dropped, and appended to `retired` when it was not ok.
  void respec(RuleSpec spec, std::vector<AlertState>& retired);

  // One evaluation with the rule's value (NaN: not evaluated = not breaching). Per
  // severity: breaching = past(value, threshold), holding = breaching or past(value,
  // resolve line), the resolve line being Threshold::resolve or else the threshold.
  void evaluate(double value, uint64_t now_ns, uint64_t now_unix_ms,
                std::vector<Transition>& out);

  void append_alerts(std::vector<AlertState>& out) const;  // warning, then critical
  void retire(std::vector<AlertState>& out) const;         // instances not ok

 private:
  struct Instance {
    Threshold threshold;
    AlertState alert;
    AlertMachine machine;
  };
  void describe(Instance& in, Severity sev) const;  // the spec-derived AlertState fields

  RuleSpec spec_;
  std::vector<Instance> instances_;  // warning first
};

}  // namespace sidemeter::metrics::alerts
