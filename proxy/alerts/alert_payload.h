#pragma once
// The JSON documents alert delivery sends. Pure functions, no I/O: tests check them as
// text, the sender calls them on its own thread.
//
// Alertmanager (API v2, POST <base>/api/v2/alerts): a JSON array of postableAlert:
//   [{"labels": {"alertname": "LatencyAvgHigh", "severity": "critical",
//                "route": "/users/{id}", "method": "GET",     (when the rule is scoped)
//                "slo": "checkout",                           (SLO alerts)
//                "pod": "...", "namespace": "...",            (alerts.labels, in order)
//                "instance": "<instance>"},                   (unless alerts.labels has one)
//     "annotations": {"summary": "latency.avg is 1234 (above 1000) over 1m",
//                     "value": "1234", "threshold": "1000", "figure": "latency.avg",
//                     "window": "1m"},
//     "startsAt": "2024-05-01T12:00:00.000Z",    (active_since; omitted when unknown)
//     "endsAt": "2024-05-01T12:04:00.000Z",
//     "generatorURL": "http://<instance>/stats"}]  (omitted without an instance)
// A label of the alert itself wins over a configured label of the same name; empty
// values are left out (Alertmanager treats an empty label as an absent one).
//
// Webhook (POST <url> as given), one document per evaluation that changed something:
//   {"version": "1", "instance": "<instance>", "time": "<RFC 3339>",
//    "time_unix_ms": 1714564800000,
//    "alerts": [                                   (one per Transition, in order)
//      {"alertname": "LatencyAvgHigh", "severity": "critical",
//       "from": "pending", "to": "firing",          (ok | pending | firing)
//       <the members of alert_json.h: value, threshold, comparison, figure, unit,
//        window, since(_unix_ms) (when `to` was entered), active_since(_unix_ms)>,
//       "labels": {"route": "/users/{id}", ..., "pod": "...", "instance": "..."}}]}
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/alerts/engine.h"

namespace sidemeter::alerts {

using Labels = std::vector<std::pair<std::string, std::string>>;

// The identity Alertmanager gives an alert: its label set (alertname, severity, the
// rule's labels). Used to pair a resolve with the firing alert it ends.
std::string alert_key(const metrics::alerts::AlertState& a);

struct AmAlert {
  const metrics::alerts::AlertState* alert = nullptr;
  uint64_t starts_at_unix_ms = 0;  // 0: omitted (Alertmanager then uses the receive time)
  uint64_t ends_at_unix_ms = 0;
};

// The postableAlert array for these alerts.
std::string alertmanager_body(const std::vector<AmAlert>& alerts, const Labels& labels,
                              std::string_view instance);

// The webhook document for one evaluation's transitions.
std::string webhook_body(const std::vector<metrics::alerts::Transition>& changes,
                         const Labels& labels, std::string_view instance, uint64_t now_unix_ms);

}  // namespace sidemeter::alerts
