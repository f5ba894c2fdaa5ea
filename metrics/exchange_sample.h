#pragma once
// One record per HTTP exchange, filled by the proxy as the exchange goes and handed to
// metrics exactly once, at its end. Plain data: metrics must not know about libuv or the
// proxy's types, and the proxy must not know how aggregation works.
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

}  // namespace sidemeter::metrics
