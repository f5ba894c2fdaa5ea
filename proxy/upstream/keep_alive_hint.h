#pragma once
// The upstream's "Keep-Alive: timeout=N, max=M" response field: how many seconds it
// keeps an idle connection open. Born with HTTP/1.0 keep-alive (RFC 2068 §19.7.1.1; RFC
// 9112 Appendix C.2.2 keeps the mechanism for 1.0 peers) and sent today by Apache, Node.js
// (timeout=5 by default) and others. A connection reused after the upstream's timer ran
// out meets a close racing the request: a request with a body then fails (it is never
// retried). So a pooled connection retires a margin before the hint expires.
#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/http1/field_rules.h"
#include "proxy/http1/message.h"

namespace sidemeter::upstream {

// Seconds in the hint, capped (a day) so the arithmetic below cannot overflow.
inline constexpr uint64_t kMaxKeepAliveHintS = 86'400;

// The timeout parameter of `value` (a Keep-Alive field value: a comma list of name=value
// parameters, names case-insensitive, the value digits, optionally quoted). nullopt when
// there is none or it is malformed (then the hint is ignored: the idle timeout applies).
inline std::optional<uint64_t> keep_alive_timeout_s(std::string_view value) {
  http::rules::ListIterator it(value);
  std::string_view element;
  while (it.next(element)) {
    const size_t eq = element.find('=');
    if (eq == std::string_view::npos) continue;
    if (!http::rules::iequals_lower(http::rules::trim_ows(element.substr(0, eq)), "timeout"))
      continue;
    std::string_view v = http::rules::trim_ows(element.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (v.empty() || v.size() > 12) return std::nullopt;
    uint64_t n = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + uint64_t(c - '0');
    }
    return n < kMaxKeepAliveHintS ? n : kMaxKeepAliveHintS;
  }
  return std::nullopt;
}

// The hint of a response head (the first Keep-Alive field that has one).
inline std::optional<uint64_t> keep_alive_timeout_s(const http::MessageHead& head) {
  for (const http::HeaderField& f : head.fields) {
    if (f.name.size() == 10 && http::rules::iequals_lower(f.name, "keep-alive")) {
      if (std::optional<uint64_t> t = keep_alive_timeout_s(f.value)) return t;
    }
  }
  return std::nullopt;
}

// How long a connection may stay in the pool under a hint of `timeout_s`: the hint less
// a margin of 1 s or 10 %, whichever is larger (the upstream's clock started when it
// sent the response, a little before we became idle; 1 s is what Node.js's own agent
// keeps). 0 means "do not pool it at all" (a hint of 1 s or less).
inline uint64_t pooled_idle_limit_ms(uint64_t timeout_s) {
  const uint64_t hint_ms = timeout_s * 1000;
  const uint64_t margin_ms = hint_ms / 10 > 1000 ? hint_ms / 10 : 1000;
  return hint_ms > margin_ms ? hint_ms - margin_ms : 0;
}

}  // namespace sidemeter::upstream
