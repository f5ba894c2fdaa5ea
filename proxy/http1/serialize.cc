// Forwarded heads per RFC 9110 §7.6: hop-by-hop fields stop here, framing is re-stated
// by us (never copied from the peer), Via and X-Forwarded-* describe the hop we are.
// Local responses too (local_response.h).
#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>
#include <string>

#include "proxy/http1/field_rules.h"
#include "proxy/http1/field_token.h"
#include "proxy/http1/local_response.h"
#include "proxy/http1/max_forwards.h"
#include "proxy/http1/parser.h"

namespace sidemeter::http {

namespace {

namespace r = rules;

enum class FieldRole : uint8_t {
  kKeep,
  kDrop,     // hop-by-hop, or framing we restate
  kHost,     // kept, and immune to Connection-listed removal
  kUpgrade,  // kept only when upgrading
  kXff,      // merged into one X-Forwarded-For line (requests)
  kForwarded,  // RFC 7239: merged into one line, our element appended (requests)
  kXfp,      // replaced by ours (requests)
  kXfh,      // kept; suppresses our own X-Forwarded-Host (requests)
  kVia,      // merged into one Via line, ours appended (RFC 9110 §7.6.3)
  kDate,     // kept; suppresses the Date we would add (responses)
  kMaxForwards,  // decremented when the exchange asks (OPTIONS, TRACE; requests)
};

// What a forwarder does with a field, by its token and the message's direction.
constexpr FieldRole role_of(FieldToken t, bool request) {
  switch (t) {
    case FieldToken::kHost:
      return FieldRole::kHost;
    case FieldToken::kUpgrade:
      return FieldRole::kUpgrade;  // connection-specific, yet it must pass when upgrading
    case FieldToken::kVia:
      return FieldRole::kVia;
    case FieldToken::kDate:
      return request ? FieldRole::kKeep : FieldRole::kDate;
    case FieldToken::kForwarded:
      return request ? FieldRole::kForwarded : FieldRole::kKeep;
    case FieldToken::kMaxForwards:
      return request ? FieldRole::kMaxForwards : FieldRole::kKeep;
    case FieldToken::kXForwardedFor:
      return request ? FieldRole::kXff : FieldRole::kKeep;
    case FieldToken::kXForwardedHost:
      return request ? FieldRole::kXfh : FieldRole::kKeep;
    case FieldToken::kXForwardedProto:
      return request ? FieldRole::kXfp : FieldRole::kKeep;
    default:
      break;
  }
  constexpr uint8_t kDropped = kConnectionSpecific | kFraming | kProxyCredentials;
  return (field_token_flags(t) & kDropped) != 0 ? FieldRole::kDrop : FieldRole::kKeep;
}

struct RoleTable {
  FieldRole role[static_cast<size_t>(FieldToken::kCount)];
};
constexpr RoleTable make_roles(bool request) {
  RoleTable t{};
  for (size_t i = 0; i < static_cast<size_t>(FieldToken::kCount); ++i)
    t.role[i] = role_of(static_cast<FieldToken>(i), request);
  return t;
}
constexpr RoleTable kRequestRoles = make_roles(true);
constexpr RoleTable kResponseRoles = make_roles(false);

// Copies `n` bytes with at most two overlapping loads and stores for the short strings
// heads are made of (names, most values; up to 32 bytes), libc's memcpy for the rest.
inline void copy_bytes(char* d, const char* s, size_t n) {
  if (n >= 8) {
    if (n > 16) {
      if (n > 32) {
        std::memcpy(d, s, n);
        return;
      }
      // 17-32 bytes (field lines' values, the longer names): two overlapping 16-byte moves.
      char a[16];
      char b[16];
      std::memcpy(a, s, 16);
      std::memcpy(b, s + n - 16, 16);
      std::memcpy(d, a, 16);
      std::memcpy(d + n - 16, b, 16);
      return;
    }
    uint64_t a;
    uint64_t b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a;
    uint32_t b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n > 0) {
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  }
}

// Tag for a HeadWriter write whose room the caller made beforehand with ensure().
struct Reserved {};
constexpr Reserved kReserved{};

// Builds a head at the end of a string in one pass: the string is sized once for an
// estimate of the head, bytes are written through a pointer, and finish() trims it to
// what was written. A write checks its room first and grows the string when the estimate
// fell short, so no estimate can overrun it; the fixed pieces of a head (start line, the
// lines we add) are written kReserved after one ensure() covering all of them, which
// debug builds assert.
class HeadWriter {
 public:
  HeadWriter(std::string& out, size_t estimate) : out_(out) {
    const size_t at = out_.size();
    out_.resize(at + estimate);
    p_ = out_.data() + at;
    end_ = out_.data() + out_.size();
  }
  HeadWriter(const HeadWriter&) = delete;
  HeadWriter& operator=(const HeadWriter&) = delete;

  // At least n more bytes can be written kReserved.
  void ensure(size_t n) { room(n); }

  // Each write works on a local copy of p_: a store through a char* may alias the
  // writer itself, which would otherwise make the compiler reload p_ after every byte.
  void put(std::string_view s) {
    room(s.size());
    put(s, kReserved);
  }
  void put(std::string_view s, Reserved) {
    assert(fits(s.size()));
    char* p = p_;
    copy_bytes(p, s.data(), s.size());
    p_ = p + s.size();
  }
  // A literal: its length is a constant, so the copy is a few fixed-size moves.
  template <size_t N>
  void put(const char (&literal)[N]) {
    room(N - 1);
    put(literal, kReserved);
  }
  template <size_t N>
  void put(const char (&literal)[N], Reserved) {
    static_assert(N > 1);
    assert(fits(N - 1));
    char* p = p_;
    std::memcpy(p, literal, N - 1);
    p_ = p + (N - 1);
  }
  void put(char c) {
    room(1);
    put(c, kReserved);
  }
  void put(char c, Reserved) {
    assert(fits(1));
    *p_++ = c;
  }
  void put_crlf() {
    room(2);
    put_crlf(kReserved);
  }
  void put_crlf(Reserved) {
    assert(fits(2));
    char* p = p_;
    p[0] = '\r';
    p[1] = '\n';
    p_ = p + 2;
  }
  void put_sep() {  // ", " between list elements
    room(2);
    char* p = p_;
    p[0] = ',';
    p[1] = ' ';
    p_ = p + 2;
  }
  // "name: value\r\n"
  void field(std::string_view name, std::string_view value) {
    room(name.size() + value.size() + 4);
    field(name, value, kReserved);
  }
  void field(std::string_view name, std::string_view value, Reserved) {
    assert(fits(name.size() + value.size() + 4));
    char* p = p_;
    copy_bytes(p, name.data(), name.size());
    p += name.size();
    p[0] = ':';
    p[1] = ' ';
    p += 2;
    copy_bytes(p, value.data(), value.size());
    p += value.size();
    p[0] = '\r';
    p[1] = '\n';
    p_ = p + 2;
  }
  static constexpr size_t kUintBytes = 20;  // UINT64_MAX has 20 digits
  void put_uint(uint64_t v) {
    room(kUintBytes);
    put_uint(v, kReserved);
  }
  // Digits from the last, into a scratch buffer: status codes and most lengths are a few
  // digits, for which this is shorter than std::to_chars (not inlined here).
  void put_uint(uint64_t v, Reserved) {
    assert(fits(kUintBytes));
    char digits[kUintBytes];
    char* const end = digits + kUintBytes;
    char* b = end;
    do {
      *--b = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    const auto n = static_cast<size_t>(end - b);
    char* p = p_;
    copy_bytes(p, b, n);
    p_ = p + n;
  }

  // Offsets into the string (the buffer may move when it grows).
  size_t pos() const { return static_cast<size_t>(p_ - out_.data()); }
  void rewind(size_t pos) { p_ = out_.data() + pos; }
  void finish() { out_.resize(pos()); }

 private:
  bool fits(size_t n) const { return n <= static_cast<size_t>(end_ - p_); }
  void room(size_t n) {
    if (!fits(n)) [[unlikely]]
      grow(n);
  }
  void grow(size_t n) {
    const size_t at = pos();
    out_.resize(std::max(out_.size() * 2, at + n));
    p_ = out_.data() + at;
    end_ = out_.data() + out_.size();
  }

  std::string& out_;
  char* p_;
  char* end_;
};

// The list walk of names_other_fields (out of line: rare, and kept out of
// copy_end_to_end's registers).
[[gnu::noinline]] bool list_names_other_fields(std::string_view connection) {
  r::ListIterator it(connection);
  std::string_view t;
  while (it.next(t)) {
    if (!t.empty() && !r::iequals_lower(t, "close") && !r::iequals_lower(t, "keep-alive") &&
        !r::iequals_lower(t, "upgrade")) {
      return true;
    }
  }
  return false;
}

// Whether a Connection field names anything beyond "close", "keep-alive" and "upgrade",
// which name nothing we do not already handle: then every field must be checked against
// it.
inline bool names_other_fields(std::string_view connection) {
  // The usual values whole, before walking the list.
  if (r::iequals_lower(connection, "keep-alive") || r::iequals_lower(connection, "close"))
    return false;
  return list_names_other_fields(connection);
}

// Out of line, as list_names_other_fields.
[[gnu::noinline]] bool named_in_connection(const MessageHead& h, std::string_view name) {
  for (const HeaderField& f : h.fields) {
    if (field_token_of(f) != FieldToken::kConnection) continue;
    r::ListIterator it(f.value);
    std::string_view t;
    while (it.next(t)) {
      if (r::iequals(t, name)) return true;
    }
  }
  return false;
}

// What copy_end_to_end saw: the X-Forwarded-For / Forwarded / Via lines it held back for
// merging, and the X-Forwarded-Host, Host and Date it kept.
struct Copied {
  uint32_t xff = 0;
  uint32_t forwarded = 0;
  uint32_t via = 0;
  bool xfh = false;
  bool host = false;
  bool date = false;
  bool check_connection = false;  // Connection names fields beyond close/keep-alive/upgrade
};

struct CopyOptions {
  bool request = false;
  bool upgrade = false;
  bool decrement_max_forwards = false;
};

// One pass over the fields, each decided by its role (the parser's token; a head built
// by hand has its names looked up here). The usual field, copied as received, takes the
// first branch alone. A Connection field that names other fields (rare) is only found on
// the way, and a field it names may come before it: then the pass starts over, checking
// every field against it.
Copied copy_end_to_end(const MessageHead& h, const CopyOptions& o, HeadWriter& w) {
  const size_t start = w.pos();
  const RoleTable& roles = o.request ? kRequestRoles : kResponseRoles;
  const HeaderField* const fields = h.fields.data();
  const size_t n = h.fields.size();
  Copied c;
  for (size_t i = 0; i < n; ++i) {
    const HeaderField& f = fields[i];
    const FieldToken t = field_token_of(f);
    const FieldRole role = roles.role[static_cast<size_t>(t)];
    if (role == FieldRole::kKeep && !c.check_connection) {
      w.field(f.name, f.value);
      continue;
    }
    if (t == FieldToken::kConnection && !c.check_connection && names_other_fields(f.value)) {
      c = Copied{};
      c.check_connection = true;
      w.rewind(start);
      i = static_cast<size_t>(-1);  // again from the first field
      continue;
    }
    switch (role) {
      case FieldRole::kDrop:
      case FieldRole::kXfp:
        continue;
      case FieldRole::kXff:
        ++c.xff;  // emitted merged, after the other fields
        continue;
      case FieldRole::kForwarded:
        ++c.forwarded;  // the same
        continue;
      case FieldRole::kVia:
        ++c.via;  // emitted merged, with ours last
        continue;
      case FieldRole::kMaxForwards:
        if (c.check_connection && named_in_connection(h, f.name)) continue;
        if (o.decrement_max_forwards) {
          // The exchange checked it: the only Max-Forwards, 1*DIGIT, not 0.
          std::string decremented;
          append_decremented(decremented, f.value);
          w.field(f.name, decremented);
          continue;
        }
        break;
      case FieldRole::kDate:
        if (c.check_connection && named_in_connection(h, f.name)) continue;
        c.date = true;
        break;
      case FieldRole::kUpgrade:
        if (!o.upgrade) continue;
        break;  // "Connection: upgrade" names it, yet it must pass when upgrading
      case FieldRole::kHost:
        c.host = true;
        break;  // "Connection: host" must not strip routing information
      case FieldRole::kXfh:
        c.xfh = true;
        [[fallthrough]];
      case FieldRole::kKeep:
        if (c.check_connection && named_in_connection(h, f.name)) continue;
        break;
    }
    w.field(f.name, f.value);
  }
  return c;
}

// Via = #( received-protocol RWS received-by ): what earlier hops recorded, in order, then
// us. received-protocol is the version of the message as we received it; "HTTP/" is
// omitted, as RFC 9110 §7.6.3 allows for HTTP.
// Without an earlier hop (c.via == 0) our line alone is written, kReserved: the caller
// ensured kViaBytes + pseudonym.size().
constexpr size_t kViaBytes = sizeof("Via: 1.1 \r\n") - 1;
void append_via(const MessageHead& h, const Copied& c, std::string_view pseudonym,
                HeadWriter& w) {
  const std::string_view version = h.version_minor == 0 ? "1.0 " : "1.1 ";
  if (c.via == 0) {  // the common case: no earlier hop
    if (pseudonym.empty()) return;
    if (h.version_minor == 0) {
      w.put("Via: 1.0 ", kReserved);
    } else {
      w.put("Via: 1.1 ", kReserved);
    }
    w.put(pseudonym, kReserved);
    w.put_crlf(kReserved);
    return;
  }
  const size_t start = w.pos();
  w.put("Via: ");
  const size_t values = w.pos();
  for (const HeaderField& f : h.fields) {
    if (f.value.empty() || field_token_of(f) != FieldToken::kVia) continue;
    if (c.check_connection && named_in_connection(h, f.name)) continue;
    if (w.pos() != values) w.put_sep();
    w.put(f.value);
  }
  if (!pseudonym.empty()) {
    if (w.pos() != values) w.put_sep();
    w.put(version);
    w.put(pseudonym);
  }
  if (w.pos() == values) {
    w.rewind(start);  // nothing to say
    return;
  }
  w.put_crlf();
}

// absolute-form "http://a/p?q" -> "/p?q"; an origin server is sent origin-form
// (RFC 9112 §3.2.1). The parser accepted only http(s)://authority[path][?query].
std::string_view origin_form(std::string_view target, bool& needs_slash) {
  needs_slash = false;
  if (target.empty() || target[0] == '/' || target == "*") return target;
  const size_t auth = target.find("//");
  if (auth == std::string_view::npos) return target;
  const size_t rest = target.find_first_of("/?", auth + 2);
  if (rest == std::string_view::npos) {
    needs_slash = true;
    return {};
  }
  needs_slash = target[rest] == '?';
  return target.substr(rest);
}

}  // namespace

std::string_view reason_phrase(uint16_t status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      break;
  }
  if (status >= 100 && status < 200) return "Informational";
  if (status >= 200 && status < 300) return "Success";
  if (status >= 300 && status < 400) return "Redirection";
  if (status >= 400 && status < 500) return "Client Error";
  return "Server Error";
}

namespace {

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

// The values of every field with token `t`, in order, as one comma-separated list (RFC
// 9110 §5.3: the same as the separate lines).
void append_merged(const MessageHead& req, FieldToken t, bool& first, HeadWriter& w) {
  for (const HeaderField& f : req.fields) {
    if (f.value.empty() || field_token_of(f) != t) continue;
    if (!first) w.put_sep();
    w.put(f.value);
    first = false;
  }
}

// RFC 7239 §4 forwarded-pair "for" = node (§6): an IPv4 address as a token; an IPv6
// address bracketed, and then quoted since ':' and '[' are not tchars; "unknown" (§6.3)
// when we do not know it.
void append_forwarded_for(std::string_view client_ip, HeadWriter& w) {
  if (client_ip.empty()) {
    w.put("for=unknown");
  } else if (client_ip.find(':') != std::string_view::npos) {
    w.put("for=\"[");
    w.put(client_ip);
    w.put("]\"");
  } else {
    w.put("for=");
    w.put(client_ip);
  }
}

// The longest of the lines we add after a forwarded request's fields, with their
// variable parts (pseudonym, client address, scheme, Host) left out: our Via entry,
// framing ("Content-Length: " and a uint64 is longer than the chunked line),
// "Connection: upgrade", X-Forwarded-For, -Proto and -Host, the empty line. A merged
// line (X-Forwarded-For or Via kept from the client, Forwarded) and a Host we supply are
// written with checks, after which this room is ensured again.
constexpr size_t kContentLengthBytes = sizeof("Content-Length: \r\n") - 1 + HeadWriter::kUintBytes;
static_assert(kContentLengthBytes >= sizeof("Transfer-Encoding: chunked\r\n") - 1);
constexpr size_t kRequestTailBytes = kViaBytes + kContentLengthBytes +
                                     sizeof("Connection: upgrade\r\n") - 1 +
                                     sizeof("X-Forwarded-For: \r\n") - 1 +
                                     sizeof("X-Forwarded-Proto: \r\n") - 1 +
                                     sizeof("X-Forwarded-Host: \r\n") - 1 + 2;

// The same for a response: our Via entry, Date, framing, the longest Connection line,
// the empty line.
constexpr size_t kResponseTailBytes = kViaBytes + sizeof("Date: \r\n") - 1 +
                                      kContentLengthBytes +
                                      sizeof("Connection: keep-alive\r\n") - 1 + 2;
static_assert(sizeof("Connection: keep-alive\r\n") >= sizeof("Connection: upgrade\r\n") &&
              sizeof("Connection: keep-alive\r\n") >= sizeof("Connection: close\r\n"));

}  // namespace

void append_forward_request_head(const MessageHead& req, const ForwardRequestContext& ctx,
                                 std::string& out) {
  bool needs_slash = false;
  const std::string_view target = origin_form(req.target, needs_slash);
  const size_t start_line =
      req.method_text.size() + 2 + target.size() + sizeof(" HTTP/1.1\r\n") - 1;
  const size_t tail = kRequestTailBytes + ctx.via_pseudonym.size() + ctx.client_ip.size() +
                      ctx.proto.size() + req.host.size();
  // Every field line at most one byte longer than received ("name:value" gains a space),
  // plus the lines we add: usually no growth after this. The start line is written into
  // this room unchecked.
  HeadWriter w(out, start_line + req.wire_bytes + req.fields.size() + tail + 64 +
                        ctx.client_ip.size() + req.host.size() + ctx.fallback_host.size());
  w.put(req.method_text, kReserved);
  w.put(' ', kReserved);
  if (needs_slash) w.put('/', kReserved);
  w.put(target, kReserved);
  w.put(" HTTP/1.1\r\n", kReserved);

  const Copied c = copy_end_to_end(
      req, {.request = true, .upgrade = ctx.upgrade,
                    .decrement_max_forwards = ctx.decrement_max_forwards},
      w);
  w.ensure(tail);
  append_via(req, c, ctx.via_pseudonym, w);
  if (c.via != 0) w.ensure(tail);
  if (!c.host) {
    // Only HTTP/1.0 requests get here; an HTTP/1.1 upstream requires Host. An
    // absolute-form target already named the authority.
    const std::string_view host = req.host.empty() ? ctx.fallback_host : req.host;
    if (!host.empty()) {
      w.field("Host", host);
      w.ensure(tail);
    }
  }

  if (ctx.chunked_body) {
    w.put("Transfer-Encoding: chunked\r\n", kReserved);
  } else if (req.framing == BodyFraming::kContentLength || req.has_content_length) {
    w.put("Content-Length: ", kReserved);
    w.put_uint(req.content_length, kReserved);
    w.put_crlf(kReserved);
  }
  // HTTP/1.1 upstream connections are persistent by default: no Connection field.
  if (ctx.upgrade) w.put("Connection: upgrade\r\n", kReserved);

  // Only a trusted client's chain is kept: anyone else could name any address.
  const uint32_t kept_xff = ctx.trust_forwarded ? c.xff : 0;
  if (kept_xff != 0) {
    w.put("X-Forwarded-For: ");
    bool first = true;
    append_merged(req, FieldToken::kXForwardedFor, first, w);
    if (!ctx.client_ip.empty()) {
      if (!first) w.put_sep();
      w.put(ctx.client_ip);
    }
    w.put_crlf();
    w.ensure(tail);
  } else if (!ctx.client_ip.empty()) {
    w.field("X-Forwarded-For", ctx.client_ip, kReserved);
  }
  if (c.forwarded != 0) {
    w.put("Forwarded: ");
    bool first = true;
    if (ctx.trust_forwarded) append_merged(req, FieldToken::kForwarded, first, w);
    if (!first) w.put_sep();
    append_forwarded_for(ctx.client_ip, w);
    w.put_crlf();
    w.ensure(tail);
  }
  // We are the edge: the scheme the client used is ours to state, not the client's.
  if (!ctx.proto.empty()) w.field("X-Forwarded-Proto", ctx.proto, kReserved);
  if (!c.xfh && !req.host.empty()) w.field("X-Forwarded-Host", req.host, kReserved);
  w.put_crlf(kReserved);
  w.finish();
}

void append_forward_response_head(const MessageHead& resp, const ForwardResponseContext& ctx,
                                  std::string& out) {
  const std::string_view reason = resp.reason.empty() ? reason_phrase(resp.status) : resp.reason;
  const size_t status_line = sizeof("HTTP/1.1 \r\n") - 1 + HeadWriter::kUintBytes + 1 + reason.size();
  const size_t tail = kResponseTailBytes + ctx.via_pseudonym.size() + ctx.date.size();
  // As for requests; the status line may gain a reason phrase, and we may add Via, Date,
  // framing and Connection.
  HeadWriter w(out, status_line + resp.wire_bytes + resp.fields.size() + tail + 64);
  w.put("HTTP/1.1 ", kReserved);
  w.put_uint(resp.status, kReserved);
  w.put(' ', kReserved);
  w.put(reason, kReserved);
  w.put_crlf(kReserved);

  const Copied c = copy_end_to_end(resp, {.request = false, .upgrade = ctx.upgrade}, w);
  w.ensure(tail);
  append_via(resp, c, ctx.via_pseudonym, w);
  if (c.via != 0) w.ensure(tail);
  // A recipient with a clock MUST add Date to a response forwarded without one (RFC 9110
  // §6.6.1): "a response message", so interim ones too.
  if (!c.date && !ctx.date.empty()) w.field("Date", ctx.date, kReserved);

  // 1xx and 204 never carry framing fields (RFC 9110 §8.6, RFC 9112 §6.1). A 304 or a
  // HEAD response keeps the declared Content-Length of the body it does not send.
  const uint16_t st = resp.status;
  if (st >= 200 && st != 204) {
    if (ctx.chunked_body && !ctx.downstream_http10) {
      w.put("Transfer-Encoding: chunked\r\n", kReserved);
    } else if (resp.framing == BodyFraming::kContentLength ||
               (resp.framing == BodyFraming::kNone && resp.has_content_length)) {
      w.put("Content-Length: ", kReserved);
      w.put_uint(resp.content_length, kReserved);
      w.put_crlf(kReserved);
    }
  }
  if (ctx.upgrade) {
    w.put("Connection: upgrade\r\n", kReserved);
  } else if (!ctx.keep_alive_downstream) {
    w.put("Connection: close\r\n", kReserved);
  } else if (ctx.downstream_http10) {
    w.put("Connection: keep-alive\r\n", kReserved);  // 1.0 clients close unless told otherwise
  }
  w.put_crlf(kReserved);
  w.finish();
}

bool is_sensitive_field(std::string_view name) {
  static constexpr std::string_view kParts[] = {"auth",    "token",    "secret",   "key",
                                                "session", "password", "cookie", "credential"};
  for (std::string_view part : kParts) {
    if (name.size() < part.size()) continue;
    for (size_t i = 0; i + part.size() <= name.size(); ++i) {
      if (r::iequals_lower(name.substr(i, part.size()), part)) return true;
    }
  }
  return false;
}

namespace {

// RFC 9110 §9.3.8: the request as we received it (its start line and fields), so the
// client sees what reached this hop; the sensitive fields are left out.
void append_reflected_request(const MessageHead& req, std::string& out) {
  out.append(req.method_text);
  out.push_back(' ');
  out.append(req.target);
  out.append(req.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n", 11);
  for (const HeaderField& f : req.fields) {
    if (!is_sensitive_field(f.name)) append_field(out, f.name, f.value);
  }
  out.append("\r\n", 2);
}

}  // namespace

void append_local_response(const LocalResponse& r, bool close, std::string_view date,
                           std::string& out) {
  const std::string_view phrase = reason_phrase(r.status);
  out.reserve(out.size() + 256 + phrase.size() + r.detail.size() +
              (r.request != nullptr ? r.request->wire_bytes : 0));
  out.append("HTTP/1.1 ", 9);
  append_uint(out, r.status);
  out.push_back(' ');
  out.append(phrase);
  out.append("\r\n", 2);
  if (!date.empty()) append_field(out, "Date", date);
  // A 405 MUST list what the resource allows (RFC 9110 §15.5.6).
  if (r.allow || r.status == 405) append_field(out, "Allow", kForwardedMethods);
  const bool reflect = r.body == LocalBody::kMessage && r.request != nullptr;
  if (r.body == LocalBody::kText) {
    out.append("Content-Type: text/plain; charset=utf-8\r\n");
  } else if (reflect) {
    out.append("Content-Type: message/http\r\n");
  }
  out.append("Content-Length: ");
  // The content's length is known once it is written: a slot now, filled in after.
  const size_t length_at = out.size();
  out.append("00000000000000000000\r\n", 22);
  if (close) out.append("Connection: close\r\n");
  out.append("\r\n", 2);
  const size_t body_at = out.size();
  if (r.body == LocalBody::kText) {
    out.append(phrase);
    if (!r.detail.empty()) {
      out.append(": ", 2);
      out.append(r.detail);
    }
    out.push_back('\n');
  } else if (reflect) {
    append_reflected_request(*r.request, out);
  }
  char digits[24];
  const auto res = std::to_chars(digits, digits + sizeof(digits), out.size() - body_at);
  const size_t n = static_cast<size_t>(res.ptr - digits);
  out.replace(length_at, 20, digits, n);
}

}  // namespace sidemeter::http
