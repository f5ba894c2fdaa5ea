#pragma once
// Field names an intermediary treats specially, looked up once per field: a name maps to a
// FieldToken id (kOther for every name not listed) and the id to flags saying why it is
// special. In the spirit of h2o's token table (lib/core/token.c): a switch on the name's
// length and last byte picks at most one candidate, which is then compared whole, eight
// bytes at a time. ASCII case-insensitive (RFC 9110 §5.1: field names are), exact for any
// bytes (not only tchar), no copy, no allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sidemeter::http {

enum class FieldToken : uint8_t {
  kOther = 0,  // any name not below
  kConnection,
  kContentLength,
  kDate,
  kExpect,
  kForwarded,
  kHost,
  kKeepAlive,
  kMaxForwards,
  kProxyAuthenticate,
  kProxyAuthorization,
  kProxyConnection,
  kTe,
  kTrailer,
  kTransferEncoding,
  kUpgrade,
  kVia,
  kXForwardedFor,
  kXForwardedHost,
  kXForwardedProto,
  kCount,
};

enum FieldTokenFlag : uint8_t {
  // Meaningful for one connection only (RFC 9110 §7.6.1): never forwarded as received.
  kConnectionSpecific = 1 << 0,
  // Message framing (RFC 9112 §6): the forwarder states its own. Trailer announces a
  // trailer section, which we never forward.
  kFraming = 1 << 1,
  // Credentials and challenges between a client and this proxy (RFC 9110 §11.7).
  kProxyCredentials = 1 << 2,
  // What intermediaries say about the path: Via (RFC 9110 §7.6.3), Forwarded (RFC 7239),
  // X-Forwarded-*. Merged or rewritten by a forwarder, not copied blindly.
  kForwardingPath = 1 << 3,
};

// The token of `name`; kOther when it is none of the above (also for "" and long names).
FieldToken lookup_field_token(std::string_view name);

namespace detail {
struct FieldTokenInfo {
  std::string_view name;
  uint8_t flags;
};
// Indexed by FieldToken.
inline constexpr FieldTokenInfo kFieldTokens[] = {
    {"", 0},
    {"connection", kConnectionSpecific},
    {"content-length", kFraming},
    {"date", 0},
    {"expect", 0},
    {"forwarded", kForwardingPath},
    {"host", 0},
    {"keep-alive", kConnectionSpecific},
    {"max-forwards", 0},
    {"proxy-authenticate", kProxyCredentials},
    {"proxy-authorization", kProxyCredentials},
    {"proxy-connection", kConnectionSpecific},
    {"te", kConnectionSpecific},
    {"trailer", kFraming},
    {"transfer-encoding", kConnectionSpecific | kFraming},
    {"upgrade", kConnectionSpecific},
    {"via", kForwardingPath},
    {"x-forwarded-for", kForwardingPath},
    {"x-forwarded-host", kForwardingPath},
    {"x-forwarded-proto", kForwardingPath},
};
static_assert(sizeof(kFieldTokens) / sizeof(kFieldTokens[0]) ==
              static_cast<size_t>(FieldToken::kCount));
}  // namespace detail

// The canonical lower-case name of a token ("" for kOther and kCount).
constexpr std::string_view field_token_name(FieldToken t) {
  return t < FieldToken::kCount ? detail::kFieldTokens[static_cast<size_t>(t)].name
                                : std::string_view();
}

// FieldTokenFlag bits of a token (0 for kOther and kCount).
constexpr uint8_t field_token_flags(FieldToken t) {
  return t < FieldToken::kCount ? detail::kFieldTokens[static_cast<size_t>(t)].flags : 0;
}

}  // namespace sidemeter::http
