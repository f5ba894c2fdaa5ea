#pragma once
// GET /stats and the /stats/stream frames: the snapshot as one JSON object.
//   {"version", "uptime_s", "ticks", "upstream_up", "draining", "config_hash", "windows": {"1s": W, "10s": W, "1m": W,
//    "5m": W, "total": W}, "routes": [{"route", "method", "windows": {...: RW}}],
//    "connections": {...}, "process": {...}, "tls": T, "alerts": [...], "slos": [...]}
//    (alerts and slos: proxy/stats/alerts_format.h)
// W  = {"seconds", "requests", "rps", "errors", "error_rate", "latency_ms": D,
//       "upstream_ttfb_ms": D, "upstream_connect_ms": D, "upstream_tls_handshake_ms": D,
//       "upstream_total_ms": D, "proxy_overhead_ms": D, "request_bytes": S, "response_bytes": S,
//       "status": {"1xx".."5xx"}, "status_codes": {"200": n}, "upstream_errors": {kind: n},
//       "downstream_errors": {kind: n}, "rejected": {reason: n}, "retries", "cpu_percent"}
// RW = {"seconds", "requests", "rps", "errors", "error_rate", "latency_ms": D,
//       "request_bytes": {"total"}, "response_bytes": {"total"}, "status": {...}}
// D  = {"count", "avg", "p50", "p90", "p95", "p99", "p999", "max"} (milliseconds)
// S  = {"total", "avg", "p50", "p95", "max"} (bytes)
// T  = {"downstream": TS, "upstream": TS, "certificates": [C]}, cumulative since start
// TS = {"enabled" (configured now), "handshakes": {"TLSv1.2"|"TLSv1.3"|"other":
//       {"full": n, "resumed": n}}, "handshakes_total", "failures": {reason: n},
//       "failures_total", "handshake_ms": D (completed handshakes)}
// C  = {"name", "side", "file", "not_after" (RFC 3339), "not_after_unix_s",
//       "seconds_left" (null without a wall clock)}, earliest expiry first
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "metrics/alerts/engine.h"
#include "metrics/snapshot.h"

namespace sidemeter::stats {

inline constexpr uint32_t window_bit(metrics::Window w) { return 1u << uint32_t(w); }
inline constexpr uint32_t kAllWindows = (1u << metrics::kWindows) - 1;
// /stats leaves out the 1 s window unless asked (it is what the stream is for).
inline constexpr uint32_t kStatsDefaultWindows = kAllWindows & ~window_bit(metrics::Window::k1s);

// Window name ("1s", "10s", "1m", "5m", "total") to its enum.
std::optional<metrics::Window> parse_window(std::string_view name);

struct JsonFilter {
  uint32_t windows = kStatsDefaultWindows;        // global windows to include
  uint32_t route_windows = kStatsDefaultWindows;  // per-route windows to include
  std::string_view route;                         // "" = every route, else exact template
  std::string_view method;                        // "" = every method, else e.g. "GET"
};

struct JsonExtras {
  bool upstream_up = true;
  bool draining = false;
  std::string_view config_hash;  // "config_hash": the configuration in force
  const metrics::alerts::Status* alerts = nullptr;  // null: "alerts": [], "slos": []
  std::array<bool, metrics::kTlsSides> tls_configured{};  // by metrics::TlsSide
  uint64_t now_unix_ms = 0;  // for certificates' seconds_left; 0: unknown (null)
};

void append_stats_json(const metrics::Snapshot& snap, const JsonExtras& extras,
                       const JsonFilter& filter, std::string& out);

// GET /stats/history: the last up to 300 seconds, oldest first, one point per second
// (seq = that second's "ticks" in /stats/stream frames, so a client joins the two).
//   {"version", "ticks", "points": [P]}
// P  = {"seq", "requests", "rps", "errors", "error_rate", "upstream_errors",
//       "latency_ms": H, "upstream_ttfb_ms": H, "upstream_connect_ms": H,
//       "upstream_tls_handshake_ms": H, "proxy_overhead_ms": H, "request_bytes": B, "response_bytes": B,
//       "cpu_percent": n|null, "rss_bytes": n|null}
// H  = {"count", "avg", "p50", "p95", "p99", "max"} (milliseconds)
// B  = {"total", "avg", "p95", "max"} (bytes)
void append_history_json(const metrics::History& history, std::string& out);

}  // namespace sidemeter::stats
