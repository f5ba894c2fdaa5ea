#include "proxy/http1/field_rules.h"

#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sidemeter::http::rules {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

namespace {
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;
// Non-zero when some byte of x is below n (n <= 128); bytes >= 0x80 never match.
constexpr uint64_t has_less(uint64_t x, uint8_t n) { return (x - kOnes * n) & ~x & kHighs; }
constexpr uint64_t has_byte(uint64_t x, uint8_t b) { return has_less(x ^ (kOnes * b), 1); }

uint64_t load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
}  // namespace

bool is_field_value(std::string_view s) {
  size_t i = 0;
  // Words with no CTL and no DEL pass at once; a word holding a byte below 0x20 (maybe
  // just an HTAB) is checked byte by byte.
  for (; i + 8 <= s.size(); i += 8) {
    const uint64_t w = load8(s.data() + i);
    if ((has_less(w, 0x20) | has_byte(w, 0x7f)) != 0 &&
        !all_of_class(s.substr(i, 8), kFieldVchar)) {
      return false;
    }
  }
  return all_of_class(s.substr(i), kFieldVchar);
}

bool is_target(std::string_view s) {
#if defined(__SSE2__)
  if (s.size() >= 16) {
    // As signed bytes, CTLs, SP and obs-text (>= 0x80) are all below 0x21; DEL and '#'
    // are the other non-target bytes. The last block may overlap the one before it.
    const __m128i k21 = _mm_set1_epi8(0x21);
    const __m128i kDel = _mm_set1_epi8(0x7f);
    const __m128i kHash = _mm_set1_epi8('#');
    const auto bad = [&](size_t i) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
      const __m128i m = _mm_or_si128(
          _mm_cmpgt_epi8(k21, v), _mm_or_si128(_mm_cmpeq_epi8(v, kDel), _mm_cmpeq_epi8(v, kHash)));
      return _mm_movemask_epi8(m) != 0;
    };
    size_t i = 0;
    for (; i + 16 <= s.size(); i += 16) {
      if (bad(i)) return false;
    }
    return i == s.size() || !bad(s.size() - 16);
  }
#endif
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    const uint64_t w = load8(s.data() + i);
    if ((has_less(w, 0x21) | has_byte(w, 0x7f) | has_byte(w, '#') | (w & kHighs)) != 0) {
      return false;
    }
  }
  return all_of_class(s.substr(i), kTargetChar);
}

size_t scan_line(const char* p, size_t n, bool& clean) {
  clean = true;
  // Only CTLs and DEL need a look: HTAB is allowed, CRLF or LF ends the line, a CR at the
  // very end may be half of a CRLF; anything else makes the line unclean, and the line end
  // is then found by memchr.
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i k1f = _mm_set1_epi8(0x1f);
  const __m128i kDel = _mm_set1_epi8(0x7f);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Bytes <= 0x1f (unsigned) or == 0x7f: the only ones that stop a valid line.
    const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, k1f), v);
    auto mask =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, kDel))));
    while (mask != 0) {
      const size_t j = i + static_cast<size_t>(__builtin_ctz(mask));
      mask &= mask - 1;
      const char c = p[j];
      if (c == '\t') continue;
      if (c == '\n') return j;
      if (c == '\r' && j + 1 < n && p[j + 1] == '\n') return j + 1;
      if (c == '\r' && j + 1 == n) return n;  // the LF may come in the next feed
      clean = false;
      const void* nl = std::memchr(p + j, '\n', n - j);
      return nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - p) : n;
    }
  }
#endif
  for (; i < n; ++i) {
    const char c = p[i];
    if (has_class(c, kFieldVchar)) continue;
    if (c == '\n') return i;
    if (c == '\r' && i + 1 < n && p[i + 1] == '\n') return i + 1;
    if (c == '\r' && i + 1 == n) return n;
    clean = false;
    const void* nl = std::memchr(p + i, '\n', n - i);
    return nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - p) : n;
  }
  return n;
}

std::string_view trim_ows(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && is_ows(s[b])) ++b;
  while (e > b && is_ows(s[e - 1])) --e;
  return s.substr(b, e - b);
}

bool ListIterator::next(std::string_view& element) {
  if (done_) return false;
  const size_t comma = rest_.find(',');
  if (comma == std::string_view::npos) {
    element = trim_ows(rest_);
    done_ = true;
  } else {
    element = trim_ows(rest_.substr(0, comma));
    rest_.remove_prefix(comma + 1);
  }
  return true;
}

bool list_contains(std::string_view list, std::string_view lower_token) {
  ListIterator it(list);
  std::string_view e;
  while (it.next(e)) {
    if (iequals_lower(e, lower_token)) return true;
  }
  return false;
}

bool detail::parse_content_length_full(std::string_view value, uint64_t& out) {
  if (value.empty()) return false;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t v = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (kMax - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool detail::is_valid_host_full(std::string_view host) {
  if (host.empty()) return false;
  size_t port_at = std::string_view::npos;
  if (host[0] == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (size_t i = 1; i < close; ++i) {
      const char c = host[i];
      if (!(has_class(c, kHexDigit) || c == ':' || c == '.')) return false;
    }
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return false;
      port_at = close + 2;
    } else {
      port_at = host.size();
    }
  } else {
    // reg-name up to the first ':' in one loop (no search for the colon first): a
    // pct-encoded octet's two hex digits are never ':', so they lie inside it.
    size_t i = 0;
    for (; i < host.size(); ++i) {
      const char c = host[i];
      if (has_class(c, kRegNameLiteral)) continue;
      if (c == ':') break;
      if (c != '%' || i + 2 >= host.size() || !has_class(host[i + 1], kHexDigit) ||
          !has_class(host[i + 2], kHexDigit)) {
        return false;
      }
      i += 2;
    }
    if (i == 0) return false;  // empty reg-name
    port_at = i == host.size() ? i : i + 1;
  }
  const std::string_view port = host.substr(port_at);
  if (port.size() > 5) return false;
  uint32_t v = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v <= 65535;
}

Coding classify_coding(std::string_view element) {
  if (element.empty()) return Coding::kInvalid;
  const size_t semi = element.find(';');
  const std::string_view name = trim_ows(element.substr(0, semi));
  if (!is_token(name)) return Coding::kInvalid;
  // Parameters are never valid on chunked and we forward no other coding, so any
  // parameterised coding is one we do not implement.
  if (semi != std::string_view::npos) return Coding::kUnknown;
  if (iequals_lower(name, "chunked")) return Coding::kChunked;
  if (iequals_lower(name, "gzip") || iequals_lower(name, "x-gzip") ||
      iequals_lower(name, "deflate") || iequals_lower(name, "compress") ||
      iequals_lower(name, "x-compress")) {
    return Coding::kKnownOther;
  }
  return Coding::kUnknown;
}

}  // namespace sidemeter::http::rules
