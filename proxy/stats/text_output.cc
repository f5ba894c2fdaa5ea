#include "proxy/stats/text_output.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "proxy/text/json_writer.h"
#include "proxy/text/utf8.h"

namespace sidemeter::stats {

void append_double_exact(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  // Integral values (counts, byte totals) read best without an exponent.
  if (v == std::trunc(v) && std::fabs(v) < 9.007199254740992e15) {
    text::append_int(out, int64_t(v));
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_double_fixed(std::string& out, double v) {
  if (!std::isfinite(v)) {
    append_double_exact(out, v);
    return;
  }
  char buf[400];  // fixed notation of a double can be ~330 characters long
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  out.append(buf, r.ptr);
}

void append_label_value(std::string& out, std::string_view s) {
  text::append_sanitized_utf8(out, s, [](std::string& o, char c) {
    switch (c) {
      case '\\':
        o += "\\\\";
        break;
      case '"':
        o += "\\\"";
        break;
      case '\n':
        o += "\\n";
        break;
      default:
        o += c;
    }
  });
}

void append_help_text(std::string& out, std::string_view s) {
  text::append_sanitized_utf8(out, s, [](std::string& o, char c) {
    switch (c) {
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      default:
        o += c;
    }
  });
}

}  // namespace sidemeter::stats
