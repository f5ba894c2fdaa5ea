#pragma once
// Responses the proxy makes itself: errors (400, 405, 408, 413, 414, 431, 501, 502, 503,
// 504) and the answers it owes as the final recipient of an OPTIONS or TRACE whose
// Max-Forwards is 0 (RFC 9110 §7.6.2). They carry Date (§6.6.1) and never Via: no
// message was forwarded.
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http1/message.h"

namespace sidemeter::http {

// What the proxy forwards, for Allow (RFC 9110 §10.2.1): every method but CONNECT. Token
// methods outside this list are forwarded too (§9.1), but Allow can only list names.
inline constexpr std::string_view kForwardedMethods =
    "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH";

enum class LocalBody : uint8_t {
  kText,     // text/plain "<reason-phrase>: <detail>\n" ("<reason-phrase>\n" without detail)
  kEmpty,    // no content, Content-Length: 0 (OPTIONS)
  kMessage,  // message/http: the request head as received, sensitive fields left out (TRACE)
};

struct LocalResponse {
  uint16_t status = 500;
  std::string_view detail;           // kText
  LocalBody body = LocalBody::kText;
  bool allow = false;                // Allow: kForwardedMethods (a 405 always has it: §15.5.6)
  const MessageHead* request = nullptr;  // kMessage: the request to reflect
};

// Appends the whole response: status line, Date (`date`, an IMF-fixdate), the content's
// fields, "Connection: close" when `close`, the content.
void append_local_response(const LocalResponse& r, bool close, std::string_view date,
                           std::string& out);

// A request field a TRACE reflection leaves out (RFC 9110 §9.3.8: the final recipient
// SHOULD exclude fields likely to hold sensitive data): credentials and cookies, and any
// field whose name says it carries one (…auth…, …token…, …secret…, …key…, …session…,
// …password…, …cookie…, …credential…, case-insensitive).
bool is_sensitive_field(std::string_view name);

}  // namespace sidemeter::http
