#pragma once
// Owns the shards, turns their cumulative counters into one-second slots (tick) and serves
// windowed views of them (snapshot). Workers only ever touch their own Shard; tick() and
// snapshot() run on the stats thread and share one mutex that workers never take.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/alerts/spec.h"
#include "metrics/clock.h"
#include "metrics/process_stats.h"
#include "metrics/route_template.h"
#include "metrics/shard.h"
#include "metrics/snapshot.h"
#include "metrics/windows.h"

namespace sidemeter::metrics {

struct RegistryOptions {
  size_t max_routes = RouteTable::kDefaultMaxRoutes;  // automatic routes; beyond: "other"
  std::vector<std::string> route_patterns;            // see RouteTable::set_patterns
  RouteAdmission route_admission;                     // see RouteTable
  bool process_stats = true;                          // sample CPU each tick, /proc figures
  std::string proc_root;                              // "" = live /proc and /sys
};

// What Registry::snapshot fills; the rest keeps its defaults. The windows and the routes'
// figures are what the ticks keep: they move only at ticks. The request_duration series,
// the service-wide histograms, the counters and the TLS figures are read from the shards
// when the snapshot is built: cumulative, so no later snapshot shows less, and the
// service-wide latency histogram and the series are read in the same snapshot (its count
// is never below the series' sum; see Registry::fill_histograms).
struct SnapshotParts {
  uint32_t windows = (1u << kWindows) - 1;  // bit (1 << Window): the service windows filled
  bool routes = true;        // routes, request_duration series, route_table
  bool histograms = true;    // duration_histograms, size_histograms (cumulative, read now)
  bool counters = true;      // worker gauges and connection counters, TLS counters
  bool certificates = true;  // tls.certificates
  ProcessParts process;      // ProcessStats::read (when process stats are on)
  // The stats port's: everything. Alert rules ask for less (proxy/control/alerting.h).
  static SnapshotParts all() { return {}; }
  static SnapshotParts nothing() {
    return {0, false, false, false, false, ProcessParts::none()};
  }
};

class Registry {
 public:
  static constexpr size_t kMaxReasonIds = 64;  // process-wide reject reasons; the rest -> "other"

  Registry(RegistryOptions options, const Clock& clock);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // One per worker, before the worker records. The reference stays valid for the
  // registry's lifetime.
  Shard& add_shard();
  RouteTable& routes() { return routes_; }

  // Stats thread, about once per second. Closes every whole second elapsed since the
  // previous tick: the counters read now make the newest slot, and seconds without a
  // tick (late or missed ticks) become empty slots. A tick within the same second as the
  // previous one does nothing (its samples wait for the next).
  void tick();
  // Thread-safe w.r.t. tick(). Reads the shards and, per `parts`, /proc; changes nothing
  // any later snapshot or history() shows (the TLS handshake maxima it takes from the
  // shards are kept here and stay the maxima since start).
  Snapshot snapshot(const SnapshotParts& parts = SnapshotParts::all());
  // The last up to 300 completed seconds, oldest first. Each point was summarized when its
  // slot closed, so this is a copy (~150 KB at most), no quantile math. Thread-safe w.r.t.
  // tick(); meant for the stats thread, at most once per tick.
  History history() const;
  uint64_t ticks() const;
  // Nanoseconds from now until the registry's next whole second (1 to 10^9): where the
  // next tick() has something to close. Thread-safe (reads the clock only).
  uint64_t ns_to_next_second() const;
  // Shard readings taken although a record was being written (a worker held off the
  // reader too long; see read_consistent). Thread-safe w.r.t. tick().
  uint64_t inconsistent_reads() const;
  // Test hooks for the idle cost: snapshots built with routes (the stats port's kind), and
  // /proc/self/fd listings (ProcessStats::fd_listings; 0 without process stats).
  uint64_t route_snapshots() const;
  uint64_t fd_listings() const;

  // The certificates in force (served downstream, presented upstream), replacing the
  // previous list: the control thread calls it at each (re)load. Thread-safe; every
  // snapshot from then on carries it.
  void set_certificates(std::vector<CertificateExpiry> certificates);

  // One window of every (route, method) matching: route is a template compared exactly
  // ("" = every route, "other" = the overflow route), method unset = every method. Counts
  // add up; latency quantiles come from the merged histograms (as in Snapshot::routes), so
  // they are exact-rank quantiles of the union, not an average of per-route ones. An
  // unknown route gives zero counts with `seconds` still set (the window's coverage).
  // Thread-safe w.r.t. tick(); costs one 16 KB histogram and one merge per matching key.
  RouteWindowStats scoped_window(std::string_view route, std::optional<Method> method,
                                 Window w) const;
  // Cumulative (since start) good and total events of an objective, as of the last tick:
  //  - availability: total = requests, good = requests that are not errors (is_error);
  //  - latency: total = requests, good = requests whose latency is <= the threshold, read
  //    from the cumulative latency histogram. A bucket counts as good only when its upper
  //    bound is <= the threshold, so the SLI is never flattered: the only requests
  //    misjudged are good ones in the bucket straddling the threshold, i.e. within one
  //    bucket width (< 2^(1/64) - 1 = 1.09 % of the threshold: 10.9 us at 1 ms)
  //    below it, counted bad. Every error (is_error) counts bad too, however fast: errors
  //    are taken off the fast count, which errs strict when some errors were also slow.
  //    Every exchange has a latency (a cut-short one up to its end), so a client abort
  //    is judged by how long the client had waited; a request whose latency the reading
  //    does not hold yet counts bad.
  // Service scope (route "" and no method) reads the service figures, otherwise the
  // matching (route, method) aggregates as in scoped_window. Thread-safe w.r.t. tick().
  alerts::EventCounts slo_events(const alerts::SloSpec& slo) const;

 private:
  struct RouteAgg {
    explicit RouteAgg(RouteKey k);
    RouteKey key;
    uint32_t generation = 0;     // the route id's RouteTable::generation() it belongs to
    uint64_t prev_requests = 0;  // gate: skip keys that did not move
    RouteScalars total;          // cumulative at the last tick
    Histogram total_latency;
    uint64_t max_ever = 0;
    std::array<RouteScalars, kWindowSlots.size()> win{};
    std::vector<Histogram> win_latency;  // per rolling window (10s, 1m, 5m)
  };
  struct CpuSample {
    uint64_t seq = UINT64_MAX;
    uint64_t t_ns = 0;
    double cpu_s = 0;
    uint64_t rss_bytes = 0;  // from the same read of /proc/self/stat, for history()
  };

  template <typename F>
  auto read_consistent(const Shard& sh, F read);
  void collect(Slot& s);
  void collect_routes(Slot& s);
  // The route of key was evicted or freed: its aggregate goes (its series leave the
  // exposition), and so do its deltas in the ring, so the windows of the template that
  // reuses the id never subtract them. Under mu_.
  void drop_route(RouteKey key);
  uint32_t reject_id(const char* reason);
  void push(Slot& s);
  void apply_route_delta(const RouteDelta& d, int sign, size_t window);
  void sample_cpu(uint64_t seq, uint64_t now);
  void close_point(uint64_t seq);
  void fill_window(Snapshot& snap, size_t w, double quota) const;
  // Worker gauges and TLS counters, read from the shards now. Under mu_.
  void fill_counters(Snapshot& snap);
  // The service-wide cumulative histograms, read from the shards now (after the routes),
  // with their maxima since start. Under mu_.
  void fill_histograms(Snapshot& snap) const;
  void fill_routes(Snapshot& snap) const;
  // Every shard's TLS counters summed (cumulative). Under mu_.
  // Histograms carry their maximum since start (tls_max_).
  void fill_tls(TlsStats& out);
  // Keys of active_keys_ of route id `route` (unset = every route) and method (unset =
  // every method). Under mu_.
  std::vector<RouteKey> matching_keys(std::optional<uint32_t> route,
                                      std::optional<Method> method) const;
  double covered_seconds(size_t w) const;

  const RegistryOptions options_;
  const Clock& clock_;
  const uint64_t start_ns_;
  RouteTable routes_;
  std::optional<ProcessStats> process_;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Shard>> shards_;
  uint64_t seq_ = 0;  // slots completed
  uint64_t inconsistent_reads_ = 0;  // under mu_
  uint64_t evicted_requests_ = 0;    // under mu_: requests of dropped route aggregates
  uint64_t route_snapshots_ = 0;     // under mu_

  // Cumulative figures at the last tick: the "total" window and the base of the next delta.
  Scalars total_;
  std::vector<Histogram> total_durations_, total_sizes_;
  std::array<uint64_t, kDurationMetrics> max_durations_{};
  std::array<uint64_t, kSizeMetrics> max_sizes_{};
  std::array<uint64_t, kStatusCodes> total_codes_{};
  std::vector<uint64_t> total_rejects_;
  std::vector<std::string> reject_names_;
  std::vector<std::vector<int32_t>> shard_reject_ids_;  // per shard, per slot

  std::vector<std::unique_ptr<RouteAgg>> route_aggs_;  // by RouteKey
  std::vector<RouteKey> active_keys_;                  // keys with an agg, ascending

  SlotRing ring_;
  std::array<WindowSums, kWindowSlots.size()> windows_;  // 1s, 10s, 1m, 5m
  Slot pending_;
  Histogram scratch_dur_{kDurationLayout}, scratch_size_{kSizeLayout};

  std::array<CpuSample, SlotRing::kCapacity + 1> cpu_;
  std::array<HistoryPoint, SlotRing::kCapacity> points_;  // by seq % capacity, like ring_
  CpuSample cpu_first_;
  std::vector<CertificateExpiry> certificates_;  // under mu_
  std::array<uint64_t, kTlsSides> tls_max_{};     // handshake duration maxima since start
};

}  // namespace sidemeter::metrics
