// The escalation guide operators start from, and how user rules combine with it.
#include <string>
#include <utility>
#include <vector>

#include "metrics/alerts/engine.h"

namespace sidemeter::metrics::alerts {
namespace {

RuleSpec rule(std::string name, FigureRef figure, double warning, double critical,
              uint64_t min_requests) {
  RuleSpec r;
  r.name = std::move(name);
  r.figure = figure;
  r.comparison = Comparison::kAbove;
  r.warning = Threshold{warning, std::nullopt};
  r.critical = Threshold{critical, std::nullopt};
  r.window = RuleWindow::k1m;
  r.for_ms = 30'000;
  r.min_requests = min_requests;
  return r;
}

}  // namespace

std::vector<RuleSpec> default_rules() {
  return {
      rule("LatencyAvgHigh", FigureRef{Figure::kLatency, Stat::kAvg, UpstreamError::kNone}, 500,
           1000, 10),
      rule("ErrorRateHigh", FigureRef{Figure::kErrorRate, Stat::kNone, UpstreamError::kNone},
           0.01, 0.05, 10),
      rule("CpuHigh", FigureRef{Figure::kCpu, Stat::kNone, UpstreamError::kNone}, 0.80, 0.95, 0),
  };
}

std::vector<RuleSpec> effective_rules(bool defaults, const std::vector<RuleSpec>& user) {
  std::vector<RuleSpec> out;
  if (defaults) out = default_rules();
  const size_t n_defaults = out.size();
  for (const RuleSpec& r : user) {
    bool replaced = false;
    for (size_t i = 0; i < n_defaults; ++i) {
      if (out[i].name == r.name) {
        out[i] = r;
        replaced = true;
        break;
      }
    }
    if (!replaced) out.push_back(r);
  }
  return out;
}

}  // namespace sidemeter::metrics::alerts
