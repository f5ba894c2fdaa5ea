// HTTP/1.x parser: llhttp adapter + our RFC 9112 rules.
//
// llhttp (Debian's 8.1, built with LLHTTP_STRICT_MODE=1, every lenient flag off) is the
// state machine: it tokenises start line and fields, decides the body framing, walks
// Content-Length, chunked (size, extensions, CRLF after data) and close-delimited bodies,
// and hands us the decoded body spans. 8.1 is lenient where later releases closed
// smuggling vectors, so the rules in field_rules.* run on top:
//
//  * Head. Complete lines are validated by our rules where they lie in the caller's
//    buffer (one SSE2 pass per line finds its end and proves its bytes field-vchar, so
//    values are not scanned again), limits checked first, and each feed's head bytes are
//    then copied into `head_buf` in one append (the caller reuses its buffer); a line cut
//    by the end of a feed is completed and validated in `head_buf` instead. llhttp is
//    fed the copy, only lines our rules accepted, once per feed. So what strict 8.1
//    still accepts never gets past us: bare LF line ends (start line, final empty line,
//    leading empty lines), obs-fold, an empty field name, '#' in the target, a double SP
//    in the request line, HTTP/0.9 "GET /" and HTTP/2.0 or 0.9 versions, status codes
//    outside 100-599 or with 2 digits, CTLs in the reason phrase, Transfer-Encoding in
//    HTTP/1.0, "_" look-alikes of the framing fields, Host rules. At the head end llhttp's
//    tokens (method, target, version, status, reason, every name and value) must equal
//    the ones our rules derived from the same bytes (fields compared as llhttp finishes
//    each, refused at the head end), and its framing (CL value, chunked,
//    until-close) must equal ours: any disagreement is two parsers reading one message
//    differently, which is exactly a smuggling signal, so it is refused.
//  * Error reasons. Our rules decide first, so the reason is ours wherever both refuse.
//    Where only llhttp refuses, its error is mapped: on the start line at once, on a
//    field line at the head end (a head-level rule such as CL+TE may explain it better).
//  * Chunks. Strict llhttp checks size syntax, extension syntax and CRLF after data.
//    On top, in its callbacks: size <= INT64_MAX and the body limit (on_chunk_header),
//    no empty extension name or value (";;a", "a=b;", "a=", accepted by 8.1), no token
//    value run on into a quoted string ("a=x\"\""), no DEL in a quoted one, at most
//    kMaxChunkExtBytes of extensions per chunk. The raw size line is not exposed, so
//    leading zeros are bounded only by llhttp's overflow check (no buffering, just CPU
//    per byte).
//  * Trailers. After the last chunk the trailer lines are copied and validated like head
//    lines (8.1 accepts obs-fold, bare LF on the final line, empty names and framing
//    fields there), then fed to llhttp, which ends the message.
//
// Behaviour llhttp 8.1 imposes (stricter than RFC 9112; we keep the safer refusal):
// methods outside its fixed list (RFC 9110 methods, WebDAV, PURGE, M-SEARCH, ...)
// including lower-case "get" are refused with invalid_method, since llhttp has no mode
// for arbitrary token methods and feeding it a placeholder would mean parsing the
// request line twice with different rules; identical duplicate Content-Length ("3, 3" or
// two fields) is refused as bad_content_length; chunk extensions with BWS around ';' or
// '=', a quoted-pair in a quoted value, or another extension after a token value
// ("a=b;c") are refused as bad_chunk.
//
// Pausing: callbacks return HPE_PAUSED (after each message, when the sink pauses, and
// at the last chunk to switch to trailer validation); consumed counts come from
// llhttp_get_error_pos. A bodiless message or a Content-Length body that ends in the
// paused callback still completes in the same feed().
#include "proxy/http1/parser.h"

#include <llhttp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "proxy/http1/field_rules.h"

namespace sidemeter::http {

namespace {

namespace r = rules;

// Extensions are dropped when forwarding, so a long one can only be an attempt to burn
// CPU; the old own-parser bound (4 KiB per chunk line) applied to what llhttp exposes.
constexpr uint32_t kMaxChunkExtBytes = 4096;
constexpr uint64_t kMaxChunkSize = static_cast<uint64_t>(INT64_MAX);

struct Span {
  uint32_t off = 0;
  uint32_t len = 0;
};
struct FieldSpan {
  Span name;
  Span value;
};

// kStartLine/kFields: head lines (our scanner, then llhttp). kBody: llhttp on the
// caller's bytes. kTrailers: our scanner, then llhttp.
enum class State : uint8_t {
  kStartLine,
  kFields,
  kBody,
  kTrailers,
  kDone,
  kError,
};

Method method_from_text(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::kGet;
      if (m == "PUT") return Method::kPut;
      break;
    case 4:
      if (m == "HEAD") return Method::kHead;
      if (m == "POST") return Method::kPost;
      break;
    case 5:
      if (m == "TRACE") return Method::kTrace;
      if (m == "PATCH") return Method::kPatch;
      break;
    case 6:
      if (m == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (m == "CONNECT") return Method::kConnect;
      if (m == "OPTIONS") return Method::kOptions;
      break;
    default:
      break;
  }
  return Method::kOther;
}

// field-line = field-name ":" OWS field-value OWS, validated byte by byte. Offsets are
// relative to `line`, which excludes the CRLF but must be followed by its CR (both
// callers checked it): the CR is not a tchar, so the name scan needs no bounds check.
// `clean`: r::scan_line already proved every byte of the line field-vchar, so the value
// needs no second look.
// Inlined: it runs once per field line, and the call's spills cost more than its body.
[[gnu::always_inline]] inline ParseError parse_field_line(std::string_view line, bool first_field,
                                                          bool clean, size_t& name_len,
                                                          size_t& value_off, size_t& value_len) {
  if (r::is_ows(line[0])) {
    // A continuation line (obs-fold) or whitespace right after the start line, which
    // RFC 9112 §2.2 lets a recipient reject; both are classic smuggling material.
    return first_field ? ParseError::kMalformed : ParseError::kObsFold;
  }
  size_t i = 0;
  // Stops at the CR at the latest.
  while (r::is_tchar(line.data()[i])) ++i;
  if (i == line.size()) return ParseError::kMalformed;  // no colon at all
  if (line[i] != ':') {
    if (i > 0 && r::is_ows(line[i])) {
      size_t j = i;
      while (j < line.size() && r::is_ows(line[j])) ++j;
      if (j < line.size() && line[j] == ':') return ParseError::kWhitespaceBeforeColon;
    }
    return ParseError::kInvalidHeaderName;
  }
  if (i == 0) return ParseError::kInvalidHeaderName;
  name_len = i;
  const std::string_view raw_value = line.substr(i + 1);
  if (!clean && !r::is_field_value(raw_value)) return ParseError::kInvalidHeaderValue;
  size_t b = 0;
  size_t e = raw_value.size();
  while (b < e && r::is_ows(raw_value[b])) ++b;
  while (e > b && r::is_ows(raw_value[e - 1])) --e;
  value_off = i + 1 + b;
  value_len = e - b;
  return ParseError::kNone;
}

// The reason for a head llhttp refused although our rules accepted every line so far.
ParseError from_llhttp_head_error(llhttp_errno_t e, MessageKind kind, bool in_start_line) {
  if (in_start_line) {
    switch (e) {
      case HPE_INVALID_URL:
        return ParseError::kInvalidTarget;
      case HPE_INVALID_VERSION:
        return ParseError::kInvalidVersion;
      case HPE_INVALID_STATUS:
        return ParseError::kInvalidStatus;
      default:  // unknown method, RTSP method with HTTP version, PRI (h2 preface)
        return kind == MessageKind::kRequest ? ParseError::kInvalidMethod
                                             : ParseError::kInvalidVersion;
    }
  }
  switch (e) {
    case HPE_UNEXPECTED_CONTENT_LENGTH:  // 8.1: any duplicate Content-Length
    case HPE_INVALID_CONTENT_LENGTH:     // 8.1: a list, even "3, 3"
      return ParseError::kInvalidContentLength;
    case HPE_INVALID_TRANSFER_ENCODING:
      return ParseError::kTransferEncodingNotChunkedLast;
    default:
      return ParseError::kMalformed;
  }
}

uint32_t offset_in(const std::string& buf, const char* at) {
  return static_cast<uint32_t>(at - buf.data());
}

// Extends a span with the next piece llhttp reports (a span may come in pieces).
void extend(Span& s, uint32_t off, size_t len) {
  if (s.len == 0) s.off = off;
  s.len = static_cast<uint32_t>(off + len - s.off);
}

bool same(Span a, Span b) { return a.len == b.len && (a.len == 0 || a.off == b.off); }

constexpr std::string_view kRootPath = "/";

}  // namespace

struct Parser::Impl {
  Impl(MessageKind k, const ParserLimits& l, MessageSink& s) : kind(k), limits(l), sink(s) {
    // Sized for a typical API request/response head; a bigger one grows these once per
    // connection. Every idle keep-alive connection holds them, so they stay small
    // (the 10k-idle-connection benchmark counts them).
    head_buf.reserve(std::min<size_t>(limits.max_head_bytes, 1024));
    const size_t fields = std::min<size_t>(limits.max_fields, 24);
    spans.reserve(fields);
    head.fields.reserve(fields);
    llhttp_init(&ll, kind == MessageKind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, settings());
    ll.data = this;
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  FeedResult feed(std::string_view data);
  FeedResult finish();
  void reset();

  FeedResult fail(ParseError e, size_t consumed) {
    error = e;
    state = State::kError;
    return {FeedStatus::kError, consumed};
  }
  void complete() {
    state = State::kDone;
    sink.on_message_complete();  // we pause after every message whatever it answers
  }

  // Our rules over the copied head.
  size_t consume_head(const char* p, size_t n, bool& head_ready);
  bool check_head_limits(const char* line, size_t size, bool has_nl, size_t unbuffered);
  ParseError process_head_line(const char* data, size_t size, uint32_t base, bool clean,
                               bool& head_ready);
  ParseError parse_request_line(std::string_view line, uint32_t base);
  ParseError parse_status_line(std::string_view line, uint32_t base);
  ParseError finish_head();
  ParseError check_transfer_encoding() const;
  size_t consume_trailer_line(const char* p, size_t n, bool& line_done, ParseError& err);

  // llhttp callbacks (llhttp_t::data is this Impl).
  static const llhttp_settings_t* settings();
  static Impl& impl_of(llhttp_t* p) { return *static_cast<Impl*>(p->data); }
  static int cb_method(llhttp_t* p, const char* at, size_t len);
  static int cb_url(llhttp_t* p, const char* at, size_t len);
  static int cb_status(llhttp_t* p, const char* at, size_t len);
  static int cb_header_field(llhttp_t* p, const char* at, size_t len);
  static int cb_header_value(llhttp_t* p, const char* at, size_t len);
  static int cb_header_value_complete(llhttp_t* p);
  static int cb_headers_complete(llhttp_t* p);
  static int cb_body(llhttp_t* p, const char* at, size_t len);
  static int cb_chunk_header(llhttp_t* p);
  static int cb_chunk_extension(llhttp_t* p, const char* at, size_t len);
  static int cb_chunk_extension_name(llhttp_t* p, const char* at, size_t len);
  static int cb_chunk_extension_name_complete(llhttp_t* p);
  static int cb_chunk_extension_value(llhttp_t* p, const char* at, size_t len);
  static int cb_chunk_extension_value_complete(llhttp_t* p);
  static int cb_message_complete(llhttp_t* p);
  // llhttp glue.
  ParseError run_llhttp_on_head(bool head_ready);
  bool llhttp_agrees_on_tokens();
  bool llhttp_agrees_on_framing() const;
  int on_headers_complete();
  int on_body(const char* at, size_t len);
  int on_chunk_header();
  int fail_in_callback(ParseError e) {
    cb_error = e;
    return HPE_USER;
  }

  std::string_view view(Span s) const { return {head_buf.data() + s.off, s.len}; }

  const MessageKind kind;
  ParserLimits limits;
  MessageSink& sink;
  llhttp_t ll{};

  State state = State::kStartLine;
  ParseError error = ParseError::kNone;
  Method request_method = Method::kGet;  // responses: what the matching request was
  bool pause_requested = false;
  bool head_done = false;

  // Head: raw bytes of start line + fields; offsets until the head is complete.
  std::string head_buf;
  size_t line_start = 0;
  uint32_t start_line_end = 0;     // offset just past the start line's CRLF
  uint64_t leading_bytes = 0;      // empty lines before the start line (RFC 9112 §2.2)
  Span start_a, start_b, start_c;  // method/target/version, or status code/reason
  Span path;
  bool path_is_root = false;  // absolute-form without a path: path is "/"
  Span authority;             // absolute-form authority (len 0 when origin-form)
  std::vector<FieldSpan> spans;
  MessageHead head;

  // llhttp's view, for the cross-check and for pausing.
  size_t ll_fed = 0;                        // head_buf bytes handed to llhttp
  ParseError ll_error = ParseError::kNone;  // llhttp refused a field line we accepted
  ParseError cb_error = ParseError::kNone;  // a callback of ours stopped llhttp
  Span ll_method, ll_url, ll_status;
  FieldSpan ll_field;             // the field llhttp is reading
  uint32_t ll_field_count = 0;    // fields llhttp finished
  bool ll_fields_differ = false;  // some finished field differs from spans[i]
  bool ll_head_seen = false;      // on_headers_complete ran
  bool ll_message_done = false;   // on_message_complete ran
  bool ll_last_chunk = false;     // on_chunk_header saw size 0: trailers follow

  // Body.
  const char* exec_begin = nullptr;  // start of the bytes given to the running execute
  const char* exec_end = nullptr;    // and their end
  uint64_t exec_wire_base = 0;
  uint64_t body_wire = 0;
  uint64_t body_decoded = 0;
  uint32_t chunk_ext_bytes = 0;
  uint32_t ext_name_bytes = 0;
  uint32_t ext_value_bytes = 0;
  bool ext_value_token = false;  // the value being read is a token, not a quoted string
  std::string trailer_line;
  uint64_t trailer_bytes = 0;
  uint32_t trailer_count = 0;
};

// Head token callbacks: offsets into head_buf, which llhttp is reading from.
int Parser::Impl::cb_method(llhttp_t* p, const char* at, size_t len) {
  auto& m = impl_of(p);
  extend(m.ll_method, offset_in(m.head_buf, at), len);
  return 0;
}
int Parser::Impl::cb_url(llhttp_t* p, const char* at, size_t len) {
  auto& m = impl_of(p);
  extend(m.ll_url, offset_in(m.head_buf, at), len);
  return 0;
}
int Parser::Impl::cb_status(llhttp_t* p, const char* at, size_t len) {
  auto& m = impl_of(p);
  extend(m.ll_status, offset_in(m.head_buf, at), len);
  return 0;
}
int Parser::Impl::cb_header_field(llhttp_t* p, const char* at, size_t len) {
  auto& m = impl_of(p);
  if (m.state == State::kTrailers) return 0;  // validated by our trailer rules
  extend(m.ll_field.name, offset_in(m.head_buf, at), len);
  return 0;
}
int Parser::Impl::cb_header_value(llhttp_t* p, const char* at, size_t len) {
  auto& m = impl_of(p);
  if (m.state == State::kTrailers) return 0;
  extend(m.ll_field.value, offset_in(m.head_buf, at), len);
  return 0;
}
int Parser::Impl::cb_header_value_complete(llhttp_t* p) {
  // Compared as each field ends (our rules passed its line before llhttp saw it, so
  // spans[i] exists); a difference is refused at the head end, like the other checks.
  auto& m = impl_of(p);
  if (m.state == State::kTrailers) return 0;
  const uint32_t i = m.ll_field_count++;
  Span v = m.ll_field.value;  // llhttp keeps trailing OWS in the value
  while (v.len > 0 && r::is_ows(m.head_buf[v.off + v.len - 1])) --v.len;
  if (i >= m.spans.size() || !same(m.ll_field.name, m.spans[i].name) ||
      !same(v, m.spans[i].value)) {
    m.ll_fields_differ = true;
  }
  m.ll_field = FieldSpan{};
  return 0;
}
int Parser::Impl::cb_headers_complete(llhttp_t* p) { return impl_of(p).on_headers_complete(); }
int Parser::Impl::cb_body(llhttp_t* p, const char* at, size_t len) {
  return impl_of(p).on_body(at, len);
}
int Parser::Impl::cb_chunk_header(llhttp_t* p) { return impl_of(p).on_chunk_header(); }
int Parser::Impl::cb_chunk_extension(llhttp_t* p, const char* /*at*/, size_t len) {
  auto& m = impl_of(p);
  m.chunk_ext_bytes += static_cast<uint32_t>(std::min<size_t>(len, kMaxChunkExtBytes + 1));
  return m.chunk_ext_bytes > kMaxChunkExtBytes ? m.fail_in_callback(ParseError::kInvalidChunk) : 0;
}
int Parser::Impl::cb_chunk_extension_name(llhttp_t* p, const char* at, size_t len) {
  impl_of(p).ext_name_bytes += static_cast<uint32_t>(std::min<size_t>(len, 1));
  return cb_chunk_extension(p, at, len);
}
int Parser::Impl::cb_chunk_extension_name_complete(llhttp_t* p) {
  // An empty name (";;a", ";=b"): 8.1 reports it instead of refusing it (found by
  // tests/fuzz/chunked_fuzzer; chunk-ext-name is a token, RFC 9112 §7.1.1).
  auto& m = impl_of(p);
  const bool empty = m.ext_name_bytes == 0;
  m.ext_name_bytes = 0;
  return empty ? m.fail_in_callback(ParseError::kInvalidChunk) : 0;
}
int Parser::Impl::cb_chunk_extension_value(llhttp_t* p, const char* at, size_t len) {
  auto& m = impl_of(p);
  if (m.ext_value_bytes == 0 && len > 0) m.ext_value_token = at[0] != '"';
  m.ext_value_bytes += static_cast<uint32_t>(std::min<size_t>(len, 1));
  // A token value (found by tests/fuzz/chunked_fuzzer): 8.1 lets a quoted string follow
  // it ("a=x\"\""), and after a ';' that ends it takes a CRLF ("a=b;", an empty name) and
  // refuses the rest ("a=b;c"), so neither is ever valid. The byte after the span is only
  // ours to read when the span ended inside this execute's bytes.
  if (m.ext_value_token && (std::memchr(at, '"', len) != nullptr ||
                            (at + len < m.exec_end && at[len] == ';'))) {
    return m.fail_in_callback(ParseError::kInvalidChunk);
  }
  // A quoted value: 8.1 lets DEL through; qdtext and quoted-pair allow no CTL but HTAB.
  if (!m.ext_value_token) {
    for (size_t i = 0; i < len; ++i) {
      const auto c = static_cast<unsigned char>(at[i]);
      if ((c < 0x20 && c != '\t') || c == 0x7f) return m.fail_in_callback(ParseError::kInvalidChunk);
    }
  }
  return cb_chunk_extension(p, at, len);
}
int Parser::Impl::cb_chunk_extension_value_complete(llhttp_t* p) {
  // "a=" with nothing after '=': 8.1 reports an empty value instead of refusing it.
  auto& m = impl_of(p);
  const bool empty = m.ext_value_bytes == 0;
  m.ext_value_bytes = 0;
  m.ext_value_token = false;
  return empty ? m.fail_in_callback(ParseError::kInvalidChunk) : 0;
}
int Parser::Impl::cb_message_complete(llhttp_t* p) {
  // Completion is reported to the sink after execute returns, when the consumed byte
  // count (and so body_wire_bytes) is known.
  impl_of(p).ll_message_done = true;
  return HPE_PAUSED;
}

const llhttp_settings_t* Parser::Impl::settings() {
  static const llhttp_settings_t kSettings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_method = cb_method;
    s.on_url = cb_url;
    s.on_status = cb_status;
    s.on_header_field = cb_header_field;
    s.on_header_value = cb_header_value;
    s.on_header_value_complete = cb_header_value_complete;
    s.on_headers_complete = cb_headers_complete;
    s.on_body = cb_body;
    s.on_chunk_header = cb_chunk_header;
    s.on_chunk_extension_name = cb_chunk_extension_name;
    s.on_chunk_extension_name_complete = cb_chunk_extension_name_complete;
    s.on_chunk_extension_value = cb_chunk_extension_value;
    s.on_chunk_extension_value_complete = cb_chunk_extension_value_complete;
    s.on_message_complete = cb_message_complete;
    return s;
  }();
  return &kSettings;
}

size_t Parser::Impl::consume_head(const char* p, size_t n, bool& head_ready) {
  size_t used = 0;
  // A line the previous feed left incomplete is finished in head_buf.
  if (line_start < head_buf.size()) {
    const void* nl = std::memchr(p, '\n', n);
    const size_t take =
        nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - p) + 1 : n;
    head_buf.append(p, take);
    used = take;
    const size_t size = head_buf.size() - line_start;
    if (!check_head_limits(head_buf.data() + line_start, size, nl != nullptr, 0)) return used;
    if (nl == nullptr) return used;
    const ParseError e = process_head_line(head_buf.data() + line_start, size,
                                           static_cast<uint32_t>(line_start), false, head_ready);
    if (e != ParseError::kNone) {
      error = e;
      state = State::kError;
      return used;
    }
    if (head_ready) return used;
  }

  // The rest is validated where it lies and copied into head_buf once at the end:
  // [copy_from, used) is what still has to be appended.
  size_t copy_from = used;
  const auto flush = [&] { head_buf.append(p + copy_from, used - copy_from); };
  while (used < n) {
    bool clean = false;
    const size_t end = used + r::scan_line(p + used, n - used, clean);
    const bool has_nl = end < n;
    const size_t size = has_nl ? end + 1 - used : n - used;
    // Field lines only need the total checked; check_head_limits redoes it with a reason.
    const bool over =
        leading_bytes + head_buf.size() + (used - copy_from + size) > limits.max_head_bytes;
    if ((over || state == State::kStartLine) &&
        !check_head_limits(p + used, size, has_nl, used - copy_from + size)) {
      used += size;
      flush();
      return used;
    }
    if (!has_nl) {
      used = n;
      break;
    }
    const bool leading_empty = state == State::kStartLine && size == 2 && p[used] == '\r';
    const auto base = static_cast<uint32_t>(head_buf.size() + (used - copy_from));
    const ParseError e = process_head_line(p + used, size, base, clean, head_ready);
    used += size;
    if (leading_empty) copy_from = used;  // skipped, not part of the head
    if (e != ParseError::kNone) {
      flush();
      error = e;
      state = State::kError;
      return used;
    }
    if (head_ready) break;
  }
  flush();
  return used;
}

bool Parser::Impl::check_head_limits(const char* line, size_t size, bool has_nl,
                                     size_t unbuffered) {
  // Limits are checked on partial lines too, so a peer cannot make us buffer more than
  // the limit by never sending the line end. `line` is the line so far; `unbuffered`
  // counts the head bytes up to its end that are not in head_buf yet.
  size_t content_len = size;  // excluding CRLF, once known
  if (has_nl) {
    --content_len;
    if (content_len > 0 && line[content_len - 1] == '\r') --content_len;
  } else if (size > 0 && line[size - 1] == '\r') {
    --content_len;  // may be the first half of the CRLF
  }
  if (state == State::kStartLine && content_len > limits.max_start_line_bytes) {
    error = ParseError::kRequestLineTooLong;
    state = State::kError;
    return false;
  }
  if (leading_bytes + head_buf.size() + unbuffered > limits.max_head_bytes) {
    error = ParseError::kHeadersTooLarge;
    state = State::kError;
    return false;
  }
  return true;
}

ParseError Parser::Impl::process_head_line(const char* data, size_t size, uint32_t base, bool clean,
                                           bool& head_ready) {
  // Bare LF as a line terminator: RFC 9112 §2.2 permits accepting it, but a proxy that
  // does while its upstream does not (or the reverse) can be desynchronised.
  if (size < 2 || data[size - 2] != '\r') return ParseError::kMalformed;
  const std::string_view line(data, size - 2);
  line_start = base + size;
  if (line.empty()) {
    if (state == State::kStartLine) {
      leading_bytes += size;
      head_buf.clear();
      line_start = 0;
      return ParseError::kNone;
    }
    head_ready = true;
    return ParseError::kNone;
  }
  if (state == State::kStartLine) {
    state = State::kFields;
    start_line_end = static_cast<uint32_t>(line_start);
    return kind == MessageKind::kRequest ? parse_request_line(line, base)
                                         : parse_status_line(line, base);
  }
  if (spans.size() >= limits.max_fields) return ParseError::kTooManyHeaders;
  size_t name_len = 0;
  size_t value_off = 0;
  size_t value_len = 0;
  const ParseError e = parse_field_line(line, spans.empty(), clean, name_len, value_off, value_len);
  if (e != ParseError::kNone) return e;
  spans.push_back({{base, static_cast<uint32_t>(name_len)},
                   {static_cast<uint32_t>(base + value_off), static_cast<uint32_t>(value_len)}});
  return ParseError::kNone;
}

ParseError Parser::Impl::parse_request_line(std::string_view line, uint32_t base) {
  // request-line = method SP request-target SP HTTP-version, single spaces only.
  const size_t sp1 = line.find(' ');
  if (sp1 == 0) return ParseError::kInvalidMethod;
  if (sp1 == std::string_view::npos) return ParseError::kMalformed;
  const std::string_view method = line.substr(0, sp1);
  if (!r::is_token(method)) return ParseError::kInvalidMethod;
  const size_t sp2 = line.rfind(' ');
  if (sp2 == sp1) return ParseError::kInvalidVersion;  // HTTP/0.9 style "GET /"
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version == "HTTP/1.1") {
    head.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    head.version_minor = 0;
  } else {
    return ParseError::kInvalidVersion;
  }
  if (target.empty() || !r::is_target(target)) {
    return ParseError::kInvalidTarget;  // also catches a second space inside the target
  }
  head.method = method_from_text(method);
  if (head.method == Method::kConnect) return ParseError::kConnectNotAllowed;

  start_a = {base, static_cast<uint32_t>(sp1)};
  start_b = {static_cast<uint32_t>(base + sp1 + 1), static_cast<uint32_t>(target.size())};
  const uint32_t target_off = start_b.off;
  if (target[0] == '/') {  // origin-form
    path = {target_off, static_cast<uint32_t>(std::min(target.find('?'), target.size()))};
    return ParseError::kNone;
  }
  if (target == "*") {  // asterisk-form: server-wide OPTIONS only
    if (head.method != Method::kOptions) return ParseError::kInvalidTarget;
    path = start_b;
    return ParseError::kNone;
  }
  // absolute-form; authority-form is CONNECT only, refused above.
  const size_t colon = target.find(':');
  if (colon == std::string_view::npos) return ParseError::kInvalidTarget;
  const std::string_view scheme = target.substr(0, colon);
  if (!r::iequals_lower(scheme, "http") && !r::iequals_lower(scheme, "https")) {
    return ParseError::kInvalidTarget;
  }
  if (target.substr(colon + 1, 2) != "//") return ParseError::kInvalidTarget;
  const size_t auth_begin = colon + 3;
  const size_t auth_end = std::min(target.find_first_of("/?", auth_begin), target.size());
  const std::string_view auth = target.substr(auth_begin, auth_end - auth_begin);
  if (!r::is_valid_host(auth)) return ParseError::kInvalidTarget;  // userinfo included
  authority = {static_cast<uint32_t>(target_off + auth_begin), static_cast<uint32_t>(auth.size())};
  if (auth_end < target.size() && target[auth_end] == '/') {
    const size_t q = std::min(target.find('?', auth_end), target.size());
    path = {static_cast<uint32_t>(target_off + auth_end), static_cast<uint32_t>(q - auth_end)};
  } else {
    path_is_root = true;
  }
  return ParseError::kNone;
}

ParseError Parser::Impl::parse_status_line(std::string_view line, uint32_t base) {
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]. A missing SP after
  // the code is tolerated (common, and unambiguous).
  if (line.size() < 9 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ') {
    return ParseError::kInvalidVersion;
  }
  head.version_minor = static_cast<uint8_t>(line[7] - '0');
  if (line.size() < 12) return ParseError::kInvalidStatus;
  uint16_t status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return ParseError::kInvalidStatus;
    status = static_cast<uint16_t>(status * 10 + (line[i] - '0'));
  }
  if (status < 100 || status > 599) return ParseError::kInvalidStatus;
  head.status = status;
  if (line.size() > 12) {
    if (line[12] != ' ') return ParseError::kInvalidStatus;
    const std::string_view reason = line.substr(13);
    if (!r::all_of_class(reason, r::kFieldVchar)) return ParseError::kInvalidStatus;
    start_c = {base + 13, static_cast<uint32_t>(reason.size())};
  }
  return ParseError::kNone;
}

ParseError Parser::Impl::check_transfer_encoding() const {
  // Only a single, final "chunked" is accepted. Any other coding would have to be
  // forwarded as-is, and we re-frame bodies ourselves.
  uint32_t chunked = 0;
  bool last_chunked = false;
  bool invalid = false;
  bool unknown = false;
  bool other = false;
  for (const HeaderField& f : head.fields) {
    if (f.name.size() != 17 || !r::iequals_lower(f.name, "transfer-encoding")) continue;
    r::ListIterator it(f.value);
    std::string_view e;
    while (it.next(e)) {
      switch (r::classify_coding(e)) {
        case r::Coding::kChunked:
          ++chunked;
          last_chunked = true;
          continue;
        case r::Coding::kKnownOther:
          other = true;
          break;
        case r::Coding::kUnknown:
          unknown = true;
          break;
        case r::Coding::kInvalid:
          invalid = true;
          break;
      }
      last_chunked = false;
    }
  }
  if (invalid) return ParseError::kTransferEncodingNotChunkedLast;
  if (unknown) return ParseError::kUnknownTransferEncoding;
  if (chunked != 1 || !last_chunked) return ParseError::kTransferEncodingNotChunkedLast;
  if (other) return ParseError::kUnknownTransferEncoding;
  return ParseError::kNone;
}

ParseError Parser::Impl::finish_head() {
  for (const FieldSpan& s : spans) head.fields.push_back({view(s.name), view(s.value)});
  const bool request = kind == MessageKind::kRequest;
  if (request) {
    head.method_text = view(start_a);
    head.target = view(start_b);
    head.path = path_is_root ? kRootPath : view(path);
  } else {
    head.reason = view(start_c);
  }

  uint32_t hosts = 0;
  std::string_view host;
  bool has_cl = false;
  bool bad_cl = false;
  uint64_t cl = 0;
  bool has_te = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool has_upgrade = false;
  bool expect_continue = false;
  bool framing_lookalike = false;
  for (const HeaderField& f : head.fields) {
    const std::string_view n = f.name;
    switch (n.size()) {
      case 4:
        if (r::iequals_lower(n, "host")) {
          ++hosts;
          host = f.value;
        }
        break;
      case 6:
        if (r::iequals_lower(n, "expect"))
          expect_continue = r::iequals_lower(f.value, "100-continue");
        break;
      case 7:
        if (r::iequals_lower(n, "upgrade")) has_upgrade = true;
        break;
      case 10:
        if (r::iequals_lower(n, "connection")) {
          r::ListIterator it(f.value);
          std::string_view t;
          while (it.next(t)) {
            if (r::iequals_lower(t, "close"))
              conn_close = true;
            else if (r::iequals_lower(t, "keep-alive"))
              conn_keep_alive = true;
            else if (r::iequals_lower(t, "upgrade"))
              conn_upgrade = true;
          }
        }
        break;
      case 14:
        if (r::iequals_lower(n, "content-length")) {
          uint64_t v = 0;
          if (!r::parse_content_length(f.value, v) || (has_cl && v != cl)) bad_cl = true;
          cl = v;
          has_cl = true;
        } else if (r::iequals_lower_any_dash(n, "content-length")) {
          framing_lookalike = true;
        }
        break;
      case 17:
        if (r::iequals_lower(n, "transfer-encoding")) {
          has_te = true;
        } else if (r::iequals_lower_any_dash(n, "transfer-encoding")) {
          framing_lookalike = true;
        }
        break;
      default:
        break;
    }
  }

  // Framing first: these are the request smuggling checks (RFC 9112 §6.1, §6.3).
  // "Transfer_Encoding" is a valid token, but CGI/WSGI-style servers map '_' and '-' to
  // the same variable, so forwarding it would let the upstream frame differently.
  if (framing_lookalike) return ParseError::kInvalidHeaderName;
  if (has_cl && has_te) return ParseError::kContentLengthAndTransferEncoding;
  if (bad_cl) return ParseError::kInvalidContentLength;
  if (has_te) {
    if (head.version_minor == 0) return ParseError::kTransferEncodingInHttp10;
    const ParseError e = check_transfer_encoding();
    if (e != ParseError::kNone) return e;
  }

  const bool http11 = head.version_minor == 1;
  if (request) {
    if (hosts > 1) return ParseError::kMultipleHost;
    if (hosts == 0 && http11) return ParseError::kMissingHost;
    if (hosts == 1 && !r::is_valid_host(host)) return ParseError::kInvalidHost;
    if (authority.len != 0) {
      // RFC 9112 §3.2.2 says the target's authority wins; forwarding a Host that
      // disagrees with it invites routing confusion upstream, so refuse instead.
      const std::string_view auth = view(authority);
      if (hosts == 1 && !r::iequals(host, auth)) return ParseError::kInvalidHost;
      host = auth;
    }
    head.host = host;
  }

  head.keep_alive = !conn_close && (http11 || conn_keep_alive);
  head.upgrade = http11 && conn_upgrade && has_upgrade;
  head.expect_continue = request && http11 && expect_continue;
  head.has_content_length = has_cl;
  head.content_length = cl;

  bool no_body = false;
  if (!request) {
    const uint16_t st = head.status;
    no_body = st < 200 || st == 204 || st == 304 || request_method == Method::kHead ||
              (request_method == Method::kConnect && st < 300);
  }
  if (no_body) {
    head.framing = BodyFraming::kNone;
  } else if (has_te) {
    head.framing = BodyFraming::kChunked;
  } else if (has_cl) {
    head.framing = cl == 0 ? BodyFraming::kNone : BodyFraming::kContentLength;
  } else if (request) {
    head.framing = BodyFraming::kNone;
  } else {
    head.framing = BodyFraming::kUntilClose;
    head.keep_alive = false;
  }
  if (head.framing == BodyFraming::kContentLength && limits.max_body_bytes != 0 &&
      cl > limits.max_body_bytes) {
    return ParseError::kBodyTooLarge;
  }
  head.wire_bytes = leading_bytes + head_buf.size();
  return ParseError::kNone;
}

ParseError Parser::Impl::run_llhttp_on_head(bool head_ready) {
  // llhttp reads only complete lines our rules accepted, from our copy.
  if (ll_error == ParseError::kNone && ll_fed < line_start) {
    const llhttp_errno_t e = llhttp_execute(&ll, head_buf.data() + ll_fed, line_start - ll_fed);
    ll_fed = line_start;
    if (cb_error != ParseError::kNone) return cb_error;
    if (e != HPE_OK && e != HPE_PAUSED) {
      const char* pos = llhttp_get_error_pos(&ll);
      const bool in_start_line = pos == nullptr || offset_in(head_buf, pos) < start_line_end;
      ll_error = from_llhttp_head_error(e, kind, in_start_line);
      if (in_start_line) return ll_error;  // no later line could explain it better
    }
  }
  if (head_ready) {
    if (ll_error != ParseError::kNone) return ll_error;
    if (!ll_head_seen) return ParseError::kMalformed;  // llhttp did not end the head there
  }
  return ParseError::kNone;
}

bool Parser::Impl::llhttp_agrees_on_tokens() {
  if (llhttp_get_http_major(&ll) != 1 || llhttp_get_http_minor(&ll) != head.version_minor) {
    return false;
  }
  if (kind == MessageKind::kRequest) {
    if (!same(ll_method, start_a) || !same(ll_url, start_b)) return false;
  } else if (llhttp_get_status_code(&ll) != head.status || !same(ll_status, start_c)) {
    return false;
  }
  // Fields were compared one by one in cb_header_value_complete.
  return !ll_fields_differ && ll_field_count == spans.size() && ll_field.name.len == 0 &&
         ll_field.value.len == 0;
}

bool Parser::Impl::llhttp_agrees_on_framing() const {
  const bool cl = (ll.flags & F_CONTENT_LENGTH) != 0;
  const bool chunked = (ll.flags & F_CHUNKED) != 0;
  switch (head.framing) {
    case BodyFraming::kNone:
      return true;  // we tell llhttp to skip any body
    case BodyFraming::kContentLength:
      return cl && !chunked && ll.content_length == head.content_length;
    case BodyFraming::kChunked:
      return chunked && !cl;
    case BodyFraming::kUntilClose:
      return !cl && !chunked;
  }
  return false;
}

int Parser::Impl::on_headers_complete() {
  ll_head_seen = true;
  // Our rules already passed the whole head (finish_head ran before the last line was
  // fed), so the views in `head` are built.
  if (!llhttp_agrees_on_tokens() || !llhttp_agrees_on_framing()) {
    cb_error = ParseError::kMalformed;
    return -1;
  }
  head_done = true;
  const bool has_body = head.framing != BodyFraming::kNone;
  state = State::kBody;
  if (sink.on_head(head) == SinkAction::kPause) pause_requested = true;
  // 1 = no body (HEAD, 1xx/204/304, CONNECT 2xx, CL 0): llhttp completes the message
  // right away, even when the sink asked to pause.
  if (!has_body) return 1;
  return pause_requested ? HPE_PAUSED : 0;
}

int Parser::Impl::on_body(const char* at, size_t len) {
  if (head.framing == BodyFraming::kUntilClose && limits.max_body_bytes != 0 &&
      body_decoded + len > limits.max_body_bytes) {
    return fail_in_callback(ParseError::kBodyTooLarge);
  }
  body_wire = exec_wire_base + static_cast<uint64_t>(at + len - exec_begin);
  body_decoded += len;
  if (sink.on_body({at, len}) != SinkAction::kPause) return 0;
  pause_requested = true;
  // A Content-Length body that ends here completes now; llhttp calls
  // on_message_complete without reading another byte.
  if (head.framing == BodyFraming::kContentLength && body_decoded == head.content_length) {
    return 0;
  }
  return HPE_PAUSED;
}

int Parser::Impl::on_chunk_header() {
  const uint64_t size = ll.content_length;
  chunk_ext_bytes = 0;
  // 8.1 accepts any size that fits 64 bits; a signed 64-bit reader upstream would not.
  if (size > kMaxChunkSize) return fail_in_callback(ParseError::kInvalidChunk);
  if (limits.max_body_bytes != 0 && body_decoded + size > limits.max_body_bytes) {
    return fail_in_callback(ParseError::kBodyTooLarge);
  }
  if (size != 0) return 0;
  ll_last_chunk = true;  // pause: our trailer rules see each line before llhttp does
  return HPE_PAUSED;
}

size_t Parser::Impl::consume_trailer_line(const char* p, size_t n, bool& line_done,
                                          ParseError& err) {
  const void* nl = std::memchr(p, '\n', n);
  const size_t take = nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - p) + 1 : n;
  trailer_bytes += take;
  if (trailer_bytes > limits.max_head_bytes) {
    err = ParseError::kHeadersTooLarge;
    return take;
  }
  trailer_line.append(p, take);
  if (nl == nullptr) return take;
  line_done = true;
  const size_t size = trailer_line.size();
  if (size < 2 || trailer_line[size - 2] != '\r') {
    err = ParseError::kInvalidChunk;  // bare LF (8.1 accepts it on the final line)
    return take;
  }
  const std::string_view line(trailer_line.data(), size - 2);
  if (line.empty()) return take;
  if (++trailer_count > limits.max_fields) {
    err = ParseError::kTooManyHeaders;
    return take;
  }
  size_t name_len = 0;
  size_t value_off = 0;
  size_t value_len = 0;
  // Trailers are dropped, but still held to field syntax: an upstream that merges them
  // must not see anything we would have refused in the head.
  err = parse_field_line(line, false, false, name_len, value_off, value_len);
  if (err == ParseError::kNone) {
    const std::string_view name = line.substr(0, name_len);
    if (r::iequals_lower_any_dash(name, "content-length") ||
        r::iequals_lower_any_dash(name, "transfer-encoding") || r::iequals_lower(name, "host")) {
      err = ParseError::kInvalidChunk;  // framing/routing fields are not allowed in trailers
    }
  }
  return take;
}

FeedResult Parser::Impl::feed(std::string_view data) {
  if (state == State::kError) return {FeedStatus::kError, 0};
  if (state == State::kDone) reset();  // the caller moved on to the next message
  pause_requested = false;
  if (llhttp_get_errno(&ll) == HPE_PAUSED) llhttp_resume(&ll);
  const char* p = data.data();
  const size_t n = data.size();
  size_t pos = 0;
  for (;;) {
    switch (state) {
      case State::kStartLine:
      case State::kFields: {
        if (pos == n) return {FeedStatus::kOk, pos};
        bool ready = false;
        pos += consume_head(p + pos, n - pos, ready);
        if (state == State::kError) return {FeedStatus::kError, pos};
        if (ready) {
          // Head-level rules before llhttp sees the end of the head, so their reason
          // wins and on_headers_complete finds `head` built.
          const ParseError e = finish_head();
          if (e != ParseError::kNone) return fail(e, pos);
        }
        const ParseError e = run_llhttp_on_head(ready);
        if (e != ParseError::kNone) return fail(e, pos);
        if (!ready) continue;
        if (ll_message_done) {
          complete();
          return {FeedStatus::kPaused, pos};
        }
        if (pause_requested) return {FeedStatus::kPaused, pos};
        continue;
      }
      case State::kBody: {
        if (pos == n) return {FeedStatus::kOk, pos};
        exec_begin = p + pos;
        exec_end = p + n;
        exec_wire_base = body_wire;
        const llhttp_errno_t e = llhttp_execute(&ll, p + pos, n - pos);
        const size_t used =
            e == HPE_OK ? n - pos : static_cast<size_t>(llhttp_get_error_pos(&ll) - (p + pos));
        pos += used;
        body_wire = exec_wire_base + used;
        if (cb_error != ParseError::kNone) return fail(cb_error, pos);
        if (e == HPE_OK) continue;
        if (e != HPE_PAUSED) {
          return fail(head.framing == BodyFraming::kChunked ? ParseError::kInvalidChunk
                                                            : ParseError::kMalformed,
                      pos);
        }
        if (ll_message_done) {
          complete();
          return {FeedStatus::kPaused, pos};
        }
        if (ll_last_chunk) {
          state = State::kTrailers;
          llhttp_resume(&ll);
          continue;
        }
        return {FeedStatus::kPaused, pos};  // the sink asked
      }
      case State::kTrailers: {
        if (pos == n) return {FeedStatus::kOk, pos};
        bool line_done = false;
        ParseError err = ParseError::kNone;
        const size_t used = consume_trailer_line(p + pos, n - pos, line_done, err);
        pos += used;
        body_wire += used;
        if (err != ParseError::kNone) return fail(err, pos);
        if (!line_done) continue;
        const bool last = trailer_line.size() == 2;
        const llhttp_errno_t e = llhttp_execute(&ll, trailer_line.data(), trailer_line.size());
        trailer_line.clear();
        if (cb_error != ParseError::kNone) return fail(cb_error, pos);
        if (last && e == HPE_PAUSED && ll_message_done) {
          complete();
          return {FeedStatus::kPaused, pos};
        }
        if (last || e != HPE_OK) return fail(ParseError::kInvalidChunk, pos);
        continue;
      }
      case State::kDone:
        return {FeedStatus::kPaused, pos};
      case State::kError:
        return {FeedStatus::kError, pos};
    }
  }
}

FeedResult Parser::Impl::finish() {
  switch (state) {
    case State::kError:
      return {FeedStatus::kError, 0};
    case State::kDone:
      return {FeedStatus::kOk, 0};
    case State::kStartLine:
      if (head_buf.empty()) return {FeedStatus::kOk, 0};  // closed between messages
      return fail(ParseError::kMalformed, 0);
    case State::kBody:
      if (head.framing == BodyFraming::kUntilClose) {
        if (llhttp_get_errno(&ll) == HPE_PAUSED) llhttp_resume(&ll);
        llhttp_finish(&ll);  // calls on_message_complete for a close-delimited body
        if (ll_message_done) {
          complete();
          return {FeedStatus::kPaused, 0};
        }
      }
      return fail(ParseError::kMalformed, 0);
    default:
      return fail(ParseError::kMalformed, 0);
  }
}

void Parser::Impl::reset() {
  state = State::kStartLine;
  error = ParseError::kNone;
  pause_requested = false;
  head_done = false;
  head_buf.clear();
  line_start = 0;
  start_line_end = 0;
  leading_bytes = 0;
  start_a = start_b = start_c = path = authority = Span{};
  path_is_root = false;
  spans.clear();
  std::vector<HeaderField> fields = std::move(head.fields);
  fields.clear();
  head = MessageHead{};
  head.fields = std::move(fields);  // keeps its capacity: no allocation per message
  llhttp_reset(&ll);
  ll_fed = 0;
  ll_error = ParseError::kNone;
  cb_error = ParseError::kNone;
  ll_method = ll_url = ll_status = Span{};
  ll_field = FieldSpan{};
  ll_field_count = 0;
  ll_fields_differ = false;
  ll_head_seen = false;
  ll_message_done = false;
  ll_last_chunk = false;
  exec_begin = nullptr;
  exec_end = nullptr;
  exec_wire_base = 0;
  body_wire = 0;
  body_decoded = 0;
  chunk_ext_bytes = 0;
  ext_name_bytes = 0;
  ext_value_bytes = 0;
  ext_value_token = false;
  trailer_line.clear();
  trailer_bytes = 0;
  trailer_count = 0;
}

Parser::Parser(MessageKind kind, const ParserLimits& limits, MessageSink& sink)
    : impl_(std::make_unique<Impl>(kind, limits, sink)) {}
Parser::~Parser() = default;

FeedResult Parser::feed(std::string_view data) { return impl_->feed(data); }
FeedResult Parser::finish() { return impl_->finish(); }
void Parser::resume() {
  impl_->pause_requested = false;
  if (llhttp_get_errno(&impl_->ll) == HPE_PAUSED) llhttp_resume(&impl_->ll);
}
void Parser::reset() { impl_->reset(); }
void Parser::set_request_method(Method m) { impl_->request_method = m; }
void Parser::set_limits(const ParserLimits& limits) { impl_->limits = limits; }
ParseError Parser::error() const { return impl_->error; }

bool Parser::message_in_progress() const {
  switch (impl_->state) {
    case State::kStartLine:
      return !impl_->head_buf.empty();
    case State::kDone:
    case State::kError:
      return false;
    default:
      return true;
  }
}

bool Parser::head_complete() const { return impl_->head_done; }
Method Parser::request_method() const { return impl_->head.method; }
uint64_t Parser::body_wire_bytes() const { return impl_->body_wire; }

uint64_t Parser::head_wire_bytes() const {
  if (impl_->head_done) return impl_->head.wire_bytes;
  return impl_->leading_bytes + impl_->head_buf.size();
}

}  // namespace sidemeter::http
