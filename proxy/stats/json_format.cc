#include "proxy/stats/json_format.h"

#include <algorithm>
#include <vector>

#include "metrics/exchange_sample.h"
#include "proxy/stats/alerts_format.h"
#include "proxy/text/json_writer.h"
#include "proxy/text/rfc3339.h"

#ifndef SIDEMETER_VERSION
#define SIDEMETER_VERSION "unknown"
#endif

namespace sidemeter::stats {
namespace {

using metrics::DurationMetric;
using metrics::SizeMetric;

// Writes `"key":` with the separating comma when needed, so callers read like the schema.
class Obj {
 public:
  explicit Obj(std::string& out) : out_(out) { out_ += '{'; }
  ~Obj() { out_ += '}'; }
  Obj(const Obj&) = delete;
  Obj& operator=(const Obj&) = delete;

  std::string& key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    text::append_json_string(out_, k);
    out_ += ':';
    return out_;
  }
  void u(std::string_view k, uint64_t v) { text::append_uint(key(k), v); }
  void d(std::string_view k, double v) { text::append_json_double(key(k), v); }
  void b(std::string_view k, bool v) { key(k) += v ? "true" : "false"; }
  void s(std::string_view k, std::string_view v) { text::append_json_string(key(k), v); }
  void opt_int(std::string_view k, int64_t v) {  // negative = unknown
    if (v < 0) {
      key(k) += "null";
    } else {
      text::append_int(key(k), v);
    }
  }
  void opt_d(std::string_view k, double v) {  // negative = unknown
    if (v < 0) {
      key(k) += "null";
    } else {
      d(k, v);
    }
  }

 private:
  std::string& out_;
  bool first_ = true;
};

void duration(std::string& out, const metrics::DurationSummary& s) {
  Obj o(out);
  o.u("count", s.count);
  o.d("avg", s.avg_ms);
  o.d("p50", s.p50_ms);
  o.d("p90", s.p90_ms);
  o.d("p95", s.p95_ms);
  o.d("p99", s.p99_ms);
  o.d("p999", s.p999_ms);
  o.d("max", s.max_ms);
}

void size(std::string& out, const metrics::SizeSummary& s) {
  Obj o(out);
  o.u("total", s.total);
  o.d("avg", s.avg);
  o.d("p50", s.p50);
  o.d("p95", s.p95);
  o.u("max", s.max);
}

// The per-second subset: a history holds 300 of each, so only what charts plot.
void history_duration(std::string& out, const metrics::DurationSummary& s) {
  Obj o(out);
  o.u("count", s.count);
  o.d("avg", s.avg_ms);
  o.d("p50", s.p50_ms);
  o.d("p95", s.p95_ms);
  o.d("p99", s.p99_ms);
  o.d("max", s.max_ms);
}

void history_size(std::string& out, const metrics::SizeSummary& s) {
  Obj o(out);
  o.u("total", s.total);
  o.d("avg", s.avg);
  o.d("p95", s.p95);
  o.u("max", s.max);
}

void status_classes(std::string& out, const std::array<uint64_t, metrics::kStatusClasses>& c) {
  static constexpr std::string_view kNames[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  Obj o(out);
  for (size_t i = 0; i < metrics::kStatusClasses; ++i) o.u(kNames[i], c[i]);
}

void window(std::string& out, const metrics::WindowStats& w) {
  Obj o(out);
  o.d("seconds", w.seconds);
  o.u("requests", w.requests);
  o.d("rps", w.rps);
  o.u("errors", w.errors);
  o.d("error_rate", w.error_rate);
  duration(o.key("latency_ms"), w.durations[size_t(DurationMetric::kLatency)]);
  duration(o.key("upstream_ttfb_ms"), w.durations[size_t(DurationMetric::kUpstreamTtfb)]);
  duration(o.key("upstream_connect_ms"), w.durations[size_t(DurationMetric::kUpstreamConnect)]);
  duration(o.key("upstream_tls_handshake_ms"),
           w.durations[size_t(DurationMetric::kUpstreamTlsHandshake)]);
  duration(o.key("upstream_total_ms"), w.durations[size_t(DurationMetric::kUpstreamTotal)]);
  duration(o.key("proxy_overhead_ms"), w.durations[size_t(DurationMetric::kProxyOverhead)]);
  size(o.key("request_bytes"), w.sizes[size_t(SizeMetric::kRequestBody)]);
  size(o.key("response_bytes"), w.sizes[size_t(SizeMetric::kResponseBody)]);
  status_classes(o.key("status"), w.totals.status_classes);
  {
    Obj codes(o.key("status_codes"));
    char buf[8];
    for (const auto& [code, n] : w.status_codes) {
      const int len = snprintf(buf, sizeof buf, "%u", unsigned(code));
      codes.u(std::string_view(buf, size_t(len)), n);
    }
  }
  {
    Obj up(o.key("upstream_errors"));
    for (size_t k = 1; k < metrics::kUpstreamErrorKinds; ++k) {
      up.u(metrics::upstream_error_name(metrics::UpstreamError(k)), w.totals.upstream_errors[k]);
    }
  }
  {
    Obj down(o.key("downstream_errors"));
    for (size_t k = 1; k < metrics::kDownstreamErrorKinds; ++k) {
      down.u(metrics::downstream_error_name(metrics::DownstreamError(k)),
             w.totals.downstream_errors[k]);
    }
  }
  {
    Obj rej(o.key("rejected"));
    for (const auto& [reason, n] : w.rejected) rej.u(reason, n);
  }
  o.u("retries", w.totals.upstream_retries);
  o.opt_d("cpu_percent", w.cpu_percent);
}

void route_window(std::string& out, const metrics::RouteWindowStats& w) {
  Obj o(out);
  o.d("seconds", w.seconds);
  o.u("requests", w.requests);
  o.d("rps", w.rps);
  o.u("errors", w.errors);
  o.d("error_rate", w.error_rate);
  duration(o.key("latency_ms"), w.latency);
  {
    Obj req(o.key("request_bytes"));
    req.u("total", w.request_body_bytes);
  }
  {
    Obj resp(o.key("response_bytes"));
    resp.u("total", w.response_body_bytes);
  }
  status_classes(o.key("status"), w.status_classes);
}


void tls_side(std::string& out, const metrics::TlsStats& tls, metrics::TlsSide side,
              bool configured) {
  const size_t s = size_t(side);
  Obj o(out);
  o.b("enabled", configured);
  uint64_t handshakes = 0, failures = 0;
  {
    Obj by_version(o.key("handshakes"));
    for (size_t v = 0; v < metrics::kTlsVersions; ++v) {
      Obj n(by_version.key(metrics::tls_version_seen_name(metrics::TlsVersionSeen(v))));
      n.u("full", tls.handshakes[s][v][0]);
      n.u("resumed", tls.handshakes[s][v][1]);
      handshakes += tls.handshakes[s][v][0] + tls.handshakes[s][v][1];
    }
  }
  o.u("handshakes_total", handshakes);
  {
    Obj by_reason(o.key("failures"));
    for (size_t f = 0; f < metrics::kTlsFailures; ++f) {
      by_reason.u(metrics::tls_failure_name(metrics::TlsFailure(f)), tls.failures[s][f]);
      failures += tls.failures[s][f];
    }
  }
  o.u("failures_total", failures);
  // A cumulative handshake histogram: its max is the maximum since start.
  duration(o.key("handshake_ms"), metrics::summarize_duration(tls.duration[s], tls.duration[s].max()));
}

void tls(std::string& out, const metrics::TlsStats& tls, const JsonExtras& extras) {
  Obj o(out);
  for (size_t s = 0; s < metrics::kTlsSides; ++s) {
    tls_side(o.key(metrics::tls_side_name(metrics::TlsSide(s))), tls, metrics::TlsSide(s),
             extras.tls_configured[s]);
  }
  std::vector<const metrics::CertificateExpiry*> certs;
  for (const metrics::CertificateExpiry& c : tls.certificates) certs.push_back(&c);
  std::stable_sort(certs.begin(), certs.end(), [](const auto* a, const auto* b) {
    return a->not_after_unix_s < b->not_after_unix_s;
  });
  std::string& list = o.key("certificates");
  list += '[';
  for (size_t i = 0; i < certs.size(); ++i) {
    const metrics::CertificateExpiry& c = *certs[i];
    if (i > 0) list += ',';
    Obj co(list);
    co.s("name", c.name);
    co.s("side", metrics::tls_side_name(c.side));
    co.s("file", c.file);
    std::string& at = co.key("not_after");
    at += '"';
    text::append_rfc3339_ms(at, uint64_t(std::max<int64_t>(c.not_after_unix_s, 0)) * 1000);
    at += '"';
    text::append_int(co.key("not_after_unix_s"), c.not_after_unix_s);
    if (extras.now_unix_ms == 0) {
      co.key("seconds_left") += "null";
    } else {
      // Whole seconds, negative once expired (floor: 0.5 s left is 0, 0.5 s past is -1).
      const int64_t now_s = int64_t(extras.now_unix_ms / 1000);
      text::append_int(co.key("seconds_left"), c.not_after_unix_s - now_s);
    }
  }
  list += ']';
}

template <typename F>
void windows(std::string& out, uint32_t mask, F each) {
  Obj o(out);
  for (size_t i = 0; i < metrics::kWindows; ++i) {
    if (mask & (1u << i)) each(o.key(metrics::kWindowNames[i]), i);
  }
}

}  // namespace

std::optional<metrics::Window> parse_window(std::string_view name) {
  for (size_t i = 0; i < metrics::kWindows; ++i) {
    if (metrics::kWindowNames[i] == name) return metrics::Window(i);
  }
  return std::nullopt;
}

void append_stats_json(const metrics::Snapshot& snap, const JsonExtras& extras,
                       const JsonFilter& filter, std::string& out) {
  Obj o(out);
  o.s("version", SIDEMETER_VERSION);
  o.d("uptime_s", snap.uptime_seconds);
  o.u("ticks", snap.ticks);
  o.b("upstream_up", extras.upstream_up);
  o.b("draining", extras.draining);
  o.s("config_hash", extras.config_hash);
  windows(o.key("windows"), filter.windows,
          [&](std::string& s, size_t i) { window(s, snap.windows[i]); });
  {
    std::string& s = o.key("routes");
    s += '[';
    bool first = true;
    for (const metrics::RouteStats& r : snap.routes) {
      const std::string_view method = metrics::method_name(r.method);
      if (!filter.route.empty() && r.route != filter.route) continue;
      if (!filter.method.empty() && method != filter.method) continue;
      if (!first) s += ',';
      first = false;
      Obj ro(s);
      ro.s("route", r.route);
      ro.s("method", method);
      windows(ro.key("windows"), filter.route_windows,
              [&](std::string& w, size_t i) { route_window(w, r.windows[i]); });
    }
    s += ']';
  }
  {
    const metrics::GaugeTotals& g = snap.gauges;
    Obj c(o.key("connections"));
    c.u("downstream_active", uint64_t(std::max<int64_t>(g.downstream_connections_active, 0)));
    c.u("upstream_active", uint64_t(std::max<int64_t>(g.upstream_connections_active, 0)));
    c.u("requests_active", uint64_t(std::max<int64_t>(g.requests_active, 0)));
    c.u("tunnels_active", uint64_t(std::max<int64_t>(g.tunnels_active, 0)));
    c.u("downstream_total", uint64_t(std::max<int64_t>(g.downstream_connections_total, 0)));
    c.u("downstream_refused", uint64_t(std::max<int64_t>(g.downstream_connections_refused, 0)));
    {
      Obj pp(c.key("downstream_proxy_protocol_errors"));
      for (size_t i = 0; i < metrics::kProxyProtocolErrors; ++i)
        pp.u(metrics::kProxyProtocolErrorNames[i],
             uint64_t(std::max<int64_t>(g.downstream_proxy_protocol_errors[i], 0)));
    }
    c.u("upstream_total", uint64_t(std::max<int64_t>(g.upstream_connections_total, 0)));
  }
  {
    const metrics::ProcessFigures& p = snap.process;
    Obj pr(o.key("process"));
    // CPU over the last 10 s: steadier than the last second, still current.
    pr.opt_d("cpu_percent", snap.window(metrics::Window::k10s).cpu_percent);
    pr.opt_d("cpu_percent_of_quota", snap.window(metrics::Window::k10s).cpu_percent_of_quota);
    if (p.valid) {
      pr.d("cpu_seconds", p.cpu_seconds);
      pr.u("rss_bytes", p.rss_bytes);
    } else {
      pr.key("cpu_seconds") += "null";
      pr.key("rss_bytes") += "null";
    }
    pr.opt_int("open_fds", p.valid ? p.open_fds : -1);
    pr.opt_int("threads", p.valid ? p.threads : -1);
    pr.opt_int("cgroup_memory_max", p.valid ? p.cgroup_memory_max : -1);
  }
  tls(o.key("tls"), snap.tls, extras);
  {
    const metrics::RouteTableStats& r = snap.route_table;
    Obj rt(o.key("route_table"));
    rt.u("automatic", r.automatic);
    rt.u("max_automatic", r.max_automatic);
    rt.u("patterns", r.patterns);
    rt.u("candidates", r.candidates);
    rt.u("admissions", r.admissions);
    rt.u("evictions", r.evictions);
    rt.u("evicted_requests", r.evicted_requests);
  }
  append_alerts_json(extras.alerts, o.key("alerts"));
  append_slos_json(extras.alerts, o.key("slos"));
}

void append_history_json(const metrics::History& history, std::string& out) {
  Obj o(out);
  o.s("version", SIDEMETER_VERSION);
  o.u("ticks", history.ticks);
  std::string& s = o.key("points");
  s += '[';
  bool first = true;
  for (const metrics::HistoryPoint& p : history.points) {
    if (!first) s += ',';
    first = false;
    Obj po(s);
    po.u("seq", p.seq);
    po.u("requests", p.requests);
    po.d("rps", double(p.requests));  // one-second points
    po.u("errors", p.errors);
    po.d("error_rate", p.error_rate);
    po.u("upstream_errors", p.upstream_errors);
    history_duration(po.key("latency_ms"), p.durations[size_t(DurationMetric::kLatency)]);
    history_duration(po.key("upstream_ttfb_ms"),
                     p.durations[size_t(DurationMetric::kUpstreamTtfb)]);
    history_duration(po.key("upstream_connect_ms"),
                     p.durations[size_t(DurationMetric::kUpstreamConnect)]);
    history_duration(po.key("upstream_tls_handshake_ms"),
                     p.durations[size_t(DurationMetric::kUpstreamTlsHandshake)]);
    history_duration(po.key("proxy_overhead_ms"),
                     p.durations[size_t(DurationMetric::kProxyOverhead)]);
    history_size(po.key("request_bytes"), p.sizes[size_t(SizeMetric::kRequestBody)]);
    history_size(po.key("response_bytes"), p.sizes[size_t(SizeMetric::kResponseBody)]);
    po.opt_d("cpu_percent", p.cpu_percent);
    po.opt_int("rss_bytes", p.rss_bytes);
  }
  s += ']';
}

}  // namespace sidemeter::stats
