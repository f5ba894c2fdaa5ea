#pragma once
// Builds exchange samples with known phase durations, and a registry on a fake clock, so
// stats tests know exactly what every figure must say.
#include <cstdint>
#include <memory>
#include <string_view>

#include "metrics/clock.h"
#include "metrics/exchange_sample.h"
#include "metrics/registry.h"
#include "metrics/shard.h"

namespace sidemeter::testing {

struct SampleSpec {
  metrics::Method method = metrics::Method::kGet;
  std::string_view path = "/";
  uint16_t status = 200;
  uint64_t ttfb_ns = 1'000'000;  // upstream time to first byte
  uint64_t connect_ns = 0;       // 0: pooled connection (no connect recorded)
  uint64_t tls_ns = 0;           // with connect_ns: the upstream TLS handshake after it
  uint64_t request_body = 0;
  uint64_t response_body = 100;
  metrics::UpstreamError upstream_error = metrics::UpstreamError::kNone;
  metrics::DownstreamError downstream_error = metrics::DownstreamError::kNone;
  const char* reject_reason = nullptr;
  // The response did not go out whole (always so with status 0): no last byte written,
  // the exchange ended when the last byte would have been.
  bool cut_short = false;
};

// Total latency of a sample built from `spec`: ttfb + connect + tls + 30 us of fixed phases.
inline uint64_t sample_latency_ns(const SampleSpec& spec) {
  return spec.ttfb_ns + spec.connect_ns + (spec.connect_ns ? spec.tls_ns : 0) + 30'000;
}

inline metrics::ExchangeSample make_sample(const SampleSpec& spec) {
  metrics::ExchangeSample s;
  const uint64_t t0 = 1'000'000'000;
  s.t.request_first_byte = t0;
  s.t.request_headers_done = t0 + 1'000;
  s.t.request_body_done = t0 + 2'000;
  s.t.upstream_connect_start = t0 + 10'000;
  s.t.upstream_connect_done = s.t.upstream_connect_start + spec.connect_ns;
  if (spec.connect_ns != 0 && spec.tls_ns != 0)
    s.t.upstream_tls_done = s.t.upstream_connect_done + spec.tls_ns;
  s.t.upstream_request_sent =
      (s.t.upstream_tls_done ? s.t.upstream_tls_done : s.t.upstream_connect_done) + 5'000;
  s.t.upstream_first_byte = s.t.upstream_request_sent + spec.ttfb_ns;
  s.t.upstream_response_done = s.t.upstream_first_byte + 10'000;
  s.t.response_last_byte_written = s.t.upstream_response_done + 5'000;
  s.method = spec.method;
  s.path = spec.path;
  s.status = spec.status;
  s.request_head_bytes = 80;
  s.request_body_bytes = spec.request_body;
  s.response_head_bytes = 120;
  s.response_body_bytes = spec.response_body;
  s.upstream_reused = spec.connect_ns == 0;
  s.upstream_attempts = 1;
  s.upstream_error = spec.upstream_error;
  s.downstream_error = spec.downstream_error;
  s.reject_reason = spec.reject_reason;
  if (spec.upstream_error != metrics::UpstreamError::kNone && spec.status == 0) {
    s.t.upstream_first_byte = s.t.upstream_response_done = 0;
  }
  s.t.exchange_ended = s.t.response_last_byte_written;
  if (spec.cut_short || spec.status == 0) s.t.response_last_byte_written = 0;
  return s;
}

// A registry with one shard on a fake clock; tick() closes one more second.
struct TestRegistry {
  explicit TestRegistry(bool process_stats = false)
      : registry(options(process_stats), clock), shard(registry.add_shard()) {}
  static metrics::RegistryOptions options(bool process_stats) {
    metrics::RegistryOptions o;
    o.process_stats = process_stats;
    return o;
  }
  void record(const SampleSpec& spec, int n = 1) {
    for (int i = 0; i < n; ++i) shard.record(make_sample(spec));
  }
  void tick() {
    clock.advance_ns(1'000'000'000);
    registry.tick();
  }

  metrics::FakeClock clock;
  metrics::Registry registry;
  metrics::Shard& shard;
};

}  // namespace sidemeter::testing
