#pragma once
// The alert and SLO state in /stats and the stream frames (metrics/alerts/engine.h).
//   "alerts": [A], "slos": [O]
// A = {"rule", "severity", "state": "ok"|"pending"|"firing", "value": n|null,
//      "threshold", "comparison": "above"|"below", "figure", "unit": "ms"|"bytes"|"ratio"|"",
//      "window", "since": RFC 3339|null (null: unchanged since start), "since_unix_ms",
//      "active_since": RFC 3339|null
//      (pending or firing since), "active_since_unix_ms": n|null,
//      "labels": {"route", "method", "slo"}}
// O = {"name", "kind": "availability"|"latency", "objective", "threshold_ms" (latency),
//      "route", "method", "burn_rates": {"5m", "30m", "1h", "6h"},
//      "error_budget_remaining", "good", "total", "horizon_s"}
#include <string>

#include "metrics/alerts/engine.h"

namespace sidemeter::stats {

// Appends the JSON array of every alert instance (ok ones too); "[]" when status is null.
void append_alerts_json(const metrics::alerts::Status* status, std::string& out);
// Appends the JSON array of every SLO; "[]" when status is null.
void append_slos_json(const metrics::alerts::Status* status, std::string& out);

}  // namespace sidemeter::stats
