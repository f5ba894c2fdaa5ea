#pragma once
#include <string>

#include "proxy/net/socket_address.h"

namespace sidemeter::net {

// A non-blocking listening socket with SO_REUSEPORT set before bind, so that each worker
// can own one and the kernel spreads connections across them. libuv 1.44 lacks
// UV_TCP_REUSEPORT, so the fd is made here and handed to uv_tcp_open(). Returns the fd
// or -errno.
int open_listen_socket(const SocketAddress& addr, int backlog, std::string& error);

// The address the socket is actually bound to (port 0 resolved by the kernel).
SocketAddress bound_address(int fd);

}  // namespace sidemeter::net
