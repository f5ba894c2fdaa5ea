#include "proxy/stats/prometheus_format.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "metrics/exchange_sample.h"
#include "proxy/stats/content_negotiation.h"
#include "proxy/stats/protobuf_sink.h"
#include "proxy/stats/text_output.h"

namespace sidemeter::stats {
namespace {

using metrics::DurationMetric;
using metrics::SizeMetric;
using metrics::Window;

// The text formats: Prometheus 0.0.4 and OpenMetrics 1.0 differ only in where a counter's
// "_total" goes and the "# EOF" line.
class TextSink final : public ExpositionSink {
 public:
  TextSink(std::string& out, ExpositionFormat f)
      : out_(out), om_(f == ExpositionFormat::kOpenMetrics) {}

  // Counters are named without "_total": the text format puts it in the family name,
  // OpenMetrics only on the samples.
  void family(std::string_view name, MetricType type, std::string_view help) override {
    const bool suffix = type == MetricType::kCounter && !om_;
    out_ += "# HELP ";
    out_ += name;
    if (suffix) out_ += "_total";
    out_ += ' ';
    append_help_text(out_, help);
    out_ += "\n# TYPE ";
    out_ += name;
    if (suffix) out_ += "_total";
    out_ += ' ';
    out_ += type_name(type);
    out_ += '\n';
  }

  using ExpositionSink::sample;
  void sample(std::string_view name, std::string_view suffix, std::span<const Label> labels,
              double value, Label extra) override {
    out_ += name;
    out_ += suffix;
    if (!labels.empty() || !extra.name.empty()) {
      out_ += '{';
      bool first = true;
      for (const Label& l : labels) {
        if (!first) out_ += ',';
        first = false;
        append_label(l);
      }
      if (!extra.name.empty()) {
        if (!first) out_ += ',';
        append_label(extra);
      }
      out_ += '}';
    }
    out_ += ' ';
    append_double_exact(out_, value);
    out_ += '\n';
  }

  using ExpositionSink::histogram;
  void histogram(std::string_view name, std::span<const Label> labels,
                 const HistogramPoint& p) override {
    for (size_t i = 0; i < p.bounds.size(); ++i) {
      le_.clear();
      append_double_fixed(le_, p.bounds[i]);
      sample(name, "_bucket", labels, double(p.cumulative[i]), {"le", le_});
    }
    sample(name, "_bucket", labels, double(p.count), {"le", "+Inf"});
    sample(name, "_sum", labels, p.sum);
    sample(name, "_count", labels, double(p.count));
  }

  void end() override {
    if (om_) out_ += "# EOF\n";
  }

 private:
  static const char* type_name(MetricType t) {
    switch (t) {
      case MetricType::kCounter:
        return "counter";
      case MetricType::kGauge:
        return "gauge";
      case MetricType::kHistogram:
        return "histogram";
      case MetricType::kSummary:
        return "summary";
    }
    return "untyped";
  }

  void append_label(const Label& l) {
    out_ += l.name;
    out_ += "=\"";
    append_label_value(out_, l.value);
    out_ += '"';
  }

  std::string& out_;
  const bool om_;
  std::string le_;
};

// OpenTelemetry spells methods outside the standard set "_OTHER", as method_name does.
std::string_view otel_method(metrics::Method m) { return metrics::method_name(m); }

// The family definitions below write to any sink (text, protobuf) under these names.
using Type = MetricType;
using Writer = ExpositionSink;

void hdr_histogram(Writer& w, std::string_view name, std::string_view help,
                   const metrics::Histogram& h, std::span<const double> bounds, double unit) {
  w.family(name, Type::kHistogram, help);
  w.histogram(name, {}, h, unit, bounds);
}

// Per route, method, status code and error type: the series count is the label
// combinations times (bounds + 3), hence the short default bound set
// (metrics/duration_bounds.h).
void request_duration(Writer& w, const metrics::Snapshot& snap, std::span<const double> bounds) {
  constexpr std::string_view kName = "http_server_request_duration_seconds";
  w.family(kName, Type::kHistogram,
           "Duration of HTTP server requests: every exchange, a cut-short one up to its end; "
           "error_type says why one did not complete normally.");
  std::vector<uint64_t> cumulative(bounds.size());
  char code[8];
  char error[8];
  for (const metrics::DurationSeries& s : snap.request_duration) {
    series_cumulative_at_bounds(s, bounds, cumulative);
    // OTel: the status code only when one was sent, error.type only when the exchange
    // failed. Pairs beyond the per-route cap share "other" series.
    Label labels[4] = {{"http_route", s.route}, {"http_request_method", otel_method(s.method)}};
    size_t n = 2;
    if (s.code_other) {
      labels[n++] = {"http_response_status_code", "other"};
    } else if (s.code != 0) {
      const int len = snprintf(code, sizeof code, "%u", unsigned(s.code));
      labels[n++] = {"http_response_status_code", std::string_view(code, size_t(len))};
    }
    const std::string_view type = metrics::error_type_name(s.error_type, s.code, error);
    if (!type.empty()) labels[n++] = {"error_type", type};
    HistogramPoint point{bounds, cumulative, s.sum_seconds, s.count};
    point.full = &s.histogram;
    point.unit = 1e-9;  // ns
    w.histogram(kName, std::span<const Label>(labels, n), point);
  }
}

struct WindowSummaryDef {
  DurationMetric metric;
  std::string_view name;
  std::string_view help;
};

void window_summaries(Writer& w, const metrics::Snapshot& snap) {
  static constexpr WindowSummaryDef kDefs[] = {
      {DurationMetric::kLatency, "sidemeter_request_duration_window_seconds",
       "Request duration quantiles over a rolling window (exact to 1%); _count and _sum count "
       "since start, as sidemeter_request_duration_seconds does."},
      {DurationMetric::kUpstreamTtfb, "sidemeter_upstream_ttfb_window_seconds",
       "Upstream time to first byte quantiles over a rolling window."},
      {DurationMetric::kUpstreamConnect, "sidemeter_upstream_connect_window_seconds",
       "Upstream connect time quantiles over a rolling window (fresh connections)."},
      {DurationMetric::kProxyOverhead, "sidemeter_proxy_overhead_window_seconds",
       "Time added by the proxy itself, quantiles over a rolling window."},
      {DurationMetric::kUpstreamTlsHandshake, "sidemeter_upstream_tls_handshake_window_seconds",
       "Upstream TLS handshake time of exchanges that opened a TLS connection (TCP connected "
       "to handshake done), quantiles over a rolling window."},
  };
  static constexpr Window kWindows[] = {Window::k10s, Window::k1m, Window::k5m};
  static constexpr std::string_view kQuantiles[] = {"0.5", "0.9", "0.95", "0.99", "0.999"};
  // The shape of a Go client summary with sliding-window objectives: quantiles over the
  // window, _count and _sum since start. Both are counters (OpenMetrics), so the window's
  // own count and sum, which fall as it slides, cannot be them. They are written even
  // though OpenMetrics makes them optional: Prometheus's protobuf parser reads an absent
  // count and sum as 0 and would store that.
  for (const WindowSummaryDef& def : kDefs) {
    w.family(def.name, Type::kSummary, def.help);
    // A snapshot without histograms (made by hand) counts nothing since start.
    static const metrics::Histogram kNone(metrics::kDurationLayout);
    const metrics::Histogram& since_start = size_t(def.metric) < snap.duration_histograms.size()
                                                ? snap.duration_histograms[size_t(def.metric)]
                                                : kNone;
    for (Window win : kWindows) {
      const metrics::DurationSummary& d = snap.window(win).durations[size_t(def.metric)];
      const Label labels[] = {{"window", metrics::kWindowNames[size_t(win)]}};
      const double ms[] = {d.p50_ms, d.p90_ms, d.p95_ms, d.p99_ms, d.p999_ms};
      for (size_t q = 0; q < std::size(kQuantiles); ++q) {
        // No observation: NaN, as Prometheus client libraries report an empty summary.
        const double v = d.count ? ms[q] / 1e3 : std::numeric_limits<double>::quiet_NaN();
        w.sample(def.name, "", labels, v, {"quantile", kQuantiles[q]});
      }
      w.sample(def.name, "_sum", labels, double(since_start.sum()) * 1e-9);
      w.sample(def.name, "_count", labels, double(since_start.count()));
    }
  }
}

void window_rates(Writer& w, const metrics::Snapshot& snap) {
  static constexpr Window kWindows[] = {Window::k10s, Window::k1m, Window::k5m};
  w.family("sidemeter_window_requests_per_second", Type::kGauge,
           "Requests per second over a rolling window.");
  for (Window win : kWindows) {
    const Label l[] = {{"window", metrics::kWindowNames[size_t(win)]}};
    w.sample("sidemeter_window_requests_per_second", "", l, snap.window(win).rps);
  }
  w.family("sidemeter_window_error_ratio", Type::kGauge,
           "Share of requests that failed on the server side (5xx sent, or the upstream failed: "
           "502/504, response cut mid-body, none) over a rolling window; never above 1.");
  for (Window win : kWindows) {
    const Label l[] = {{"window", metrics::kWindowNames[size_t(win)]}};
    w.sample("sidemeter_window_error_ratio", "", l, snap.window(win).error_rate);
  }
}

void error_counters(Writer& w, const metrics::Snapshot& snap) {
  const metrics::Scalars& t = snap.window(Window::kTotal).totals;
  w.family("sidemeter_upstream_errors", Type::kCounter,
           "Failed upstream attempts, by where they failed.");
  for (size_t k = 1; k < metrics::kUpstreamErrorKinds; ++k) {
    const Label l[] = {{"error_type", metrics::upstream_error_name(metrics::UpstreamError(k))}};
    w.counter("sidemeter_upstream_errors", l, double(t.upstream_errors[k]));
  }
  w.family("sidemeter_downstream_errors", Type::kCounter,
           "Client-side failures (aborts, timeouts, rejected requests), by kind.");
  for (size_t k = 1; k < metrics::kDownstreamErrorKinds; ++k) {
    const Label l[] = {{"error_type", metrics::downstream_error_name(metrics::DownstreamError(k))}};
    w.counter("sidemeter_downstream_errors", l, double(t.downstream_errors[k]));
  }
  w.family("sidemeter_rejected_requests", Type::kCounter,
           "Requests refused by the proxy before reaching the upstream, by reason.");
  for (const auto& [reason, n] : snap.window(Window::kTotal).rejected) {
    const Label l[] = {{"reason", reason}};
    w.counter("sidemeter_rejected_requests", l, double(n));
  }
  w.family("sidemeter_upstream_retries", Type::kCounter,
           "Idempotent requests retried on a fresh upstream connection.");
  w.counter("sidemeter_upstream_retries", {}, double(t.upstream_retries));
}

void access_log(Writer& w, const ExpositionExtras& x) {
  if (!x.access_log) return;
  w.family("sidemeter_access_log_lines", Type::kCounter, "Access log lines written.");
  w.counter("sidemeter_access_log_lines", {}, double(x.access_log->lines));
  w.family("sidemeter_access_log_dropped", Type::kCounter,
           "Access log lines dropped: a worker's queue was full, or the output failed.");
  const Label full[] = {{"reason", "queue_full"}};
  const Label failed[] = {{"reason", "write_error"}};
  w.counter("sidemeter_access_log_dropped", full, double(x.access_log->dropped_queue_full));
  w.counter("sidemeter_access_log_dropped", failed, double(x.access_log->dropped_write_error));
}

// The route table (README "Routes"): what is admitted, what waits, what was pushed out.
void route_table(Writer& w, const metrics::RouteTableStats& r) {
  w.family("sidemeter_routes_active", Type::kGauge,
           "Routes with series of their own now, by kind (automatic: admitted templates, at "
           "most routes.max; pattern: configured).");
  const Label automatic[] = {{"kind", "automatic"}};
  const Label pattern[] = {{"kind", "pattern"}};
  w.sample("sidemeter_routes_active", "", automatic, double(r.automatic));
  w.sample("sidemeter_routes_active", "", pattern, double(r.patterns));
  w.family("sidemeter_route_candidates", Type::kGauge,
           "Automatic route templates waiting for admission (counted under route=\"other\").");
  w.sample("sidemeter_route_candidates", "", {}, double(r.candidates));
  w.family("sidemeter_route_admissions", Type::kCounter,
           "Automatic route templates admitted to the route table.");
  w.counter("sidemeter_route_admissions", {}, double(r.admissions));
  w.family("sidemeter_route_evictions", Type::kCounter,
           "Automatic routes evicted (least recently hit, idle for routes.eviction.min_idle) to "
           "admit a new one.");
  w.counter("sidemeter_route_evictions", {}, double(r.evictions));
  w.family("sidemeter_route_evicted_requests", Type::kCounter,
           "Requests counted on routes since evicted or freed, whose series are gone: the "
           "route series add up to all requests minus these.");
  w.counter("sidemeter_route_evicted_requests", {}, double(r.evicted_requests));
}

void gauges(Writer& w, const metrics::Snapshot& snap, const ExpositionExtras& x) {
  const metrics::GaugeTotals& g = snap.gauges;
  w.family("http_server_active_requests", Type::kGauge, "Requests being served right now.");
  w.sample("http_server_active_requests", "", {}, double(g.requests_active));
  w.family("sidemeter_connections_active", Type::kGauge, "Open connections, by side.");
  const Label down[] = {{"side", "downstream"}};
  const Label up[] = {{"side", "upstream"}};
  w.sample("sidemeter_connections_active", "", down, double(g.downstream_connections_active));
  w.sample("sidemeter_connections_active", "", up, double(g.upstream_connections_active));
  w.family("sidemeter_tunnels_active", Type::kGauge, "Upgraded (e.g. WebSocket) connections.");
  w.sample("sidemeter_tunnels_active", "", {}, double(g.tunnels_active));
  w.family("sidemeter_connections", Type::kCounter, "Connections opened, by side.");
  w.counter("sidemeter_connections", down, double(g.downstream_connections_total));
  w.counter("sidemeter_connections", up, double(g.upstream_connections_total));
  w.family("sidemeter_connections_refused", Type::kCounter,
           "Downstream connections refused (over max_connections or draining).");
  w.counter("sidemeter_connections_refused", {}, double(g.downstream_connections_refused));
  {
    constexpr std::string_view kPp = "sidemeter_downstream_proxy_protocol_errors";
    w.family(kPp, Type::kCounter,
             "Downstream connections closed for their PROXY protocol header, by reason.");
    for (size_t i = 0; i < metrics::kProxyProtocolErrors; ++i) {
      const Label labels[] = {{"reason", metrics::kProxyProtocolErrorNames[i]}};
      w.counter(kPp, labels, double(g.downstream_proxy_protocol_errors[i]));
    }
  }
  w.family("sidemeter_upstream_up", Type::kGauge,
           "1 when the upstream was reachable at the last probe.");
  w.sample("sidemeter_upstream_up", "", {}, x.upstream_up ? 1 : 0);
  w.family("sidemeter_stats_unauthorized_requests", Type::kCounter,
           "Stats port requests refused for a missing or wrong bearer token.");
  w.counter("sidemeter_stats_unauthorized_requests", {}, double(x.stats_unauthorized));
  w.family("sidemeter_stats_stream_subscribers", Type::kGauge, "Open /stats/stream subscriptions.");
  w.sample("sidemeter_stats_stream_subscribers", "", {}, double(x.stream_subscribers));
  w.family("sidemeter_stats_stream_dropped", Type::kCounter,
           "Stream subscribers dropped because they fell too far behind.");
  w.counter("sidemeter_stats_stream_dropped", {}, double(x.stream_dropped));

  w.family("sidemeter_build_info", Type::kGauge,
           "Always 1; the version and the hash of the configuration in force.");
  const Label build[] = {{"version", SIDEMETER_VERSION}, {"config_hash", x.config_hash}};
  w.sample("sidemeter_build_info", "", build, 1);
  w.family("sidemeter_config_reloads", Type::kCounter,
           "Configuration reloads (SIGHUP or POST /-/reload), by result.");
  const Label ok[] = {{"result", "success"}};
  const Label failed[] = {{"result", "failure"}};
  w.counter("sidemeter_config_reloads", ok, double(x.config_reloads_success));
  w.counter("sidemeter_config_reloads", failed, double(x.config_reloads_failure));
  w.family("sidemeter_config_last_reload_success_timestamp_seconds", Type::kGauge,
           "Unix time of the last successful configuration load (the start counts).");
  w.sample("sidemeter_config_last_reload_success_timestamp_seconds", "", {},
           x.config_last_reload_success_s);
  access_log(w, x);
  route_table(w, snap.route_table);
}

void alert_families(Writer& w, const ExpositionExtras& x) {
  if (x.alerts != nullptr) {
    namespace al = metrics::alerts;
    w.family("sidemeter_alert_firing", Type::kGauge,
             "1 while the alert fires, else 0 (pending counts as 0); one series per rule and "
             "severity, SLO burn alerts carry slo.");
    for (const al::AlertState& a : x.alerts->alerts) {
      std::string_view slo;
      for (const auto& [name, value] : a.labels) {
        if (name == "slo") slo = value;
      }
      const Label rule[] = {{"alertname", a.alertname},
                            {"severity", al::severity_name(a.severity)}};
      const Label burn[] = {{"alertname", a.alertname},
                            {"severity", al::severity_name(a.severity)},
                            {"slo", slo}};
      w.sample("sidemeter_alert_firing", "",
               slo.empty() ? std::span<const Label>(rule) : std::span<const Label>(burn),
               a.state == al::State::kFiring ? 1 : 0);
    }
    if (!x.alerts->slos.empty()) {
      w.family("sidemeter_slo_burn_rate", Type::kGauge,
               "How fast the error budget burns over the window: 1 spends exactly the budget.");
      for (const al::SloState& s : x.alerts->slos) {
        for (size_t i = 0; i < al::kBurnWindows.size(); ++i) {
          const Label labels[] = {{"slo", s.spec.name}, {"window", al::kBurnWindows[i]}};
          w.sample("sidemeter_slo_burn_rate", "", labels, s.burn_rates[i]);
        }
      }
      w.family("sidemeter_slo_error_budget_remaining_ratio", Type::kGauge,
               "Share of the error budget left over the retained horizon (6 h); below 0 when "
               "overspent.");
      for (const al::SloState& s : x.alerts->slos) {
        const Label labels[] = {{"slo", s.spec.name}};
        w.sample("sidemeter_slo_error_budget_remaining_ratio", "", labels,
                 s.error_budget_remaining);
      }
      w.family("sidemeter_slo_objective_ratio", Type::kGauge,
               "The share of good events the objective aims at.");
      for (const al::SloState& s : x.alerts->slos) {
        const Label labels[] = {{"slo", s.spec.name}};
        w.sample("sidemeter_slo_objective_ratio", "", labels, s.spec.objective);
      }
      // Counters Prometheus can sum across pods (the gauges above are per pod).
      w.family("sidemeter_slo_events", Type::kCounter,
               "Events the SLO judged since start: requests in its scope (route, method). "
               "Fleet burn rate = (1 - sum(rate(good)) / sum(rate(events))) / (1 - objective).");
      for (const al::SloState& s : x.alerts->slos) {
        const Label labels[] = {{"slo", s.spec.name}};
        w.counter("sidemeter_slo_events", labels, double(s.events_total));
      }
      w.family("sidemeter_slo_good_events", Type::kCounter,
               "Good events of the SLO since start: availability, requests that were not "
               "errors (no 5xx, no upstream failure); latency, those that were also answered "
               "within the threshold.");
      for (const al::SloState& s : x.alerts->slos) {
        const Label labels[] = {{"slo", s.spec.name}};
        w.counter("sidemeter_slo_good_events", labels, double(s.good_events_total));
      }
      w.family("sidemeter_slo_memory_bytes", Type::kGauge,
               "Memory held by the per-minute SLO event slots.");
      w.sample("sidemeter_slo_memory_bytes", "", {}, double(x.alerts->slo_memory_bytes));
    }
  }
  if (!x.deliveries.empty()) {
    w.family("sidemeter_alert_deliveries", Type::kCounter,
             "Alert messages to Alertmanager and webhooks, by receiver and result (success, "
             "failure: an attempt failed, dropped: given up or pushed out of a full queue).");
    for (const ExpositionExtras::Delivery& d : x.deliveries) {
      const std::pair<std::string_view, uint64_t> results[] = {
          {"success", d.success}, {"failure", d.failure}, {"dropped", d.dropped}};
      for (const auto& [result, n] : results) {
        const Label labels[] = {{"receiver", d.receiver}, {"result", result}};
        w.counter("sidemeter_alert_deliveries", labels, double(n));
      }
    }
  }
}

void tls_families(Writer& w, const metrics::Snapshot& snap, const ExpositionExtras& x) {
  using metrics::TlsSide;
  const metrics::TlsStats& tls = snap.tls;
  std::array<bool, metrics::kTlsSides> shown{};
  bool any = false;
  for (size_t s = 0; s < metrics::kTlsSides; ++s) {
    shown[s] = tls_side_shown(tls, TlsSide(s), x.tls_configured[s]);
    any = any || shown[s];
  }
  constexpr double kNs = 1e-9;
  if (any) {
    constexpr std::string_view kDuration = "sidemeter_tls_handshake_duration_seconds";
    w.family(kDuration, Type::kHistogram,
             "Duration of completed TLS handshakes, by side.");
    for (size_t s = 0; s < metrics::kTlsSides; ++s) {
      if (!shown[s]) continue;
      const Label labels[] = {{"side", metrics::tls_side_name(TlsSide(s))}};
      w.histogram(kDuration, labels, tls.duration[s], kNs, kFineDurationBounds);
    }
    constexpr std::string_view kHandshakes = "sidemeter_tls_handshakes";
    w.family(kHandshakes, Type::kCounter,
             "Completed TLS handshakes, by side, negotiated version and whether the session "
             "was resumed.");
    for (size_t s = 0; s < metrics::kTlsSides; ++s) {
      if (!shown[s]) continue;
      for (size_t v = 0; v < metrics::kTlsVersions; ++v) {
        for (size_t r = 0; r < 2; ++r) {
          const Label labels[] = {
              {"side", metrics::tls_side_name(TlsSide(s))},
              {"version", metrics::tls_version_seen_name(metrics::TlsVersionSeen(v))},
              {"resumed", r ? "true" : "false"}};
          w.counter(kHandshakes, labels, double(tls.handshakes[s][v][r]));
        }
      }
    }
    constexpr std::string_view kFailures = "sidemeter_tls_handshake_failures";
    w.family(kFailures, Type::kCounter, "Failed TLS handshakes, by side and reason.");
    for (size_t s = 0; s < metrics::kTlsSides; ++s) {
      if (!shown[s]) continue;
      for (size_t f = 0; f < metrics::kTlsFailures; ++f) {
        const Label labels[] = {{"side", metrics::tls_side_name(TlsSide(s))},
                                {"reason", metrics::tls_failure_name(metrics::TlsFailure(f))}};
        w.counter(kFailures, labels, double(tls.failures[s][f]));
      }
    }
  }
  if (!tls.certificates.empty()) {
    constexpr std::string_view kExpiry = "sidemeter_tls_certificate_expiry_timestamp_seconds";
    w.family(kExpiry, Type::kGauge,
             "Unix time at which a loaded certificate expires (its notAfter); side downstream: "
             "served to clients, upstream: presented to the upstream.");
    for (const metrics::CertificateExpiry& c : tls.certificates) {
      const Label labels[] = {
          {"name", c.name}, {"side", metrics::tls_side_name(c.side)}, {"file", c.file}};
      w.sample(kExpiry, "", labels, double(c.not_after_unix_s));
    }
  }
}

void process(Writer& w, const metrics::ProcessFigures& p) {
  if (p.cgroup_cpu_quota_cores > 0) {
    w.family("sidemeter_cpu_quota_cores", Type::kGauge,
             "CPU cores the cgroup quota allows (v2 cpu.max, v1 cfs quota / period); absent when there is "
             "no quota. rate(process_cpu_seconds_total) / this = share of the quota used.");
    w.sample("sidemeter_cpu_quota_cores", "", {}, p.cgroup_cpu_quota_cores);
  }
  if (!p.valid) return;
  w.family("process_cpu_seconds", Type::kCounter,
           "Total user and system CPU time spent in seconds.");
  w.counter("process_cpu_seconds", {}, p.cpu_seconds);
  w.family("process_resident_memory_bytes", Type::kGauge, "Resident memory size in bytes.");
  w.sample("process_resident_memory_bytes", "", {}, double(p.rss_bytes));
  w.family("process_virtual_memory_bytes", Type::kGauge, "Virtual memory size in bytes.");
  w.sample("process_virtual_memory_bytes", "", {}, double(p.virtual_bytes));
  if (p.open_fds >= 0) {
    w.family("process_open_fds", Type::kGauge, "Number of open file descriptors.");
    w.sample("process_open_fds", "", {}, double(p.open_fds));
  }
  if (p.max_fds >= 0) {
    w.family("process_max_fds", Type::kGauge, "Maximum number of open file descriptors.");
    w.sample("process_max_fds", "", {}, double(p.max_fds));
  }
  if (p.start_time_seconds > 0) {
    w.family("process_start_time_seconds", Type::kGauge,
             "Start time of the process since unix epoch in seconds.");
    w.sample("process_start_time_seconds", "", {}, p.start_time_seconds);
  }
}

}  // namespace

ExpositionFormat negotiate_exposition(std::string_view accept) {
  // Server order: on a tie (e.g. "*/*") the plain text format, which every scraper reads.
  static constexpr MediaParameter kText[] = {{"version", "0.0.4"}, {"charset", "utf-8"}};
  static constexpr MediaParameter kOpenMetrics[] = {{"version", "1.0.0"}, {"charset", "utf-8"}};
  static constexpr MediaParameter kProtobuf[] = {{"proto", "io.prometheus.client.MetricFamily"},
                                                 {"encoding", "delimited"}};
  static constexpr MediaTypeOffer kOffers[] = {
      {"text", "plain", kText},
      {"application", "openmetrics-text", kOpenMetrics},
      {"application", "vnd.google.protobuf", kProtobuf},
  };
  static constexpr ExpositionFormat kFormats[] = {ExpositionFormat::kPrometheusText,
                                                  ExpositionFormat::kOpenMetrics,
                                                  ExpositionFormat::kProtobuf};
  const std::optional<size_t> chosen = negotiate_media_type(accept, kOffers);
  return chosen ? kFormats[*chosen] : ExpositionFormat::kPrometheusText;
}

std::string_view exposition_content_type(ExpositionFormat f) {
  switch (f) {
    case ExpositionFormat::kOpenMetrics:
      return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case ExpositionFormat::kProtobuf:
      return kProtobufContentType;
    case ExpositionFormat::kPrometheusText:
      break;
  }
  return "text/plain; version=0.0.4; charset=utf-8";
}

void ExpositionSink::histogram(std::string_view name, std::span<const Label> labels,
                               const metrics::Histogram& h, double unit,
                               std::span<const double> bounds) {
  cumulative_.resize(bounds.size());
  cumulative_at_bounds(h, bounds, unit, cumulative_);
  HistogramPoint point{bounds, cumulative_, double(h.sum()) * unit, h.count()};
  point.full = &h;
  point.unit = unit;
  histogram(name, labels, point);
}

bool tls_side_shown(const metrics::TlsStats& tls, metrics::TlsSide side, bool configured) {
  if (configured) return true;
  const size_t s = size_t(side);
  if (tls.duration[s].count() != 0) return true;
  for (const auto& version : tls.handshakes[s]) {
    for (uint64_t n : version) {
      if (n != 0) return true;
    }
  }
  for (uint64_t n : tls.failures[s]) {
    if (n != 0) return true;
  }
  return false;
}

void cumulative_at_bounds(const metrics::Histogram& h, std::span<const double> bounds, double unit,
                          std::span<uint64_t> out) {
  const metrics::HistogramLayout& layout = h.layout();
  // Only the range touched is stored: buckets[j] is layout bucket first + j.
  const std::span<const uint64_t> buckets = h.stored_buckets();
  const uint32_t first = h.first_bucket();
  const uint32_t n = uint32_t(buckets.size());
  uint64_t running = 0;
  uint32_t j = 0;
  for (size_t b = 0; b < bounds.size(); ++b) {
    // Bucket i goes under bound b when its largest value does (metrics::counts_at_bounds).
    const auto limit = uint64_t(std::llround(bounds[b] / unit));
    // The first bucket not under the bound: start at the bucket holding it (one index
    // computation, not a comparison per bucket: 1,200 series x ~2,000 buckets per scrape),
    // then settle at the edge.
    const uint32_t at = layout.index(limit);
    uint32_t end = std::max(j, at < first ? 0u : std::min(n, at - first));
    while (end < n && layout.upper(first + end) <= limit) ++end;
    while (end > j && layout.upper(first + end - 1) > limit) --end;
    for (; j < end; ++j) running += buckets[j];
    out[b] = running;
  }
}

void series_cumulative_at_bounds(const metrics::DurationSeries& s, std::span<const double> bounds,
                                 std::span<uint64_t> out) {
  if (s.histogram.count() == s.count && s.count != 0) {
    cumulative_at_bounds(s.histogram, bounds, 1e-9, out);
    return;
  }
  // Not filled: the fixed buckets, each under the first bound at or above its own (a
  // relative tolerance absorbs the decimal spelling of a bound from the config).
  uint64_t running = 0;
  size_t i = 0;
  for (size_t b = 0; b < bounds.size(); ++b) {
    while (i < metrics::kRequestDurationBounds.size() &&
           metrics::kRequestDurationBounds[i] <= bounds[b] * (1 + 1e-9)) {
      running += s.buckets[i];
      ++i;
    }
    out[b] = running;
  }
}

void append_exposition(const metrics::Snapshot& snap, const ExpositionExtras& extras,
                       ExpositionFormat format, std::string& out) {
  if (format == ExpositionFormat::kProtobuf) {
    const std::unique_ptr<ExpositionSink> sink = make_protobuf_sink(out);
    append_exposition(snap, extras, *sink);
    return;
  }
  TextSink text(out, format);
  append_exposition(snap, extras, text);
}

void append_exposition(const metrics::Snapshot& snap, const ExpositionExtras& extras,
                       ExpositionSink& w) {
  request_duration(w, snap, extras.route_request_duration_bounds);
  constexpr double kNs = 1e-9;
  const auto& dur = snap.duration_histograms;
  const auto& size = snap.size_histograms;
  if (dur.size() == metrics::kDurationMetrics) {
    // The exchanges of http_server_request_duration_seconds without its labels, at the full
    // bound set: fleet-wide quantiles at fine resolution for the cost of one series set.
    hdr_histogram(w, "sidemeter_request_duration_seconds",
                  "Duration of HTTP server requests, every route, method and status together "
                  "(the exchanges of http_server_request_duration_seconds).",
                  dur[size_t(DurationMetric::kLatency)], extras.request_duration_bounds, kNs);
  }
  if (size.size() == metrics::kSizeMetrics) {
    hdr_histogram(w, "http_server_request_body_size_bytes", "Size of HTTP server request bodies.",
                  size[size_t(SizeMetric::kRequestBody)], kSizeBounds, 1);
    hdr_histogram(w, "http_server_response_body_size_bytes", "Size of HTTP server response bodies.",
                  size[size_t(SizeMetric::kResponseBody)], kSizeBounds, 1);
  }
  if (dur.size() == metrics::kDurationMetrics) {
    hdr_histogram(w, "http_client_request_duration_seconds",
                  "Duration of upstream requests, from connect start to the end of the response.",
                  dur[size_t(DurationMetric::kUpstreamTotal)], metrics::kRequestDurationBounds,
                  kNs);
    hdr_histogram(w, "sidemeter_upstream_connect_duration_seconds",
                  "Time to open a fresh upstream connection.",
                  dur[size_t(DurationMetric::kUpstreamConnect)], kFineDurationBounds, kNs);
    hdr_histogram(w, "sidemeter_upstream_ttfb_seconds",
                  "Upstream time to first byte, from request sent to first response byte.",
                  dur[size_t(DurationMetric::kUpstreamTtfb)], metrics::kRequestDurationBounds, kNs);
    hdr_histogram(w, "sidemeter_proxy_overhead_seconds",
                  "Time the proxy itself added to each exchange.",
                  dur[size_t(DurationMetric::kProxyOverhead)], kFineDurationBounds, kNs);
  }
  window_summaries(w, snap);
  window_rates(w, snap);
  error_counters(w, snap);
  gauges(w, snap, extras);
  alert_families(w, extras);
  tls_families(w, snap, extras);
  process(w, snap.process);
  w.end();
}

}  // namespace sidemeter::stats
