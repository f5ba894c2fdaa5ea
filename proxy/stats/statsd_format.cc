#include "proxy/stats/statsd_format.h"

#include <string_view>

#include "metrics/exchange_sample.h"
#include "proxy/text/json_writer.h"

namespace sidemeter::stats {
namespace {

using metrics::DurationMetric;

class Lines {
 public:
  Lines(const StatsdFormatOptions& o, std::vector<std::string>& packets)
      : o_(o), packets_(packets) {}
  ~Lines() { flush(); }

  // name[.tag_value]:value|type[|#tag_key:tag_value]
  void add(std::string_view name, double value, std::string_view type,
           std::string_view tag_key = {}, std::string_view tag_value = {}) {
    line_.clear();
    line_ += o_.prefix;
    line_ += name;
    if (!tag_key.empty() && !o_.dogstatsd_tags) {
      line_ += '.';
      line_ += tag_value;
    }
    line_ += ':';
    text::append_json_double(line_, value, 9);  // plain decimal or exponent, never NaN/Inf
    line_ += '|';
    line_ += type;
    if (!tag_key.empty() && o_.dogstatsd_tags) {
      line_ += "|#";
      line_ += tag_key;
      line_ += ':';
      line_ += tag_value;
    }
    if (!packet_.empty() && packet_.size() + 1 + line_.size() > o_.max_packet_bytes) flush();
    if (!packet_.empty()) packet_ += '\n';
    packet_ += line_;
  }

 private:
  void flush() {
    if (packet_.empty()) return;
    packets_.push_back(std::move(packet_));
    packet_.clear();
  }

  const StatsdFormatOptions& o_;
  std::vector<std::string>& packets_;
  std::string packet_;
  std::string line_;
};

uint64_t delta(uint64_t now, uint64_t before) { return now > before ? now - before : 0; }

}  // namespace

metrics::Window statsd_window_for(uint32_t interval_s) {
  if (interval_s <= 1) return metrics::Window::k1s;
  if (interval_s <= 10) return metrics::Window::k10s;
  if (interval_s <= 60) return metrics::Window::k1m;
  return metrics::Window::k5m;
}

void StatsdFormatter::format(const metrics::Snapshot& snap, metrics::Window window,
                             bool upstream_up, std::vector<std::string>& packets) {
  static constexpr std::string_view kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  Lines l(options_, packets);
  const metrics::Scalars& now = snap.window(metrics::Window::kTotal).totals;
  const metrics::Scalars& was = previous_;

  // Counters: what happened since the previous flush.
  l.add("requests", double(delta(now.requests, was.requests)), "c");
  l.add("errors", double(delta(now.errors, was.errors)), "c");
  for (size_t i = 0; i < metrics::kStatusClasses; ++i) {
    const uint64_t d = delta(now.status_classes[i], was.status_classes[i]);
    if (d) l.add("responses", double(d), "c", "status_class", kClasses[i]);
  }
  for (size_t k = 1; k < metrics::kUpstreamErrorKinds; ++k) {
    const uint64_t d = delta(now.upstream_errors[k], was.upstream_errors[k]);
    if (d) {
      l.add("upstream_errors", double(d), "c", "error_type",
            metrics::upstream_error_name(metrics::UpstreamError(k)));
    }
  }
  for (size_t k = 1; k < metrics::kDownstreamErrorKinds; ++k) {
    const uint64_t d = delta(now.downstream_errors[k], was.downstream_errors[k]);
    if (d) {
      l.add("downstream_errors", double(d), "c", "error_type",
            metrics::downstream_error_name(metrics::DownstreamError(k)));
    }
  }
  l.add("request_bytes", double(delta(now.request_body_bytes, was.request_body_bytes)), "c");
  l.add("response_bytes", double(delta(now.response_body_bytes, was.response_body_bytes)), "c");
  l.add("upstream_retries", double(delta(now.upstream_retries, was.upstream_retries)), "c");
  previous_ = now;
  // TLS handshakes and failures per side, once there are any (plain HTTP sends none).
  for (size_t s = 0; s < metrics::kTlsSides; ++s) {
    uint64_t handshakes = 0, failures = 0;
    for (const auto& version : snap.tls.handshakes[s]) handshakes += version[0] + version[1];
    for (uint64_t n : snap.tls.failures[s]) failures += n;
    const std::string_view side = metrics::tls_side_name(metrics::TlsSide(s));
    if (const uint64_t d = delta(handshakes, previous_tls_[s][0])) {
      l.add("tls_handshakes", double(d), "c", "side", side);
    }
    if (const uint64_t d = delta(failures, previous_tls_[s][1])) {
      l.add("tls_handshake_failures", double(d), "c", "side", side);
    }
    previous_tls_[s] = {handshakes, failures};
  }

  // Gauges from the window.
  const metrics::WindowStats& w = snap.window(window);
  l.add("rps", w.rps, "g");
  l.add("error_rate", w.error_rate, "g");
  l.add("connections_active", double(snap.gauges.downstream_connections_active), "g", "side",
        "downstream");
  l.add("connections_active", double(snap.gauges.upstream_connections_active), "g", "side",
        "upstream");
  l.add("requests_active", double(snap.gauges.requests_active), "g");
  l.add("upstream_up", upstream_up ? 1 : 0, "g");
  if (w.cpu_percent >= 0) l.add("cpu_percent", w.cpu_percent, "g");
  if (snap.process.valid) l.add("rss_bytes", double(snap.process.rss_bytes), "g");

  struct Timing {
    DurationMetric metric;
    std::string_view name;
  };
  static constexpr Timing kTimings[] = {
      {DurationMetric::kLatency, "latency_ms"},
      {DurationMetric::kUpstreamTtfb, "upstream_ttfb_ms"},
      {DurationMetric::kUpstreamConnect, "upstream_connect_ms"},
      {DurationMetric::kUpstreamTlsHandshake, "upstream_tls_handshake_ms"},
      {DurationMetric::kProxyOverhead, "proxy_overhead_ms"},
  };
  std::string name;
  for (const Timing& t : kTimings) {
    const metrics::DurationSummary& d = w.durations[size_t(t.metric)];
    if (d.count == 0) continue;  // a 0 would read as "fast", not "no data"
    const std::pair<std::string_view, double> figures[] = {{"avg", d.avg_ms},
                                                           {"p50", d.p50_ms},
                                                           {"p95", d.p95_ms},
                                                           {"p99", d.p99_ms},
                                                           {"max", d.max_ms}};
    for (const auto& [suffix, v] : figures) {
      name.assign(t.name);
      name += '.';
      name += suffix;
      l.add(name, v, "g");
    }
  }
}

}  // namespace sidemeter::stats
