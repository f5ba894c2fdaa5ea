#include "tests/proxy/stats/loop_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace sidemeter::testing {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

LoopClient::LoopClient(uv_loop_t* loop, uint16_t port, int receive_buffer) : loop_(loop) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (receive_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Loopback connects complete from the listen backlog: the server accepts on its next run.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return;
  }
  fd_ = fd;
}

LoopClient::~LoopClient() { close(); }

void LoopClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool LoopClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(size_t(n));
  }
  return true;
}

void LoopClient::read_available() {
  char chunk[16384];
  while (fd_ >= 0 && !closed_) {
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
      buf_.append(chunk, size_t(n));
    } else if (n == 0) {
      closed_ = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else if (errno != EINTR) {
      closed_ = true;
    }
  }
}

bool LoopClient::pump_until(const std::function<bool(std::string&)>& pred, int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  while (true) {
    uv_run(loop_, UV_RUN_NOWAIT);
    read_available();
    if (pred(buf_)) return true;
    if (closed_) return false;
    const int64_t left = deadline - now_ms();
    if (left <= 0) return false;
    int wait = int(std::min<int64_t>(left, 100));
    const int loop_wait = uv_backend_timeout(loop_);
    if (loop_wait >= 0) wait = std::min(wait, loop_wait);
    pollfd fds[2] = {{uv_backend_fd(loop_), POLLIN, 0}, {fd_, POLLIN, 0}};
    ::poll(fds, 2, wait);
  }
}

bool LoopClient::read_response(HttpResponse& out, bool head_only, int timeout_ms) {
  size_t head_end = std::string::npos;
  if (!pump_until(
          [&](const std::string& b) {
            head_end = b.find("\r\n\r\n");
            return head_end != std::string::npos;
          },
          timeout_ms)) {
    return false;
  }
  out = HttpResponse{};
  const std::string head = buf_.substr(0, head_end);
  size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.compare(0, 9, "HTTP/1.1 ") != 0) return false;
  out.status = std::atoi(status_line.c_str() + 9);
  while (line_end != std::string::npos) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return false;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    size_t v = colon + 1;
    while (v < line.size() && line[v] == ' ') ++v;
    out.headers[name] = line.substr(v);
  }
  buf_.erase(0, head_end + 4);
  if (head_only) return true;
  const size_t length = size_t(std::atoll(out.header("content-length").c_str()));
  if (!pump_until([&](const std::string& b) { return b.size() >= length; }, timeout_ms)) {
    return false;
  }
  out.body = buf_.substr(0, length);
  buf_.erase(0, length);
  return true;
}

bool LoopClient::wait_closed(int timeout_ms) {
  pump_until([](const std::string&) { return false; }, timeout_ms);
  return closed_;
}

HttpResponse LoopClient::get(std::string_view target, std::string_view extra_headers) {
  std::string req = "GET ";
  req += target;
  req += " HTTP/1.1\r\nHost: stats.test\r\n";
  req += extra_headers;
  req += "\r\n";
  HttpResponse r;
  if (!send(req) || !read_response(r)) r.status = -1;
  return r;
}

void drain_loop(uv_loop_t* loop) {
  // Close callbacks run on the next iteration; a bounded number of rounds is plenty.
  for (int i = 0; i < 1000 && uv_run(loop, UV_RUN_NOWAIT) != 0; ++i) {
  }
}

}  // namespace sidemeter::testing
