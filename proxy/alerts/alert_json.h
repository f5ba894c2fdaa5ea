#pragma once
// The members every JSON view of one alert shares, so /stats (proxy/stats/alerts_format.h)
// and the webhook body (alert_payload.h) cannot drift apart:
//   "value": n|null (null: not evaluated), "threshold", "comparison": "above"|"below",
//   "figure", "unit": "ms"|"bytes"|"ratio"|"", "window",
//   "since": RFC 3339|null, "since_unix_ms": n|null (null until the first change),
//   "active_since": RFC 3339|null, "active_since_unix_ms": n|null (null while ok)
// Each member is written with a leading comma: the caller opens the object and writes
// its own first members (name, severity, state or transition) before, labels after.
#include <string>
#include <string_view>

#include "metrics/alerts/engine.h"

namespace sidemeter::alerts {

void append_alert_members(std::string& out, const metrics::alerts::AlertState& a);
std::string_view comparison_name(metrics::alerts::Comparison c);  // "above", "below"

}  // namespace sidemeter::alerts
