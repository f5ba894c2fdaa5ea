#include "proxy/net/listen_socket.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sidemeter::net {

int open_listen_socket(const SocketAddress& addr, PortSharing sharing, std::string& error) {
  int fd = socket(addr.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + strerror(errno);
    return -errno;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sharing == PortSharing::kShared &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    error = std::string("SO_REUSEPORT: ") + strerror(e);
    close(fd);
    return -e;
  }
  if (bind(fd, addr.get(), addr.len) != 0) {
    int e = errno;
    error = "bind " + addr.ip() + ":" + std::to_string(addr.port()) + ": " + strerror(e);
    close(fd);
    return -e;
  }
  return fd;
}

int start_listening(int fd, int backlog, std::string& error) {
  if (listen(fd, backlog) != 0) {
    const int e = errno;
    error = std::string("listen: ") + strerror(e);
    return -e;
  }
  return 0;
}

SocketAddress bound_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace sidemeter::net
