#pragma once
// Differential oracle for message heads: the production parser (our RFC 9112 scanner
// alone reads heads, proxy/http1/parser.cc) against strict llhttp 8.1 run on the same
// bytes. It replaces the token-by-token cross-check the parser used to run on every
// head: the same comparison, out of the production path (head_differential_fuzzer, and
// over the unit-test corpus in tests/proxy/http1/head_oracle_test.cc).
//
// compare_head(bytes) parses the first message head in `bytes` with both. When ours
// accepts it (on_head ran), llhttp must accept the same bytes as a head ending at the same
// byte and read the same tokens: HTTP version, method, target, status code, reason,
// every field name and value (llhttp keeps trailing OWS in a value: trimmed here), and
// the same framing facts (Transfer-Encoding: chunked, Content-Length and its value).
// Returns what differs, or an empty string.
//
// Documented exceptions (not differences):
//  - our stricter refusals: a head ours refuses is not compared (llhttp 8.1 is lenient
//    where smuggling vectors were closed later; parser_reject_test lists them);
//  - methods llhttp 8.1 does not know (its list is fixed; RFC 9110 §9.1 methods are any
//    token): llhttp reads "GET" in the method's place, the rest from the same bytes;
//  - keep-alive and upgrade: connection management, not the message's bytes (llhttp
//    also reads Proxy-Connection as Connection; we drop it as hop-by-hop);
//  - chunk extensions: bodies are not compared (chunked_fuzzer checks the chunked
//    coding against the RFC 9112 grammar).
#include <llhttp.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http1/field_rules.h"
#include "proxy/http1/field_token.h"
#include "proxy/http1/parser.h"

namespace sidemeter::fuzz {

namespace head_oracle_detail {

struct OursHead {
  bool seen = false;
  std::string method, target, reason;
  uint16_t status = 0;
  uint8_t minor = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  bool has_cl = false;
  uint64_t cl = 0;
  bool chunked = false;
  uint64_t wire_bytes = 0;
  bool tokens_right = true;  // every field carried lookup_field_token(its name)

  bool operator==(const OursHead&) const = default;
};

class OursSink : public http::MessageSink {
 public:
  OursHead head;
  http::SinkAction on_head(const http::MessageHead& h) override {
    head.seen = true;
    head.method = h.method_text;
    head.target = h.target;
    head.reason = h.reason;
    head.status = h.status;
    head.minor = h.version_minor;
    for (const auto& f : h.fields) {
      head.fields.emplace_back(f.name, f.value);
      if (f.token != http::lookup_field_token(f.name)) head.tokens_right = false;
      // Ours accepts a Transfer-Encoding only as one final "chunked".
      if (http::rules::iequals(f.name, "transfer-encoding")) head.chunked = true;
    }
    head.has_cl = h.has_content_length;
    head.cl = h.content_length;
    head.wire_bytes = h.wire_bytes;
    return http::SinkAction::kPause;
  }
  http::SinkAction on_body(std::string_view) override { return http::SinkAction::kPause; }
  http::SinkAction on_message_complete() override { return http::SinkAction::kPause; }
};

struct LlHead {
  std::string method, url, status_text;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string name, value;
  bool complete = false;
};

inline LlHead& ll_of(llhttp_t* p) { return *static_cast<LlHead*>(p->data); }

inline const llhttp_settings_t* ll_settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t x;
    llhttp_settings_init(&x);
    x.on_method = [](llhttp_t* p, const char* at, size_t n) {
      ll_of(p).method.append(at, n);
      return 0;
    };
    x.on_url = [](llhttp_t* p, const char* at, size_t n) {
      ll_of(p).url.append(at, n);
      return 0;
    };
    x.on_status = [](llhttp_t* p, const char* at, size_t n) {
      ll_of(p).status_text.append(at, n);
      return 0;
    };
    x.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      ll_of(p).name.append(at, n);
      return 0;
    };
    x.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      ll_of(p).value.append(at, n);
      return 0;
    };
    x.on_header_value_complete = [](llhttp_t* p) {
      LlHead& h = ll_of(p);
      while (!h.value.empty() && http::rules::is_ows(h.value.back())) h.value.pop_back();
      h.fields.emplace_back(std::move(h.name), std::move(h.value));
      h.name.clear();
      h.value.clear();
      return 0;
    };
    x.on_headers_complete = [](llhttp_t* p) {
      ll_of(p).complete = true;
      return static_cast<int>(HPE_PAUSED);  // the head is all we compare
    };
    return x;
  }();
  return &s;
}

inline bool llhttp_knows_method(std::string_view m) {
  static constexpr std::string_view kKnown[] = {
#define SIDEMETER_ORACLE_METHOD(num, name, string) #string,
      HTTP_METHOD_MAP(SIDEMETER_ORACLE_METHOD)
#undef SIDEMETER_ORACLE_METHOD
  };
  for (std::string_view k : kKnown) {
    if (k == m) return true;
  }
  return false;
}

inline std::string show(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 15];
      out += kHex[static_cast<unsigned char>(c) & 15];
    } else {
      out += c;
    }
  }
  return out;
}

// Ours on `bytes` one byte per feed: every line is then completed in the parser's own
// buffer (the general path), where a whole feed takes the field-line fast path.
inline http::ParseError ours_byte_by_byte(http::MessageKind kind, const http::ParserLimits& limits,
                                         std::string_view bytes, OursHead& head) {
  OursSink sink;
  http::Parser p(kind, limits, sink);
  for (size_t i = 0; i < bytes.size() && !sink.head.seen; ++i) {
    if (p.feed(bytes.substr(i, 1)).status == http::FeedStatus::kError) break;
  }
  head = sink.head;
  return p.error();
}

}  // namespace head_oracle_detail

// `compared` (optional) tells whether ours accepted a head, so the two were compared.
// Before llhttp, ours is checked against itself: the same bytes fed whole and byte by
// byte must give the same head or the same refusal, and every field the token of its name.
inline std::string compare_head(std::string_view bytes, bool* compared = nullptr) {
  namespace d = head_oracle_detail;
  size_t leading = 0;  // empty lines ours skips before the start line (llhttp too)
  while (bytes.substr(leading, 2) == "\r\n") leading += 2;
  const bool response = bytes.substr(leading, 5) == "HTTP/";
  const http::MessageKind kind =
      response ? http::MessageKind::kResponse : http::MessageKind::kRequest;

  d::OursSink sink;
  http::ParserLimits limits;
  limits.max_start_line_bytes = 1 << 20;
  limits.max_head_bytes = 1 << 20;
  limits.max_fields = 10000;
  http::Parser ours(kind, limits, sink);
  ours.feed(bytes);
  {
    d::OursHead split;
    const http::ParseError split_error = d::ours_byte_by_byte(kind, limits, bytes, split);
    const std::string what = " (bytes '" + d::show(bytes.substr(0, 400)) + "')";
    if (split.seen != sink.head.seen || (split.seen && !(split == sink.head))) {
      return "ours reads the head differently fed byte by byte" + what;
    }
    if (!split.seen && split_error != ours.error()) {
      return std::string("ours refuses differently fed byte by byte: ") +
             http::parse_error_info(ours.error()).reason + " whole, " +
             http::parse_error_info(split_error).reason + " split" + what;
    }
    if (!sink.head.tokens_right) return "a field carries another name's token" + what;
  }
  if (compared != nullptr) *compared = sink.head.seen;
  if (!sink.head.seen) return {};  // refused (ours is the stricter) or incomplete
  const d::OursHead& h = sink.head;

  // llhttp reads the same head bytes, a known method in place of one it does not know.
  const bool stand_in = !response && !d::llhttp_knows_method(h.method);
  std::string input;
  if (stand_in) {
    input.append(bytes.substr(0, leading));
    input.append("GET");
    input.append(bytes.substr(leading + h.method.size(), h.wire_bytes - leading - h.method.size()));
  } else {
    input.append(bytes.substr(0, h.wire_bytes));
  }
  d::LlHead ll;
  llhttp_t p;
  llhttp_init(&p, response ? HTTP_RESPONSE : HTTP_REQUEST, d::ll_settings());
  p.data = &ll;
  const llhttp_errno_t e = llhttp_execute(&p, input.data(), input.size());
  const std::string what = " (head '" + d::show(bytes.substr(0, h.wire_bytes)) + "')";
  if (e != HPE_PAUSED || !ll.complete) {
    const char* reason = llhttp_get_error_reason(&p);
    return "llhttp refuses or does not end a head ours accepted: " +
           std::string(llhttp_errno_name(e)) + " " + (reason != nullptr ? reason : "") + what;
  }
  if (llhttp_get_error_pos(&p) != input.data() + input.size()) {
    return "the head ends at another byte for llhttp" + what;
  }
  if (llhttp_get_http_major(&p) != 1 || llhttp_get_http_minor(&p) != h.minor) {
    return "HTTP version differs" + what;
  }
  if (response) {
    if (llhttp_get_status_code(&p) != h.status) return "status code differs" + what;
    if (ll.status_text != h.reason) {
      return "reason differs: llhttp '" + d::show(ll.status_text) + "'" + what;
    }
  } else {
    if (stand_in ? llhttp_get_method(&p) != HTTP_GET : ll.method != h.method) {
      return "method differs: llhttp '" + d::show(ll.method) + "'" + what;
    }
    if (ll.url != h.target) return "target differs: llhttp '" + d::show(ll.url) + "'" + what;
  }
  if (ll.fields != h.fields) {
    return "fields differ: llhttp read " + std::to_string(ll.fields.size()) + ", ours " +
           std::to_string(h.fields.size()) + what;
  }
  const bool ll_chunked = (p.flags & F_CHUNKED) != 0;
  const bool ll_cl = (p.flags & F_CONTENT_LENGTH) != 0;
  if (ll_chunked != h.chunked) return "chunked differs" + what;
  if (ll_cl != h.has_cl || (ll_cl && p.content_length != h.cl)) {
    return "Content-Length differs" + what;
  }
  return {};
}

}  // namespace sidemeter::fuzz
