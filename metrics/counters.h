#pragma once
// Shapes shared by the shard (writer), the registry (reader) and the snapshot.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "metrics/exchange_sample.h"

namespace sidemeter::metrics {

inline constexpr size_t kMethods = size_t(Method::kCount);
inline constexpr size_t kUpstreamErrorKinds = size_t(UpstreamError::kCount);      // [0] = none
inline constexpr size_t kDownstreamErrorKinds = size_t(DownstreamError::kCount);  // [0] = none
inline constexpr size_t kStatusClasses = 5;                                       // 1xx .. 5xx
inline constexpr uint16_t kMinStatus = 100;  // status codes tracked one by one: 100..599
inline constexpr uint16_t kMaxStatus = 599;
inline constexpr size_t kStatusCodes = kMaxStatus - kMinStatus + 1;
inline constexpr size_t kMaxRejectReasons = 32;  // distinct reasons; the rest -> "other"
// Series of http_server_request_duration_seconds per (route, method): distinct (status
// code, error type) pairs, the last two slots shared by the pairs beyond.
inline constexpr size_t kMaxSeriesPerRoute = 16;
inline constexpr size_t kErrorTypes = size_t(ErrorType::kCount);

// errors / requests for display: 0 without requests, never above 1 (the figures are exact
// within one reading, but a window is the difference of two and must stay sane whatever).
inline double error_ratio(uint64_t errors, uint64_t requests) {
  if (requests == 0) return 0.0;
  return double(errors < requests ? errors : requests) / double(requests);
}

// Fixed boundaries (upper, inclusive, "le") of http_server_request_duration_seconds, the
// same in every pod so the series sum across pods. Spaced ~1-2.5-5 with extra points where
// p99s usually fall, 100 us .. 60 s; the +Inf bucket is implicit.
inline constexpr std::array<double, 24> kRequestDurationBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.0035, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05,
    0.075,  0.1,     0.15,   0.25,  0.5,   0.75,   1.0,   1.5,    2.5,  5.0,   10.0,  60.0};
inline constexpr size_t kRequestDurationBuckets = kRequestDurationBounds.size() + 1;  // + Inf
inline constexpr std::array<uint64_t, kRequestDurationBounds.size()> kRequestDurationBoundsNs = [] {
  std::array<uint64_t, kRequestDurationBounds.size()> ns{};
  for (size_t i = 0; i < ns.size(); ++i) {
    ns[i] = uint64_t(kRequestDurationBounds[i] * 1e9 + 0.5);
  }
  return ns;
}();

// Durations and sizes kept in exponential histograms (histogram.h).
enum class DurationMetric : uint8_t {
  kLatency,          // total exchange time as the client saw it
  kUpstreamConnect,  // fresh connections only
  kUpstreamTtfb,
  kUpstreamTotal,
  kProxyOverhead,
  kUpstreamTlsHandshake,  // fresh TLS connections only: TCP connected → handshake done
  kCount
};
enum class SizeMetric : uint8_t { kRequestBody, kResponseBody, kCount };
inline constexpr size_t kDurationMetrics = size_t(DurationMetric::kCount);
inline constexpr size_t kSizeMetrics = size_t(SizeMetric::kCount);

// Cumulative counter written by one thread (relaxed load + store: no lock prefix), read by
// any other.
class Count {
 public:
  void add(uint64_t d) {
    v_.store(v_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }
  // For a counter bumped last in a record: a reader that acquires value n also sees every
  // other write of the first n records (a plain mov on x86, like the relaxed ones).
  void add_release(uint64_t d) {
    v_.store(v_.load(std::memory_order_relaxed) + d, std::memory_order_release);
  }
  uint64_t get_acquire() const { return v_.load(std::memory_order_acquire); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Scalar figures of an exchange population, the same shape in shard reads, slot deltas and
// window sums, so they all add and subtract alike.
struct Scalars {
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::array<uint64_t, kStatusClasses> status_classes{};
  std::array<uint64_t, kUpstreamErrorKinds> upstream_errors{};
  std::array<uint64_t, kDownstreamErrorKinds> downstream_errors{};
  uint64_t upstream_attempts = 0;
  uint64_t upstream_retries = 0;
  uint64_t request_head_bytes = 0;
  uint64_t request_body_bytes = 0;
  uint64_t response_head_bytes = 0;
  uint64_t response_body_bytes = 0;

  // Applies f(field of a, same field of b) to every field.
  template <typename A, typename B, typename F>
  static void zip(A& a, B& o, F f) {
    f(a.requests, o.requests);
    f(a.errors, o.errors);
    for (size_t i = 0; i < kStatusClasses; ++i) f(a.status_classes[i], o.status_classes[i]);
    for (size_t i = 0; i < kUpstreamErrorKinds; ++i) f(a.upstream_errors[i], o.upstream_errors[i]);
    for (size_t i = 0; i < kDownstreamErrorKinds; ++i) {
      f(a.downstream_errors[i], o.downstream_errors[i]);
    }
    f(a.upstream_attempts, o.upstream_attempts);
    f(a.upstream_retries, o.upstream_retries);
    f(a.request_head_bytes, o.request_head_bytes);
    f(a.request_body_bytes, o.request_body_bytes);
    f(a.response_head_bytes, o.response_head_bytes);
    f(a.response_body_bytes, o.response_body_bytes);
  }
  void add(const Scalars& o) {
    zip(*this, o, [](uint64_t& a, uint64_t b) { a += b; });
  }
  void subtract(const Scalars& o) {
    zip(*this, o, [](uint64_t& a, uint64_t b) { a -= b; });
  }
  bool operator==(const Scalars&) const = default;
};

// Per (route, method) scalars.
struct RouteScalars {
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::array<uint64_t, kStatusClasses> status_classes{};
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;

  void add(const RouteScalars& o, int sign = 1) {
    const uint64_t s = uint64_t(int64_t(sign));
    requests += s * o.requests;
    errors += s * o.errors;
    for (size_t i = 0; i < kStatusClasses; ++i) status_classes[i] += s * o.status_classes[i];
    request_body_bytes += s * o.request_body_bytes;
    response_body_bytes += s * o.response_body_bytes;
  }
  bool operator==(const RouteScalars&) const = default;
};

}  // namespace sidemeter::metrics
