#include "metrics/registry.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace sidemeter::metrics {
namespace {

constexpr uint64_t kSecondNs = 1'000'000'000ull;
constexpr const auto& kQuantiles = kSummaryQuantiles;
constexpr const char* kOtherReason = "other";

// now - prev bucket by bucket into out (only the buckets that moved); prev becomes now.
// max: the largest value the shards reported since the previous tick.
void diff_into(Histogram& prev, const Histogram& now, SparseHistogram& out, uint64_t max) {
  // Cumulative: every bucket prev stores is stored in now too (read from the same chunks).
  const std::span<const uint64_t> a = now.stored_buckets();
  const uint32_t first = now.first_bucket();
  if (!a.empty()) prev.store_range(first, first + uint32_t(a.size()));
  for (uint32_t j = 0; j < a.size(); ++j) {
    uint64_t& p = prev.at(first + j);
    if (a[j] != p) {
      out.entries.push_back({first + j, a[j] - p});
      p = a[j];
    }
  }
  out.count = now.count() - prev.count();
  out.sum = now.sum() - prev.sum();
  prev.set_totals(now.count(), now.sum());
  // The per-shard max is reset by the reader while writers run, so a sample can leave its
  // max in a neighbouring second; the highest bucket that moved bounds it from below.
  if (!out.entries.empty()) {
    max = std::max(max, now.layout().lower(out.entries.back().index));
  }
  out.max = out.count ? max : 0;
  // The maximum since start keeps a max taken in a second whose sample was counted in an
  // earlier one: a snapshot between the two ticks has shown it (Registry::fill_histograms
  // reads the shards' maxima in place), and no later one may show less.
  prev.set_max(std::max(prev.max(), max));
}

SizeSummary summarize_size(const Histogram& h, uint64_t max) {
  SizeSummary s;
  s.count = h.count();
  s.total = h.sum();
  if (s.count == 0) return s;
  std::array<double, kQuantiles.size()> q{};
  h.quantiles(kQuantiles, q);
  cap_quantiles_at_max(q, max);
  s.avg = h.mean();
  s.p50 = q[0];
  s.p95 = q[2];
  s.max = max;
  return s;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// The counted part of a route window (out.seconds already set); latency is the caller's.
void fill_route_counts(RouteWindowStats& out, const RouteScalars& sc) {
  out.requests = sc.requests;
  out.errors = sc.errors;
  out.rps = ratio(double(sc.requests), out.seconds);
  out.error_rate = error_ratio(sc.errors, sc.requests);
  out.status_classes = sc.status_classes;
  out.request_body_bytes = sc.request_body_bytes;
  out.response_body_bytes = sc.response_body_bytes;
}

}  // namespace

DurationSummary summarize_duration(const Histogram& h, uint64_t max) {
  DurationSummary d;
  d.count = h.count();
  if (d.count == 0) return d;
  std::array<double, kQuantiles.size()> q{};
  h.quantiles(kQuantiles, q);
  cap_quantiles_at_max(q, max);
  constexpr double kMs = 1e6;
  d.avg_ms = h.mean() / kMs;
  d.p50_ms = q[0] / kMs;
  d.p90_ms = q[1] / kMs;
  d.p95_ms = q[2] / kMs;
  d.p99_ms = q[3] / kMs;
  d.p999_ms = q[4] / kMs;
  d.max_ms = double(max) / kMs;
  return d;
}

Registry::RouteAgg::RouteAgg(RouteKey k)
    : key(k),
      total_latency(kDurationLayout),
      win_latency(kWindowSlots.size() - 1, Histogram(kDurationLayout)) {}

Registry::Registry(RegistryOptions options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      start_ns_(clock.now_ns()),
      routes_(options_.max_routes, options_.route_admission),
      total_durations_(kDurationMetrics, Histogram(kDurationLayout)),
      total_sizes_(kSizeMetrics, Histogram(kSizeLayout)),
      route_aggs_(routes_.id_count() * kMethods) {
  routes_.set_patterns(options_.route_patterns);
  if (options_.process_stats) {
    process_.emplace(options_.proc_root);
    sample_cpu(0, start_ns_);
    cpu_first_ = cpu_[0];
  }
}

Registry::~Registry() = default;

Shard& Registry::add_shard() {
  std::lock_guard lock(mu_);
  shards_.push_back(std::make_unique<Shard>(routes_));
  shard_reject_ids_.emplace_back(metrics::kMaxRejectReasons, -1);
  return *shards_.back();
}

uint64_t Registry::ticks() const {
  std::lock_guard lock(mu_);
  return seq_;
}

uint64_t Registry::ns_to_next_second() const {
  const uint64_t now = clock_.now_ns();
  if (now < start_ns_) return start_ns_ - now;
  return kSecondNs - (now - start_ns_) % kSecondNs;
}

uint64_t Registry::inconsistent_reads() const {
  std::lock_guard lock(mu_);
  return inconsistent_reads_;
}

uint64_t Registry::route_snapshots() const {
  std::lock_guard lock(mu_);
  return route_snapshots_;
}

uint64_t Registry::fd_listings() const { return process_ ? process_->fd_listings() : 0; }

void Registry::tick() {
  const uint64_t now = clock_.now_ns();
  if (now < start_ns_) return;
  const uint64_t target = (now - start_ns_) / kSecondNs;
  std::lock_guard lock(mu_);
  if (target <= seq_) return;

  pending_.clear();
  collect(pending_);
  // The route table's clock (idle times, admission windows) is the registry's seconds,
  // advanced once the routes are collected: a route idle for a whole table second has
  // every exchange it ever had in its aggregate when it is evicted.
  routes_.advance_to(uint32_t(std::min<uint64_t>(target, UINT32_MAX)));

  // Seconds nobody ticked: empty slots, so windows expire on time.
  const uint64_t empties = target - seq_ - 1;
  if (empties >= SlotRing::kCapacity) {
    // Every window would be empty after that many pushes anyway.
    ring_.clear();
    for (WindowSums& w : windows_) w.clear();
    for (RouteKey key : active_keys_) {
      RouteAgg& agg = *route_aggs_[key];
      agg.win.fill(RouteScalars{});
      for (Histogram& h : agg.win_latency) h.clear();
    }
    seq_ += empties;
  } else {
    for (uint64_t i = 0; i < empties; ++i) {
      Slot empty;
      empty.seq = ++seq_;
      push(empty);
      close_point(seq_);
    }
  }
  pending_.seq = ++seq_;
  push(pending_);
  sample_cpu(seq_, now);
  close_point(seq_);
}

void Registry::close_point(uint64_t seq) {
  HistoryPoint& p = points_[seq % points_.size()];
  p = HistoryPoint{};
  if (const Slot* s = ring_.find(seq)) summarize_slot(*s, p);
  p.seq = seq;
  if (!process_) return;
  const CpuSample& now = cpu_[seq % cpu_.size()];
  if (now.seq != seq) return;  // no tick closed this second (or /proc unreadable)
  p.rss_bytes = int64_t(now.rss_bytes);
  // The previous sample: normally seq - 1; after missed ticks, the one before the gap.
  for (uint64_t back = 1; back <= seq && back < cpu_.size(); ++back) {
    const CpuSample& prev = cpu_[(seq - back) % cpu_.size()];
    if (prev.seq != seq - back) continue;
    if (now.t_ns > prev.t_ns) {
      p.cpu_percent = 100.0 * (now.cpu_s - prev.cpu_s) / (double(now.t_ns - prev.t_ns) / 1e9);
    }
    return;
  }
}

History Registry::history() const {
  History h;
  std::lock_guard lock(mu_);
  h.ticks = seq_;
  const uint64_t first = seq_ > points_.size() ? seq_ - points_.size() + 1 : 1;
  if (seq_ >= first) h.points.reserve(seq_ - first + 1);
  for (uint64_t s = first; s <= seq_; ++s) {
    const HistoryPoint& p = points_[s % points_.size()];
    if (p.seq == s) {
      h.points.push_back(p);
    } else {
      // Skipped over after a long gap (the ring was cleared): an empty second.
      h.points.emplace_back().seq = s;
    }
  }
  return h;
}

// The counters of whole records only (Shard's sequence lock). The worker never waits; a
// worker preempted mid-record could hold us off, so after a bounded number of tries the
// last reading is taken as it is (a record may then show in one figure and not yet in
// another; the next reading makes up for it, and ratios are clamped on display).
template <typename F>
auto Registry::read_consistent(const Shard& sh, F read) {
  bool whole = false;
  auto value = sh.seq_.read(read, whole);
  if (!whole) inconsistent_reads_++;
  return value;
}

void Registry::collect(Slot& s) {
  Scalars now;
  std::array<uint64_t, kStatusCodes> codes{};
  for (const auto& shp : shards_) {
    const Shard& sh = *shp;
    // Short on purpose (a writer flat out leaves gaps of a few ns between records): the
    // figures that are divided by one another or must add up to requests.
    now.add(read_consistent(sh, [&sh] {
      Scalars n;
      n.requests = sh.requests_.get();
      n.errors = sh.errors_.get();
      for (size_t i = 0; i < kStatusClasses; ++i) n.status_classes[i] = sh.status_classes_[i].get();
      for (size_t i = 0; i < kUpstreamErrorKinds; ++i) {
        n.upstream_errors[i] = sh.upstream_errors_[i].get();
      }
      for (size_t i = 0; i < kDownstreamErrorKinds; ++i) {
        n.downstream_errors[i] = sh.downstream_errors_[i].get();
      }
      n.upstream_attempts = sh.upstream_attempts_.get();
      n.upstream_retries = sh.upstream_retries_.get();
      n.request_head_bytes = sh.request_head_bytes_.get();
      n.request_body_bytes = sh.request_body_bytes_.get();
      n.response_head_bytes = sh.response_head_bytes_.get();
      n.response_body_bytes = sh.response_body_bytes_.get();
      return n;
    }));
    // Per code, like the histograms: may lead or lag the classes by a record.
    for (size_t c = 0; c < kStatusCodes; ++c) codes[c] += sh.status_codes_[c].get();
  }
  s.scalars = now;
  s.scalars.subtract(total_);
  total_ = now;
  for (size_t c = 0; c < kStatusCodes; ++c) {
    if (codes[c] != total_codes_[c]) {
      s.status_codes.emplace_back(uint16_t(c), codes[c] - total_codes_[c]);
      total_codes_[c] = codes[c];
    }
  }

  // Reject reasons: per-shard tables of static strings, mapped to process-wide ids.
  std::vector<uint64_t> rejects(total_rejects_.size(), 0);
  for (size_t si = 0; si < shards_.size(); ++si) {
    for (size_t i = 0; i < metrics::kMaxRejectReasons; ++i) {
      const Shard::RejectReason& r = shards_[si]->rejects_[i];
      const char* reason = r.reason.load(std::memory_order_acquire);
      if (reason == nullptr) break;  // claimed in order
      int32_t& id = shard_reject_ids_[si][i];
      if (id < 0) id = int32_t(reject_id(reason));
      if (rejects.size() <= size_t(id)) rejects.resize(id + 1, 0);
      rejects[id] += r.count.get();
    }
  }
  total_rejects_.resize(rejects.size(), 0);
  for (uint32_t id = 0; id < rejects.size(); ++id) {
    if (rejects[id] != total_rejects_[id]) {
      s.rejects.emplace_back(id, rejects[id] - total_rejects_[id]);
      total_rejects_[id] = rejects[id];
    }
  }

  for (size_t m = 0; m < kDurationMetrics; ++m) {
    scratch_dur_.clear();
    uint64_t max = 0;
    for (const auto& sh : shards_) {
      sh->durations_[m].read_into(scratch_dur_);
      max = std::max(max, sh->durations_[m].take_max());
    }
    diff_into(total_durations_[m], scratch_dur_, s.durations[m], max);
    max_durations_[m] = total_durations_[m].max();
  }
  for (size_t m = 0; m < kSizeMetrics; ++m) {
    scratch_size_.clear();
    uint64_t max = 0;
    for (const auto& sh : shards_) {
      sh->sizes_[m].read_into(scratch_size_);
      max = std::max(max, sh->sizes_[m].take_max());
    }
    diff_into(total_sizes_[m], scratch_size_, s.sizes[m], max);
    max_sizes_[m] = total_sizes_[m].max();
  }
  collect_routes(s);
}

void Registry::collect_routes(Slot& s) {
  // Replaced before they were handed over, so nothing read below can be one of them.
  for (const auto& sh : shards_) {
    std::vector<Shard::RouteMethod*> retired;
    {
      std::lock_guard lock(sh->retired_mu_);
      retired.swap(sh->retired_);
    }
    for (Shard::RouteMethod* rm : retired) delete rm;
  }
  const size_t keys = route_aggs_.size();
  for (RouteKey key = 0; key < keys; ++key) {
    // Most keys (every id times every method: 2,010 by default) were never recorded by
    // any worker nor aggregated here: one pointer per shard says so, every second.
    if (!route_aggs_[key] &&
        std::none_of(shards_.begin(), shards_.end(), [key](const auto& sh) {
          return sh->routes_[key].load(std::memory_order_acquire) != nullptr;
        })) {
      continue;
    }
    // A worker that has not recorded the id's new template yet still holds the old
    // route's figures: they are not the new route's.
    const uint32_t generation = routes_.generation(key / kMethods);
    uint64_t requests = 0;
    bool seen = false;
    for (const auto& sh : shards_) {
      const Shard::RouteMethod* rm = sh->routes_[key].load(std::memory_order_acquire);
      if (rm != nullptr && rm->generation == generation) {
        seen = true;
        requests += rm->requests.get_acquire();
      }
    }
    std::unique_ptr<RouteAgg>& agg_ptr = route_aggs_[key];
    if (agg_ptr && agg_ptr->generation != generation) drop_route(key);
    if (!seen) continue;
    if (!agg_ptr) {
      agg_ptr = std::make_unique<RouteAgg>(key);
      agg_ptr->generation = generation;
      active_keys_.insert(std::upper_bound(active_keys_.begin(), active_keys_.end(), key), key);
    }
    RouteAgg& agg = *agg_ptr;
    // Nothing completed on this key since the last reading: leave everything for a later
    // tick (deltas telescope, so postponing a reading never loses a sample).
    if (requests == agg.prev_requests) continue;
    agg.prev_requests = requests;

    RouteScalars now;
    scratch_dur_.clear();
    uint64_t max = 0;
    for (const auto& sh : shards_) {
      Shard::RouteMethod* rm = sh->routes_[key].load(std::memory_order_acquire);
      if (rm == nullptr || rm->generation != generation) continue;
      now.add(read_consistent(*sh, [rm] {
        RouteScalars n;
        n.requests = rm->requests.get();
        n.errors = rm->errors.get();
        for (size_t i = 0; i < kStatusClasses; ++i) n.status_classes[i] = rm->status_classes[i].get();
        n.request_body_bytes = rm->request_body_bytes.get();
        n.response_body_bytes = rm->response_body_bytes.get();
        return n;
      }));
      // The route's latency is the sum of its series (each exchange is recorded once, in
      // its series).
      for (const auto& slot : rm->codes) {
        Shard::CodeSeries* cs = slot.load(std::memory_order_acquire);
        if (cs == nullptr) continue;
        cs->latency.read_into(scratch_dur_);
        max = std::max(max, cs->latency.take_max());
      }
    }
    RouteDelta d;
    d.key = key;
    d.scalars = now;
    d.scalars.add(agg.total, -1);
    agg.total = now;
    diff_into(agg.total_latency, scratch_dur_, d.latency, max);
    agg.max_ever = agg.total_latency.max();
    s.routes.push_back(std::move(d));
  }
}

void Registry::drop_route(RouteKey key) {
  // The route was idle for routes.eviction.min_idle (at least a tick) before it was
  // evicted, so its total as of the last tick is all it ever counted; exchanges recorded
  // in flight while it was evicted may be missing from it.
  evicted_requests_ += route_aggs_[key]->total.requests;
  route_aggs_[key].reset();
  active_keys_.erase(std::lower_bound(active_keys_.begin(), active_keys_.end(), key));
  ring_.erase_route(key);
}

uint32_t Registry::reject_id(const char* reason) {
  for (uint32_t i = 0; i < reject_names_.size(); ++i) {
    if (reject_names_[i] == reason) return i;
  }
  if (reject_names_.size() + 1 < kMaxReasonIds) {
    reject_names_.emplace_back(reason);
    return uint32_t(reject_names_.size() - 1);
  }
  // The last id is the shared "other".
  if (reject_names_.size() < kMaxReasonIds) reject_names_.emplace_back(kOtherReason);
  return uint32_t(kMaxReasonIds - 1);
}

void Registry::push(Slot& s) {
  const uint64_t n = s.seq;
  for (size_t w = 0; w < kWindowSlots.size(); ++w) {
    if (n <= kWindowSlots[w]) continue;
    if (const Slot* old = ring_.find(n - kWindowSlots[w])) {
      windows_[w].subtract(*old);
      for (const RouteDelta& d : old->routes) apply_route_delta(d, -1, w);
    }
  }
  Slot& dst = ring_.place(n);
  std::swap(dst, s);
  s.clear();
  for (size_t w = 0; w < kWindowSlots.size(); ++w) {
    windows_[w].add(dst);
    for (const RouteDelta& d : dst.routes) apply_route_delta(d, 1, w);
  }
}

void Registry::apply_route_delta(const RouteDelta& d, int sign, size_t window) {
  RouteAgg& agg = *route_aggs_[d.key];
  agg.win[window].add(d.scalars, sign);
  if (window == 0) return;  // the 1 s latency is read straight from the newest slot
  Histogram& h = agg.win_latency[window - 1];
  if (sign > 0) {
    d.latency.add_to(h);
  } else {
    d.latency.subtract_from(h);
  }
}

void Registry::sample_cpu(uint64_t seq, uint64_t now) {
  if (!process_) return;
  double cpu = 0;
  uint64_t rss = 0;
  if (!process_->read_cpu_and_rss(cpu, rss)) return;
  cpu_[seq % cpu_.size()] = CpuSample{seq, now, cpu, rss};
}

double Registry::covered_seconds(size_t w) const {
  if (w >= kWindowSlots.size()) return double(seq_);
  return double(std::min<uint64_t>(kWindowSlots[w], seq_));
}

void Registry::fill_window(Snapshot& snap, size_t w, double quota) const {
  WindowStats& out = snap.windows[w];
  const bool total = w == kWindowSlots.size();
  out.seconds = covered_seconds(w);

  std::array<uint64_t, kDurationMetrics> dmax{};
  std::array<uint64_t, kSizeMetrics> smax{};
  if (total) {
    dmax = max_durations_;
    smax = max_sizes_;
  } else {
    for (uint64_t k = 0; k < kWindowSlots[w] && k < seq_; ++k) {
      const Slot* s = ring_.find(seq_ - k);
      if (s == nullptr) continue;
      for (size_t m = 0; m < kDurationMetrics; ++m)
        dmax[m] = std::max(dmax[m], s->durations[m].max);
      for (size_t m = 0; m < kSizeMetrics; ++m) smax[m] = std::max(smax[m], s->sizes[m].max);
    }
  }
  const Scalars& sc = total ? total_ : windows_[w].scalars;
  const std::vector<Histogram>& durs = total ? total_durations_ : windows_[w].durations;
  const std::vector<Histogram>& sizes = total ? total_sizes_ : windows_[w].sizes;
  const uint64_t* codes = total ? total_codes_.data() : windows_[w].status_codes.data();
  const std::vector<uint64_t>& rejects = total ? total_rejects_ : windows_[w].rejects;

  out.totals = sc;
  out.requests = sc.requests;
  out.errors = sc.errors;
  out.rps = ratio(double(sc.requests), out.seconds);
  out.error_rate = error_ratio(sc.errors, sc.requests);
  for (size_t m = 0; m < kDurationMetrics; ++m)
    out.durations[m] = summarize_duration(durs[m], dmax[m]);
  for (size_t m = 0; m < kSizeMetrics; ++m) out.sizes[m] = summarize_size(sizes[m], smax[m]);
  for (size_t c = 0; c < kStatusCodes; ++c) {
    if (codes[c]) out.status_codes.emplace_back(uint16_t(c + kMinStatus), codes[c]);
  }
  for (size_t id = 0; id < rejects.size() && id < reject_names_.size(); ++id) {
    if (rejects[id]) out.rejected.emplace_back(reject_names_[id], rejects[id]);
  }

  // CPU over the window, from the samples taken at each tick.
  if (!process_) return;
  const CpuSample& last = cpu_[seq_ % cpu_.size()];
  if (last.seq != seq_) return;
  const CpuSample* base = nullptr;
  if (total) {
    base = &cpu_first_;
  } else {
    for (uint64_t s = seq_ > kWindowSlots[w] ? seq_ - kWindowSlots[w] : 0; s < seq_; ++s) {
      if (cpu_[s % cpu_.size()].seq == s) {
        base = &cpu_[s % cpu_.size()];
        break;
      }
    }
  }
  if (base == nullptr || last.t_ns <= base->t_ns) return;
  out.cpu_percent = 100.0 * (last.cpu_s - base->cpu_s) / (double(last.t_ns - base->t_ns) / 1e9);
  if (quota > 0) out.cpu_percent_of_quota = out.cpu_percent / quota;
}

void Registry::fill_routes(Snapshot& snap) const {
  // Per-window maxima of every key, in one pass over the slots of each window.
  std::array<std::vector<uint64_t>, kWindowSlots.size()> maxes;
  for (size_t w = 0; w < kWindowSlots.size(); ++w) {
    maxes[w].assign(route_aggs_.size(), 0);
    for (uint64_t k = 0; k < kWindowSlots[w] && k < seq_; ++k) {
      const Slot* s = ring_.find(seq_ - k);
      if (s == nullptr) continue;
      for (const RouteDelta& d : s->routes)
        maxes[w][d.key] = std::max(maxes[w][d.key], d.latency.max);
    }
  }
  const Slot* newest = ring_.find(seq_);
  Histogram last_second(kDurationLayout);

  for (RouteKey key : active_keys_) {
    const RouteAgg& agg = *route_aggs_[key];
    if (agg.total.requests == 0) continue;
    // Evicted since the last tick: the id's name is already the next route's.
    if (agg.generation != routes_.generation(key / kMethods)) continue;
    RouteStats rs;
    rs.route = routes_.name(key / kMethods);
    rs.method = Method(key % kMethods);
    for (size_t w = 0; w < kWindows; ++w) {
      const bool total = w == kWindowSlots.size();
      RouteWindowStats& out = rs.windows[w];
      const RouteScalars& sc = total ? agg.total : agg.win[w];
      out.seconds = covered_seconds(w);
      fill_route_counts(out, sc);
      if (total) {
        out.latency = summarize_duration(agg.total_latency, agg.max_ever);
      } else if (w > 0) {
        out.latency = summarize_duration(agg.win_latency[w - 1], maxes[w][key]);
      } else if (newest != nullptr) {
        for (const RouteDelta& d : newest->routes) {
          if (d.key != key) continue;
          last_second.clear();
          d.latency.add_to(last_second);
          out.latency = summarize_duration(last_second, d.latency.max);
        }
      }
    }
    snap.routes.push_back(std::move(rs));

    // The series are read from the shards now (cumulative, so monotonic between snapshots;
    // they may be ahead of the route figures, which are as of the last tick). Nothing of
    // them is kept here: the shards hold them once.
    const size_t first_series = snap.request_duration.size();
    std::vector<uint32_t> keys;  // keys[i]: series first_series + i
    for (const auto& sh : shards_) {
      const Shard::RouteMethod* rm = sh->routes_[key].load(std::memory_order_acquire);
      // A worker that has not recorded the id's new route since the eviction still holds
      // the old route's series there: they are not this route's.
      if (rm == nullptr || rm->generation != agg.generation) continue;
      for (const auto& slot : rm->codes) {
        const Shard::CodeSeries* cs = slot.load(std::memory_order_acquire);
        if (cs == nullptr) continue;
        const size_t found = size_t(std::find(keys.begin(), keys.end(), cs->key) - keys.begin());
        if (found == keys.size()) {
          keys.push_back(cs->key);
          DurationSeries& ds = snap.request_duration.emplace_back();
          ds.route = snap.routes.back().route;
          ds.method = snap.routes.back().method;
          if (cs->key == Shard::kOverflowOk || cs->key == Shard::kOverflowError) {
            ds.code_other = true;
            ds.error_type = cs->key == Shard::kOverflowOk ? ErrorType::kNone : ErrorType::kOther;
          } else {
            ds.code = uint16_t(cs->key & 0xffff);
            ds.error_type = ErrorType((cs->key >> 16) & 0xff);
          }
        }
        cs->latency.read_into(snap.request_duration[first_series + found].histogram);
      }
    }
    for (size_t i = first_series; i < snap.request_duration.size(); ++i) {
      DurationSeries& ds = snap.request_duration[i];
      counts_at_bounds(ds.histogram, kRequestDurationBoundsNs, ds.buckets);
      ds.count = ds.histogram.count();
      ds.sum_seconds = double(ds.histogram.sum()) / 1e9;
    }
  }
}

Snapshot Registry::snapshot(const SnapshotParts& parts) {
  Snapshot snap;
  double quota = 0;
  if (process_) {
    snap.process = process_->read(parts.process);  // file reads outside the lock
    quota = snap.process.cgroup_cpu_quota_cores;
  }
  const uint64_t now = clock_.now_ns();
  std::lock_guard lock(mu_);
  snap.ticks = seq_;
  snap.uptime_seconds = now > start_ns_ ? double(now - start_ns_) / 1e9 : 0.0;
  for (size_t w = 0; w < kWindows; ++w) {
    if (parts.windows & (1u << w)) fill_window(snap, w, quota);
  }
  if (parts.routes) {
    ++route_snapshots_;
    fill_routes(snap);
    snap.route_table = routes_.stats();  // the table's own lock
    snap.route_table.evicted_requests = evicted_requests_;
  }
  if (parts.histograms) fill_histograms(snap);  // after the routes: see there
  if (parts.counters) fill_counters(snap);
  if (parts.certificates) snap.tls.certificates = certificates_;
  return snap;
}

namespace {

// A live reading's maximum since start: the registry's kept maximum (every max the ticks
// took), the maxima the shards recorded since their last take (read in place), and the
// lower bound of the highest non-empty bucket, since a sample's bucket may be read before
// its max (the writer stores the max last). Each term only grows, so the result does too.
void set_live_max(Histogram& h, uint64_t max) {
  const std::span<const uint64_t> b = h.stored_buckets();
  for (size_t j = b.size(); j-- > 0;) {
    if (b[j] == 0) continue;
    max = std::max(max, h.layout().lower(h.first_bucket() + uint32_t(j)));
    break;
  }
  h.set_max(h.count() ? max : 0);
}

}  // namespace

void Registry::fill_histograms(Snapshot& snap) const {
  // Read after fill_routes, so in one snapshot the service-wide latency count is not below
  // the request_duration series' sum: a worker records an exchange here before its series.
  // x86-64 makes a thread's stores visible in that order; the language alone guarantees
  // every record before the newest one a worker's series showed (this fence pairs with
  // SeqLock::begin_write's). Equal when no record lands between the two readings, bar
  // routes not in the series yet (first seen since the last tick) or any more (evicted).
#if !defined(__SANITIZE_THREAD__)
  // ThreadSanitizer does not model fences (GCC refuses them under -Werror=tsan); the
  // ordering only matters to the counts agreeing, which no test checks under it.
  std::atomic_thread_fence(std::memory_order_acquire);
#endif
  snap.duration_histograms.assign(kDurationMetrics, Histogram(kDurationLayout));
  snap.size_histograms.assign(kSizeMetrics, Histogram(kSizeLayout));
  for (size_t m = 0; m < kDurationMetrics; ++m) {
    Histogram& h = snap.duration_histograms[m];
    uint64_t max = max_durations_[m];
    for (const auto& sh : shards_) {
      sh->durations_[m].read_into(h);
      max = std::max(max, sh->durations_[m].peek_max());
    }
    set_live_max(h, max);
  }
  for (size_t m = 0; m < kSizeMetrics; ++m) {
    Histogram& h = snap.size_histograms[m];
    uint64_t max = max_sizes_[m];
    for (const auto& sh : shards_) {
      sh->sizes_[m].read_into(h);
      max = std::max(max, sh->sizes_[m].peek_max());
    }
    set_live_max(h, max);
  }
}

void Registry::fill_counters(Snapshot& snap) {
  for (const auto& sh : shards_) {
    const WorkerGauges& g = sh->gauges();
    GaugeTotals& t = snap.gauges;
    t.downstream_connections_active += g.downstream_connections_active.get();
    t.upstream_connections_active += g.upstream_connections_active.get();
    t.requests_active += g.requests_active.get();
    t.downstream_connections_total += g.downstream_connections_total.get();
    t.downstream_connections_refused += g.downstream_connections_refused.get();
    t.upstream_connections_total += g.upstream_connections_total.get();
    t.upstream_retries_total += g.upstream_retries_total.get();
    t.tunnels_active += g.tunnels_active.get();
    for (size_t i = 0; i < kProxyProtocolErrors; ++i)
      t.downstream_proxy_protocol_errors[i] += g.downstream_proxy_protocol_errors[i].get();
  }
  fill_tls(snap.tls);
}

void Registry::set_certificates(std::vector<CertificateExpiry> certificates) {
  std::lock_guard lock(mu_);
  certificates_ = std::move(certificates);
}

void Registry::fill_tls(TlsStats& out) {
  for (const auto& sh : shards_) {
    TlsCounters& c = sh->tls_;
    for (size_t side = 0; side < kTlsSides; ++side) {
      c.duration_[side].read_into(out.duration[side]);
      tls_max_[side] = std::max(tls_max_[side], c.duration_[side].take_max());
      for (size_t v = 0; v < kTlsVersions; ++v) {
        for (size_t r = 0; r < 2; ++r) out.handshakes[side][v][r] += c.handshakes_[side][v][r].get();
      }
      for (size_t f = 0; f < kTlsFailures; ++f) out.failures[side][f] += c.failures_[side][f].get();
    }
  }
  for (size_t side = 0; side < kTlsSides; ++side) {
    Histogram& h = out.duration[side];
    // A sample's bucket may be read before its max (the writer stores the max last): the
    // highest non-empty bucket bounds the maximum from below.
    const std::span<const uint64_t> b = h.stored_buckets();
    for (size_t j = b.size(); j-- > 0;) {
      if (b[j] == 0) continue;
      tls_max_[side] = std::max(tls_max_[side], h.layout().lower(h.first_bucket() + uint32_t(j)));
      break;
    }
    h.set_max(h.count() ? tls_max_[side] : 0);
  }
}

std::vector<RouteKey> Registry::matching_keys(std::optional<uint32_t> route,
                                              std::optional<Method> method) const {
  std::vector<RouteKey> out;
  for (RouteKey key : active_keys_) {
    if (route && key / kMethods != *route) continue;
    if (method && key % kMethods != size_t(*method)) continue;
    // Evicted since the last tick: the id already names the route that replaced it.
    if (route && route_aggs_[key]->generation != routes_.generation(*route)) continue;
    out.push_back(key);
  }
  return out;
}

RouteWindowStats Registry::scoped_window(std::string_view route, std::optional<Method> method,
                                         Window w) const {
  std::optional<uint32_t> id;
  bool unknown = false;
  if (!route.empty()) {
    id = routes_.find(route);  // takes the route table's own lock, not mu_
    unknown = !id;
  }
  RouteWindowStats out;
  const size_t wi = size_t(w);
  const bool total = wi == kWindowSlots.size();
  std::lock_guard lock(mu_);
  out.seconds = covered_seconds(wi);
  if (unknown) return out;
  const std::vector<RouteKey> keys = matching_keys(id, method);
  if (keys.empty()) return out;
  const auto matches = [&](RouteKey k) {
    return std::binary_search(keys.begin(), keys.end(), k);
  };

  RouteScalars sc;
  uint64_t max = 0;
  // One matching key (a route and method, or a route seen with one method) over a window
  // that keeps a running histogram: read that histogram in place, no merged copy (the
  // copy is most of a scoped rule's cost).
  const Histogram* latency = nullptr;
  std::optional<Histogram> merged;
  if (keys.size() == 1 && (total || wi > 0)) {
    const RouteAgg& agg = *route_aggs_[keys[0]];
    latency = total ? &agg.total_latency : &agg.win_latency[wi - 1];
  } else {
    merged.emplace(kDurationLayout);
    latency = &*merged;
  }
  for (RouteKey key : keys) {
    const RouteAgg& agg = *route_aggs_[key];
    if (total) {
      sc.add(agg.total);
      if (merged) merged->add(agg.total_latency);
      max = std::max(max, agg.max_ever);
    } else {
      sc.add(agg.win[wi]);
      if (merged && wi > 0) merged->add(agg.win_latency[wi - 1]);
    }
  }
  if (!total) {
    // Maxima per slot (they cannot be subtracted out of the running sums); the 1 s window
    // has no running histogram and is read from the newest slot alone.
    for (uint64_t k = 0; k < kWindowSlots[wi] && k < seq_; ++k) {
      const Slot* s = ring_.find(seq_ - k);
      if (s == nullptr) continue;
      for (const RouteDelta& d : s->routes) {
        if (!matches(d.key)) continue;
        max = std::max(max, d.latency.max);
        if (wi == 0) d.latency.add_to(*merged);
      }
    }
  }
  fill_route_counts(out, sc);
  out.latency = summarize_duration(*latency, max);
  return out;
}

namespace {

// Requests of h in buckets whose every value is <= threshold_ns.
uint64_t count_at_most(const Histogram& h, uint64_t threshold_ns) {
  const HistogramLayout& layout = h.layout();
  const std::span<const uint64_t> b = h.stored_buckets();
  uint64_t n = 0;
  for (uint32_t j = 0; j < b.size() && layout.upper(h.first_bucket() + j) <= threshold_ns; ++j) {
    n += b[j];
  }
  return n;
}

}  // namespace

alerts::EventCounts Registry::slo_events(const alerts::SloSpec& slo) const {
  const bool service = slo.route.empty() && !slo.method;
  std::optional<uint32_t> id;
  if (!slo.route.empty()) {
    id = routes_.find(slo.route);
    if (!id) return {};
  }
  const bool latency = slo.kind == alerts::SloKind::kLatency;
  constexpr uint64_t kNsPerMs = 1'000'000;
  const uint64_t threshold_ns = slo.latency_threshold_ms > UINT64_MAX / kNsPerMs
                                    ? UINT64_MAX
                                    : slo.latency_threshold_ms * kNsPerMs;
  uint64_t requests = 0, errors = 0, fast = 0, timed = 0;
  std::lock_guard lock(mu_);
  if (service) {
    requests = total_.requests;
    errors = total_.errors;
    if (latency) {
      const Histogram& h = total_durations_[size_t(DurationMetric::kLatency)];
      fast = count_at_most(h, threshold_ns);
      timed = h.count();
    }
  } else {
    for (RouteKey key : matching_keys(id, slo.method)) {
      const RouteAgg& agg = *route_aggs_[key];
      requests += agg.total.requests;
      errors += agg.total.errors;
      if (latency) {
        fast += count_at_most(agg.total_latency, threshold_ns);
        timed += agg.total_latency.count();
      }
    }
  }
  // Counters are read one after another while workers record, so a reading may see an
  // error or a latency whose request it does not count yet: clamp, never exceed total.
  alerts::EventCounts out;
  out.total = requests;
  // A failed exchange is never good, however fast it failed. Requests without a latency
  // yet (the histograms are read apart from the counters) are already bad and taken to
  // be errors; the other errors come off the fast ones (stricter than exact when some of
  // them were slow, never kinder).
  const uint64_t untimed = requests > timed ? requests - timed : 0;
  const uint64_t timed_errors = errors > untimed ? errors - untimed : 0;
  const uint64_t fast_ok = fast > timed_errors ? fast - timed_errors : 0;
  out.good = latency ? std::min(fast_ok, requests) : (requests > errors ? requests - errors : 0);
  return out;
}

}  // namespace sidemeter::metrics
