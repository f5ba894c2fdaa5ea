#pragma once
// A scriptable loopback HTTP/1.1 backend. Each accepted connection runs the handler on
// its own thread; the handler reads requests and writes whatever bytes the test wants,
// including invalid ones. Counters let tests assert what reached the backend (e.g. zero
// bytes for smuggling attempts).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_message.h"
#include "tests/support/socket.h"

namespace sidemeter::testing {

class TestUpstream;
class Latch;

class UpstreamConn {
 public:
  UpstreamConn(TestUpstream& owner, Socket sock, uint64_t index);

  // Blocking read of the next request. False on EOF/timeout/parse error (see last()).
  bool read_request(HttpMessage& out, const ReadOptions& opts = {});
  const ReadResult& last() const { return last_; }
  // Second half of a read_request(..., head_only) call.
  bool read_body(HttpMessage& m, const ReadOptions& opts = {});

  bool write(std::string_view bytes, Deadline deadline = deadline_in(std::chrono::seconds(10)));
  Socket& socket() { return sock_; }
  void close() { sock_.close(); }
  void reset() { sock_.reset(); }
  // Waits for the peer (the proxy) to close; true if it did before the deadline.
  bool wait_peer_close(Deadline deadline);
  uint64_t index() const { return index_; }  // 0-based accept order
  // Latch::wait that also gives up when the upstream shuts down, so a failed test does
  // not sit in the destructor until the handler's deadline.
  bool wait_for(Latch& latch, Deadline deadline);

 private:
  TestUpstream& owner_;
  Socket sock_;
  uint64_t index_;
  ReadResult last_;
};

using UpstreamHandler = std::function<void(UpstreamConn&)>;

class TestUpstream {
 public:
  // The first `probe_connections` connections are the proxy's readiness probe (a bare
  // connect at start): they are closed at once and are not counted, indexed or handed
  // to `handler`, so the test's own traffic starts at connection 0.
  explicit TestUpstream(UpstreamHandler handler, uint64_t probe_connections = 0);
  ~TestUpstream();
  TestUpstream(const TestUpstream&) = delete;
  TestUpstream& operator=(const TestUpstream&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  uint64_t connections() const { return connections_.load(); }
  // Waits until the probe connections given to the constructor have come and gone.
  bool wait_probes(Deadline deadline) const;
  uint64_t requests() const { return requests_.load(); }
  uint64_t bytes_received() const { return bytes_.load(); }
  // First kRawCap bytes received over all connections, in arrival order per chunk.
  std::string raw_received() const;
  // Requests seen so far (bodies truncated to kRawCap).
  std::vector<HttpMessage> seen_requests() const;

  bool wait_connections(uint64_t n, Deadline deadline) const;
  bool wait_requests(uint64_t n, Deadline deadline) const;

  // Handlers built for common cases.
  // Answers every request 200 with `body`, keep-alive, until the proxy closes.
  static UpstreamHandler fixed(std::string body);
  // Answers 200 with the request body echoed back (Content-Length framed).
  static UpstreamHandler echo();

  static constexpr size_t kRawCap = 1 << 20;

 private:
  friend class UpstreamConn;
  void accept_loop();
  void note_bytes(std::string_view data);
  void note_request(const HttpMessage& m);

  UpstreamHandler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;  // only touched by the acceptor thread and dtor

  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> probes_left_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> bytes_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string raw_;
  std::vector<HttpMessage> seen_;
};

// Accepts connections (kernel backlog) and never reads or answers: for response
// timeouts. The accepted sockets stay open until destruction.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A listener whose accept queue is full (backlog 0, one queued connection, never
// accepted): the kernel drops further SYNs, so connects hang until the client gives up.
// The only reliable way to get a connect timeout on loopback. ok() is false if the
// kernel did not behave that way (the caller should skip).
class FullBacklogServer {
 public:
  FullBacklogServer();
  ~FullBacklogServer();
  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  bool ok_ = false;
  std::vector<int> fillers_;
};

// A one-shot latch for handler/test hand-offs ("request arrived", "release now").
class Latch {
 public:
  void open();
  bool wait(Deadline deadline);
  bool is_open() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace sidemeter::testing
