#include "conf/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace sidemeter::conf {
namespace {

bool prefix_matches(const uint8_t* net, const uint8_t* addr, unsigned bits) {
  const unsigned whole = bits / 8;
  if (memcmp(net, addr, whole) != 0) return false;
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = uint8_t(0xff << (8 - rest));
  return (net[whole] & mask) == (addr[whole] & mask);
}

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

bool Cidr::contains(const sockaddr* address) const {
  if (address == nullptr) return false;
  if (address->sa_family == AF_INET) {
    if (ipv6) return false;
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return prefix_matches(bytes.data(), reinterpret_cast<const uint8_t*>(&in->sin_addr), prefix);
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    const auto* a = reinterpret_cast<const uint8_t*>(&in6->sin6_addr);
    if (ipv6) return prefix_matches(bytes.data(), a, prefix);
    if (memcmp(a, kMappedPrefix, sizeof kMappedPrefix) != 0) return false;
    return prefix_matches(bytes.data(), a + 12, prefix);
  }
  return false;
}

bool Cidr::contains_ip(std::string_view ip) const {
  char buf[INET6_ADDRSTRLEN + 1];
  if (ip.empty() || ip.size() >= sizeof buf) return false;
  memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';
  sockaddr_in6 s6{};
  sockaddr_in s4{};
  if (inet_pton(AF_INET, buf, &s4.sin_addr) == 1) {
    s4.sin_family = AF_INET;
    return contains(reinterpret_cast<const sockaddr*>(&s4));
  }
  if (inet_pton(AF_INET6, buf, &s6.sin6_addr) == 1) {
    s6.sin6_family = AF_INET6;
    return contains(reinterpret_cast<const sockaddr*>(&s6));
  }
  return false;
}

std::string Cidr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(ipv6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

std::string parse_cidr(std::string_view text, Cidr& out) {
  const size_t slash = text.find('/');
  const std::string_view addr = text.substr(0, slash);
  char buf[INET6_ADDRSTRLEN + 1];
  if (addr.empty() || addr.size() >= sizeof buf) return "is not an IP address";
  memcpy(buf, addr.data(), addr.size());
  buf[addr.size()] = '\0';
  Cidr c;
  if (inet_pton(AF_INET, buf, c.bytes.data()) == 1) {
    c.ipv6 = false;
  } else if (inet_pton(AF_INET6, buf, c.bytes.data()) == 1) {
    c.ipv6 = true;
  } else {
    return "is not an IPv4 or IPv6 address";
  }
  const unsigned max = c.ipv6 ? 128 : 32;
  unsigned bits = max;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return "has a bad prefix length";
    bits = 0;
    for (char ch : p) {
      if (ch < '0' || ch > '9') return "has a bad prefix length";
      bits = bits * 10 + unsigned(ch - '0');
    }
    if (bits > max) return "has a prefix length above " + std::to_string(max);
  }
  c.prefix = uint8_t(bits);
  // Host bits set ("10.0.0.1/8") usually means a typo in the prefix: refuse rather than
  // guess which network was meant.
  for (unsigned i = bits; i < max; ++i) {
    if (c.bytes[i / 8] & (0x80 >> (i % 8))) return "has host bits set (did you mean " +
                                                   [&] {
                                                     Cidr n = c;
                                                     for (unsigned j = bits; j < max; ++j)
                                                       n.bytes[j / 8] &= uint8_t(~(0x80 >> (j % 8)));
                                                     return n.to_string();
                                                   }() + "?)";
  }
  out = c;
  return {};
}

}  // namespace sidemeter::conf
