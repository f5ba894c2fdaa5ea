#pragma once
// Every way the parser refuses a message, with the status the proxy answers and the
// reason string that labels the rejection counter.
#include <cstdint>

namespace sidemeter::http {

enum class ParseError : uint8_t {
  kNone,
  kMalformed,              // 400 generic syntax error
  kInvalidMethod,          // 400
  kInvalidTarget,          // 400
  kInvalidVersion,         // 400 (505 not used: we answer 400 per RFC 9112 leniency)
  kRequestLineTooLong,     // 414
  kHeadersTooLarge,        // 431
  kTooManyHeaders,         // 431
  kInvalidHeaderName,      // 400 (non-token bytes)
  kInvalidHeaderValue,     // 400 (CTLs, bare CR/LF, NUL)
  kWhitespaceBeforeColon,  // 400
  kObsFold,                // 400
  kMissingHost,            // 400 (HTTP/1.1)
  kMultipleHost,           // 400
  kInvalidHost,            // 400
  kContentLengthAndTransferEncoding,  // 400
  kInvalidContentLength,   // 400 (non-digits, sign, overflow, conflicting duplicates)
  kUnknownTransferEncoding,           // 501
  kTransferEncodingNotChunkedLast,    // 400 request / 502 response
  kTransferEncodingInHttp10,          // 400
  kInvalidChunk,           // 400 (size, extension, CRLF)
  kBodyTooLarge,           // 413
  kInvalidStatus,          // response only → 502
  kUnexpectedData,         // bytes after a message that may not be followed
  kConnectNotAllowed,      // 405 (with Allow, RFC 9110 §15.5.6)
  kChunkExtensionsTooLong, // 400 (over ChunkLineScanner::kMaxExtensionBytes on one line)
  kInvalidMaxForwards,     // 400 (OPTIONS/TRACE whose Max-Forwards is not one 1*DIGIT)
  kCount
};

struct ParseErrorInfo {
  uint16_t status;     // what a request error is answered with
  const char* reason;  // snake_case counter label, e.g. "cl_and_te"
};

ParseErrorInfo parse_error_info(ParseError e);

}  // namespace sidemeter::http
