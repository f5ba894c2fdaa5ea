#pragma once
// An IP network in CIDR notation ("10.0.0.0/8", "2001:db8::/32", or a bare address as a
// /32 or /128), for `trusted_proxies`. Plain data: conf parses it, the proxy matches
// client addresses against it on the hot path (no allocation, no syscall).
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidemeter::conf {

struct Cidr {
  bool ipv6 = false;
  uint8_t prefix = 0;               // bits: 0-32 (IPv4), 0-128 (IPv6)
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 in the first 4; host bits zero

  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports for an
  // IPv4 peer) is matched as the IPv4 address it carries (RFC 4291 §2.5.5.2).
  bool contains(const sockaddr* address) const;
  bool contains_ip(std::string_view ip) const;  // numeric text; false when not an address
  std::string to_string() const;                // canonical "a.b.c.d/n", "x::y/n"
  bool operator==(const Cidr&) const = default;
};

// "" on success, else why the text is no CIDR (host bits set, prefix out of range...).
std::string parse_cidr(std::string_view text, Cidr& out);

}  // namespace sidemeter::conf
