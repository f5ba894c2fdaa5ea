#include "metrics/shard.h"

#include <algorithm>
#include <cstring>

#include "metrics/derive.h"

namespace sidemeter::metrics {
namespace {

constexpr const char* kOtherReason = "other";

}  // namespace

Shard::Shard(RouteTable& routes)
    : route_table_(routes),
      route_cache_(routes),
      route_slots_(routes.id_count() * kMethods),
      durations_{AtomicHistogram(kDurationLayout), AtomicHistogram(kDurationLayout),
                 AtomicHistogram(kDurationLayout), AtomicHistogram(kDurationLayout),
                 AtomicHistogram(kDurationLayout), AtomicHistogram(kDurationLayout)},
      sizes_{AtomicHistogram(kSizeLayout), AtomicHistogram(kSizeLayout)},
      routes_(new std::atomic<RouteMethod*>[route_slots_]) {
  static_assert(kDurationMetrics == 6 && kSizeMetrics == 2, "update the initialisers above");
  for (size_t i = 0; i < route_slots_; ++i) routes_[i].store(nullptr, std::memory_order_relaxed);
}

Shard::RouteMethod::~RouteMethod() {
  for (auto& c : codes) delete c.load(std::memory_order_relaxed);
}

Shard::~Shard() {
  for (size_t i = 0; i < route_slots_; ++i) delete routes_[i].load(std::memory_order_relaxed);
  for (RouteMethod* rm : retired_) delete rm;
}

void Shard::record(const ExchangeSample& s) {
  const Derived d = derive(s.t, s.upstream_reused);
  const bool error = is_error(s);
  const ErrorType type = error_type(s);
  // The layouts are known here: their constants fold into each index computation.
  const auto duration = [this](DurationMetric m, uint64_t v) {
    durations_[size_t(m)].record_as<kDurationLayout>(v);
  };
  const auto size = [this](SizeMetric m, uint64_t v) {
    sizes_[size_t(m)].record_as<kSizeLayout>(v);
  };
  seq_.begin_write();  // the readers take whole records only (seqlock.h)

  const bool rejected = s.downstream_error == DownstreamError::kRequestRejected;
  const bool has_status = s.status >= kMinStatus && s.status <= kMaxStatus;
  const size_t status_class = s.status / 100 - 1;

  requests_.add(1);
  if (error) errors_.add(1);
  if (has_status) {
    status_classes_[status_class].add(1);
    status_codes_[s.status - kMinStatus].add(1);
  }
  if (s.downstream_error != DownstreamError::kNone) {
    downstream_errors_[size_t(s.downstream_error)].add(1);
    if (rejected) record_reject(s.reject_reason);
  }
  request_head_bytes_.add(s.request_head_bytes);
  request_body_bytes_.add(s.request_body_bytes);
  response_head_bytes_.add(s.response_head_bytes);
  response_body_bytes_.add(s.response_body_bytes);
  size(SizeMetric::kRequestBody, s.request_body_bytes);
  size(SizeMetric::kResponseBody, s.response_body_bytes);

  if (d.has_total) duration(DurationMetric::kLatency, d.total);
  if (d.has_proxy_overhead) duration(DurationMetric::kProxyOverhead, d.proxy_overhead);
  if (!rejected && s.upstream_attempts > 0) {
    upstream_attempts_.add(s.upstream_attempts);
    if (s.upstream_attempts > 1) upstream_retries_.add(s.upstream_attempts - 1u);
    if (s.upstream_error != UpstreamError::kNone) upstream_errors_[size_t(s.upstream_error)].add(1);
    if (d.has_upstream_connect) duration(DurationMetric::kUpstreamConnect, d.upstream_connect);
    if (d.has_upstream_tls_handshake) {
      duration(DurationMetric::kUpstreamTlsHandshake, d.upstream_tls_handshake);
    }
    if (d.has_upstream_ttfb) duration(DurationMetric::kUpstreamTtfb, d.upstream_ttfb);
    if (d.has_upstream_total) duration(DurationMetric::kUpstreamTotal, d.upstream_total);
  }

  RouteMethod& rm = route_method(route_cache_.lookup(s.path, has_status ? s.status : 0), s.method);
  if (error) rm.errors.add(1);
  if (has_status) rm.status_classes[status_class].add(1);
  rm.request_body_bytes.add(s.request_body_bytes);
  rm.response_body_bytes.add(s.response_body_bytes);
  // Every exchange has a duration (exchange_sample.h); one without its timestamps (none
  // in the proxy) stays out rather than pretending to have taken 0 s.
  if (d.has_total) record_series(rm, has_status ? s.status : 0, type, d.total);
  // With release: the registry skips routes whose request count did not move.
  rm.requests.add_release(1);
  seq_.end_write();
}

inline Shard::RouteMethod& Shard::route_method(uint32_t route, Method m) {
  const size_t method = std::min(size_t(m), kMethods - 1);
  std::atomic<RouteMethod*>& slot = routes_[size_t(route) * kMethods + method];
  RouteMethod* rm = slot.load(std::memory_order_relaxed);  // we are the only writer
  const uint32_t generation = route_table_.generation(route);
  if (rm == nullptr || rm->generation != generation) [[unlikely]] {
    return fresh_route_method(slot, generation);
  }
  return *rm;
}

Shard::RouteMethod& Shard::fresh_route_method(std::atomic<RouteMethod*>& slot,
                                              uint32_t generation) {
  // Once per (route, method) seen by this worker, and again when the id is reused for
  // another template (the old figures go with the old route).
  RouteMethod* rm = slot.load(std::memory_order_relaxed);
  RouteMethod* fresh = new RouteMethod();
  fresh->generation = generation;
  slot.store(fresh, std::memory_order_release);
  if (rm != nullptr) {
    std::lock_guard lock(retired_mu_);
    retired_.push_back(rm);
  }
  return *fresh;
}

inline void Shard::record_series(RouteMethod& rm, uint16_t status, ErrorType type,
                                 uint64_t latency_ns) {
  const uint32_t key = series_key(status, type);
  size_t slot = rm.last_slot;
  if (slot >= rm.codes_used || rm.keys[slot] != key) [[unlikely]] {
    slot = claim_series(rm, key);
    rm.last_slot = uint8_t(slot);
  }
  // We are the only writer: relaxed reads our own store.
  rm.codes[slot].load(std::memory_order_relaxed)->latency.record_as<kDurationLayout>(latency_ns);
}

size_t Shard::claim_series(RouteMethod& rm, uint32_t key) {
  for (uint8_t i = 0; i < rm.codes_used; ++i) {
    if (rm.keys[i] == key) return i;
  }
  size_t slot = 0;
  if (rm.codes_used < rm.keys.size()) {
    slot = rm.codes_used++;
    rm.keys[slot] = key;
  } else {
    // Too many distinct pairs on one route: the rest share an "other" series, one for
    // those that completed normally and one for those that did not.
    const bool ok = ((key >> 16) & 0xff) == uint32_t(ErrorType::kNone);
    slot = kMaxSeriesPerRoute - (ok ? 2 : 1);
    key = ok ? kOverflowOk : kOverflowError;
  }
  if (rm.codes[slot].load(std::memory_order_relaxed) == nullptr) {
    // Warm-up only: once per series, at most kMaxSeriesPerRoute per (route, method).
    rm.codes[slot].store(new CodeSeries(key), std::memory_order_release);
  }
  return slot;
}

void Shard::record_reject(const char* reason) {
  if (reason == nullptr) reason = kOtherReason;
  for (size_t i = 0; i < kMaxRejectReasons; ++i) {
    RejectReason& r = rejects_[i];
    const char* have = r.reason.load(std::memory_order_relaxed);
    if (have == nullptr) {
      r.reason.store(i + 1 == kMaxRejectReasons ? kOtherReason : reason, std::memory_order_release);
      r.count.add(1);
      return;
    }
    if (have == reason || std::strcmp(have, reason) == 0 || i + 1 == kMaxRejectReasons) {
      r.count.add(1);
      return;
    }
  }
}

}  // namespace sidemeter::metrics
