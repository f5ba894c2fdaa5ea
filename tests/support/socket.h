#pragma once
// Blocking-with-deadline TCP helpers shared by the test upstream and the raw client.
// Every wait goes through poll() with a deadline so a misbehaving proxy fails a test
// instead of hanging it.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sidemeter::testing {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

inline Deadline deadline_in(std::chrono::milliseconds ms) { return Clock::now() + ms; }

enum class IoStatus { kOk, kClosed, kReset, kTimeout, kCancelled, kError };
const char* to_string(IoStatus s);

// Owns one connected socket plus a read buffer. Reads append to buffer(); parsers
// consume from its front. Not thread-safe: one owner thread at a time.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd);
  ~Socket();
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Connects to 127.0.0.1:port. Returns an invalid Socket (fd() < 0) on failure and
  // stores errno in *err if given.
  static Socket connect_loopback(uint16_t port, int* err = nullptr);

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Waits for at least one byte and appends what is available to buffer().
  IoStatus fill(Deadline deadline);
  // Reads until buffer() holds `n` bytes (or fails).
  IoStatus fill_to(size_t n, Deadline deadline);
  // Reads until `delim` is in buffer(); *pos gets its offset.
  IoStatus fill_until(std::string_view delim, Deadline deadline, size_t* pos);
  // Reads until EOF/reset; everything lands in buffer().
  IoStatus read_to_close(Deadline deadline);

  std::string& buffer() { return buf_; }
  // Removes and returns the first n buffered bytes.
  std::string take(size_t n);

  // Writes everything or fails; *written (if given) reports progress, which lets
  // backpressure tests see where a writer stalled.
  IoStatus write_all(std::string_view data, Deadline deadline, uint64_t* written = nullptr);
  // Like write_all but gives up with kTimeout if no byte moves for `stall`.
  IoStatus write_until_stalled(std::string_view data, std::chrono::milliseconds stall,
                               uint64_t* written);

  void shutdown_write();
  // RST instead of FIN: SO_LINGER 0 then close.
  void reset();
  void close();

  // Optional observers: every received chunk is reported (counters, raw capture);
  // cancel lets an owner abort blocking waits (e.g. test upstream shutting down).
  std::function<void(std::string_view)> on_receive;
  const std::atomic<bool>* cancel = nullptr;
  uint64_t bytes_received() const { return received_; }

 private:
  IoStatus wait(short events, Deadline deadline);
  int fd_ = -1;
  std::string buf_;
  uint64_t received_ = 0;
};

// A listening loopback socket on a kernel-chosen port.
struct Listener {
  int fd = -1;
  uint16_t port = 0;
};
Listener listen_loopback(int backlog = 128);

// A port on 127.0.0.1 where nothing listens (bound, port noted, closed): connects get
// ECONNREFUSED. Racy in theory (someone may grab the port) but fine on a test box.
uint16_t refused_port();

// Blocking check whether a connect to the port succeeds.
bool can_connect(uint16_t port);

// One connect attempt bounded by `deadline`. A listener that stopped accepting but is
// still open (its backlog full) makes a blocking connect wait through SYN retries for
// about two minutes; this returns kTimeout instead, which is not a refusal.
enum class ConnectOutcome { kConnected, kRefused, kTimeout, kError };
ConnectOutcome try_connect(uint16_t port, Deadline deadline);

}  // namespace sidemeter::testing
