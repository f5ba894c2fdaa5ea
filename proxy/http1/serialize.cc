// Forwarded heads per RFC 9110 §7.6: hop-by-hop fields stop here, framing is re-stated
// by us (never copied from the peer), X-Forwarded-* describe the hop we are.
#include <charconv>
#include <string>

#include "proxy/http1/field_rules.h"
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
  kXfp,      // replaced by ours (requests)
  kXfh,      // kept; suppresses our own X-Forwarded-Host (requests)
};

FieldRole classify(std::string_view n, bool request) {
  switch (n.size()) {
    case 2:
      if (r::iequals_lower(n, "te")) return FieldRole::kDrop;
      break;
    case 4:
      if (r::iequals_lower(n, "host")) return FieldRole::kHost;
      break;
    case 7:
      if (r::iequals_lower(n, "upgrade")) return FieldRole::kUpgrade;
      if (r::iequals_lower(n, "trailer")) return FieldRole::kDrop;
      break;
    case 10:
      if (r::iequals_lower(n, "connection") || r::iequals_lower(n, "keep-alive")) {
        return FieldRole::kDrop;
      }
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

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

// Copies the end-to-end fields; reports the X-Forwarded-For / -Host and Host it saw.
struct Copied {
  uint32_t xff = 0;
  bool xfh = false;
  bool host = false;
};
Copied copy_end_to_end(const MessageHead& h, bool request, bool upgrade, std::string& out) {
  Copied c;
  const bool check_connection = connection_names_fields(h);
  for (const HeaderField& f : h.fields) {
    const FieldRole role = classify(f.name, request);
    switch (role) {
      case FieldRole::kDrop:
      case FieldRole::kXfp:
        continue;
      case FieldRole::kXff:
        ++c.xff;  // emitted merged, after the other fields
        continue;
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

void append_forward_request_head(const MessageHead& req, const ForwardRequestContext& ctx,
                                 std::string& out) {
  out.reserve(out.size() + req.wire_bytes + 160 + ctx.client_ip.size() + req.host.size());
  out.append(req.method_text);
  out.push_back(' ');
  bool needs_slash = false;
  const std::string_view target = origin_form(req.target, needs_slash);
  if (needs_slash) out.push_back('/');
  out.append(target);
  out.append(" HTTP/1.1\r\n", 11);

  const Copied c = copy_end_to_end(req, true, ctx.upgrade, out);
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

  if (c.xff != 0 || !ctx.client_ip.empty()) {
    out.append("X-Forwarded-For: ");
    bool first = true;
    if (c.xff != 0) {
      for (const HeaderField& f : req.fields) {
        if (f.value.empty() || classify(f.name, true) != FieldRole::kXff) continue;
        if (!first) out.append(", ", 2);
        out.append(f.value);
        first = false;
      }
    }
    if (!ctx.client_ip.empty()) {
      if (!first) out.append(", ", 2);
      out.append(ctx.client_ip);
    }
    out.append("\r\n", 2);
  }
  // We are the edge: the scheme the client used is ours to state, not the client's.
  if (!ctx.proto.empty()) append_field(out, "X-Forwarded-Proto", ctx.proto);
  if (!c.xfh && !req.host.empty()) append_field(out, "X-Forwarded-Host", req.host);
  out.append("\r\n", 2);
}

void append_forward_response_head(const MessageHead& resp, const ForwardResponseContext& ctx,
                                  std::string& out) {
  out.reserve(out.size() + resp.wire_bytes + 64);
  out.append("HTTP/1.1 ", 9);
  append_uint(out, resp.status);
  out.push_back(' ');
  out.append(resp.reason.empty() ? reason_phrase(resp.status) : resp.reason);
  out.append("\r\n", 2);

  copy_end_to_end(resp, false, ctx.upgrade, out);

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

void append_local_response(uint16_t status, std::string_view detail, bool close, std::string& out) {
  const std::string_view phrase = reason_phrase(status);
  const size_t body_len = phrase.size() + (detail.empty() ? 0 : 2 + detail.size()) + 1;
  out.reserve(out.size() + 128 + body_len + phrase.size());
  out.append("HTTP/1.1 ", 9);
  append_uint(out, status);
  out.push_back(' ');
  out.append(phrase);
  out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  append_uint(out, body_len);
  out.append("\r\n", 2);
  if (close) out.append("Connection: close\r\n");
  out.append("\r\n", 2);
  out.append(phrase);
  if (!detail.empty()) {
    out.append(": ", 2);
    out.append(detail);
  }
  out.push_back('\n');
}

}  // namespace sidemeter::http
