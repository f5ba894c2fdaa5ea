#pragma once
// The body of lookup_field_token (field_token.h), for the one caller that inlines it.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

#include "proxy/http1/field_token.h"

namespace sidemeter::http {

namespace detail {

// A lower-case name as a template argument, so its words and case masks are constants.
template <size_t N>
struct LowerName {
  char s[N];
  consteval LowerName(const char (&v)[N]) {  // NOLINT: implicit on purpose
    for (size_t i = 0; i < N; ++i) s[i] = v[i];
  }
  static constexpr size_t kSize = N - 1;
};

// sizeof(U) bytes of `s` from `off` as the U a load from memory gives (either
// endianness). With `mask`, 0x20 where the byte is a letter and 0 elsewhere: OR-ing it
// into received bytes folds 'A'-'Z' onto 'a'-'z' and leaves every other byte exact
// ('\r' | 0x20 would be '-'), so (received | mask) == lower holds exactly when the
// bytes are equal ignoring ASCII case.
template <typename U>
constexpr U pack(const char* s, size_t off, bool mask) {
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i) {
    const char c = s[off + i];
    const U b = mask ? ((c >= 'a' && c <= 'z') ? 0x20 : 0) : static_cast<unsigned char>(c);
    const size_t byte = std::endian::native == std::endian::little ? i : sizeof(U) - 1 - i;
    v |= static_cast<U>(b << (8 * byte));
  }
  return v;
}

template <typename U, LowerName L, size_t Off>
inline unsigned chunk_matches(const char* p) {  // 0 or 1: combined with &, no branch
  constexpr U want = pack<U>(L.s, Off, false);
  constexpr U mask = pack<U>(L.s, Off, true);
  U v;
  std::memcpy(&v, p + Off, sizeof v);
  return unsigned((v | mask) == want);
}

template <LowerName L, size_t... K>
inline bool words_match(const char* p, std::index_sequence<K...>) {
  // Whole words, then the last eight bytes (overlapping the previous word when the
  // length is not a multiple of eight): no byte loop, no read past the name.
  return ((chunk_matches<uint64_t, L, K * 8>(p) & ...) &
          chunk_matches<uint64_t, L, L.kSize - 8>(p)) != 0;
}

// `p` holds exactly L.kSize bytes (the caller switched on the length).
template <LowerName L>
inline bool is(const char* p) {
  constexpr size_t n = L.kSize;
  static_assert(n >= 2);
  if constexpr (n >= 8) {
    return words_match<L>(p, std::make_index_sequence<n / 8>{});
  } else if constexpr (n >= 4) {
    return (chunk_matches<uint32_t, L, 0>(p) & chunk_matches<uint32_t, L, n - 4>(p)) != 0;
  } else {
    return (chunk_matches<uint16_t, L, 0>(p) & chunk_matches<uint16_t, L, n - 2>(p)) != 0;
  }
}

}  // namespace detail

// lookup_field_token, inline: the parser calls it once per field line, where the call did
// cost about a fifth of the lookup (callgrind).
[[gnu::always_inline]] inline FieldToken lookup_field_token_inline(std::string_view name) {
  const char* p = name.data();
  const size_t n = name.size();
  if (n < 2) return FieldToken::kOther;
  // The last byte folded as a letter would be: only a candidate survives, and `is`
  // confirms it exactly.
  const char last = static_cast<char>(p[n - 1] | 0x20);
  switch (n) {
    case 2:
      if (last == 'e' && detail::is<"te">(p)) return FieldToken::kTe;
      break;
    case 3:
      if (last == 'a' && detail::is<"via">(p)) return FieldToken::kVia;
      break;
    case 4:
      if (last == 't' && detail::is<"host">(p)) return FieldToken::kHost;
      if (last == 'e' && detail::is<"date">(p)) return FieldToken::kDate;
      break;
    case 6:
      if (last == 't' && detail::is<"expect">(p)) return FieldToken::kExpect;
      break;
    case 7:
      if (last == 'e' && detail::is<"upgrade">(p)) return FieldToken::kUpgrade;
      if (last == 'r' && detail::is<"trailer">(p)) return FieldToken::kTrailer;
      break;
    case 9:
      if (last == 'd' && detail::is<"forwarded">(p)) return FieldToken::kForwarded;
      break;
    case 10:
      if (last == 'n' && detail::is<"connection">(p)) return FieldToken::kConnection;
      if (last == 'e' && detail::is<"keep-alive">(p)) return FieldToken::kKeepAlive;
      break;
    case 12:
      if (last == 's' && detail::is<"max-forwards">(p)) return FieldToken::kMaxForwards;
      break;
    case 14:
      if (last == 'h' && detail::is<"content-length">(p)) return FieldToken::kContentLength;
      break;
    case 15:
      if (last == 'r' && detail::is<"x-forwarded-for">(p)) return FieldToken::kXForwardedFor;
      break;
    case 16:
      if (last == 'n' && detail::is<"proxy-connection">(p)) return FieldToken::kProxyConnection;
      if (last == 't' && detail::is<"x-forwarded-host">(p)) return FieldToken::kXForwardedHost;
      break;
    case 17:
      if (last == 'g' && detail::is<"transfer-encoding">(p)) return FieldToken::kTransferEncoding;
      if (last == 'o' && detail::is<"x-forwarded-proto">(p)) return FieldToken::kXForwardedProto;
      break;
    case 18:
      if (last == 'e' && detail::is<"proxy-authenticate">(p)) return FieldToken::kProxyAuthenticate;
      break;
    case 19:
      if (last == 'n' && detail::is<"proxy-authorization">(p)) return FieldToken::kProxyAuthorization;
      break;
    default:
      break;
  }
  return FieldToken::kOther;
}

}  // namespace sidemeter::http
