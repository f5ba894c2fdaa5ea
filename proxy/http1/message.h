#pragma once
// Parsed HTTP/1.x message heads. Views point into the Parser's own head storage and stay
// valid until the parser's next reset(); no libuv types here.
#include <cstdint>
#include <string_view>
#include <vector>

#include "proxy/http1/field_token.h"

namespace sidemeter::http {

// http1/ sits below metrics/ and must not include it, so the parser has its own method
// enum; proxy/exchange/exchange_method.h maps it onto metrics::Method where a sample is filled.
enum class Method : uint8_t {
  kGet, kHead, kPost, kPut, kDelete, kConnect, kOptions, kTrace, kPatch, kOther
};

// A HeaderField whose token nobody has looked up yet (a head built by hand, e.g. a test's).
inline constexpr FieldToken kFieldTokenUnknown = FieldToken::kCount;

struct HeaderField {
  std::string_view name;   // as received (case preserved)
  std::string_view value;  // OWS trimmed
  // lookup_field_token(name), set once by the parser as it reads the name; heads built
  // elsewhere may leave it kFieldTokenUnknown. Read it through field_token_of().
  FieldToken token = kFieldTokenUnknown;
};

// The field's token: the parser's, or looked up now when nobody set it.
inline FieldToken field_token_of(const HeaderField& f) {
  return f.token != kFieldTokenUnknown ? f.token : lookup_field_token(f.name);
}

enum class BodyFraming : uint8_t {
  kNone,           // no body (GET without CL, HEAD response, 1xx/204/304, CL: 0)
  kContentLength,  // exactly content_length bytes
  kChunked,        // chunked transfer coding (final coding)
  kUntilClose,     // response delimited by connection close
};

struct MessageHead {
  // Request line (requests only).
  Method method = Method::kOther;
  std::string_view method_text;  // as received, e.g. "PROPFIND"
  std::string_view target;       // request-target as received
  std::string_view path;         // target's path without query ("/a/b")
  // Status line (responses only).
  uint16_t status = 0;
  std::string_view reason;

  uint8_t version_minor = 1;  // HTTP/1.<minor>; major is always 1
  std::vector<HeaderField> fields;  // every field in order, hop-by-hop included

  BodyFraming framing = BodyFraming::kNone;
  // The Content-Length field's value when has_content_length, whatever the framing (a
  // HEAD or 304 response declares the length of a body it does not carry).
  uint64_t content_length = 0;
  bool has_content_length = false;

  // Derived per RFC 9112 §9.3 / RFC 9110 §7.6.1.
  bool keep_alive = true;        // version + Connection: close / keep-alive
  bool upgrade = false;          // Connection: upgrade + Upgrade present
  bool expect_continue = false;  // Expect: 100-continue (requests)
  std::string_view host;         // the single Host value (requests)

  // Wire size of the head: start line through the empty line, plus any empty lines
  // skipped before the start line (so head + body wire bytes = bytes consumed).
  uint64_t wire_bytes = 0;
};

}  // namespace sidemeter::http
