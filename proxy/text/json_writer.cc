#include "proxy/text/json_writer.h"

#include <charconv>
#include <cmath>

#include "proxy/text/utf8.h"

namespace sidemeter::text {

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_json_double(std::string& out, double v, int digits) {
  if (!std::isfinite(v)) {
    out += '0';
    return;
  }
  // Below 2^53 an integral double is exact as an integer, and counts read best that way.
  if (v == std::trunc(v) && std::fabs(v) < 9.007199254740992e15) {
    append_int(out, int64_t(v));
    return;
  }
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, digits);
  out.append(buf, r.ptr);
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  append_sanitized_utf8(out, s, [](std::string& o, char c) {
    static constexpr char kHex[] = "0123456789abcdef";
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        // DEL is legal JSON but escaped anyway: it is invisible on a terminal.
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          o += "\\u00";
          o += kHex[(c >> 4) & 0xF];
          o += kHex[c & 0xF];
        } else {
          o += c;
        }
    }
  });
  out += '"';
}

}  // namespace sidemeter::text
