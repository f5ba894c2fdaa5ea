#pragma once
// A second, deliberately plain reading of the chunked transfer coding, straight from the
// grammar of RFC 9112 §7.1 (with RFC 9110 §5.6 for token, quoted-string and BWS):
//
//   chunked-body   = *chunk last-chunk trailer-section CRLF
//   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size     = 1*HEXDIG
//   last-chunk     = 1*("0") [ chunk-ext ] CRLF
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-val  = token / quoted-string
//   trailer-section = *( field-line CRLF )
//
// No limits beyond a chunk size that must fit in 63 bits (what the proxy enforces, and
// what a signed reader upstream can hold). The chunked fuzz target holds the proxy's
// parser to it: whatever the parser accepts, this must accept with the same data.
#include <cstdint>
#include <string>
#include <string_view>

namespace sidemeter::fuzz {

struct ChunkedReading {
  enum class Status : uint8_t { kComplete, kIncomplete, kInvalid } status = Status::kIncomplete;
  size_t end = 0;             // kComplete: bytes the body used; else where reading stopped
  std::string data;           // decoded data up to there (incl. a partial chunk's data)
  bool has_extensions = false;
  bool has_trailers = false;
  bool has_leading_zeros = false;  // a chunk size written with leading zeros ("05")
};

namespace chunked_reference_detail {

inline bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}
inline bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
inline bool is_ws(char c) { return c == ' ' || c == '\t'; }
inline bool is_vchar_or_obs(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return (u >= 0x21 && u <= 0x7e) || u >= 0x80;
}
inline bool is_qdtext(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return c == '\t' || c == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5b) ||
         (u >= 0x5d && u <= 0x7e) || u >= 0x80;
}

}  // namespace chunked_reference_detail

inline ChunkedReading read_chunked_reference(std::string_view in) {
  using namespace chunked_reference_detail;
  using S = ChunkedReading::Status;
  ChunkedReading r;
  r.status = S::kIncomplete;
  size_t p = 0;
  const size_t n = in.size();
  auto stop = [&](S s) {
    r.status = s;
    r.end = p;
    return r;
  };
  // CRLF at p: kComplete-style tri-state via return codes.
  auto crlf = [&]() -> int {  // 1 ok, 0 need more, -1 invalid
    if (p >= n) return 0;
    if (in[p] != '\r') return -1;
    if (p + 1 >= n) return 0;
    if (in[p + 1] != '\n') return -1;
    p += 2;
    return 1;
  };
  for (;;) {
    // chunk-size
    const size_t size_start = p;
    uint64_t size = 0;
    while (p < n && is_hex(in[p])) {
      if (size > (static_cast<uint64_t>(INT64_MAX) >> 4)) return stop(S::kInvalid);
      size = size * 16 + static_cast<uint64_t>(hex_value(in[p]));
      ++p;
    }
    if (p == n) return stop(S::kIncomplete);
    if (p == size_start) return stop(S::kInvalid);
    if (p - size_start > 1 && in[size_start] == '0') r.has_leading_zeros = true;
    // chunk-ext
    for (;;) {
      size_t q = p;
      while (q < n && is_ws(in[q])) ++q;
      if (q == n) {
        p = q;
        return stop(S::kIncomplete);
      }
      if (in[q] != ';') break;  // BWS without ';' is not allowed: the CRLF check fails
      r.has_extensions = true;
      p = q + 1;
      while (p < n && is_ws(in[p])) ++p;
      const size_t name = p;
      while (p < n && is_tchar(in[p])) ++p;
      if (p == n) return stop(S::kIncomplete);
      if (p == name) return stop(S::kInvalid);
      q = p;
      while (q < n && is_ws(in[q])) ++q;
      if (q == n) {
        p = q;
        return stop(S::kIncomplete);
      }
      if (in[q] != '=') continue;  // the next ';' or the CRLF
      p = q + 1;
      while (p < n && is_ws(in[p])) ++p;
      if (p == n) return stop(S::kIncomplete);
      if (in[p] == '"') {
        ++p;
        for (;;) {
          if (p == n) return stop(S::kIncomplete);
          if (in[p] == '"') {
            ++p;
            break;
          }
          if (in[p] == '\\') {
            ++p;
            if (p == n) return stop(S::kIncomplete);
            if (!(is_ws(in[p]) || is_vchar_or_obs(in[p]))) return stop(S::kInvalid);
            ++p;
            continue;
          }
          if (!is_qdtext(in[p])) return stop(S::kInvalid);
          ++p;
        }
      } else {
        const size_t v = p;
        while (p < n && is_tchar(in[p])) ++p;
        if (p == n) return stop(S::kIncomplete);
        if (p == v) return stop(S::kInvalid);
      }
    }
    if (const int c = crlf(); c <= 0) return stop(c == 0 ? S::kIncomplete : S::kInvalid);
    if (size == 0) break;
    // chunk-data CRLF
    const size_t avail = n - p;
    if (avail < size) {
      r.data.append(in.substr(p, avail));
      p = n;
      return stop(S::kIncomplete);
    }
    r.data.append(in.substr(p, size));
    p += size;
    if (const int c = crlf(); c <= 0) return stop(c == 0 ? S::kIncomplete : S::kInvalid);
  }
  // trailer-section CRLF; field-line = field-name ":" OWS field-value OWS
  for (;;) {
    if (p >= n) return stop(S::kIncomplete);
    if (in[p] == '\r') {
      if (const int c = crlf(); c <= 0) return stop(c == 0 ? S::kIncomplete : S::kInvalid);
      r.status = S::kComplete;
      r.end = p;
      return r;
    }
    r.has_trailers = true;
    const size_t name = p;
    while (p < n && is_tchar(in[p])) ++p;
    if (p == n) return stop(S::kIncomplete);
    if (p == name || in[p] != ':') return stop(S::kInvalid);
    ++p;
    while (p < n && (is_ws(in[p]) || is_vchar_or_obs(in[p]))) ++p;
    if (const int c = crlf(); c <= 0) return stop(c == 0 ? S::kIncomplete : S::kInvalid);
  }
}

}  // namespace sidemeter::fuzz
