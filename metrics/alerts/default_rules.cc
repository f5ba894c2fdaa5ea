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

// Below 14 days: warning; below 3 days: critical. At once (for 0): expiry is not a
// traffic window that a blip could cross, and the figure covers its window from the first
// evaluation, so a certificate loaded already close to expiry alerts at start. Not
// judged while no certificate is loaded (plain HTTP both ways).
RuleSpec certificate_rule() {
  constexpr double kDay = 24 * 3600;
  RuleSpec r;
  r.name = "TlsCertificateExpiringSoon";
  r.figure = FigureRef{Figure::kTlsCertificateExpiry, Stat::kNone, UpstreamError::kNone};
  r.comparison = Comparison::kBelow;
  r.warning = Threshold{14 * kDay, std::nullopt};
  r.critical = Threshold{3 * kDay, std::nullopt};
  r.window = RuleWindow::k1m;
  r.for_ms = 0;
  r.min_requests = 0;
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
      certificate_rule(),
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
