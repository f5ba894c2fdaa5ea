#pragma once
// What an alert rule or a service-level objective asks for, as plain data. conf fills it
// from YAML (it is part of conf::Config); metrics/alerts evaluates it. No I/O, no libuv.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "metrics/exchange_sample.h"

namespace sidemeter::metrics::alerts {

// The figure a threshold rule reads, over its window. Units (what thresholds mean):
enum class Figure : uint8_t {
  kLatency,            // ms, downstream latency (first request byte → last response byte)
  kUpstreamTtfb,       // ms, upstream request sent → first response byte
  kProxyOverhead,      // ms, time spent in sidemeter itself
  kRequestSize,        // bytes, request body
  kResponseSize,       // bytes, response body
  kErrorRate,          // ratio 0-1 of requests that are errors (is_error: 5xx or upstream failed)
  kUpstreamErrorRate,  // ratio 0-1 of requests with an upstream error (one kind or all)
  kRps,                // requests per second
  kCpu,                // ratio 0-1 of the CPU available (cgroup quota, else the CPUs we may run on)
  kRss,                // bytes, resident memory
  kOpenFds,            // count
  kUpstreamUp,         // 1 reachable, 0 not
  // seconds until the earliest loaded certificate (served or presented upstream) expires,
  // negative once expired; not judged while no certificate is loaded. Not a window figure:
  // it reads the certificates in force and the wall clock, whatever the rule's window.
  kTlsCertificateExpiry,
  kCount
};
// Which statistic of a distribution figure (latency, ttfb, overhead, sizes); kNone for
// the scalar figures. Sizes know avg, p50, p95, max.
enum class Stat : uint8_t { kNone, kAvg, kP50, kP90, kP95, kP99, kMax, kCount };
enum class Comparison : uint8_t { kAbove, kBelow };
// The rolling windows a rule may read (the registry keeps these).
enum class RuleWindow : uint8_t { k10s, k1m, k5m };
enum class Severity : uint8_t { kWarning, kCritical };

std::string_view figure_name(Figure f);     // "latency", "upstream_ttfb", ...
std::string_view stat_name(Stat s);         // "", "avg", "p50", ...
std::string_view window_name(RuleWindow w); // "10s", "1m", "5m"
std::string_view severity_name(Severity s); // "warning", "critical"
// "latency.p99", "error_rate", "upstream_error_rate.connect_refused" → parts; nullopt
// (and `error` set) when the name, stat or error kind is unknown or does not fit.
struct FigureRef {
  Figure figure = Figure::kLatency;
  Stat stat = Stat::kNone;
  UpstreamError upstream_error = UpstreamError::kNone;  // kNone: every kind
  bool operator==(const FigureRef&) const = default;
};
std::optional<FigureRef> parse_figure(std::string_view text, std::string& error);
std::string figure_ref_name(const FigureRef& f);  // inverse of parse_figure
bool is_duration(Figure f);        // thresholds written as durations (ms)
bool is_bytes(Figure f);           // thresholds written as sizes (bytes)
bool is_ratio(Figure f);           // thresholds written as percentages ("1%")
bool is_seconds(Figure f);         // thresholds written as durations ("14d", "72h"), kept in s
bool counts_requests(Figure f);    // min_requests applies (figures computed from requests)
// May be scoped to a route and/or method with at least one of its statistics (per-route
// windows hold requests, errors, body byte totals and the latency distribution).
bool route_scopable(Figure f);
// This exact figure may be scoped (what conf validates a scoped rule with): every latency
// statistic, error_rate, rps, and request/response size avg only (per-route windows keep
// body byte totals, not size distributions).
bool route_scopable(const FigureRef& f);

struct Threshold {
  double value = 0;    // in the figure's unit (ms, bytes, ratio, count)
  // The alert resolves only once the value is back past this (hysteresis); unset = value.
  std::optional<double> resolve;
  bool operator==(const Threshold&) const = default;
};

struct RuleSpec {
  std::string name;  // alertname; unique among rules; [A-Za-z0-9_:-]+
  FigureRef figure;
  Comparison comparison = Comparison::kAbove;
  std::optional<Threshold> warning;
  std::optional<Threshold> critical;  // at least one of the two is set
  RuleWindow window = RuleWindow::k1m;
  uint64_t for_ms = 30'000;             // pending this long before firing
  uint64_t keep_firing_for_ms = 0;      // firing at least this long after it resolves
  uint64_t min_requests = 0;            // fewer requests in the window: not evaluated (ok)
  std::string route;                    // route template; "" = the whole service
  std::optional<Method> method;         // unset = every method
  bool operator==(const RuleSpec&) const = default;
};

enum class SloKind : uint8_t { kAvailability, kLatency };

struct SloSpec {
  std::string name;  // unique among SLOs; [A-Za-z0-9_:-]+
  SloKind kind = SloKind::kAvailability;
  // The share of good events aimed at, 0 < objective < 1 (0.999 = 99.9 %).
  double objective = 0.999;
  // kLatency: a request is good when its latency is at most this.
  uint64_t latency_threshold_ms = 0;
  std::string route;             // "" = the whole service
  std::optional<Method> method;  // unset = every method
  bool operator==(const SloSpec&) const = default;
};

// Cumulative counts since start for one objective (never decrease while the process runs).
// (Declared here rather than in engine.h so the registry, which produces them, need not
// include the engine.)
struct EventCounts {
  uint64_t total = 0;
  uint64_t good = 0;
};

}  // namespace sidemeter::metrics::alerts
