#include "metrics/alerts/figures.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sidemeter::metrics::alerts {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double duration_stat(const DurationSummary& d, Stat s) {
  if (d.count == 0) return kNaN;
  switch (s) {
    case Stat::kAvg: return d.avg_ms;
    case Stat::kP50: return d.p50_ms;
    case Stat::kP90: return d.p90_ms;
    case Stat::kP95: return d.p95_ms;
    case Stat::kP99: return d.p99_ms;
    case Stat::kMax: return d.max_ms;
    default: return kNaN;
  }
}

double size_stat(const SizeSummary& z, Stat s) {
  if (z.count == 0) return kNaN;
  switch (s) {
    case Stat::kAvg: return z.avg;
    case Stat::kP50: return z.p50;
    case Stat::kP95: return z.p95;
    case Stat::kMax: return double(z.max);
    default: return kNaN;
  }
}

double per_request(double x, uint64_t requests) {
  return requests > 0 ? x / double(requests) : kNaN;
}

// A share of the requests (errors, upstream errors): never above 1, whatever a reading
// held (counters.h, error_ratio).
double share(uint64_t part, uint64_t requests) {
  return requests > 0 ? error_ratio(part, requests) : kNaN;
}

}  // namespace

metrics::Window metrics_window(RuleWindow w) {
  switch (w) {
    case RuleWindow::k10s: return metrics::Window::k10s;
    case RuleWindow::k1m: return metrics::Window::k1m;
    case RuleWindow::k5m: return metrics::Window::k5m;
  }
  return metrics::Window::k1m;
}

double window_seconds(RuleWindow w) {
  return double(kWindowSlots[size_t(metrics_window(w))]);
}

Reading read_service(const FigureRef& f, RuleWindow w, const WindowStats& ws,
                     const ProcessFigures& process, double cpus_available, bool upstream_up) {
  Reading r{kNaN, ws.requests, ws.seconds};
  const auto duration = [&](DurationMetric m) { return duration_stat(ws.durations[size_t(m)], f.stat); };
  switch (f.figure) {
    case Figure::kLatency: r.value = duration(DurationMetric::kLatency); break;
    case Figure::kUpstreamTtfb: r.value = duration(DurationMetric::kUpstreamTtfb); break;
    case Figure::kProxyOverhead: r.value = duration(DurationMetric::kProxyOverhead); break;
    case Figure::kRequestSize:
      r.value = size_stat(ws.sizes[size_t(SizeMetric::kRequestBody)], f.stat);
      break;
    case Figure::kResponseSize:
      r.value = size_stat(ws.sizes[size_t(SizeMetric::kResponseBody)], f.stat);
      break;
    case Figure::kErrorRate: r.value = share(ws.errors, ws.requests); break;
    case Figure::kUpstreamErrorRate: {
      uint64_t n = 0;
      if (f.upstream_error != UpstreamError::kNone) {
        n = ws.totals.upstream_errors[size_t(f.upstream_error)];
      } else {
        for (size_t k = 1; k < kUpstreamErrorKinds; ++k) n += ws.totals.upstream_errors[k];
      }
      r.value = share(n, ws.requests);
      break;
    }
    case Figure::kRps: r.value = ws.seconds > 0 ? ws.rps : kNaN; break;
    case Figure::kCpu:
      if (ws.cpu_percent_of_quota >= 0) {
        r.value = ws.cpu_percent_of_quota / 100;
      } else if (ws.cpu_percent >= 0) {
        r.value = ws.cpu_percent / 100 / (cpus_available > 0 ? cpus_available : 1);
      }
      break;
    case Figure::kRss:
      r.seconds = window_seconds(w);
      if (process.valid) r.value = double(process.rss_bytes);
      break;
    case Figure::kOpenFds:
      r.seconds = window_seconds(w);
      if (process.valid && process.open_fds >= 0) r.value = double(process.open_fds);
      break;
    case Figure::kUpstreamUp:
      r.seconds = window_seconds(w);
      r.value = upstream_up ? 1 : 0;
      break;
    case Figure::kTlsCertificateExpiry:  // needs the clock: rule_value reads it
    case Figure::kCount: break;
  }
  return r;
}

Reading read_route(const FigureRef& f, const RouteWindowStats& ws) {
  Reading r{kNaN, ws.requests, ws.seconds};
  if (!route_scopable(f)) return r;
  switch (f.figure) {
    case Figure::kLatency: r.value = duration_stat(ws.latency, f.stat); break;
    case Figure::kErrorRate: r.value = share(ws.errors, ws.requests); break;
    case Figure::kRps: r.value = ws.seconds > 0 ? ws.rps : kNaN; break;
    case Figure::kRequestSize:
      r.value = per_request(double(ws.request_body_bytes), ws.requests);
      break;
    case Figure::kResponseSize:
      r.value = per_request(double(ws.response_body_bytes), ws.requests);
      break;
    default: break;
  }
  return r;
}

double certificate_expiry_seconds(const std::vector<CertificateExpiry>& certificates,
                                  uint64_t now_unix_ms) {
  if (certificates.empty()) return kNaN;
  int64_t earliest = certificates.front().not_after_unix_s;
  for (const CertificateExpiry& c : certificates) earliest = std::min(earliest, c.not_after_unix_s);
  // In ms first: a certificate expiring within the second reads as a fraction, not 0.
  return (double(earliest) * 1000.0 - double(now_unix_ms)) / 1000.0;
}

double rule_value(const RuleSpec& rule, const Inputs& in, uint64_t now_unix_ms) {
  const bool scoped = !rule.route.empty() || rule.method.has_value();
  Reading r{kNaN, 0, 0};
  if (scoped) {
    if (!in.scoped) return kNaN;
    r = read_route(rule.figure, in.scoped(rule.route, rule.method, metrics_window(rule.window)));
  } else if (rule.figure.figure == Figure::kUpstreamUp) {
    r = Reading{in.upstream_up ? 1.0 : 0.0, 0, window_seconds(rule.window)};
  } else if (rule.figure.figure == Figure::kTlsCertificateExpiry) {
    if (in.snapshot == nullptr) return kNaN;
    r = Reading{certificate_expiry_seconds(in.snapshot->tls.certificates, now_unix_ms), 0,
                window_seconds(rule.window)};
  } else {
    if (in.snapshot == nullptr) return kNaN;
    r = read_service(rule.figure, rule.window, in.snapshot->window(metrics_window(rule.window)),
                     in.snapshot->process, in.cpus_available, in.upstream_up);
  }
  if (std::isnan(r.value)) return kNaN;
  if (rule.comparison == Comparison::kBelow) {
    if (r.seconds < window_seconds(rule.window)) return kNaN;
  } else if (counts_requests(rule.figure.figure) && r.requests < rule.min_requests) {
    return kNaN;
  }
  return r.value;
}

}  // namespace sidemeter::metrics::alerts
