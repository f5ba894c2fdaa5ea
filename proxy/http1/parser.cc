// HTTP/1.x parser: our RFC 9112 scanner for the head, llhttp for the chunked coding.
//
// One authority per fact, nothing read twice:
//
//  * Head (start line, every field line, limits, framing per RFC 9112 §6.3, keep-alive,
//    upgrade, Expect, Host): our scanner and rules (field_rules.*) alone. Complete lines
//    are validated where they lie in the caller's buffer (one SSE2 pass per line finds
//    its end and proves its bytes field-vchar, so values are not scanned again), limits
//    checked first, and each feed's head bytes are then copied into `head_buf` in one
//    append: the views in MessageHead must outlive the caller's read buffer (until
//    reset(): a retry on a stale pooled connection re-sends the head after the buffer
//    was reused). A line cut by the end of a feed is completed and validated in
//    `head_buf` instead.
//    The usual field line (SP-only OWS, no HTAB or other CTL, a tchar name, within the
//    limits) and the empty line are read by fast_field_lines in one pass (find_ctl for
//    the CR, the name up to its colon, OWS trimmed) and recorded exactly as the general
//    path (scan_line + process_head_line) would; any other line goes the general way,
//    so every refusal is made where it always was (parser_fast_path_test and the head
//    oracle compare the two paths). Each field's FieldToken is looked up there, once:
//    finish_head switches on it and the serializer reads it from HeaderField::token.
//    Our rules also make every refusal strict llhttp 8.1 made on a head, so removing
//    llhttp from the head (it used to parse the same bytes and be compared token by
//    token) let nothing through that was refused before: a second Content-Length field
//    or a list of them ("3, 3"), refused as bad_content_length, like a HTAB after the
//    digits; a HTAB after "chunked" in Transfer-Encoding (llhttp then reads another
//    coding: refused as transfer_encoding_not_chunked_last); the method PRI (the HTTP/2
//    preface, refused as invalid_version, whatever the target). The rest llhttp refused
//    ours refuses too and earlier (see parser_reject_test): bare LF line ends, obs-fold,
//    empty field names, non-token methods and names, '#' in the target, a double SP,
//    HTTP/0.9 and versions other than 1.0/1.1, status codes outside 100-599, CTLs in
//    values, CONNECT, CL with TE, TE other than a single final chunked, TE in HTTP/1.0,
//    "_" look-alikes of the framing fields, Host rules. tests/fuzz/head_oracle.h
//    keeps checking that against llhttp (outside the production path).
//  * Methods: any RFC 9110 token (§9.1: the set is extensible, and a proxy forwards
//    what it does not know); framing comes from Content-Length and Transfer-Encoding
//    alone, for every method alike.
//  * Content-Length and close-delimited bodies: plain byte counts, ours.
//  * Chunked bodies: llhttp, which is started on a fixed synthetic head ending in
//    "Transfer-Encoding: chunked" (a copy of one parser state made once per process),
//    so it is in the chunked-body state and reads the body from there. Each chunk-size
//    line is read by our scanner (chunk_line.h: the RFC 9112 §7.1.1 grammar with BWS,
//    several extensions, quoted values; size <= INT64_MAX; at most kMaxExtensionBytes
//    of extensions), and llhttp is fed the line re-stated as "<hex size>\r\n": strict
//    8.1 refuses grammar-valid extensions ("5;a=b;c", BWS around ';' and '=', a
//    quoted-pair), and extensions are dropped when forwarding anyway. A plain line
//    ("<1-15 hex digits>\r\n", the usual one) that lies whole in the caller's buffer
//    reads the same to both, so llhttp reads it there, with the data after it, in the
//    same call. llhttp counts the chunk data and checks the CRLF after it; its
//    on_chunk_complete hands the next size line back to us. The body limit is checked in
//    on_chunk_header.
//  * Trailers. After the last chunk the trailer lines are copied and validated like head
//    lines (8.1 accepts obs-fold, bare LF on the final line, empty names and framing
//    fields there), then fed to llhttp, which ends the message.
//
// Behaviour stricter than RFC 9112 (kept from when llhttp 8.1 read the head too, since
// upstreams built on it refuse the same): identical duplicate Content-Length ("3, 3" or
// two fields) is refused as bad_content_length.
//
// Pausing: in the chunked body the llhttp callbacks return HPE_PAUSED (after the message,
// when the sink pauses, and at the last chunk to switch to trailer validation); consumed
// counts come from llhttp_get_error_pos. A bodiless message or a Content-Length body
// that ends in the paused callback still completes in the same feed().
#include "proxy/http1/parser.h"

#include <llhttp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "proxy/http1/chunk_framing.h"
#include "proxy/http1/chunk_line.h"
#include "proxy/http1/field_rules.h"
#include "proxy/http1/field_token.h"
#include "proxy/http1/field_token_lookup.h"

namespace sidemeter::http {

namespace {

namespace r = rules;

struct Span {
  uint32_t off = 0;
  uint32_t len = 0;
};

// kStartLine/kFields: head lines (our scanner). kBody: Content-Length or close-delimited
// body, ours. kChunkData: llhttp on the caller's bytes. kChunkLine: our scanner, then
// llhttp the size alone. kTrailers: our scanner, then llhttp.
enum class State : uint8_t {
  kStartLine,
  kFields,
  kBody,
  kChunkData,
  kChunkLine,
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

// True when only SP (no HTAB) follows `value` up to the CR ending its line. `value` is
// a trimmed view into head_buf of a field line that passed parse_field_line, so a CR
// follows it. llhttp 8.1 (Node.js) reads a HTAB after a Content-Length's digits as an
// error and after "chunked" as another coding, so the framing fields get no HTAB there.
bool only_sp_after(std::string_view value) {
  for (const char* c = value.data() + value.size(); *c != '\r'; ++c) {
    if (*c != ' ') return false;
  }
  return true;
}

// llhttp's chunked-body state: a parser that read a fixed head ending in
// "Transfer-Encoding: chunked", copied for each chunked message (llhttp_t holds no
// pointer into its input after a complete head). One per kind, made once.
const llhttp_t& chunked_body_template(MessageKind kind, const llhttp_settings_t* settings) {
  const auto make = [settings](llhttp_type_t type, std::string_view head) {
    llhttp_t t;
    llhttp_init(&t, type, settings);
    // No callback of `settings` runs before the body: data stays null.
    const llhttp_errno_t e = llhttp_execute(&t, head.data(), head.size());
    if (e != HPE_OK || (t.flags & F_CHUNKED) == 0) std::abort();
    return t;
  };
  static const llhttp_t kRequest =
      make(HTTP_REQUEST, "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  static const llhttp_t kResponse =
      make(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  return kind == MessageKind::kRequest ? kRequest : kResponse;
}

constexpr std::string_view kRootPath = "/";

}  // namespace

struct Parser::Impl {
  Impl(MessageKind k, const ParserLimits& l, MessageSink& s, HeadBufferPool* p)
      : kind(k), limits(l), sink(s), pool(p) {
    // Without a pool: sized for a typical API head, kept between messages (a bigger one
    // grows these once per connection).
    if (pool == nullptr) {
      head_buf.reserve(std::min<size_t>(limits.max_head_bytes, HeadBufferPool::kBytes));
      head.fields.reserve(std::min<size_t>(limits.max_fields, HeadBufferPool::kFields));
    }
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

  // Our rules over the head.
  size_t consume_head(const char* p, size_t n, bool& head_ready);
  [[gnu::always_inline]] size_t fast_field_lines(const char* p, size_t n, size_t used,
                                                 size_t copy_from, bool& head_ready);
  [[gnu::always_inline]] size_t fast_start_line(const char* p, size_t n, size_t used,
                                                size_t copy_from);
  bool check_head_limits(const char* line, size_t size, bool has_nl, size_t unbuffered);
  ParseError process_head_line(const char* data, size_t size, uint32_t base, bool clean,
                               bool& head_ready);
  ParseError parse_request_line(std::string_view line, uint32_t base);
  ParseError parse_request_target(std::string_view line, uint32_t base);
  ParseError parse_status_line(std::string_view line, uint32_t base);
  ParseError finish_head();
  ParseError check_transfer_encoding() const;
  size_t consume_trailer_line(const char* p, size_t n, bool& line_done, ParseError& err);
  // Content-Length / close-delimited body bytes at p[0, n): consumed count.
  size_t consume_body(const char* p, size_t n, bool& done);

  // llhttp callbacks for the chunked coding (llhttp_t::data is this Impl).
  static const llhttp_settings_t* settings();
  static Impl& impl_of(llhttp_t* p) { return *static_cast<Impl*>(p->data); }
  static int cb_body(llhttp_t* p, const char* at, size_t len);
  static int cb_chunk_header(llhttp_t* p);
  static int cb_chunk_complete(llhttp_t* p);
  static int cb_message_complete(llhttp_t* p);
  void start_chunked_body() {
    ll = chunked_body_template(kind, settings());
    ll.data = this;
  }
  int on_body(const char* at, size_t len);
  int on_chunk_header();
  ParseError run_llhttp_on_chunk_line();
  int fail_in_callback(ParseError e) {
    cb_error = e;
    return HPE_USER;
  }

  std::string_view view(Span s) const { return {head_buf.data() + s.off, s.len}; }

  // Each field is made once, as its line is read, with views into head_buf's allocation
  // at the offsets its bytes will have: a line validated where it lies in the caller's
  // buffer is copied there at the end of consume_head, before anyone reads the field. So
  // the line must end within head_buf's capacity (ensure_head_capacity), and whatever
  // moves head_buf (a reserve, an append past its capacity) moves the views along.
  void ensure_head_capacity(size_t end) {
    if (end <= head_buf.capacity()) return;
    const auto old = reinterpret_cast<uintptr_t>(head_buf.data());
    head_buf.reserve(std::max(end, 2 * head_buf.capacity()));
    rebase_fields(old);
  }
  void append_head(const char* p, size_t n) {
    const auto old = reinterpret_cast<uintptr_t>(head_buf.data());
    head_buf.append(p, n);
    if (reinterpret_cast<uintptr_t>(head_buf.data()) != old) [[unlikely]]
      rebase_fields(old);
  }
  // The fields' views pointed into head_buf's allocation at `old` (integers: that
  // allocation is gone).
  void rebase_fields(uintptr_t old) {
    const char* const buf = head_buf.data();
    for (HeaderField& f : head.fields) {
      f.name = {buf + (reinterpret_cast<uintptr_t>(f.name.data()) - old), f.name.size()};
      f.value = {buf + (reinterpret_cast<uintptr_t>(f.value.data()) - old), f.value.size()};
    }
  }

  const MessageKind kind;
  ParserLimits limits;
  MessageSink& sink;
  HeadBufferPool* const pool;  // null: head_buf and head.fields are this parser's own
  bool holding = false;        // head_buf and head.fields came from the pool
  llhttp_t ll{};  // only in a chunked body (start_chunked_body)

  State state = State::kStartLine;
  ParseError error = ParseError::kNone;
  Method request_method = Method::kGet;  // responses: what the matching request was
  bool pause_requested = false;
  bool head_done = false;

  // Head: raw bytes of start line + fields; offsets until the head is complete.
  HeadBytes head_buf;
  size_t line_start = 0;
  uint64_t leading_bytes = 0;      // empty lines before the start line (RFC 9112 §2.2)
  Span start_a, start_b, start_c;  // method/target/version, or status code/reason
  Span path;
  bool path_is_root = false;  // absolute-form without a path: path is "/"
  Span authority;             // absolute-form authority (len 0 when origin-form)
  MessageHead head;

  // llhttp in a chunked body.
  ParseError cb_error = ParseError::kNone;  // a callback of ours stopped llhttp
  bool ll_message_done = false;   // on_message_complete ran
  bool ll_last_chunk = false;     // on_chunk_header saw size 0: trailers follow
  bool ll_chunk_done = false;     // on_chunk_complete: the next size line is ours

  // Body.
  const char* exec_begin = nullptr;  // start of the bytes given to the running execute
  uint64_t exec_wire_base = 0;
  uint64_t body_wire = 0;
  uint64_t body_decoded = 0;
  ChunkLineScanner chunk_line;
  std::string trailer_line;
  uint64_t trailer_bytes = 0;
  uint32_t trailer_count = 0;
};

int Parser::Impl::cb_body(llhttp_t* p, const char* at, size_t len) {
  return impl_of(p).on_body(at, len);
}
int Parser::Impl::cb_chunk_header(llhttp_t* p) { return impl_of(p).on_chunk_header(); }
int Parser::Impl::cb_chunk_complete(llhttp_t* p) {
  // After a data chunk's CRLF: pause so the next size line goes to our scanner. After the
  // trailers (the last chunk's completion) llhttp goes on to on_message_complete.
  auto& m = impl_of(p);
  if (m.ll_last_chunk) return 0;
  m.ll_chunk_done = true;
  return HPE_PAUSED;
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
    s.on_body = cb_body;
    s.on_chunk_header = cb_chunk_header;
    s.on_chunk_complete = cb_chunk_complete;
    s.on_message_complete = cb_message_complete;
    return s;
  }();
  return &kSettings;
}

// The usual field lines, and the empty line that ends the head, read in one pass each
// where they lie: p[used, n) is the rest of the data (p[0, used) readable before it, for
// r::find_ctl), p[copy_from, used) the head bytes before it not yet in head_buf. Returns
// where it stopped: after the empty line (head_ready), or at the first other line (cut
// by the end of the data, over a limit, no colon, whitespace before it, a HTAB or other
// CTL, bare LF, too many fields, past head_buf's capacity, ...), which the general path
// then reads and, if need be, refuses: so every refusal stays where it was. Each line
// read is recorded exactly as process_head_line would record it. The limits and offsets
// are held in locals for the whole run of lines.
inline size_t Parser::Impl::fast_field_lines(const char* p, size_t n, size_t used,
                                             size_t copy_from, bool& head_ready) {
  // A byte at p[k] will be at head_buf offset k + shift.
  const size_t shift = head_buf.size() - copy_from;  // modulo 2^N: copy_from may be larger
  // The head_buf offset a line may end at: past it the head is over max_head_bytes (the
  // general path's refusal), or, for a field line, past head_buf's capacity (where
  // ensure_head_capacity grows it). The empty line, whose bytes no view points to, is
  // held to the first bound alone. leading_bytes never passes max_head_bytes here (that
  // was refused), but the bound stays 0 then anyway.
  const size_t max_head = limits.max_head_bytes;
  const size_t head_bound = max_head > leading_bytes ? max_head - leading_bytes : 0;
  const size_t field_bound = std::min(head_bound, head_buf.capacity());
  // Field lines the limit still allows.
  size_t fields_room =
      limits.max_fields > head.fields.size() ? limits.max_fields - head.fields.size() : 0;
  const size_t first = used;
  while (used < n) {
    const char* const s = p + used;
    const size_t avail = n - used;
    const size_t stop = r::find_ctl(s, avail, used);
    // The first CTL must be the CR of a CRLF: the line before it is field-vchar but HTAB.
    if (stop + 1 >= avail || s[stop] != '\r' || s[stop + 1] != '\n') break;
    const size_t size = stop + 2;
    const size_t end = used + size + shift;  // head_buf offset of the line's end
    if (stop == 0) {  // the empty line
      if (end > head_bound) break;
      used += 2;
      head_ready = true;
      break;
    }
    if (end > field_bound || fields_room == 0) break;
    // A non-empty tchar name, then the colon. The CR stops the loop at the latest (each
    // byte is read only after the one before it proved tchar). Four bytes a turn: names
    // are most of what this path reads byte by byte (16-byte SSE2 class compares cost more
    // instructions than this loop on names of usual length).
    size_t i = 0;
    for (;; i += 4) {
      if (!r::is_tchar(s[i])) break;
      if (!r::is_tchar(s[i + 1])) {
        i += 1;
        break;
      }
      if (!r::is_tchar(s[i + 2])) {
        i += 2;
        break;
      }
      if (!r::is_tchar(s[i + 3])) {
        i += 3;
        break;
      }
    }
    if (i == 0 || s[i] != ':') break;
    size_t b = i + 1;
    while (s[b] == ' ') ++b;  // OWS is SP here (HTAB stopped find_ctl); the CR stops it
    size_t e = stop;
    while (e > b && s[e - 1] == ' ') --e;
    const char* const at = head_buf.data() + (end - size);  // where the line will be
    head.fields.push_back({{at, i}, {at + b, e - b}, lookup_field_token_inline({s, i})});
    --fields_room;
    used += size;
  }
  if (used != first) line_start = used + shift;
  return used;
}

// The usual start line, read in one pass where it lies: a request line "<token> /<origin-form
// target> HTTP/1.x" (any method but CONNECT and PRI) or a status line "HTTP/1.x <code>" with
// an optional " <reason>" free of HTAB. p[used, n) is the rest of the data (p[0, used)
// readable before it), p[copy_from, used) the head bytes before it not yet in head_buf.
// Returns `used` unchanged when the line is anything else (cut by the end of the data,
// over a limit, a HTAB, another target form, ...): the general path (scan_line,
// check_head_limits, process_head_line) then reads it and makes every refusal where it
// always did. A line read here is recorded exactly as that path would record it.
inline size_t Parser::Impl::fast_start_line(const char* p, size_t n, size_t used,
                                            size_t copy_from) {
  const char* const s = p + used;
  const size_t avail = n - used;
  // The line's bytes are all >= 0x20 but DEL up to its CR: scan_line ends it at the same
  // LF, and no byte in it is one the grammar below lets pass but the general path refuses.
  const size_t stop = r::find_ctl(s, avail, used);
  if (stop == 0 || stop + 1 >= avail || s[stop] != '\r' || s[stop + 1] != '\n') return used;
  const size_t size = stop + 2;
  if (stop > limits.max_start_line_bytes ||
      leading_bytes + head_buf.size() + (used - copy_from + size) > limits.max_head_bytes) {
    return used;
  }
  const auto base = static_cast<uint32_t>(head_buf.size() + (used - copy_from));
  const auto version_at = [s](size_t at) {  // "HTTP/1.0" or "HTTP/1.1" at s[at]: its minor
    if (std::memcmp(s + at, "HTTP/1.", 7) != 0) return -1;
    const char minor = s[at + 7];
    return minor == '1' ? 1 : minor == '0' ? 0 : -1;
  };
  if (kind == MessageKind::kRequest) {
    // method SP origin-form SP HTTP-version: the tchar run is the method when a SP ends it.
    size_t sp1 = 0;
    while (r::is_tchar(s[sp1])) ++sp1;  // the CR stops it at the latest
    // Shortest: "M / HTTP/1.1", so the version's SP lies after the target's '/'.
    if (sp1 == 0 || s[sp1] != ' ' || s[sp1 + 1] != '/' || stop < sp1 + 11) return used;
    const size_t sp2 = stop - 9;
    if (s[sp2] != ' ') return used;
    const int minor = version_at(sp2 + 1);
    if (minor < 0) return used;
    const std::string_view method(s, sp1);
    const Method m = method_from_text(method);
    if (m == Method::kConnect || (m == Method::kOther && method == "PRI")) return used;
    // The target: kTargetChar up to sp2 (a SP, CTL or '#' stops it short), the path up to
    // its first '?'.
    size_t q = sp1 + 2;
    while (r::has_class(s[q], r::kTargetChar) && s[q] != '?') ++q;
    size_t t = q;
    while (r::has_class(s[t], r::kTargetChar)) ++t;
    if (t != sp2) return used;
    head.version_minor = static_cast<uint8_t>(minor);
    head.method = m;
    start_a = {base, static_cast<uint32_t>(sp1)};
    start_b = {static_cast<uint32_t>(base + sp1 + 1), static_cast<uint32_t>(sp2 - sp1 - 1)};
    path = {start_b.off, static_cast<uint32_t>(q - sp1 - 1)};
  } else {
    // HTTP-version SP 3DIGIT [ SP reason ]: the reason's bytes are field-vchar (no CTL
    // before the CR; HTAB, which the general path allows there, stopped find_ctl).
    if (stop < 12 || s[8] != ' ' || (stop > 12 && s[12] != ' ')) return used;
    const int minor = version_at(0);
    if (minor < 0) return used;
    const auto d0 = static_cast<unsigned>(s[9] - '0');
    const auto d1 = static_cast<unsigned>(s[10] - '0');
    const auto d2 = static_cast<unsigned>(s[11] - '0');
    if (d0 - 1 > 4 || d1 > 9 || d2 > 9) return used;  // 100-599
    head.version_minor = static_cast<uint8_t>(minor);
    head.status = static_cast<uint16_t>(d0 * 100 + d1 * 10 + d2);
    if (stop > 12) start_c = {base + 13, static_cast<uint32_t>(stop - 13)};
  }
  state = State::kFields;
  line_start = base + size;
  return used + size;
}

size_t Parser::Impl::consume_head(const char* p, size_t n, bool& head_ready) {
  size_t used = 0;
  // A line the previous feed left incomplete is finished in head_buf.
  if (line_start < head_buf.size()) {
    const void* nl = std::memchr(p, '\n', n);
    const size_t take =
        nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - p) + 1 : n;
    append_head(p, take);
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
  const auto flush = [&] { append_head(p + copy_from, used - copy_from); };
  while (used < n) {
    if (state == State::kStartLine) {
      used = fast_start_line(p, n, used, copy_from);
      if (used == n) break;
    }
    if (state == State::kFields) {
      used = fast_field_lines(p, n, used, copy_from, head_ready);
      if (head_ready || used == n) break;
    }
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
    return kind == MessageKind::kRequest ? parse_request_line(line, base)
                                         : parse_status_line(line, base);
  }
  if (head.fields.size() >= limits.max_fields) return ParseError::kTooManyHeaders;
  size_t name_len = 0;
  size_t value_off = 0;
  size_t value_len = 0;
  const ParseError e =
      parse_field_line(line, head.fields.empty(), clean, name_len, value_off, value_len);
  if (e != ParseError::kNone) return e;
  ensure_head_capacity(base + size);
  const char* const at = head_buf.data() + base;  // see ensure_head_capacity
  head.fields.push_back(
      {{at, name_len}, {at + value_off, value_len}, lookup_field_token(line.substr(0, name_len))});
  return ParseError::kNone;
}

ParseError Parser::Impl::parse_request_line(std::string_view line, uint32_t base) {
  const ParseError e = parse_request_target(line, base);
  // "PRI" opens the HTTP/2 preface ("PRI * HTTP/2.0"): HTTP/2 sent to an HTTP/1 port.
  // Refused with any target and version (as llhttp does: a backend built on it would
  // wait for the rest of the preface), after every other start-line rule.
  if (e == ParseError::kNone && line.substr(0, start_a.len) == "PRI") {
    return ParseError::kInvalidVersion;
  }
  return e;
}

ParseError Parser::Impl::parse_request_target(std::string_view line, uint32_t base) {
  // request-line = method SP request-target SP HTTP-version, single spaces only.
  // The method's tchar run, when a SP ends it, is the method (a token) up to the first SP;
  // anything else is refused below as before.
  size_t sp1 = 0;
  while (sp1 < line.size() && r::is_tchar(line[sp1])) ++sp1;
  if (sp1 == 0 || sp1 == line.size() || line[sp1] != ' ') {
    sp1 = line.find(' ');
    if (sp1 == 0) return ParseError::kInvalidMethod;
    if (sp1 == std::string_view::npos) return ParseError::kMalformed;
    return ParseError::kInvalidMethod;  // not a token: a tchar run would have reached sp1
  }
  const std::string_view method = line.substr(0, sp1);
  // The usual version ("HTTP/1.1", no SP in it) puts the last SP 9 bytes from the end,
  // with the target between: no need to search the line backwards for it.
  const size_t len = line.size();
  const bool usual = len >= sp1 + 10 && line[len - 9] == ' ' &&
                     line.substr(len - 8, 7) == "HTTP/1." &&
                     (line[len - 1] == '1' || line[len - 1] == '0');
  const size_t sp2 = usual ? len - 9 : line.rfind(' ');
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
    // Short targets (the usual) are searched in place, long ones by memchr.
    size_t q = 0;
    if (target.size() <= 16) {
      while (q < target.size() && target[q] != '?') ++q;
    } else {
      q = std::min(target.find('?'), target.size());
    }
    path = {target_off, static_cast<uint32_t>(q)};
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
    if (f.token != FieldToken::kTransferEncoding) continue;
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
  bool te_tab_after = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool has_upgrade = false;
  bool expect_continue = false;
  bool framing_lookalike = false;
  // Read by the token each field got when its line was read.
  for (const HeaderField& f : head.fields) {
    switch (f.token) {
      case FieldToken::kHost:
        ++hosts;
        host = f.value;
        break;
      case FieldToken::kExpect:
        expect_continue = f.value.size() == 12 && detail::is<"100-continue">(f.value.data());
        break;
      case FieldToken::kUpgrade:
        has_upgrade = true;
        break;
      case FieldToken::kConnection: {
        // The usual value is one of these alone (a list of one element, OWS trimmed),
        // compared a word at a time (detail::is: exact but for ASCII case).
        if (f.value.size() == 10 && detail::is<"keep-alive">(f.value.data())) {
          conn_keep_alive = true;
          break;
        }
        if (f.value.size() == 5 && detail::is<"close">(f.value.data())) {
          conn_close = true;
          break;
        }
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
        break;
      }
      case FieldToken::kContentLength: {
        // One field, 1*DIGIT, only SP after it: see the top and field_rules.h.
        uint64_t v = 0;
        if (has_cl || !r::parse_content_length(f.value, v) || !only_sp_after(f.value)) {
          bad_cl = true;
        }
        cl = v;
        has_cl = true;
        break;
      }
      case FieldToken::kTransferEncoding:
        has_te = true;
        te_tab_after = te_tab_after || !only_sp_after(f.value);
        break;
      case FieldToken::kOther:
        // "Content_Length", "transfer_encoding" (the real names have their tokens).
        if ((f.name.size() == 14 && r::iequals_lower_any_dash(f.name, "content-length")) ||
            (f.name.size() == 17 && r::iequals_lower_any_dash(f.name, "transfer-encoding"))) {
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
    if (te_tab_after) return ParseError::kTransferEncodingNotChunkedLast;
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

ParseError Parser::Impl::run_llhttp_on_chunk_line() {
  // The line re-stated without extensions: llhttp checks nothing we did not, but counts
  // the data that follows and then wants its CRLF.
  char line[24];
  const std::string_view restated = chunk_header(line, chunk_line.size());
  chunk_line.reset();
  const llhttp_errno_t e = llhttp_execute(&ll, restated.data(), restated.size());
  if (cb_error != ParseError::kNone) return cb_error;
  if (e == HPE_OK && !ll_last_chunk) return ParseError::kNone;
  if (e == HPE_PAUSED && ll_last_chunk) return ParseError::kNone;
  return ParseError::kInvalidChunk;
}

int Parser::Impl::on_body(const char* at, size_t len) {
  body_wire = exec_wire_base + static_cast<uint64_t>(at + len - exec_begin);
  body_decoded += len;
  if (sink.on_body({at, len}) != SinkAction::kPause) return 0;
  pause_requested = true;
  return HPE_PAUSED;
}

size_t Parser::Impl::consume_body(const char* p, size_t n, bool& done) {
  size_t take = n;
  if (head.framing == BodyFraming::kContentLength) {
    take = static_cast<size_t>(std::min<uint64_t>(take, head.content_length - body_decoded));
  } else if (limits.max_body_bytes != 0 && body_decoded + take > limits.max_body_bytes) {
    // Close-delimited: no declared length to refuse up front.
    fail(ParseError::kBodyTooLarge, 0);
    return 0;
  }
  body_wire += take;
  body_decoded += take;
  done = head.framing == BodyFraming::kContentLength && body_decoded == head.content_length;
  if (sink.on_body({p, take}) == SinkAction::kPause) pause_requested = true;
  return take;
}

int Parser::Impl::on_chunk_header() {
  // llhttp read the size our scanner stated, already held to INT64_MAX.
  const uint64_t size = ll.content_length;
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
  if (pool != nullptr && !holding) {
    pool->take(head_buf, head.fields, limits.max_head_bytes, limits.max_fields);
    holding = true;
  }
  pause_requested = false;
  if (ll.error == HPE_PAUSED) llhttp_resume(&ll);  // llhttp_get_errno, without the call
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
        if (head.framing == BodyFraming::kChunked) {
          start_chunked_body();
          state = State::kChunkLine;
        } else {
          state = State::kBody;
        }
        if (sink.on_head(head) == SinkAction::kPause) pause_requested = true;
        // No body (HEAD, 1xx/204/304, CONNECT 2xx, CL 0): complete right away, even when
        // the sink asked to pause.
        if (head.framing == BodyFraming::kNone) {
          complete();
          return {FeedStatus::kPaused, pos};
        }
        if (pause_requested) return {FeedStatus::kPaused, pos};
        continue;
      }
      case State::kBody: {
        if (pos == n) return {FeedStatus::kOk, pos};
        bool done = false;
        pos += consume_body(p + pos, n - pos, done);
        if (state == State::kError) return {FeedStatus::kError, pos};
        if (done) {  // completes even when the sink asked to pause
          complete();
          return {FeedStatus::kPaused, pos};
        }
        if (pause_requested) return {FeedStatus::kPaused, pos};
        continue;
      }
      case State::kChunkData: {
        if (pos == n) return {FeedStatus::kOk, pos};
        exec_begin = p + pos;
        exec_wire_base = body_wire;
        const llhttp_errno_t e = llhttp_execute(&ll, p + pos, n - pos);
        const size_t used =
            e == HPE_OK ? n - pos : static_cast<size_t>(llhttp_get_error_pos(&ll) - (p + pos));
        pos += used;
        body_wire = exec_wire_base + used;
        if (cb_error != ParseError::kNone) return fail(cb_error, pos);
        if (e == HPE_OK) continue;
        if (e != HPE_PAUSED) return fail(ParseError::kInvalidChunk, pos);
        if (ll_message_done) {
          complete();
          return {FeedStatus::kPaused, pos};
        }
        if (ll_chunk_done) {
          ll_chunk_done = false;
          state = State::kChunkLine;
          llhttp_resume(&ll);
          if (!pause_requested) continue;
        }
        if (ll_last_chunk) {  // a plain "0\r\n" llhttp read itself: trailers are ours
          state = State::kTrailers;
          llhttp_resume(&ll);
          continue;
        }
        return {FeedStatus::kPaused, pos};  // the sink asked
      }
      case State::kChunkLine: {
        if (pos == n) return {FeedStatus::kOk, pos};
        uint64_t plain_size = 0;
        if (chunk_line.fresh() &&
            ChunkLineScanner::plain_line_length(p + pos, n - pos, plain_size) != 0) {
          // "<hex>\r\n", whole here: llhttp reads it as we would, so it reads it where it
          // lies, with the data after it, in one call (and on_chunk_header checks it).
          state = State::kChunkData;
          continue;
        }
        const ChunkLineScanner::Result r = chunk_line.feed(p + pos, n - pos);
        pos += r.consumed;
        body_wire += r.consumed;
        switch (r.status) {
          case ChunkLineScanner::Status::kMore:
            continue;
          case ChunkLineScanner::Status::kInvalid:
            return fail(ParseError::kInvalidChunk, pos);
          case ChunkLineScanner::Status::kExtensionsTooLong:
            return fail(ParseError::kChunkExtensionsTooLong, pos);
          case ChunkLineScanner::Status::kDone:
            break;
        }
        const ParseError e = run_llhttp_on_chunk_line();
        if (e != ParseError::kNone) return fail(e, pos);
        if (ll_last_chunk) {
          state = State::kTrailers;
          llhttp_resume(&ll);
        } else {
          state = State::kChunkData;
        }
        continue;
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
      if (head.framing == BodyFraming::kUntilClose) {  // the close ends the body
        complete();
        return {FeedStatus::kPaused, 0};
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
  leading_bytes = 0;
  start_a = start_b = start_c = path = authority = Span{};
  path_is_root = false;
  if (pool != nullptr) {
    if (holding) pool->give(head_buf, head.fields);
    holding = false;
    head = MessageHead{};
  } else {
    std::vector<HeaderField> fields = std::move(head.fields);
    fields.clear();
    head = MessageHead{};
    head.fields = std::move(fields);  // keeps its capacity: no allocation per message
  }
  cb_error = ParseError::kNone;
  ll_message_done = false;
  ll_last_chunk = false;
  ll_chunk_done = false;
  exec_begin = nullptr;
  exec_wire_base = 0;
  body_wire = 0;
  body_decoded = 0;
  chunk_line.reset();
  trailer_line.clear();
  trailer_bytes = 0;
  trailer_count = 0;
}

Parser::Parser(MessageKind kind, const ParserLimits& limits, MessageSink& sink,
               HeadBufferPool* pool)
    : impl_(std::make_unique<Impl>(kind, limits, sink, pool)) {}
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

size_t Parser::head_bytes_held() const {
  return impl_->head_buf.capacity() + impl_->head.fields.capacity() * sizeof(HeaderField);
}

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
