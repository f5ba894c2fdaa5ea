#include "proxy/access_log/recorder.h"

#include <time.h>

#include <chrono>
#include <cmath>

#include "metrics/shard.h"
#include "proxy/text/json_writer.h"
#include "proxy/text/rfc3339.h"

namespace sidemeter::access_log {
namespace {

uint64_t unix_now_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

void append_key(std::string& out, std::string_view key) {
  out += ",\"";
  out += key;
  out += "\":";
}

// Milliseconds with microsecond resolution: "12.345".
void append_ms(std::string& out, std::string_view key, uint64_t ns) {
  append_key(out, key);
  const uint64_t us = ns / 1000;
  text::append_uint(out, us / 1000);
  char frac[4] = {'.', char('0' + us % 1000 / 100), char('0' + us % 100 / 10), char('0' + us % 10)};
  out.append(frac, 4);
}

void append_uint_field(std::string& out, std::string_view key, uint64_t v) {
  append_key(out, key);
  text::append_uint(out, v);
}

void append_string_field(std::string& out, std::string_view key, std::string_view v) {
  append_key(out, key);
  text::append_json_string(out, v);
}

void append_bool_field(std::string& out, std::string_view key, bool v) {
  append_key(out, key);
  out += v ? "true" : "false";
}


}  // namespace


void format_line(const metrics::ExchangeSample& s, const metrics::Derived& d,
                 const LineContext& ctx, std::string& out) {
  using metrics::DownstreamError;
  using metrics::UpstreamError;
  out += "{\"time\":\"";
  text::append_rfc3339_ms(out, ctx.unix_ms);
  out += '"';
  append_key(out, "worker");
  text::append_int(out, ctx.worker);
  if (!s.client_ip.empty()) {
    append_key(out, "client");
    std::string addr;
    const bool v6 = s.client_ip.find(':') != std::string_view::npos;
    if (v6) addr += '[';
    addr += s.client_ip;
    if (v6) addr += ']';
    addr += ':';
    text::append_uint(addr, s.client_port);
    text::append_json_string(out, addr);
  }
  append_string_field(out, "method", metrics::method_name(s.method));
  if (!ctx.route.empty()) append_string_field(out, "route", ctx.route);
  if (!s.path.empty()) {
    std::string path(s.path.substr(0, kMaxLoggedPath));
    if (s.path.size() > kMaxLoggedPath) path += "...";
    if (ctx.include_query && !s.query.empty()) {
      path += '?';
      path += s.query.substr(0, kMaxLoggedPath);
      if (s.query.size() > kMaxLoggedPath) path += "...";
    }
    append_string_field(out, "path", path);
  }
  append_uint_field(out, "status", s.status);
  append_bool_field(out, "error", metrics::is_error(s));
  if (s.upstream_error != UpstreamError::kNone)
    append_string_field(out, "upstream_error", metrics::upstream_error_name(s.upstream_error));
  if (s.downstream_error != DownstreamError::kNone)
    append_string_field(out, "downstream_error", metrics::downstream_error_name(s.downstream_error));
  if (s.downstream_error == DownstreamError::kRequestRejected)
    append_string_field(out, "reject_reason", s.reject_reason != nullptr ? s.reject_reason : "other");
  if (s.local_response) append_bool_field(out, "local_response", true);

  // Phases, as metrics/derive.h defines them; a phase not reached is left out.
  uint64_t request_ns = 0;
  if (s.t.request_first_byte != 0 && s.t.request_body_done >= s.t.request_first_byte) {
    request_ns = s.t.request_body_done - s.t.request_first_byte;
    append_ms(out, "request_ms", request_ns);
  }
  if (d.has_upstream_connect) append_ms(out, "upstream_connect_ms", d.upstream_connect);
  if (d.has_upstream_tls_handshake)
    append_ms(out, "upstream_tls_handshake_ms", d.upstream_tls_handshake);
  if (d.has_upstream_ttfb) append_ms(out, "upstream_ttfb_ms", d.upstream_ttfb);
  if (d.has_upstream_total) append_ms(out, "upstream_total_ms", d.upstream_total);
  if (d.has_proxy_overhead) append_ms(out, "proxy_overhead_ms", d.proxy_overhead);
  if (d.has_total) append_ms(out, "latency_ms", d.total);

  append_uint_field(out, "request_head_bytes", s.request_head_bytes);
  append_uint_field(out, "request_body_bytes", s.request_body_bytes);
  append_uint_field(out, "response_head_bytes", s.response_head_bytes);
  append_uint_field(out, "response_body_bytes", s.response_body_bytes);
  append_uint_field(out, "upstream_attempts", s.upstream_attempts);
  if (s.upstream_attempts > 0) {
    append_string_field(out, "upstream_connection", s.upstream_reused ? "reused" : "new");
    append_bool_field(out, "retried", s.upstream_attempts > 1);
  }
  if (!s.traceparent.empty())
    append_string_field(out, "traceparent", s.traceparent.substr(0, metrics::kMaxCapturedValue));
  if (!s.x_request_id.empty())
    append_string_field(out, "x_request_id", s.x_request_id.substr(0, metrics::kMaxCapturedValue));
  out += "}\n";
}

// ------------------------------------------------------------------ sampling

Sampler::Sampler(uint64_t seed) : state_(seed != 0 ? seed : 0x9e3779b97f4a7c15ull) {}

void Sampler::configure(double rate, bool always_log_errors, uint64_t slow_ms) {
  if (!(rate >= 0)) rate = 0;  // NaN too
  all_ = rate >= 1;
  // 2^64 * rate: below 2^64 for any rate < 1 (the largest double below 1 gives 2^64 - 2^11).
  threshold_ = all_ ? UINT64_MAX : uint64_t(std::ldexp(rate, 64));
  errors_ = always_log_errors;
  slow_ns_ = slow_ms * 1'000'000;
}

uint64_t Sampler::next() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1Dull;
}

bool Sampler::pick(const metrics::ExchangeSample& s, const metrics::Derived& d) {
  if (all_) return true;
  if (errors_ && metrics::is_error(s)) return true;
  if (slow_ns_ != 0 && d.has_total && d.total >= slow_ns_) return true;
  return threshold_ != 0 && next() < threshold_;
}

// ------------------------------------------------------------------ recorder

AccessLogRecorder::AccessLogRecorder(int worker, metrics::Recorder& metrics, LineBuffer& buffer,
                                     metrics::RouteTable& routes)
    : worker_(worker),
      metrics_(metrics),
      buffer_(buffer),
      routes_(routes),
      route_cache_(routes),
      sampler_(uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^
               (uint64_t(worker + 1) * 0x9e3779b97f4a7c15ull)) {}

void AccessLogRecorder::configure(const conf::AccessLog& cfg) {
  sampler_.configure(cfg.sample_rate, cfg.always_log_errors, cfg.slow_ms);
  include_query_ = cfg.include_query;
  buffer_.set_max_bytes(cfg.queue_max_bytes);
}

std::string_view AccessLogRecorder::route_name(std::string_view path) {
  const uint32_t id = route_cache_.peek(path);
  if (id >= route_names_.size()) route_names_.resize(size_t(id) + 1);
  RouteName& r = route_names_[id];
  const uint32_t generation = routes_.generation(id);
  if (r.name.empty() || r.generation != generation) {
    r.name = routes_.name(id);  // once per id and generation: the table locks
    r.generation = generation;
  }
  return r.name;
}

void AccessLogRecorder::record(const metrics::ExchangeSample& s) {
  metrics_.record(s);
  const metrics::Derived d = metrics::derive(s.t, s.upstream_reused);
  if (!sampler_.pick(s, d)) return;
  LineContext ctx;
  ctx.worker = worker_;
  ctx.unix_ms = unix_now_ms();
  ctx.include_query = include_query_;
  // An exchange rejected before its request line has no path, hence no route.
  if (!s.path.empty()) ctx.route = route_name(s.path);
  line_.clear();
  format_line(s, d, ctx, line_);
  buffer_.append(line_);
}

}  // namespace sidemeter::access_log
