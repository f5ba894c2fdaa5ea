#include "metrics/exchange_sample.h"

#include <cstdio>

namespace sidemeter::metrics {

std::string_view method_name(Method m) {
  switch (m) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPost: return "POST";
    case Method::kPut: return "PUT";
    case Method::kDelete: return "DELETE";
    case Method::kConnect: return "CONNECT";
    case Method::kOptions: return "OPTIONS";
    case Method::kTrace: return "TRACE";
    case Method::kPatch: return "PATCH";
    case Method::kOther:
    case Method::kCount: break;
  }
  return "_OTHER";  // OpenTelemetry's http.request.method for any other method
}

std::optional<Method> parse_method(std::string_view name) {
  for (size_t i = 0; i < size_t(Method::kOther); ++i) {
    if (method_name(Method(i)) == name) return Method(i);
  }
  return std::nullopt;
}

std::string_view upstream_error_name(UpstreamError e) {
  switch (e) {
    case UpstreamError::kNone: return "none";
    case UpstreamError::kConnectRefused: return "connect_refused";
    case UpstreamError::kConnectTimeout: return "connect_timeout";
    case UpstreamError::kResetBeforeResponse: return "reset_before_response";
    case UpstreamError::kResetMidResponse: return "reset_mid_response";
    case UpstreamError::kResponseTimeout: return "response_timeout";
    case UpstreamError::kInvalidResponse: return "invalid_response";
    case UpstreamError::kClosedEarly: return "closed_early";
    case UpstreamError::kTlsHandshakeFailed: return "tls_handshake_failed";
    case UpstreamError::kCount: break;
  }
  return "unknown";
}

std::string_view downstream_error_name(DownstreamError e) {
  switch (e) {
    case DownstreamError::kNone: return "none";
    case DownstreamError::kClientAbortRequest: return "client_abort_request";
    case DownstreamError::kClientAbortResponse: return "client_abort_response";
    case DownstreamError::kRequestRejected: return "request_rejected";
    case DownstreamError::kHeaderTimeout: return "header_timeout";
    case DownstreamError::kCount: break;
  }
  return "unknown";
}

std::string_view error_type_name(ErrorType t, uint16_t status, char (&buf)[8]) {
  const uint8_t v = uint8_t(t);
  if (t == ErrorType::kNone || t >= ErrorType::kCount) return {};
  if (t <= ErrorType::kTlsHandshakeFailed) return upstream_error_name(UpstreamError(v));
  if (t <= ErrorType::kHeaderTimeout) {
    return downstream_error_name(DownstreamError(v - uint8_t(ErrorType::kTlsHandshakeFailed)));
  }
  if (t == ErrorType::kStatusCode) {
    const int n = snprintf(buf, sizeof buf, "%u", unsigned(status));
    if (n > 0 && size_t(n) < sizeof buf) return std::string_view(buf, size_t(n));
  }
  return "_OTHER";
}

}  // namespace sidemeter::metrics
