#pragma once
// Pure RFC 9110/9112 syntax helpers shared by the parser and the serializer: byte-class
// tables (one lookup per byte), case-insensitive compares without copies, list-field
// iteration and the value grammars a proxy must get exactly right (Content-Length,
// Transfer-Encoding, Host). No state, no allocation.
#include <array>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sidemeter::http::rules {

enum CharClass : uint8_t {
  kTchar = 1 << 0,        // token character (RFC 9110 §5.6.2)
  kFieldVchar = 1 << 1,   // HTAB / SP / VCHAR / obs-text: allowed inside a field value
  kTargetChar = 1 << 2,   // VCHAR except '#': allowed in a request-target
  kRegNameChar = 1 << 3,  // unreserved / sub-delims / '%' (RFC 3986 reg-name)
  kHexDigit = 1 << 4,
  kQdtext = 1 << 5,  // quoted-string text (RFC 9110 §5.6.4) excluding '"' and '\'
  kRegNameLiteral = 1 << 6,  // kRegNameChar but '%': unreserved / sub-delims (RFC 3986)
};

namespace detail {
constexpr std::array<uint8_t, 256> make_char_classes() {
  std::array<uint8_t, 256> t{};
  constexpr std::string_view tchar_punct = "!#$%&'*+-.^_`|~";
  constexpr std::string_view sub_delims = "!$&'()*+,;=";
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha || digit || tchar_punct.find(static_cast<char>(c)) != std::string_view::npos) {
      v |= kTchar;
    }
    if (c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80) v |= kFieldVchar;
    if (c >= 0x21 && c <= 0x7e && c != '#') v |= kTargetChar;
    if (alpha || digit || c == '-' || c == '.' || c == '_' || c == '~' || c == '%' ||
        sub_delims.find(static_cast<char>(c)) != std::string_view::npos) {
      v |= kRegNameChar;
      if (c != '%') v |= kRegNameLiteral;
    }
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHexDigit;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
        (c >= 0x5d && c <= 0x7e) || c >= 0x80) {
      v |= kQdtext;
    }
    t[static_cast<size_t>(c)] = v;
  }
  return t;
}

constexpr std::array<char, 256> make_lower() {
  std::array<char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<size_t>(c)] = static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
  }
  return t;
}
}  // namespace detail

inline constexpr std::array<uint8_t, 256> kCharClasses = detail::make_char_classes();
inline constexpr std::array<char, 256> kLower = detail::make_lower();

inline bool has_class(char c, uint8_t cls) {
  return (kCharClasses[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool is_tchar(char c) { return has_class(c, kTchar); }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }
inline char to_lower(char c) { return kLower[static_cast<unsigned char>(c)]; }

// True when every byte of `s` is in `cls` (an empty string passes). Branch-free over
// the bytes: valid input is the common case, so no early exit is worth a branch per byte.
inline bool all_of_class(std::string_view s, uint8_t cls) {
  uint8_t acc = cls;
  for (char c : s) acc &= kCharClasses[static_cast<unsigned char>(c)];
  return acc == cls;
}
inline bool is_token(std::string_view s) { return !s.empty() && all_of_class(s, kTchar); }

// all_of_class(s, kFieldVchar) and all_of_class(s, kTargetChar), eight bytes at a time:
// field values are most of a head's bytes.
bool is_field_value(std::string_view s);
bool is_target(std::string_view s);

// One pass over a head line for the common case: returns the index of the first '\n' in
// p[0, n) (n when there is none) and sets `clean` to whether every byte before that '\n',
// except a '\r' right before it, is field-vchar (so is_field_value holds for any part of
// the line). Replaces a memchr for the line end followed by a second scan of the value.
// `clean` is meaningful only when a '\n' was found.
size_t scan_line(const char* p, size_t n, bool& clean);

#if defined(__SSE2__)
namespace detail {
// Bytes below 0x20 or equal to DEL, one bit each (bit i: byte i).
inline unsigned ctl_bits(__m128i v) {
  // Unsigned min(v, 0x1f) == v: v <= 0x1f.
  const __m128i m = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v),
                                 _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
  return static_cast<unsigned>(_mm_movemask_epi8(m));
}
inline __m128i load16(const char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
}  // namespace detail
#endif

// Index of the first byte of p[0, n) below 0x20 or equal to DEL (n when none): on an
// ordinary head line its CR, every byte before it field-vchar but HTAB (which stops too).
// `before` counts the bytes readable right before p (p[-before, 0) lies in the same
// buffer), so the end of the data is read as one 16-byte block overlapping bytes looked
// at already, even when n < 16. The answer is the byte loop's whatever n and `before`.
// Inline: the parser's field-line fast path calls it once per line.
inline size_t find_ctl(const char* p, size_t n, size_t before) {
#if defined(__SSE2__)
  if (n + before >= 16) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const unsigned m = detail::ctl_bits(detail::load16(p + i));
      if (m != 0) return i + static_cast<size_t>(__builtin_ctz(m));
    }
    if (i == n) return n;
    // p + n - 16 >= p - before: the block's first bytes were looked at, or are not ours.
    const unsigned m = detail::ctl_bits(detail::load16(p + n - 16)) >> (16 - (n - i));
    return m != 0 ? i + static_cast<size_t>(__builtin_ctz(m)) : n;
  }
#else
  (void)before;
#endif
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c == 0x7f) return i;
  }
  return n;
}


// ASCII case-insensitive equality. `lower` must already be lower case (a literal).
inline bool iequals_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (to_lower(s[i]) != lower[i]) return false;
  }
  return true;
}
bool iequals(std::string_view a, std::string_view b);

// Like iequals_lower, but '_' in `s` also matches '-': spots "Content_Length" and
// "transfer_encoding", which CGI-style backends fold into the real field.
inline bool iequals_lower_any_dash(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i] == '_' ? '-' : to_lower(s[i]);
    if (c != lower[i]) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s);

// Iterates the elements of a comma-separated list field (RFC 9110 §5.6.1), OWS trimmed.
// Empty elements are passed through (as empty views) so callers can decide about them.
class ListIterator {
 public:
  explicit ListIterator(std::string_view list) : rest_(list), done_(false) {}
  bool next(std::string_view& element);

 private:
  std::string_view rest_;
  bool done_;
};

// True when the list contains `lower_token` (case-insensitive), e.g. Connection: close.
bool list_contains(std::string_view list, std::string_view lower_token);

// Content-Length value (OWS already trimmed): 1*DIGIT (RFC 9110 §8.6), leading zeros
// allowed, at most INT64_MAX. The list of identical values ("42, 42") §8.6 lets a
// recipient accept is refused: llhttp 8.1 (Node.js) and others refuse it, so an upstream
// could read it differently. No sign, no spaces, no hex. Returns false when invalid.
namespace detail {
bool parse_content_length_full(std::string_view value, uint64_t& out);
bool is_valid_host_full(std::string_view host);
}  // namespace detail
// Inline for the usual value (1 to 18 digits, which cannot pass INT64_MAX): the parser
// reads one per response head.
inline bool parse_content_length(std::string_view value, uint64_t& out) {
  if (value.empty() || value.size() > 18) return detail::parse_content_length_full(value, out);
  uint64_t v = 0;
  for (char c : value) {
    const auto d = static_cast<unsigned>(static_cast<unsigned char>(c)) - '0';
    if (d > 9) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// uri-host [ ":" port ] as in the Host field: reg-name (with valid %HH) or an IP-literal
// in brackets; port is 0-5 digits. No userinfo, no empty host.
// Inline for the usual value, a reg-name of unreserved / sub-delims alone (no '%', no
// port): one table lookup a byte. Anything else is read by the full grammar.
inline bool is_valid_host(std::string_view host) {
  size_t i = 0;
  while (i < host.size() && has_class(host[i], kRegNameLiteral)) ++i;
  if (i == host.size() && i != 0) return true;
  return detail::is_valid_host_full(host);
}

enum class Coding : uint8_t {
  kChunked,     // exactly "chunked", no parameters
  kKnownOther,  // gzip, x-gzip, deflate, compress, x-compress (RFC 9112 §7)
  kUnknown,     // any other token, or a coding with parameters
  kInvalid,     // empty element or not a token
};
Coding classify_coding(std::string_view element);

}  // namespace sidemeter::http::rules
