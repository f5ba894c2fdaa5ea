#pragma once
// A loopback client for tests that run a libuv loop on the test thread: every wait polls
// the client socket and the loop's backend together and runs the loop without blocking, so
// the server under test makes progress while the test waits for bytes (no threads, no
// sleeps).
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace sidemeter::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class LoopClient {
 public:
  // receive_buffer > 0 sets SO_RCVBUF before connecting (to make a slow reader).
  LoopClient(uv_loop_t* loop, uint16_t port, int receive_buffer = 0);
  ~LoopClient();
  LoopClient(const LoopClient&) = delete;
  LoopClient& operator=(const LoopClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool send(std::string_view bytes);
  // Runs the loop until pred(buffer) holds (pred may consume from the buffer); false on timeout or
  // if the peer closed first.
  bool pump_until(const std::function<bool(std::string&)>& pred, int timeout_ms = 5000);
  // One response with a Content-Length body (or only the head when head_only), removed
  // from the buffer.
  bool read_response(HttpResponse& out, bool head_only = false, int timeout_ms = 5000);
  // Runs the loop until the server closes the connection.
  bool wait_closed(int timeout_ms = 5000);
  // Sends a GET and reads the answer.
  HttpResponse get(std::string_view target, std::string_view extra_headers = {});

  std::string& buffer() { return buf_; }
  bool peer_closed() const { return closed_; }
  void close();

 private:
  void read_available();
  uv_loop_t* loop_;
  int fd_ = -1;
  std::string buf_;
  bool closed_ = false;
};

// Runs the loop until it has nothing left to do (after close()).
void drain_loop(uv_loop_t* loop);

}  // namespace sidemeter::testing
