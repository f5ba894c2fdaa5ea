#include "proxy/net/socket_address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>

namespace sidemeter::net {

uint16_t SocketAddress::port() const {
  if (storage.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (storage.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::string SocketAddress::ip() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (storage.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
  else if (storage.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
              sizeof buf);
  return buf;
}

SocketAddress from_sockaddr(const sockaddr* sa) {
  SocketAddress a;
  if (sa->sa_family == AF_INET) {
    a.len = sizeof(sockaddr_in);
  } else if (sa->sa_family == AF_INET6) {
    a.len = sizeof(sockaddr_in6);
  } else {
    return a;
  }
  memcpy(&a.storage, sa, a.len);
  return a;
}

int resolve(const std::string& host, uint16_t port, SocketAddress& out, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  std::string port_text = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res);
  if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {  // AI_ADDRCONFIG hides ::1 with no v6 route
    hints.ai_flags = 0;
    rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res);
  }
  if (rc != 0) {
    error = gai_strerror(rc);
    return rc;
  }
  out = from_sockaddr(res->ai_addr);
  freeaddrinfo(res);
  if (!out.valid()) {
    error = "no IPv4/IPv6 address";
    return EAI_FAMILY;
  }
  return 0;
}

}  // namespace sidemeter::net
