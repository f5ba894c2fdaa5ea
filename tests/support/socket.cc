#include "tests/support/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sidemeter::testing {
namespace {

// Cancellation is checked between slices so a blocked reader notices shutdown quickly.
constexpr int kPollSliceMs = 50;

sockaddr_in loopback_addr(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

const char* to_string(IoStatus s) {
  switch (s) {
    case IoStatus::kOk:
      return "ok";
    case IoStatus::kClosed:
      return "closed";
    case IoStatus::kReset:
      return "reset";
    case IoStatus::kTimeout:
      return "timeout";
    case IoStatus::kCancelled:
      return "cancelled";
    case IoStatus::kError:
      return "error";
  }
  return "?";
}

Socket::Socket(int fd) : fd_(fd) {}
Socket::~Socket() { close(); }

Socket::Socket(Socket&& other) noexcept
    : on_receive(std::move(other.on_receive)),
      cancel(other.cancel),
      fd_(other.fd_),
      buf_(std::move(other.buf_)),
      received_(other.received_) {
  other.fd_ = -1;
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    other.fd_ = -1;
    buf_ = std::move(other.buf_);
    received_ = other.received_;
    on_receive = std::move(other.on_receive);
    cancel = other.cancel;
  }
  return *this;
}

Socket Socket::connect_loopback(uint16_t port, int* err) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (err) *err = errno;
    return Socket();
  }
  sockaddr_in addr = loopback_addr(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (err) *err = errno;
    ::close(fd);
    return Socket();
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (err) *err = 0;
  return Socket(fd);
}

IoStatus Socket::wait(short events, Deadline deadline) {
  for (;;) {
    if (cancel && cancel->load()) return IoStatus::kCancelled;
    auto now = Clock::now();
    if (now >= deadline) return IoStatus::kTimeout;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    int slice = static_cast<int>(std::min<long long>(left + 1, kPollSliceMs));
    pollfd p{fd_, events, 0};
    int rc = ::poll(&p, 1, slice);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return IoStatus::kError;
    }
    if (rc > 0) return IoStatus::kOk;
  }
}

IoStatus Socket::fill(Deadline deadline) {
  if (fd_ < 0) return IoStatus::kError;
  IoStatus st = wait(POLLIN, deadline);
  if (st != IoStatus::kOk) return st;
  char tmp[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      received_ += static_cast<uint64_t>(n);
      if (on_receive) on_receive(std::string_view(tmp, static_cast<size_t>(n)));
      return IoStatus::kOk;
    }
    if (n == 0) return IoStatus::kClosed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return fill(deadline);
    if (errno == ECONNRESET || errno == EPIPE) return IoStatus::kReset;
    return IoStatus::kError;
  }
}

IoStatus Socket::fill_to(size_t n, Deadline deadline) {
  while (buf_.size() < n) {
    IoStatus st = fill(deadline);
    if (st != IoStatus::kOk) return st;
  }
  return IoStatus::kOk;
}

IoStatus Socket::fill_until(std::string_view delim, Deadline deadline, size_t* pos) {
  size_t from = 0;
  for (;;) {
    size_t p = buf_.find(delim, from);
    if (p != std::string::npos) {
      *pos = p;
      return IoStatus::kOk;
    }
    from = buf_.size() >= delim.size() ? buf_.size() - delim.size() + 1 : 0;
    IoStatus st = fill(deadline);
    if (st != IoStatus::kOk) return st;
  }
}

IoStatus Socket::read_to_close(Deadline deadline) {
  for (;;) {
    IoStatus st = fill(deadline);
    if (st != IoStatus::kOk) return st;
  }
}

std::string Socket::take(size_t n) {
  n = std::min(n, buf_.size());
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

IoStatus Socket::write_all(std::string_view data, Deadline deadline, uint64_t* written) {
  if (fd_ < 0) return IoStatus::kError;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      if (written) *written += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      IoStatus st = wait(POLLOUT, deadline);
      if (st != IoStatus::kOk) return st;
      continue;
    }
    if (n < 0 && (errno == ECONNRESET || errno == EPIPE)) return IoStatus::kReset;
    return IoStatus::kError;
  }
  return IoStatus::kOk;
}

IoStatus Socket::write_until_stalled(std::string_view data, std::chrono::milliseconds stall,
                                     uint64_t* written) {
  size_t off = 0;
  while (off < data.size()) {
    uint64_t before = written ? *written : 0;
    uint64_t progress = 0;
    size_t chunk = std::min<size_t>(data.size() - off, 64 * 1024);
    IoStatus st = write_all(data.substr(off, chunk), Clock::now() + stall, &progress);
    if (written) *written = before + progress;
    off += static_cast<size_t>(progress);
    if (st != IoStatus::kOk) return st;
  }
  return IoStatus::kOk;
}

void Socket::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void Socket::reset() {
  if (fd_ < 0) return;
  linger lg{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close();
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Listener listen_loopback(int backlog) {
  Listener l;
  l.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l.fd < 0) return l;
  int one = 1;
  ::setsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr = loopback_addr(0);
  if (::bind(l.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(l.fd, backlog) != 0) {
    ::close(l.fd);
    l.fd = -1;
    return l;
  }
  socklen_t len = sizeof addr;
  ::getsockname(l.fd, reinterpret_cast<sockaddr*>(&addr), &len);
  l.port = ntohs(addr.sin_port);
  return l;
}

uint16_t refused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = loopback_addr(0);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

ConnectOutcome try_connect(uint16_t port, Deadline deadline) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ConnectOutcome::kError;
  sockaddr_in addr = loopback_addr(port);
  int err = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      err = ETIMEDOUT;
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLOUT, 0};
        int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, kPollSliceMs)));
        if (rc < 0 && errno != EINTR) {
          err = errno;
          break;
        }
        if (rc > 0) {
          socklen_t len = sizeof err;
          if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
          break;
        }
      }
    }
  }
  ::close(fd);
  if (err == 0) return ConnectOutcome::kConnected;
  if (err == ECONNREFUSED) return ConnectOutcome::kRefused;
  if (err == ETIMEDOUT) return ConnectOutcome::kTimeout;
  return ConnectOutcome::kError;
}

bool can_connect(uint16_t port) {
  Socket s = Socket::connect_loopback(port);
  return s.valid();
}

}  // namespace sidemeter::testing
