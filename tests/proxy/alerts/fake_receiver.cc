#include "tests/proxy/alerts/fake_receiver.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sidemeter::testing {

FakeReceiver::FakeReceiver(int status) : listener_(listen_loopback()), status_(status) {
  if (listener_.fd >= 0) thread_ = std::thread([this] { run(); });
}

FakeReceiver::~FakeReceiver() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listener_.fd >= 0) ::close(listener_.fd);
}

void FakeReceiver::run() {
  while (!stop_.load()) {
    pollfd p{listener_.fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int fd = ::accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Socket s(fd);
    s.cancel = &stop_;
    HttpMessage m;
    ReadOptions opts;
    opts.deadline = deadline_in(std::chrono::seconds(5));
    if (!read_request(s, m, opts).ok()) continue;
    int status = status_.load();
    s.write_all(make_response(status, status < 300 ? "OK" : "Nope", "", {{"Connection", "close"}}),
                deadline_in(std::chrono::seconds(5)));
    s.shutdown_write();
    {
      std::lock_guard lock(mu_);
      requests_.push_back(std::move(m));
    }
    cv_.notify_all();
    s.read_to_close(deadline_in(std::chrono::seconds(1)));
  }
}

std::vector<HttpMessage> FakeReceiver::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

size_t FakeReceiver::count() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

bool FakeReceiver::wait_for(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

}  // namespace sidemeter::testing
