#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

namespace sidemeter::net {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  bool valid() const { return len != 0; }
  uint16_t port() const;
  std::string ip() const;  // numeric host, no brackets
};

// Blocking getaddrinfo: for startup and the control thread only, never a worker.
// Returns 0 or an EAI_* code; `error` gets a readable message.
int resolve(const std::string& host, uint16_t port, SocketAddress& out, std::string& error);

SocketAddress from_sockaddr(const sockaddr* sa);

}  // namespace sidemeter::net
