#pragma once
// Default classic-bucket bounds (upper, inclusive, "le", seconds) of the request duration
// histograms in the text formats; stats.histogram_buckets in the config overrides both.
// The same in every pod so series sum across pods.
//
// Why two sets: every bound is one series per label combination. The service-wide family
// (sidemeter_request_duration_seconds, no route/method/code labels) exists once, so it
// carries the 24 fine bounds of kRequestDurationBounds (metrics/counters.h). The per-route
// family (http_server_request_duration_seconds) exists once per (route, method, status
// code, error type): 1,200 such combinations x (24 + 3) series would be 32,400 series, so
// by default it gets six bounds at the thresholds SLOs usually name (1,200 x 9 = 10,800).
// They are a subset of the fine set, so "le" series of both families agree where they meet.
#include <array>

namespace sidemeter::metrics {

inline constexpr std::array<double, 6> kRouteRequestDurationBounds = {0.005, 0.025, 0.1,
                                                                      0.25,  1.0,   5.0};

}  // namespace sidemeter::metrics
