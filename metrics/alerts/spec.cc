#include "metrics/alerts/spec.h"

#include <array>

namespace sidemeter::metrics::alerts {
namespace {

constexpr std::array<std::string_view, size_t(Figure::kCount)> kFigureNames = {
    "latency", "upstream_ttfb", "proxy_overhead", "request_size", "response_size",
    "error_rate", "upstream_error_rate", "rps", "cpu", "rss", "open_fds", "upstream_up",
    "tls_certificate_expiry"};
constexpr std::array<std::string_view, size_t(Stat::kCount)> kStatNames = {
    "", "avg", "p50", "p90", "p95", "p99", "max"};

bool is_size(Figure f) { return f == Figure::kRequestSize || f == Figure::kResponseSize; }

bool has_stats(Figure f) {
  return is_duration(f) || is_size(f);
}

// What the registry's size summaries carry (SizeSummary: avg, p50, p95, max).
bool size_stat(Stat s) {
  return s == Stat::kAvg || s == Stat::kP50 || s == Stat::kP95 || s == Stat::kMax;
}

}  // namespace

std::string_view figure_name(Figure f) {
  return f < Figure::kCount ? kFigureNames[size_t(f)] : "unknown";
}
std::string_view stat_name(Stat s) { return s < Stat::kCount ? kStatNames[size_t(s)] : ""; }
std::string_view window_name(RuleWindow w) {
  switch (w) {
    case RuleWindow::k10s: return "10s";
    case RuleWindow::k1m: return "1m";
    case RuleWindow::k5m: return "5m";
  }
  return "1m";
}
std::string_view severity_name(Severity s) {
  return s == Severity::kCritical ? "critical" : "warning";
}

bool is_duration(Figure f) {
  return f == Figure::kLatency || f == Figure::kUpstreamTtfb || f == Figure::kProxyOverhead;
}
bool is_bytes(Figure f) { return is_size(f) || f == Figure::kRss; }
bool is_ratio(Figure f) {
  return f == Figure::kErrorRate || f == Figure::kUpstreamErrorRate || f == Figure::kCpu;
}
bool is_seconds(Figure f) { return f == Figure::kTlsCertificateExpiry; }
bool counts_requests(Figure f) {
  return has_stats(f) || f == Figure::kErrorRate || f == Figure::kUpstreamErrorRate;
}
// Per-route windows hold requests, errors, body bytes and the latency distribution.
bool route_scopable(Figure f) {
  return f == Figure::kLatency || f == Figure::kErrorRate || f == Figure::kRps ||
         f == Figure::kRequestSize || f == Figure::kResponseSize;
}

bool route_scopable(const FigureRef& f) {
  if (!route_scopable(f.figure)) return false;
  if (is_size(f.figure)) return f.stat == Stat::kAvg;
  return true;
}

std::optional<FigureRef> parse_figure(std::string_view text, std::string& error) {
  std::string_view head = text.substr(0, text.find('.'));
  std::string_view tail =
      head.size() < text.size() ? text.substr(head.size() + 1) : std::string_view();
  FigureRef ref;
  size_t i = 0;
  while (i < kFigureNames.size() && kFigureNames[i] != head) ++i;
  if (i == kFigureNames.size()) {
    error = "unknown figure '" + std::string(text) + "'";
    return std::nullopt;
  }
  ref.figure = Figure(i);
  bool dotted = head.size() < text.size();
  if (has_stats(ref.figure)) {
    if (!dotted) {
      error = "figure '" + std::string(head) + "' needs a statistic, e.g. '" +
              std::string(head) + (is_size(ref.figure) ? ".avg'" : ".p99'");
      return std::nullopt;
    }
    size_t s = 1;
    while (s < kStatNames.size() && kStatNames[s] != tail) ++s;
    if (s == kStatNames.size() || (is_size(ref.figure) && !size_stat(Stat(s)))) {
      error = "figure '" + std::string(head) + "' has no statistic '" + std::string(tail) +
              "' (" + (is_size(ref.figure) ? "avg, p50, p95, max" : "avg, p50, p90, p95, p99, max") +
              ")";
      return std::nullopt;
    }
    ref.stat = Stat(s);
    return ref;
  }
  if (ref.figure == Figure::kUpstreamErrorRate && dotted) {
    for (size_t k = 1; k < size_t(UpstreamError::kCount); ++k) {
      if (upstream_error_name(UpstreamError(k)) == tail) {
        ref.upstream_error = UpstreamError(k);
        return ref;
      }
    }
    error = "unknown upstream error kind '" + std::string(tail) + "'";
    return std::nullopt;
  }
  if (dotted) {
    error = "figure '" + std::string(head) + "' takes no '." + std::string(tail) + "'";
    return std::nullopt;
  }
  return ref;
}

std::string figure_ref_name(const FigureRef& f) {
  std::string out(figure_name(f.figure));
  if (f.stat != Stat::kNone) out.append(".").append(stat_name(f.stat));
  if (f.upstream_error != UpstreamError::kNone)
    out.append(".").append(upstream_error_name(f.upstream_error));
  return out;
}

}  // namespace sidemeter::metrics::alerts
