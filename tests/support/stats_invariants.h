#pragma once
// The one checker every fault, client-fault and exhaustion scenario ends with (issue 12):
// once the proxy is at rest, what it publishes must add up.
//
//  - rest: every gauge is back where the scenario left it (downstream connections,
//    requests in flight and tunnels at 0; upstream connections at the number the test
//    knows to be pooled, 0 by default), read from a stream frame of a LATER tick than the
//    one where that first held, so anything recorded alongside (a double count, a late
//    record) is in it too;
//  - /stats alone: status codes sum to their classes, classes plus the exchanges with no
//    status sum to requests, errors lie between the upstream failures and those plus the
//    5xx sent (README "How an exchange is counted"), error_rate <= 1, rejected reasons
//    sum to request_rejected;
//  - what the test knows: exact requests, statuses, errors, error kinds by side (every
//    kind not listed must be 0: nothing blamed on the wrong side, nothing counted twice),
//    retries, body bytes as the clients sent and saw them, connections refused;
//  - /metrics agrees with /stats: the error, rejection, retry and connection counters,
//    and the request-duration histogram (every exchange once; per status code; per
//    upstream failure kind as error_type); the exposition is valid.
//
// No gtest here (the support library has none): findings come back as text, each tagged
// with the rule it broke.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/json_value.h"
#include "tests/support/socket.h"

namespace sidemeter::testing {

struct StatsExpect {
  // Exchanges recorded since start ("total" window), exactly.
  std::optional<uint64_t> requests;
  // Of those, the ones that ended without a status sent downstream.
  std::optional<uint64_t> no_status;
  // Exact count per status code; when not empty, no other code may appear.
  std::map<int, uint64_t> status_codes;
  std::optional<uint64_t> errors;
  // Exact per kind; a kind not listed must be 0. Names as /stats spells them.
  std::map<std::string, uint64_t> upstream_errors;
  std::map<std::string, uint64_t> downstream_errors;
  std::map<std::string, uint64_t> rejected;
  std::optional<uint64_t> retries;
  // Body bytes on the wire over all exchanges, as the clients sent and received them.
  std::optional<uint64_t> request_body_bytes;
  std::optional<uint64_t> response_body_bytes;
  // Downstream connections refused over max_connections, since start.
  std::optional<uint64_t> downstream_refused;
  // Gauges at rest.
  uint64_t downstream_active = 0;
  uint64_t upstream_active = 0;  // idle pooled upstream connections left open
};

struct StatsFinding {
  std::string rule;  // "rest", "requests", "status", "errors", "upstream_errors", ...
  std::string message;
};

struct StatsReport {
  std::vector<StatsFinding> findings;
  std::optional<JsonValue> stats;  // the settled frame, when there was one
  bool ok() const { return findings.empty(); }
  std::string text() const;
};

// Waits (up to `deadline`) for the proxy at `stats_port` to be at rest, then checks.
StatsReport check_stats_at_rest(uint16_t stats_port, const StatsExpect& want,
                                Deadline deadline = deadline_in(std::chrono::seconds(20)));

// Reads /stats/stream frames until one satisfies `pred`; returns it, or nullopt at the
// deadline. For waiting on something the proxy does asynchronously (a slot freed, a
// gauge back to 0): frames come once a tick, so this never busy-polls.
std::optional<JsonValue> wait_for_stats(uint16_t stats_port,
                                        const std::function<bool(const JsonValue&)>& pred,
                                        Deadline deadline = deadline_in(std::chrono::seconds(20)));

// One GET on the stats port; nullopt when it does not answer 200 with valid JSON.
std::optional<JsonValue> fetch_stats_json(uint16_t stats_port,
                                          Deadline deadline = deadline_in(std::chrono::seconds(5)));
// The /metrics body ("" when the stats port does not answer 200).
std::string fetch_metrics_text(uint16_t stats_port,
                               Deadline deadline = deadline_in(std::chrono::seconds(5)));
// A number at a dotted path; nullopt when absent.
std::optional<double> json_number(const JsonValue& doc, std::string_view path);

}  // namespace sidemeter::testing
