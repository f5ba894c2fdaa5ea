#pragma once
#include <cstdint>
#include <string>

#include "proxy/net/socket_address.h"

namespace sidemeter::net {

enum class PortSharing : uint8_t {
  // SO_REUSEPORT: each worker owns a socket on the port and the kernel spreads
  // connections across them (libuv 1.44 lacks UV_TCP_REUSEPORT, hence this function).
  kShared,
  // The port is this socket's alone: a second sidemeter started by mistake on the same
  // stats address fails to bind instead of quietly taking part of its traffic.
  kExclusive,
};

// A non-blocking TCP socket bound to `addr`, not listening yet (start_listening, or
// uv_listen() after uv_tcp_open()), so that a start that fails after binding (another of
// its addresses taken) has taken no connection.
// Returns the fd, or -errno with `error` naming the step and the address.
int open_listen_socket(const SocketAddress& addr, PortSharing sharing, std::string& error);

// listen(2) on a socket from open_listen_socket: connections queue in its backlog from
// now on, before any loop accepts them. 0, or -errno with `error`.
int start_listening(int fd, int backlog, std::string& error);

// The address the socket is actually bound to (port 0 resolved by the kernel).
SocketAddress bound_address(int fd);

}  // namespace sidemeter::net
