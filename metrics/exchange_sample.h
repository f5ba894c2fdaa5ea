#pragma once
// One record per HTTP exchange, filled by the proxy as the exchange goes and handed to
// metrics exactly once, at its end. Plain data: metrics must not know about libuv or the
// proxy's types, and the proxy must not know how aggregation works.
//
// How an exchange is counted, decided once for every view (/stats, /metrics, the
// dashboard, StatsD, alerts, SLOs, the access log):
//  - Every exchange is recorded exactly once: requests = all exchanges, however they end.
//  - Its status is the one sent downstream (0 if none went out): an upstream 200 cut off
//    mid-body still counts in 2xx, because the client saw a 200 status line.
//  - Every exchange has a duration: first request byte -> last response byte written or,
//    when it was cut short (client abort, upstream cut mid-body, timeout mid-body, no
//    response at all), -> the moment it ended (PhaseTimes::exchange_ended). So it is in
//    the latency histograms and in http_server_request_duration_seconds, whose _count
//    summed over every series equals requests.
//  - It is an error (errors, error_rate, SLO availability) when the server side failed:
//    a 5xx went downstream, or the upstream failed (a 502/504 of ours, a response cut
//    mid-body after its status line went out, or no response). See is_error().
//  - A client that leaves is never the server's failure: not an error; counted in
//    downstream_errors (client_abort_*), in its status class if a status went out, and
//    in the duration histogram with error_type="client_abort_*".
//  - error_type (OpenTelemetry error.type) says why an exchange did not complete
//    normally; absent when it did. See error_type().
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sidemeter::metrics {

enum class Method : uint8_t {
  kGet, kHead, kPost, kPut, kDelete, kConnect, kOptions, kTrace, kPatch, kOther, kCount
};
// "GET" ... "PATCH"; kOther (any other token, QUERY, PROPFIND, lower-case "get") is
// "_OTHER", as OpenTelemetry's http.request.method spells it, in every output.
std::string_view method_name(Method m);
// "GET" ... "PATCH" (exact, upper case) → the method; anything else → nullopt.
std::optional<Method> parse_method(std::string_view name);

// Where an upstream attempt failed. A failure is only ever blamed on the upstream when
// the upstream caused it.
enum class UpstreamError : uint8_t {
  kNone,
  kConnectRefused,       // RST / ECONNREFUSED / unreachable on connect
  kConnectTimeout,       // connect did not finish within upstream_connect timeout
  kResetBeforeResponse,  // connection reset before any response byte
  kResetMidResponse,     // reset after some response bytes
  kResponseTimeout,      // no complete response head within upstream_response timeout
  kInvalidResponse,      // response failed RFC 9112 checks
  kClosedEarly,          // clean close (FIN) before the response was complete
  kTlsHandshakeFailed,   // the TLS handshake with the upstream failed (verification, no
                         // shared cipher or version, alert, close mid-handshake)
  kCount
};
std::string_view upstream_error_name(UpstreamError e);  // "connect_refused", ...

enum class DownstreamError : uint8_t {
  kNone,
  kClientAbortRequest,   // client went away while sending the request
  kClientAbortResponse,  // client went away before the response was fully written
  kRequestRejected,      // request refused by the proxy (see reject_reason)
  kHeaderTimeout,        // request head not complete within request_header timeout
  kCount
};
std::string_view downstream_error_name(DownstreamError e);  // "client_abort_request", ...

// Monotonic nanoseconds (same clock for all fields). 0 means "phase not reached".
struct PhaseTimes {
  uint64_t request_first_byte = 0;     // first byte of the request received
  uint64_t request_headers_done = 0;   // request head complete
  uint64_t request_body_done = 0;      // request body complete (== headers_done if none)
  uint64_t upstream_connect_start = 0; // connect started, or pooled connection taken
  uint64_t upstream_connect_done = 0;  // TCP connected (== connect_start when reused)
  // TLS handshake finished on a fresh upstream connection; 0 when plain, reused, or not
  // reached (a failed handshake is upstream_failed with kTlsHandshakeFailed).
  uint64_t upstream_tls_done = 0;
  uint64_t upstream_request_sent = 0;  // request head written to upstream socket
  uint64_t upstream_first_byte = 0;    // first response byte from upstream
  uint64_t upstream_response_done = 0; // response complete from upstream
  uint64_t upstream_failed = 0;        // the attempt failed for good (reset, close, timeout)
  uint64_t response_last_byte_written = 0;  // last response byte written downstream
  // When the exchange ended (was recorded): == response_last_byte_written when the
  // response went out whole, later than any other timestamp when it was cut short.
  uint64_t exchange_ended = 0;
};

struct ExchangeSample {
  PhaseTimes t;

  // Wire sizes as seen on the sockets (head includes request/status line and CRLFs;
  // body includes chunk framing).
  uint64_t request_head_bytes = 0;
  uint64_t request_body_bytes = 0;
  uint64_t response_head_bytes = 0;
  uint64_t response_body_bytes = 0;

  Method method = Method::kOther;
  // Request path without query, valid only during record(); metrics templates it into a
  // bounded route itself (ids become {id}).
  std::string_view path;

  uint16_t status = 0;           // status sent downstream; 0 if none was sent
  bool local_response = false;   // the proxy generated the status (4xx/5xx of its own)
  bool upstream_reused = false;  // the upstream connection came from the pool
  uint8_t upstream_attempts = 0; // 0 = never sent upstream; 2 = one retry
  UpstreamError upstream_error = UpstreamError::kNone;
  DownstreamError downstream_error = DownstreamError::kNone;
  // Static string ("cl_and_te", "obs_fold", ...) when downstream_error==kRequestRejected.
  const char* reject_reason = nullptr;

  // For the access log, valid only during record() like `path`; metrics ignores them.
  // The client's address: numeric IP (no brackets) and port.
  std::string_view client_ip;
  uint16_t client_port = 0;
  // Filled only while the access log is on (empty otherwise, and when absent): the
  // request target's query string without the '?', and the first `traceparent` and
  // `x-request-id` request field values, each cut to kMaxCapturedValue bytes.
  std::string_view query;
  std::string_view traceparent;
  std::string_view x_request_id;
};
inline constexpr size_t kMaxCapturedValue = 256;

// The response went out whole: its last byte was written downstream.
inline bool response_completed(const ExchangeSample& s) {
  return s.t.response_last_byte_written != 0;
}

// The upstream failed this exchange for good. A rejected request never reached the
// upstream, so it never has an upstream failure (as in every upstream figure).
inline bool upstream_failed(const ExchangeSample& s) {
  return s.upstream_error != UpstreamError::kNone &&
         s.downstream_error != DownstreamError::kRequestRejected;
}

// What counts as an error, for every figure that says "errors" (error_rate, SLO
// availability, the access log's "error"): the server side failed.
//  - a 5xx went downstream (whoever generated it), or
//  - the upstream failed: we answered 502/504 for it, or its response was cut off after
//    the status line went out (the client got a truncated 2xx/3xx/4xx), or nothing went
//    out at all.
// 4xx are the client's problem: counted per class and code, never as errors. Client aborts
// and the other downstream failures are counted per kind in downstream_errors, never as
// errors (a 5xx the client then abandoned is still an error: the 5xx is).
inline bool is_error(const ExchangeSample& s) { return s.status >= 500 || upstream_failed(s); }

// OpenTelemetry's error.type of an exchange (semantic conventions, HTTP server spans and
// http.server.request.duration), bounded to these values:
enum class ErrorType : uint8_t {
  kNone,  // completed normally (any 1xx-4xx whose response went out whole): no label
  // The upstream failed (whatever the client got): UpstreamError's names, same order.
  kConnectRefused,
  kConnectTimeout,
  kResetBeforeResponse,
  kResetMidResponse,
  kResponseTimeout,
  kInvalidResponse,
  kClosedEarly,
  kTlsHandshakeFailed,
  // Cut short on the client's side: DownstreamError's names, same order.
  kClientAbortRequest,
  kClientAbortResponse,
  kRequestRejected,
  kHeaderTimeout,
  kStatusCode,  // a 5xx went out whole, no finer kind: the code as text ("503"), as OTel does
  kOther,       // cut short, no kind known (e.g. the proxy shut down): "_OTHER"
  kCount
};
static_assert(size_t(ErrorType::kTlsHandshakeFailed) == size_t(UpstreamError::kCount) - 1 &&
                  size_t(ErrorType::kHeaderTimeout) - size_t(ErrorType::kTlsHandshakeFailed) ==
                      size_t(DownstreamError::kCount) - 1,
              "ErrorType lists UpstreamError then DownstreamError kinds, in their order");
inline constexpr ErrorType error_type_of(UpstreamError e) { return ErrorType(uint8_t(e)); }
inline constexpr ErrorType error_type_of(DownstreamError e) {
  return e == DownstreamError::kNone
             ? ErrorType::kNone
             : ErrorType(uint8_t(ErrorType::kTlsHandshakeFailed) + uint8_t(e));
}

// The first that applies: the upstream's error kind; the downstream's kind when the
// response did not go out whole; a 5xx's code; "_OTHER" when the response did not go out
// whole; none. (A rejected request answered with a whole 400, or a 408, completed: a 4xx
// is not an error on the server side, in OTel as here; its kind stays in
// downstream_errors.)
inline ErrorType error_type(const ExchangeSample& s) {
  if (upstream_failed(s)) return error_type_of(s.upstream_error);
  const bool whole = response_completed(s);
  if (!whole && s.downstream_error != DownstreamError::kNone)
    return error_type_of(s.downstream_error);
  if (s.status >= 500) return ErrorType::kStatusCode;
  return whole ? ErrorType::kNone : ErrorType::kOther;
}

// The label value: "" for kNone, the kind's name, "_OTHER", or for kStatusCode `status`
// as decimal text written into `buf`.
std::string_view error_type_name(ErrorType t, uint16_t status, char (&buf)[8]);

}  // namespace sidemeter::metrics
