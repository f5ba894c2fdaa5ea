#include "proxy/stats/text_output.h"

#include <charconv>
#include <cmath>

namespace sidemeter::stats {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

template <typename Escape>
void append_escaped(std::string& out, std::string_view s, Escape escape) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      escape(out, char(c));
      ++i;
      continue;
    }
    const size_t n = utf8_sequence_length(s.substr(i));
    if (n == 0) {
      out.append(kReplacement);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
}

}  // namespace

size_t utf8_sequence_length(std::string_view s) {
  if (s.empty()) return 0;
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are all invalid.
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

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
    append_int(out, int64_t(v));
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

void append_json_double(std::string& out, double v, int digits) {
  if (!std::isfinite(v)) {
    out += '0';
    return;
  }
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
  append_escaped(out, s, [](std::string& o, char c) {
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

void append_label_value(std::string& out, std::string_view s) {
  append_escaped(out, s, [](std::string& o, char c) {
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
  append_escaped(out, s, [](std::string& o, char c) {
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
