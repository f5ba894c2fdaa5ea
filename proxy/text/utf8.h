#pragma once
// UTF-8 checking for text that came from the network (paths, reject reasons, an upstream's
// error text): one invalid byte would make a whole JSON document or exposition page
// unparseable, so writers replace it instead of copying it.
#include <cstddef>
#include <string>
#include <string_view>

namespace sidemeter::text {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 if invalid (overlong,
// surrogate, past U+10FFFF, truncated, or a stray continuation byte).
size_t utf8_sequence_length(std::string_view s);

// Appends s with each invalid byte replaced by U+FFFD; valid multi-byte sequences are
// copied as they are and each ASCII byte goes through escape(out, c), so every format
// keeps its own escaping rules but shares this one validation.
template <typename Escape>
void append_sanitized_utf8(std::string& out, std::string_view s, Escape escape) {
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
      out.append(kReplacementChar);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
}

}  // namespace sidemeter::text
