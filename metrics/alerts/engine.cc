#include "metrics/alerts/engine.h"

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "metrics/alerts/figures.h"
#include "metrics/alerts/slo_tracker.h"
#include "metrics/alerts/threshold_rule.h"

namespace sidemeter::metrics::alerts {
namespace {

constexpr std::string_view kSloAlertName = "ErrorBudgetBurn";

// One SLO: its slots, its last figures and its two burn-rate alerts (warning, critical).
struct Slo {
  explicit Slo(SloSpec s) {
    state.spec = std::move(s);
    describe();
  }

  bool same_identity(const SloSpec& o) const {
    const SloSpec& s = state.spec;
    return s.name == o.name && s.kind == o.kind &&
           s.latency_threshold_ms == o.latency_threshold_ms && s.route == o.route &&
           s.method == o.method;
  }

  void describe() {
    const SloSpec& s = state.spec;
    for (size_t i = 0; i < alerts.size(); ++i) {
      AlertState& a = alerts[i];
      const bool critical = i == 1;
      a.alertname = std::string(kSloAlertName);
      a.severity = critical ? Severity::kCritical : Severity::kWarning;
      a.threshold = critical ? kFastBurn : kSlowBurn;
      a.comparison = Comparison::kAbove;
      a.figure = "burn_rate";
      a.window = critical ? "1h+5m" : "6h+30m";
      a.labels.clear();
      if (!s.route.empty()) a.labels.emplace_back("route", s.route);
      if (s.method) a.labels.emplace_back("method", std::string(method_name(*s.method)));
      a.labels.emplace_back("slo", s.name);
    }
  }

  void evaluate(EventCounts counts, uint64_t now_ns, uint64_t now_unix_ms,
                std::vector<Transition>& out) {
    const SloTracker::Sums added = tracker.observe(counts, now_ns);
    state.events_total += added.total;
    state.good_events_total += added.good;
    const double objective = state.spec.objective;
    for (size_t i = 0; i < kBurnWindowMinutes.size(); ++i) {
      state.burn_rates[i] = tracker.burn_rate(kBurnWindowMinutes[i], objective, now_ns);
    }
    const SloTracker::Sums horizon = tracker.sum(kSloHorizonMinutes, now_ns);
    state.good = horizon.good;
    state.total = horizon.total;
    state.error_budget_remaining =
        horizon.total == 0
            ? 1.0
            : 1.0 - double(horizon.bad()) / ((1.0 - objective) * double(horizon.total));
    state.horizon_seconds = tracker.horizon_seconds(now_ns);

    const double b5m = state.burn_rates[0], b30m = state.burn_rates[1];
    const double b1h = state.burn_rates[2], b6h = state.burn_rates[3];
    // A pair is judged only once its long window holds enough events for one bad event
    // to fit the budget (1 / (1 - objective): 1000 at 99.9 %); before that, right after a
    // start or on a trickle of traffic, a single error would read as a burn of hundreds.
    const double enough = std::ceil(1.0 / (1.0 - objective) - 1e-9);
    const bool judge_6h = double(tracker.sum(kBurnWindowMinutes[3], now_ns).total) >= enough;
    const bool judge_1h = double(tracker.sum(kBurnWindowMinutes[2], now_ns).total) >= enough;
    step(0, b30m, judge_6h && b6h > kSlowBurn && b30m > kSlowBurn, now_ns, now_unix_ms, out);
    step(1, b5m, judge_1h && b1h > kFastBurn && b5m > kFastBurn, now_ns, now_unix_ms, out);
  }

  void step(size_t i, double value, bool breaching, uint64_t now_ns, uint64_t now_unix_ms,
            std::vector<Transition>& out) {
    alerts[i].value = value;
    if (auto from = machines[i].step(alerts[i], breaching, breaching, 0, 0, now_ns, now_unix_ms)) {
      out.push_back(Transition{*from, alerts[i]});
    }
  }

  SloState state;
  SloTracker tracker;
  std::array<AlertState, 2> alerts;  // warning (6h+30m), critical (1h+5m)
  std::array<AlertMachine, 2> machines;
};

}  // namespace

std::string_view state_name(State s) {
  switch (s) {
    case State::kOk: return "ok";
    case State::kPending: return "pending";
    case State::kFiring: return "firing";
  }
  return "ok";
}

struct Engine::Impl {
  std::vector<std::unique_ptr<ThresholdRule>> rules;
  std::vector<std::unique_ptr<Slo>> slos;
  std::vector<AlertState> retired;  // not ok when their rule/SLO went away: resolved next
  // Event counters of SLOs a reload removed, by name: continued if the name comes back.
  std::map<std::string, std::pair<uint64_t, uint64_t>, std::less<>> removed_slo_events;
  Status status;

  void refresh_status() {
    status.alerts.clear();
    status.slos.clear();
    for (const auto& r : rules) r->append_alerts(status.alerts);
    for (const auto& s : slos) {
      for (const AlertState& a : s->alerts) status.alerts.push_back(a);
      status.slos.push_back(s->state);
    }
    status.slo_memory_bytes = slos.size() * sizeof(SloTracker);
  }
};

Engine::Engine(std::vector<RuleSpec> rules, std::vector<SloSpec> slos)
    : impl_(std::make_unique<Impl>()) {
  reconfigure(std::move(rules), std::move(slos));
}

Engine::~Engine() = default;

void Engine::reconfigure(std::vector<RuleSpec> rules, std::vector<SloSpec> slos) {
  Impl& m = *impl_;
  std::vector<std::unique_ptr<ThresholdRule>> old_rules = std::move(m.rules);
  m.rules.clear();
  for (RuleSpec& spec : rules) {
    std::unique_ptr<ThresholdRule> kept;
    for (auto& old : old_rules) {
      if (old && old->same_identity(spec)) {
        kept = std::move(old);
        break;
      }
    }
    if (kept) {
      kept->respec(std::move(spec), m.retired);
    } else {
      kept = std::make_unique<ThresholdRule>(std::move(spec));
    }
    m.rules.push_back(std::move(kept));
  }
  for (const auto& old : old_rules) {
    if (old) old->retire(m.retired);
  }

  std::vector<std::unique_ptr<Slo>> old_slos = std::move(m.slos);
  m.slos.clear();
  for (SloSpec& spec : slos) {
    std::unique_ptr<Slo> kept;
    for (auto& old : old_slos) {
      if (old && old->same_identity(spec)) {
        kept = std::move(old);
        break;
      }
    }
    if (kept) {
      kept->state.spec = std::move(spec);  // the objective may have changed
      kept->describe();
    } else {
      kept = std::make_unique<Slo>(std::move(spec));
      // The counters continue under the same name (counters never go down).
      for (auto& old : old_slos) {
        if (old && old->state.spec.name == kept->state.spec.name) {
          kept->state.events_total = old->state.events_total;
          kept->state.good_events_total = old->state.good_events_total;
          break;
        }
      }
      if (auto it = m.removed_slo_events.find(kept->state.spec.name);
          it != m.removed_slo_events.end()) {
        kept->state.events_total = it->second.first;
        kept->state.good_events_total = it->second.second;
      }
    }
    m.removed_slo_events.erase(kept->state.spec.name);
    m.slos.push_back(std::move(kept));
  }
  for (const auto& old : old_slos) {
    if (!old) continue;
    bool renamed_away = true;
    for (const auto& s : m.slos) {
      if (s->state.spec.name == old->state.spec.name) renamed_away = false;
    }
    if (renamed_away) {
      m.removed_slo_events[old->state.spec.name] = {old->state.events_total,
                                                    old->state.good_events_total};
    }
    for (const AlertState& a : old->alerts) {
      if (a.state != State::kOk) m.retired.push_back(a);
    }
  }
  m.refresh_status();
}

std::vector<Transition> Engine::evaluate(const Inputs& in, uint64_t now_ns,
                                         uint64_t now_unix_ms) {
  Impl& m = *impl_;
  std::vector<Transition> out;
  for (AlertState& a : m.retired) {
    Transition t{a.state, std::move(a)};
    t.alert.state = State::kOk;
    t.alert.since_unix_ms = now_unix_ms;
    t.alert.active_since_unix_ms = 0;
    out.push_back(std::move(t));
  }
  m.retired.clear();
  for (const auto& r : m.rules) r->evaluate(rule_value(r->spec(), in, now_unix_ms), now_ns, now_unix_ms, out);
  if (in.slo_counts) {
    for (const auto& s : m.slos) s->evaluate(in.slo_counts(s->state.spec), now_ns, now_unix_ms, out);
  }
  m.refresh_status();
  m.status.evaluated_unix_ms = now_unix_ms;
  return out;
}

const Status& Engine::status() const { return impl_->status; }

}  // namespace sidemeter::metrics::alerts
