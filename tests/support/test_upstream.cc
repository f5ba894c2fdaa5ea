#include "tests/support/test_upstream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace sidemeter::testing {

UpstreamConn::UpstreamConn(TestUpstream& owner, Socket sock, uint64_t index)
    : owner_(owner), sock_(std::move(sock)), index_(index) {
  sock_.cancel = &owner_.stop_;
  sock_.on_receive = [this](std::string_view d) { owner_.note_bytes(d); };
}

bool UpstreamConn::read_request(HttpMessage& out, const ReadOptions& opts) {
  last_ = sidemeter::testing::read_request(sock_, out, opts);
  out.conn_index = static_cast<int64_t>(index_);
  if (last_.ok()) owner_.note_request(out);
  return last_.ok();
}

bool UpstreamConn::read_body(HttpMessage& m, const ReadOptions& opts) {
  last_ = read_request_body(sock_, m, opts);
  return last_.ok();
}

bool UpstreamConn::wait_for(Latch& latch, Deadline deadline) {
  while (!owner_.stop_.load()) {
    auto slice = std::min(deadline, Clock::now() + std::chrono::milliseconds(50));
    if (latch.wait(slice)) return true;
    if (Clock::now() >= deadline) return false;
  }
  return false;
}

bool UpstreamConn::write(std::string_view bytes, Deadline deadline) {
  return sock_.write_all(bytes, deadline) == IoStatus::kOk;
}

bool UpstreamConn::wait_peer_close(Deadline deadline) {
  for (;;) {
    IoStatus st = sock_.fill(deadline);
    if (st == IoStatus::kClosed || st == IoStatus::kReset) return true;
    if (st != IoStatus::kOk) return false;
  }
}

TestUpstream::TestUpstream(UpstreamHandler handler, uint64_t probe_connections)
    : handler_(std::move(handler)), probes_left_(probe_connections) {
  Listener l = listen_loopback();
  listen_fd_ = l.fd;
  port_ = l.port;
  acceptor_ = std::thread([this] { accept_loop(); });
}

TestUpstream::~TestUpstream() {
  stop_ = true;
  acceptor_.join();
  for (std::thread& t : workers_) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void TestUpstream::accept_loop() {
  uint64_t index = 0;
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (probes_left_.load() > 0) {
      ::close(fd);
      {
        std::lock_guard<std::mutex> lock(mu_);
        probes_left_--;
      }
      cv_.notify_all();
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint64_t my_index = index++;
    {
      std::lock_guard<std::mutex> lock(mu_);
      connections_++;
    }
    cv_.notify_all();
    workers_.emplace_back([this, fd, my_index] {
      UpstreamConn conn(*this, Socket(fd), my_index);
      handler_(conn);
    });
  }
}

void TestUpstream::note_bytes(std::string_view data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_ += data.size();
    if (raw_.size() < kRawCap) raw_.append(data.substr(0, kRawCap - raw_.size()));
  }
  cv_.notify_all();
}

void TestUpstream::note_request(const HttpMessage& m) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    HttpMessage copy = m;
    if (copy.body.size() > kRawCap) copy.body.resize(kRawCap);
    seen_.push_back(std::move(copy));
    requests_++;
  }
  cv_.notify_all();
}

std::string TestUpstream::raw_received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return raw_;
}

std::vector<HttpMessage> TestUpstream::seen_requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

bool TestUpstream::wait_connections(uint64_t n, Deadline deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return connections_.load() >= n; });
}

bool TestUpstream::wait_probes(Deadline deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return probes_left_.load() == 0; });
}

bool TestUpstream::wait_requests(uint64_t n, Deadline deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return requests_.load() >= n; });
}

UpstreamHandler TestUpstream::fixed(std::string body) {
  return [body](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      std::vector<Header> extra = {{"Content-Type", "text/plain"}};
      bool close = req.has_token("connection", "close");
      if (close) extra.push_back({"Connection", "close"});
      std::string out = make_response(200, "OK", body, extra);
      // HEAD: same Content-Length as GET would have, no body bytes.
      if (req.method == "HEAD") out.resize(out.size() - body.size());
      if (!c.write(out)) return;
      if (close) return;
    }
  };
}

UpstreamHandler TestUpstream::echo() {
  return [](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      if (!c.write(make_response(200, "OK", req.body, {{"X-Echo-Target", req.target}}))) return;
    }
  };
}

SilentServer::SilentServer() {
  Listener l = listen_loopback();
  fd_ = l.fd;
  port_ = l.port;
}

SilentServer::~SilentServer() {
  if (fd_ >= 0) ::close(fd_);
}

FullBacklogServer::FullBacklogServer() {
  Listener l = listen_loopback(/*backlog=*/0);
  fd_ = l.fd;
  port_ = l.port;
  if (fd_ < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Queue connections until one does not complete: from then on SYNs are dropped.
  for (int i = 0; i < 16 && !ok_; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (rc != 0 && errno != EINPROGRESS) {
      ::close(fd);
      return;
    }
    pollfd p{fd, POLLOUT, 0};
    if (rc != 0 && ::poll(&p, 1, 300) == 0) {
      ok_ = true;  // this connect is stuck in SYN retransmission
      ::close(fd);
      break;
    }
    fillers_.push_back(fd);
  }
}

FullBacklogServer::~FullBacklogServer() {
  for (int fd : fillers_) ::close(fd);
  if (fd_ >= 0) ::close(fd_);
}

void Latch::open() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
  }
  cv_.notify_all();
}

bool Latch::wait(Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return open_; });
}

bool Latch::is_open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

}  // namespace sidemeter::testing
