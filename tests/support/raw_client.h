#pragma once
// A blocking downstream client that writes exactly the bytes a test gives it, so tests
// can send malformed, pipelined or split requests and read responses byte-exactly.
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/support/http_message.h"
#include "tests/support/socket.h"

namespace sidemeter::testing {

class RawClient {
 public:
  explicit RawClient(uint16_t port);

  bool connected() const { return sock_.valid(); }
  int connect_errno() const { return connect_errno_; }

  bool send(std::string_view bytes, Deadline deadline = deadline_in(std::chrono::seconds(10)));
  ReadResult read_response(HttpMessage& out, const ReadOptions& opts = {});
  // Sends and reads one response; `head` marks a HEAD request (no body expected).
  ReadResult exchange(std::string_view request, HttpMessage& out, bool head = false);

  // Reads until the proxy closes the connection. Returns kClosed or kReset on a close,
  // kTimeout if the connection stayed open; received bytes are appended to *data.
  IoStatus read_until_close(std::string* data,
                            Deadline deadline = deadline_in(std::chrono::seconds(10)));
  // True if the connection is closed by the peer before the deadline (any pending data
  // is discarded).
  bool wait_closed(Deadline deadline = deadline_in(std::chrono::seconds(10)));

  Socket& socket() { return sock_; }
  void close() { sock_.close(); }

 private:
  Socket sock_;
  int connect_errno_ = 0;
};

// "GET <target> HTTP/1.1\r\nHost: test.local\r\n<extra>\r\n"
std::string simple_get(std::string_view target, std::string_view extra_headers = "");

}  // namespace sidemeter::testing
