// Strict HTTP/1.x message parser.
//
// Why not let llhttp parse: Debian's llhttp 8.1, compiled in its default (non-strict)
// mode, skips ANY two bytes after chunk data instead of requiring CRLF, accepts bare LF
// line ends and obs-fold, and only knows a fixed method list. Each of those is a request
// smuggling vector for a proxy whose upstream parses differently, and checking them on top
// of llhttp means re-scanning every byte anyway. So the head and the body framing are
// parsed here in one strict pass (RFC 9112), byte-class tables doing the validation.
//
// Head bytes are copied into `head_buf_` as they arrive (the caller reuses its buffer
// after feed()); lines are validated as soon as they are complete and remembered as
// offsets, so the buffer may reallocate while growing. The string_views handed out are
// built once, when the empty line ends the head.
#include "proxy/http/parser.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "proxy/http/field_rules.h"

namespace sidemeter::http {

namespace {

namespace r = rules;

// A chunk-size line (size + extensions) longer than this is refused: extensions are
// dropped when forwarding, so a long one can only be an attempt to burn CPU or memory.
constexpr uint32_t kMaxChunkLineBytes = 4096;
constexpr uint64_t kMaxChunkSize = static_cast<uint64_t>(INT64_MAX);

struct Span {
  uint32_t off = 0;
  uint32_t len = 0;
};
struct FieldSpan {
  Span name;
  Span value;
};

enum class State : uint8_t {
  kStartLine,  // before / inside the start line (leading empty lines skipped)
  kFields,
  kBodyLength,
  kBodyUntilClose,
  kChunkSize,
  kChunkExt,
  kChunkSizeLf,
  kChunkData,
  kChunkDataCr,
  kChunkDataLf,
  kTrailers,
  kDone,
  kError,
};

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
enum class ExtState : uint8_t {
  kBeforeName,
  kName,
  kAfterName,
  kBeforeValue,
  kToken,
  kQuoted,
  kQuotedEscape,
  kAfterValue,
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
// relative to `line` (which excludes the CRLF).
ParseError parse_field_line(std::string_view line, bool first_field, size_t& name_len,
                            size_t& value_off, size_t& value_len) {
  if (r::is_ows(line[0])) {
    // A continuation line (obs-fold) or whitespace right after the start line, which
    // RFC 9112 §2.2 lets a recipient reject; both are classic smuggling material.
    return first_field ? ParseError::kMalformed : ParseError::kObsFold;
  }
  size_t i = 0;
  while (i < line.size() && r::is_tchar(line[i])) ++i;
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
  if (!r::is_field_value(raw_value)) return ParseError::kInvalidHeaderValue;
  size_t b = 0;
  size_t e = raw_value.size();
  while (b < e && r::is_ows(raw_value[b])) ++b;
  while (e > b && r::is_ows(raw_value[e - 1])) --e;
  value_off = i + 1 + b;
  value_len = e - b;
  return ParseError::kNone;
}

bool is_hex(char c, uint64_t& v) {
  if (c >= '0' && c <= '9') {
    v = static_cast<uint64_t>(c - '0');
  } else if (c >= 'a' && c <= 'f') {
    v = static_cast<uint64_t>(c - 'a' + 10);
  } else if (c >= 'A' && c <= 'F') {
    v = static_cast<uint64_t>(c - 'A' + 10);
  } else {
    return false;
  }
  return true;
}

constexpr std::string_view kRootPath = "/";

}  // namespace

struct Parser::Impl {
  Impl(MessageKind k, const ParserLimits& l, MessageSink& s) : kind(k), limits(l), sink(s) {
    head_buf.reserve(std::min<size_t>(limits.max_head_bytes, 4096));
    const size_t fields = std::min<size_t>(limits.max_fields, 64);
    spans.reserve(fields);
    head.fields.reserve(fields);
  }

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

  size_t consume_head(const char* p, size_t n, bool& head_ready);
  ParseError process_head_line(bool& head_ready);
  ParseError parse_request_line(std::string_view line, uint32_t base);
  ParseError parse_status_line(std::string_view line, uint32_t base);
  ParseError finish_head();
  ParseError check_transfer_encoding() const;
  bool chunk_framing_byte(char c, ParseError& err);
  bool chunk_ext_byte(char c);
  size_t consume_trailers(const char* p, size_t n, bool& done, ParseError& err);

  std::string_view view(Span s) const { return {head_buf.data() + s.off, s.len}; }

  const MessageKind kind;
  const ParserLimits limits;
  MessageSink& sink;

  State state = State::kStartLine;
  ParseError error = ParseError::kNone;
  Method request_method = Method::kGet;  // responses: what the matching request was
  bool pause_requested = false;
  bool head_done = false;

  // Head: raw bytes of start line + fields; offsets until the head is complete.
  std::string head_buf;
  size_t line_start = 0;
  uint64_t leading_bytes = 0;      // empty lines before the start line (RFC 9112 §2.2)
  Span start_a, start_b, start_c;  // method/target/version, or status code/reason
  Span path;
  bool path_is_root = false;  // absolute-form without a path: path is "/"
  Span authority;             // absolute-form authority (len 0 when origin-form)
  std::vector<FieldSpan> spans;
  MessageHead head;

  // Body.
  uint64_t body_wire = 0;
  uint64_t body_decoded = 0;
  uint64_t remaining = 0;  // Content-Length bytes left, or bytes left in this chunk
  uint32_t chunk_line_bytes = 0;
  uint32_t chunk_digits = 0;
  ExtState ext_state = ExtState::kBeforeName;
  std::string trailer_line;
  uint64_t trailer_bytes = 0;
  uint32_t trailer_count = 0;
};

size_t Parser::Impl::consume_head(const char* p, size_t n, bool& head_ready) {
  size_t used = 0;
  while (used < n) {
    const void* nl = std::memchr(p + used, '\n', n - used);
    const size_t take = nl != nullptr
                            ? static_cast<size_t>(static_cast<const char*>(nl) - (p + used)) + 1
                            : n - used;
    head_buf.append(p + used, take);
    used += take;

    // Limits are checked on partial lines too, so a peer cannot make us buffer more than
    // the limit by never sending the line end.
    size_t content_len = head_buf.size() - line_start;  // excluding CRLF, once known
    if (nl != nullptr) {
      --content_len;
      if (content_len > 0 && head_buf[head_buf.size() - 2] == '\r') --content_len;
    } else if (head_buf.back() == '\r') {
      --content_len;  // may be the first half of the CRLF
    }
    if (state == State::kStartLine && content_len > limits.max_start_line_bytes) {
      error = ParseError::kRequestLineTooLong;
      state = State::kError;
      return used;
    }
    if (leading_bytes + head_buf.size() > limits.max_head_bytes) {
      error = ParseError::kHeadersTooLarge;
      state = State::kError;
      return used;
    }
    if (nl == nullptr) break;
    const ParseError e = process_head_line(head_ready);
    if (e != ParseError::kNone) {
      error = e;
      state = State::kError;
      return used;
    }
    if (head_ready) break;
  }
  return used;
}

ParseError Parser::Impl::process_head_line(bool& head_ready) {
  const size_t size = head_buf.size() - line_start;
  // Bare LF as a line terminator: RFC 9112 §2.2 permits accepting it, but a proxy that
  // does while its upstream does not (or the reverse) can be desynchronised.
  if (size < 2 || head_buf[head_buf.size() - 2] != '\r') return ParseError::kMalformed;
  const std::string_view line(head_buf.data() + line_start, size - 2);
  const auto base = static_cast<uint32_t>(line_start);
  line_start = head_buf.size();
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
    return kind == MessageKind::kRequest ? parse_request_line(line, base)
                                         : parse_status_line(line, base);
  }
  if (spans.size() >= limits.max_fields) return ParseError::kTooManyHeaders;
  size_t name_len = 0;
  size_t value_off = 0;
  size_t value_len = 0;
  const ParseError e = parse_field_line(line, spans.empty(), name_len, value_off, value_len);
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

bool Parser::Impl::chunk_ext_byte(char c) {
  const bool ows = r::is_ows(c);
  switch (ext_state) {
    case ExtState::kBeforeName:
      if (ows) return true;
      if (r::is_tchar(c)) {
        ext_state = ExtState::kName;
        return true;
      }
      return false;
    case ExtState::kName:
    case ExtState::kAfterName:
      if (ext_state == ExtState::kName && r::is_tchar(c)) return true;
      if (ows) {
        ext_state = ExtState::kAfterName;
        return true;
      }
      if (c == '=') {
        ext_state = ExtState::kBeforeValue;
        return true;
      }
      break;
    case ExtState::kBeforeValue:
      if (ows) return true;
      if (c == '"') {
        ext_state = ExtState::kQuoted;
        return true;
      }
      if (r::is_tchar(c)) {
        ext_state = ExtState::kToken;
        return true;
      }
      return false;
    case ExtState::kToken:
    case ExtState::kAfterValue:
      if (ext_state == ExtState::kToken && r::is_tchar(c)) return true;
      if (ows) {
        ext_state = ExtState::kAfterValue;
        return true;
      }
      break;
    case ExtState::kQuoted:
      if (c == '"') {
        ext_state = ExtState::kAfterValue;
      } else if (c == '\\') {
        ext_state = ExtState::kQuotedEscape;
      } else if (!r::has_class(c, r::kQdtext)) {
        return false;  // CR, LF and other CTLs may not hide inside a quoted string
      }
      return true;
    case ExtState::kQuotedEscape:
      if (!r::has_class(c, r::kFieldVchar)) return false;
      ext_state = ExtState::kQuoted;
      return true;
  }
  // After a name or a value: another extension or the end of the line.
  if (c == ';') {
    ext_state = ExtState::kBeforeName;
    return true;
  }
  if (c == '\r') {
    state = State::kChunkSizeLf;
    return true;
  }
  return false;
}

bool Parser::Impl::chunk_framing_byte(char c, ParseError& err) {
  err = ParseError::kInvalidChunk;
  switch (state) {
    case State::kChunkSize:
    case State::kChunkExt:
      if (++chunk_line_bytes > kMaxChunkLineBytes) return false;
      if (state == State::kChunkExt) return chunk_ext_byte(c);
      {
        uint64_t v = 0;
        if (is_hex(c, v)) {
          if (remaining > (kMaxChunkSize >> 4)) return false;  // overflow
          remaining = (remaining << 4) | v;
          ++chunk_digits;
          return true;
        }
      }
      // No leading/trailing whitespace, no "0x", at least one digit: anything a
      // lenient parser might read differently is refused.
      if (chunk_digits == 0) return false;
      if (c == ';') {
        state = State::kChunkExt;
        ext_state = ExtState::kBeforeName;
        return true;
      }
      if (c == '\r') {
        state = State::kChunkSizeLf;
        return true;
      }
      return false;
    case State::kChunkSizeLf:
      if (c != '\n') return false;
      chunk_line_bytes = 0;
      chunk_digits = 0;
      if (remaining == 0) {
        state = State::kTrailers;
        trailer_line.clear();
        return true;
      }
      if (limits.max_body_bytes != 0 && body_decoded + remaining > limits.max_body_bytes) {
        err = ParseError::kBodyTooLarge;
        return false;
      }
      state = State::kChunkData;
      return true;
    case State::kChunkDataCr:
      if (c != '\r') return false;
      state = State::kChunkDataLf;
      return true;
    case State::kChunkDataLf:
      if (c != '\n') return false;
      state = State::kChunkSize;
      return true;
    default:
      return false;
  }
}

size_t Parser::Impl::consume_trailers(const char* p, size_t n, bool& done, ParseError& err) {
  const void* nl = std::memchr(p, '\n', n);
  const size_t take = nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - p) + 1 : n;
  trailer_bytes += take;
  if (trailer_bytes > limits.max_head_bytes) {
    err = ParseError::kHeadersTooLarge;
    return take;
  }
  trailer_line.append(p, take);
  if (nl == nullptr) return take;
  const size_t size = trailer_line.size();
  if (size < 2 || trailer_line[size - 2] != '\r') {
    err = ParseError::kInvalidChunk;  // bare LF
    return take;
  }
  const std::string_view line(trailer_line.data(), size - 2);
  if (line.empty()) {
    done = true;
    return take;
  }
  if (++trailer_count > limits.max_fields) {
    err = ParseError::kTooManyHeaders;
    return take;
  }
  size_t name_len = 0;
  size_t value_off = 0;
  size_t value_len = 0;
  // Trailers are dropped, but still held to field syntax: an upstream that merges them
  // must not see anything we would have refused in the head.
  err = parse_field_line(line, false, name_len, value_off, value_len);
  if (err == ParseError::kNone) {
    const std::string_view name = line.substr(0, name_len);
    if (r::iequals_lower_any_dash(name, "content-length") ||
        r::iequals_lower_any_dash(name, "transfer-encoding") || r::iequals_lower(name, "host")) {
      err = ParseError::kInvalidChunk;  // framing/routing fields are not allowed in trailers
    }
  }
  trailer_line.clear();
  return take;
}

FeedResult Parser::Impl::feed(std::string_view data) {
  if (state == State::kError) return {FeedStatus::kError, 0};
  if (state == State::kDone) reset();  // the caller moved on to the next message
  pause_requested = false;
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
        if (!ready) continue;
        const ParseError e = finish_head();
        if (e != ParseError::kNone) return fail(e, pos);
        head_done = true;
        switch (head.framing) {
          case BodyFraming::kNone:
            state = State::kDone;
            break;
          case BodyFraming::kContentLength:
            state = State::kBodyLength;
            remaining = head.content_length;
            break;
          case BodyFraming::kChunked:
            state = State::kChunkSize;
            remaining = 0;
            break;
          case BodyFraming::kUntilClose:
            state = State::kBodyUntilClose;
            break;
        }
        if (sink.on_head(head) == SinkAction::kPause) pause_requested = true;
        // A bodiless message completes without consuming anything more, so it does
        // even when on_head asked to pause: the caller never has to feed zero bytes.
        if (state == State::kDone) {
          complete();
          return {FeedStatus::kPaused, pos};
        }
        continue;
      }
      case State::kBodyLength: {
        if (pause_requested) return {FeedStatus::kPaused, pos};
        if (pos == n) return {FeedStatus::kOk, pos};
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n - pos, remaining));
        remaining -= take;
        body_wire += take;
        body_decoded += take;
        pos += take;
        if (sink.on_body({p + pos - take, take}) == SinkAction::kPause) pause_requested = true;
        if (remaining == 0) {
          complete();
          return {FeedStatus::kPaused, pos};
        }
        continue;
      }
      case State::kBodyUntilClose: {
        if (pause_requested) return {FeedStatus::kPaused, pos};
        if (pos == n) return {FeedStatus::kOk, pos};
        const size_t take = n - pos;
        if (limits.max_body_bytes != 0 && body_decoded + take > limits.max_body_bytes) {
          return fail(ParseError::kBodyTooLarge, pos);
        }
        body_wire += take;
        body_decoded += take;
        pos += take;
        if (sink.on_body({p + pos - take, take}) == SinkAction::kPause) pause_requested = true;
        continue;
      }
      case State::kChunkData: {
        if (pause_requested) return {FeedStatus::kPaused, pos};
        if (pos == n) return {FeedStatus::kOk, pos};
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n - pos, remaining));
        remaining -= take;
        body_wire += take;
        body_decoded += take;
        pos += take;
        if (remaining == 0) state = State::kChunkDataCr;
        if (sink.on_body({p + pos - take, take}) == SinkAction::kPause) pause_requested = true;
        continue;
      }
      case State::kTrailers: {
        if (pause_requested) return {FeedStatus::kPaused, pos};
        if (pos == n) return {FeedStatus::kOk, pos};
        bool done = false;
        ParseError e = ParseError::kNone;
        const size_t used = consume_trailers(p + pos, n - pos, done, e);
        pos += used;
        body_wire += used;
        if (e != ParseError::kNone) return fail(e, pos);
        if (done) {
          complete();
          return {FeedStatus::kPaused, pos};
        }
        continue;
      }
      case State::kChunkSize:
      case State::kChunkExt:
      case State::kChunkSizeLf:
      case State::kChunkDataCr:
      case State::kChunkDataLf: {
        if (pause_requested) return {FeedStatus::kPaused, pos};
        // Framing bytes are few per chunk; a byte-at-a-time state machine keeps every
        // rule explicit.
        while (pos < n && state != State::kChunkData && state != State::kTrailers) {
          ParseError e = ParseError::kNone;
          if (!chunk_framing_byte(p[pos], e)) return fail(e, pos);
          ++pos;
          ++body_wire;
        }
        if (pos == n && state != State::kTrailers) return {FeedStatus::kOk, pos};
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
    case State::kBodyUntilClose:
      complete();
      return {FeedStatus::kPaused, 0};
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
  leading_bytes = 0;
  start_a = start_b = start_c = path = authority = Span{};
  path_is_root = false;
  spans.clear();
  std::vector<HeaderField> fields = std::move(head.fields);
  fields.clear();
  head = MessageHead{};
  head.fields = std::move(fields);  // keeps its capacity: no allocation per message
  body_wire = 0;
  body_decoded = 0;
  remaining = 0;
  chunk_line_bytes = 0;
  chunk_digits = 0;
  trailer_line.clear();
  trailer_bytes = 0;
  trailer_count = 0;
}

Parser::Parser(MessageKind kind, const ParserLimits& limits, MessageSink& sink)
    : impl_(std::make_unique<Impl>(kind, limits, sink)) {}
Parser::~Parser() = default;

FeedResult Parser::feed(std::string_view data) { return impl_->feed(data); }
FeedResult Parser::finish() { return impl_->finish(); }
void Parser::resume() { impl_->pause_requested = false; }
void Parser::reset() { impl_->reset(); }
void Parser::set_request_method(Method m) { impl_->request_method = m; }
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
uint64_t Parser::body_wire_bytes() const { return impl_->body_wire; }

uint64_t Parser::head_wire_bytes() const {
  if (impl_->head_done) return impl_->head.wire_bytes;
  return impl_->leading_bytes + impl_->head_buf.size();
}

}  // namespace sidemeter::http
