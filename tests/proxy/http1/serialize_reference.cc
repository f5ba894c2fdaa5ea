// The forwarding serializer as it was before the field token table (commit 08bc450),
// frozen as an oracle: serialize_differential_test.cc checks the current one writes the
// same bytes for heads built to stress every classification. Not used by the proxy.
#include "tests/proxy/http1/serialize_reference.h"

#include <charconv>
#include <string>

#include "proxy/http1/field_rules.h"
#include "proxy/http1/local_response.h"
#include "proxy/http1/max_forwards.h"

namespace sidemeter::http::reference {

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

FieldRole classify(std::string_view n, bool request) {
  switch (n.size()) {
    case 2:
      if (r::iequals_lower(n, "te")) return FieldRole::kDrop;
      break;
    case 3:
      if (r::iequals_lower(n, "via")) return FieldRole::kVia;
      break;
    case 4:
      if (r::iequals_lower(n, "host")) return FieldRole::kHost;
      if (!request && r::iequals_lower(n, "date")) return FieldRole::kDate;
      break;
    case 7:
      if (r::iequals_lower(n, "upgrade")) return FieldRole::kUpgrade;
      if (r::iequals_lower(n, "trailer")) return FieldRole::kDrop;
      break;
    case 9:
      if (request && r::iequals_lower(n, "forwarded")) return FieldRole::kForwarded;
      break;
    case 10:
      if (r::iequals_lower(n, "connection") || r::iequals_lower(n, "keep-alive")) {
        return FieldRole::kDrop;
      }
      break;
    case 12:
      if (request && r::iequals_lower(n, "max-forwards")) return FieldRole::kMaxForwards;
      break;
    case 14:
      if (r::iequals_lower(n, "content-length")) return FieldRole::kDrop;
      break;
    case 15:
      if (request && r::iequals_lower(n, "x-forwarded-for")) return FieldRole::kXff;
      break;
    case 16:
      if (r::iequals_lower(n, "proxy-connection")) return FieldRole::kDrop;
      if (request && r::iequals_lower(n, "x-forwarded-host")) return FieldRole::kXfh;
      break;
    case 17:
      if (r::iequals_lower(n, "transfer-encoding")) return FieldRole::kDrop;
      if (request && r::iequals_lower(n, "x-forwarded-proto")) return FieldRole::kXfp;
      break;
    case 18:
      if (r::iequals_lower(n, "proxy-authenticate")) return FieldRole::kDrop;
      break;
    case 19:
      // Credentials for *this* hop; never meant for the upstream.
      if (r::iequals_lower(n, "proxy-authorization")) return FieldRole::kDrop;
      break;
    default:
      break;
  }
  return FieldRole::kKeep;
}

// Connection may name further hop-by-hop fields. "close", "keep-alive" and "upgrade"
// name nothing we do not already handle, so the common case skips the per-field scan.
bool connection_names_fields(const MessageHead& h) {
  for (const HeaderField& f : h.fields) {
    if (f.name.size() != 10 || !r::iequals_lower(f.name, "connection")) continue;
    r::ListIterator it(f.value);
    std::string_view t;
    while (it.next(t)) {
      if (!t.empty() && !r::iequals_lower(t, "close") && !r::iequals_lower(t, "keep-alive") &&
          !r::iequals_lower(t, "upgrade")) {
        return true;
      }
    }
  }
  return false;
}

bool named_in_connection(const MessageHead& h, std::string_view name) {
  for (const HeaderField& f : h.fields) {
    if (f.name.size() != 10 || !r::iequals_lower(f.name, "connection")) continue;
    r::ListIterator it(f.value);
    std::string_view t;
    while (it.next(t)) {
      if (r::iequals(t, name)) return true;
    }
  }
  return false;
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

// Inlined: it runs once per forwarded field, and as a call it costs more than its body.
[[gnu::always_inline]] inline void append_field(std::string& out, std::string_view name,
                                                std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

// Copies the end-to-end fields; reports the X-Forwarded-For / -Host, Via, Host and Date
// it saw.
struct Copied {
  uint32_t xff = 0;
  uint32_t forwarded = 0;
  uint32_t via = 0;
  bool xfh = false;
  bool host = false;
  bool date = false;
  bool check_connection = false;  // Connection names fields beyond close/keep-alive/upgrade
};
Copied copy_end_to_end(const MessageHead& h, bool request, bool upgrade,
                       bool decrement_max_forwards, std::string& out) {
  Copied c;
  const bool check_connection = connection_names_fields(h);
  c.check_connection = check_connection;
  for (const HeaderField& f : h.fields) {
    const FieldRole role = classify(f.name, request);
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
        if (check_connection && named_in_connection(h, f.name)) continue;
        if (decrement_max_forwards) {
          // The exchange checked it: the only Max-Forwards, 1*DIGIT, not 0.
          out.append(f.name);
          out.append(": ", 2);
          append_decremented(out, f.value);
          out.append("\r\n", 2);
          continue;
        }
        break;
      case FieldRole::kDate:
        if (check_connection && named_in_connection(h, f.name)) continue;
        c.date = true;
        break;
      case FieldRole::kUpgrade:
        if (!upgrade) continue;
        break;  // "Connection: upgrade" names it, yet it must pass when upgrading
      case FieldRole::kHost:
        c.host = true;
        break;  // "Connection: host" must not strip routing information
      case FieldRole::kXfh:
        c.xfh = true;
        [[fallthrough]];
      case FieldRole::kKeep:
        if (check_connection && named_in_connection(h, f.name)) continue;
        break;
    }
    append_field(out, f.name, f.value);
  }
  return c;
}

// Via = #( received-protocol RWS received-by ): what earlier hops recorded, in order, then
// us. received-protocol is the version of the message as we received it; "HTTP/" is
// omitted, as RFC 9110 §7.6.3 allows for HTTP.
void append_via(const MessageHead& h, const Copied& c, bool request, std::string_view pseudonym,
                std::string& out) {
  if (c.via == 0) {  // the common case: no earlier hop
    if (pseudonym.empty()) return;
    out.append(h.version_minor == 0 ? "Via: 1.0 " : "Via: 1.1 ", 9);
    out.append(pseudonym);
    out.append("\r\n", 2);
    return;
  }
  const size_t start = out.size();
  out.append("Via: ", 5);
  const size_t values = out.size();
  for (const HeaderField& f : h.fields) {
    if (f.value.empty() || classify(f.name, request) != FieldRole::kVia) continue;
    if (c.check_connection && named_in_connection(h, f.name)) continue;
    if (out.size() != values) out.append(", ", 2);
    out.append(f.value);
  }
  if (!pseudonym.empty()) {
    if (out.size() != values) out.append(", ", 2);
    out.append(h.version_minor == 0 ? "1.0 " : "1.1 ", 4);
    out.append(pseudonym);
  }
  if (out.size() == values) {
    out.resize(start);  // nothing to say
    return;
  }
  out.append("\r\n", 2);
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

// The values of every field of `role`, in order, as one comma-separated list (RFC 9110
// §5.3: the same as the separate lines).
void append_merged(const MessageHead& req, FieldRole role, bool& first, std::string& out) {
  for (const HeaderField& f : req.fields) {
    if (f.value.empty() || classify(f.name, true) != role) continue;
    if (!first) out.append(", ", 2);
    out.append(f.value);
    first = false;
  }
}

// RFC 7239 §4 forwarded-pair "for" = node (§6): an IPv4 address as a token; an IPv6
// address bracketed, and then quoted since ':' and '[' are not tchars; "unknown" (§6.3)
// when we do not know it.
void append_forwarded_for(std::string_view client_ip, std::string& out) {
  if (client_ip.empty()) {
    out.append("for=unknown");
  } else if (client_ip.find(':') != std::string_view::npos) {
    out.append("for=\"[", 6);
    out.append(client_ip);
    out.append("]\"", 2);
  } else {
    out.append("for=", 4);
    out.append(client_ip);
  }
}

}  // namespace

void append_forward_request_head(const MessageHead& req, const ForwardRequestContext& ctx,
                                 std::string& out) {
  out.reserve(out.size() + req.wire_bytes + 160 + ctx.client_ip.size() + req.host.size() +
              ctx.via_pseudonym.size());
  out.append(req.method_text);
  out.push_back(' ');
  bool needs_slash = false;
  const std::string_view target = origin_form(req.target, needs_slash);
  if (needs_slash) out.push_back('/');
  out.append(target);
  out.append(" HTTP/1.1\r\n", 11);

  const Copied c = copy_end_to_end(req, true, ctx.upgrade, ctx.decrement_max_forwards, out);
  append_via(req, c, true, ctx.via_pseudonym, out);
  if (!c.host) {
    // Only HTTP/1.0 requests get here; an HTTP/1.1 upstream requires Host. An
    // absolute-form target already named the authority.
    const std::string_view host = req.host.empty() ? ctx.fallback_host : req.host;
    if (!host.empty()) append_field(out, "Host", host);
  }

  if (ctx.chunked_body) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else if (req.framing == BodyFraming::kContentLength || req.has_content_length) {
    out.append("Content-Length: ");
    append_uint(out, req.content_length);
    out.append("\r\n", 2);
  }
  // HTTP/1.1 upstream connections are persistent by default: no Connection field.
  if (ctx.upgrade) out.append("Connection: upgrade\r\n");

  // Only a trusted client's chain is kept: anyone else could name any address.
  const uint32_t kept_xff = ctx.trust_forwarded ? c.xff : 0;
  if (kept_xff != 0 || !ctx.client_ip.empty()) {
    out.append("X-Forwarded-For: ");
    bool first = true;
    if (kept_xff != 0) append_merged(req, FieldRole::kXff, first, out);
    if (!ctx.client_ip.empty()) {
      if (!first) out.append(", ", 2);
      out.append(ctx.client_ip);
    }
    out.append("\r\n", 2);
  }
  if (c.forwarded != 0) {
    out.append("Forwarded: ");
    bool first = true;
    if (ctx.trust_forwarded) append_merged(req, FieldRole::kForwarded, first, out);
    if (!first) out.append(", ", 2);
    append_forwarded_for(ctx.client_ip, out);
    out.append("\r\n", 2);
  }
  // We are the edge: the scheme the client used is ours to state, not the client's.
  if (!ctx.proto.empty()) append_field(out, "X-Forwarded-Proto", ctx.proto);
  if (!c.xfh && !req.host.empty()) append_field(out, "X-Forwarded-Host", req.host);
  out.append("\r\n", 2);
}

void append_forward_response_head(const MessageHead& resp, const ForwardResponseContext& ctx,
                                  std::string& out) {
  out.reserve(out.size() + resp.wire_bytes + 64 + 24 + ctx.via_pseudonym.size() +
              ctx.date.size());  // + "Via: 1.1 \r\n" and "Date: \r\n"
  out.append("HTTP/1.1 ", 9);
  append_uint(out, resp.status);
  out.push_back(' ');
  out.append(resp.reason.empty() ? reason_phrase(resp.status) : resp.reason);
  out.append("\r\n", 2);

  const Copied c = copy_end_to_end(resp, false, ctx.upgrade, false, out);
  append_via(resp, c, false, ctx.via_pseudonym, out);
  // A recipient with a clock MUST add Date to a response forwarded without one (RFC 9110
  // §6.6.1): "a response message", so interim ones too.
  if (!c.date && !ctx.date.empty()) append_field(out, "Date", ctx.date);

  // 1xx and 204 never carry framing fields (RFC 9110 §8.6, RFC 9112 §6.1). A 304 or a
  // HEAD response keeps the declared Content-Length of the body it does not send.
  const uint16_t st = resp.status;
  if (st >= 200 && st != 204) {
    if (ctx.chunked_body && !ctx.downstream_http10) {
      out.append("Transfer-Encoding: chunked\r\n");
    } else if (resp.framing == BodyFraming::kContentLength ||
               (resp.framing == BodyFraming::kNone && resp.has_content_length)) {
      out.append("Content-Length: ");
      append_uint(out, resp.content_length);
      out.append("\r\n", 2);
    }
  }
  if (ctx.upgrade) {
    out.append("Connection: upgrade\r\n");
  } else if (!ctx.keep_alive_downstream) {
    out.append("Connection: close\r\n");
  } else if (ctx.downstream_http10) {
    out.append("Connection: keep-alive\r\n");  // 1.0 clients close unless told otherwise
  }
  out.append("\r\n", 2);
}


}  // namespace sidemeter::http::reference
