// parse_http_url: where alert receivers listen. Plain http:// only, and nothing a request
// line could not carry: the URL is sent as is, so every oddity is refused here, at load.
#include <arpa/inet.h>

#include <charconv>

#include "conf/config.h"

namespace sidemeter::conf {
namespace {

bool starts_with_nocase(const std::string& text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

std::string HttpUrl::to_string() const {
  std::string out = "http://";
  out.append(HostPort{host, port}.to_string());
  out.append(path);
  return out;
}

HttpUrl parse_http_url(const std::string& text) {
  auto fail = [&text](const std::string& why) { return ConfigError("'" + text + "': " + why); };
  if (starts_with_nocase(text, "https://"))
    throw fail(
        "https receivers are not supported (alert delivery speaks plain HTTP; use "
        "http://, e.g. to a local relay)");
  if (!starts_with_nocase(text, "http://")) throw fail("expected http://HOST[:PORT][/PATH]");
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      throw fail("blanks and control characters are not allowed (percent-encode them)");
  }
  if (text.find('#') != std::string::npos)
    throw fail("a #fragment is never sent to a server; remove it");
  std::string rest = text.substr(7);
  size_t end = rest.find_first_of("/?");
  std::string authority = rest.substr(0, end);
  // "/" and what follows it; a bare "?query" gets the "/" it implies. (Appended, not
  // insert(): GCC 12 warns falsely, -Wrestrict.)
  std::string path = "/";
  if (end != std::string::npos) path.append(rest, rest[end] == '/' ? end + 1 : end);
  if (authority.find('@') != std::string::npos)
    throw fail("user:password@ is not supported (no credentials in URLs)");
  if (authority.empty()) throw fail("empty host");

  HttpUrl url;
  std::string port_text;
  bool has_port = false;
  if (authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) throw fail("missing ']' after the IPv6 address");
    url.host = authority.substr(1, close - 1);
    in6_addr v6{};
    if (url.host.empty() || ::inet_pton(AF_INET6, url.host.c_str(), &v6) != 1)
      throw fail("'" + url.host + "' is not an IPv6 address");
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw fail("expected ':PORT' or '/' after ']'");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
      if (port_text.find(':') != std::string::npos)
        throw fail("write an IPv6 address in brackets, http://[ADDRESS]:PORT/");
    }
    if (url.host.empty()) throw fail("empty host");
    for (char c : url.host) {
      if (!name_char(c))
        throw fail(std::string("invalid character '") + c + "' in host '" + url.host + "'");
    }
    if (url.host.find_first_not_of("0123456789.") == std::string::npos) {
      in_addr v4{};
      if (::inet_pton(AF_INET, url.host.c_str(), &v4) != 1)
        throw fail("'" + url.host + "' is not an IPv4 address");
    }
  }
  if (has_port) {
    unsigned value = 0;
    const char* b = port_text.data();
    const char* e = b + port_text.size();
    auto [stop, ec] = std::from_chars(b, e, value);
    if (port_text.empty() || ec != std::errc() || stop != e || value == 0 || value > 65535)
      throw fail("port must be a number 1-65535");
    url.port = static_cast<uint16_t>(value);
  }
  url.path = path;
  return url;
}

}  // namespace sidemeter::conf
