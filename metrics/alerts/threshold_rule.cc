#include "metrics/alerts/threshold_rule.h"

#include <cmath>
#include <limits>
#include <utility>

namespace sidemeter::metrics::alerts {

bool past(double value, double line, Comparison c) {
  if (std::isnan(value)) return false;
  return c == Comparison::kAbove ? value > line : value < line;
}

std::optional<State> AlertMachine::step(AlertState& a, bool breaching, bool holding,
                                        uint64_t for_ms, uint64_t keep_firing_for_ms,
                                        uint64_t now_ns, uint64_t now_unix_ms) {
  const State from = a.state;
  const uint64_t for_ns = for_ms * 1'000'000ull;
  const uint64_t keep_ns = keep_firing_for_ms * 1'000'000ull;
  switch (a.state) {
    case State::kOk:
      if (!breaching) return std::nullopt;
      pending_since_ns_ = now_ns;
      a.active_since_unix_ms = now_unix_ms;
      a.state = for_ns == 0 ? State::kFiring : State::kPending;
      clearing_ = false;
      break;
    case State::kPending:
      if (!breaching) {
        a.state = State::kOk;
        a.active_since_unix_ms = 0;
      } else if (now_ns - pending_since_ns_ >= for_ns) {
        a.state = State::kFiring;
        clearing_ = false;
      } else {
        return std::nullopt;
      }
      break;
    case State::kFiring:
      if (holding || breaching) {
        clearing_ = false;
        return std::nullopt;
      }
      if (!clearing_) {
        clearing_ = true;
        clear_since_ns_ = now_ns;
      }
      if (now_ns - clear_since_ns_ < keep_ns) return std::nullopt;
      a.state = State::kOk;
      a.active_since_unix_ms = 0;
      clearing_ = false;
      break;
  }
  a.since_unix_ms = now_unix_ms;
  return from;
}

ThresholdRule::ThresholdRule(RuleSpec spec) {
  std::vector<AlertState> none;
  respec(std::move(spec), none);
}

bool ThresholdRule::same_identity(const RuleSpec& o) const {
  return spec_.name == o.name && spec_.figure == o.figure && spec_.comparison == o.comparison &&
         spec_.route == o.route && spec_.method == o.method && spec_.window == o.window;
}

void ThresholdRule::describe(Instance& in, Severity sev) const {
  AlertState& a = in.alert;
  a.alertname = spec_.name;
  a.severity = sev;
  a.threshold = in.threshold.value;
  a.comparison = spec_.comparison;
  a.figure = figure_ref_name(spec_.figure);
  a.window = std::string(window_name(spec_.window));
  a.labels.clear();
  if (!spec_.route.empty()) a.labels.emplace_back("route", spec_.route);
  if (spec_.method) a.labels.emplace_back("method", std::string(method_name(*spec_.method)));
}

void ThresholdRule::respec(RuleSpec spec, std::vector<AlertState>& retired) {
  std::vector<Instance> old = std::move(instances_);
  spec_ = std::move(spec);
  instances_.clear();
  const auto find_old = [&](Severity sev) -> Instance* {
    for (Instance& i : old) {
      if (i.alert.severity == sev) return &i;
    }
    return nullptr;
  };
  for (Severity sev : {Severity::kWarning, Severity::kCritical}) {
    const std::optional<Threshold>& t =
        sev == Severity::kWarning ? spec_.warning : spec_.critical;
    Instance* prev = find_old(sev);
    if (!t) {
      if (prev != nullptr && prev->alert.state != State::kOk) retired.push_back(prev->alert);
      continue;
    }
    Instance in;
    if (prev != nullptr) {
      in = std::move(*prev);
    } else {
      in.alert.value = std::numeric_limits<double>::quiet_NaN();
    }
    in.threshold = *t;
    describe(in, sev);
    instances_.push_back(std::move(in));
  }
}

void ThresholdRule::evaluate(double value, uint64_t now_ns, uint64_t now_unix_ms,
                             std::vector<Transition>& out) {
  for (Instance& in : instances_) {
    in.alert.value = value;
    const bool breaching = past(value, in.threshold.value, spec_.comparison);
    const bool holding =
        breaching || past(value, in.threshold.resolve.value_or(in.threshold.value),
                          spec_.comparison);
    const std::optional<State> from = in.machine.step(
        in.alert, breaching, holding, spec_.for_ms, spec_.keep_firing_for_ms, now_ns, now_unix_ms);
    if (from) out.push_back(Transition{*from, in.alert});
  }
}

void ThresholdRule::append_alerts(std::vector<AlertState>& out) const {
  for (const Instance& in : instances_) out.push_back(in.alert);
}

void ThresholdRule::retire(std::vector<AlertState>& out) const {
  for (const Instance& in : instances_) {
    if (in.alert.state != State::kOk) out.push_back(in.alert);
  }
}

}  // namespace sidemeter::metrics::alerts
