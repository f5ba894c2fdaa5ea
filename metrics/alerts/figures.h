#pragma once
// Reading the figure a threshold rule compares out of what the registry already summarized:
// a service window (WindowStats + ProcessFigures) or a route/method window
// (RouteWindowStats). Pure functions, no state.
#include <cstdint>
#include <vector>

#include "metrics/alerts/engine.h"
#include "metrics/alerts/spec.h"
#include "metrics/snapshot.h"

namespace sidemeter::metrics::alerts {

metrics::Window metrics_window(RuleWindow w);  // k10s → Window::k10s, ...
double window_seconds(RuleWindow w);           // 10, 60, 300

// One figure read from one window.
struct Reading {
  double value;       // in the figure's unit; NaN when the window holds nothing to compute
                      // it from (no requests for a ratio or distribution, CPU unknown, ...)
  uint64_t requests;  // requests in the window (what min_requests compares)
  double seconds;     // how much of the window is covered (instant figures: all of it)
};

// Service scope. Durations in ms, sizes in bytes, ratios 0-1; cpu: of the cgroup quota
// when known, else cpu_percent / 100 / cpus_available.
Reading read_service(const FigureRef& f, RuleWindow w, const WindowStats& ws,
                     const ProcessFigures& process, double cpus_available, bool upstream_up);
// Seconds from now_unix_ms until the earliest not_after of `certificates` (negative once
// expired), NaN when there is none.
double certificate_expiry_seconds(const std::vector<CertificateExpiry>& certificates,
                                  uint64_t now_unix_ms);
// Route/method scope: only what route_scopable(f) allows; NaN for the rest. Size avg is
// body bytes / requests.
Reading read_route(const FigureRef& f, const RouteWindowStats& ws);

// The value a rule compares this evaluation, NaN = not evaluated (the rule counts as not
// breaching):
//  - the figure has no data (see Reading), or Inputs lacks what it needs;
//  - kAbove and counts_requests(figure): fewer than min_requests requests in the window;
//  - kBelow: the window is not yet fully covered (seconds < window length), so a fresh
//    process does not report "traffic stopped". min_requests does not apply to kBelow.
//    Instant figures (rss, open_fds, upstream_up, tls_certificate_expiry) cover their
//    window from the start: a certificate already close to expiry alerts at once.
// now_unix_ms: the wall clock, for tls_certificate_expiry.
double rule_value(const RuleSpec& rule, const Inputs& in, uint64_t now_unix_ms);

}  // namespace sidemeter::metrics::alerts
