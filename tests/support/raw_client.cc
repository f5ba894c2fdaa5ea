#include "tests/support/raw_client.h"

namespace sidemeter::testing {

RawClient::RawClient(uint16_t port) : sock_(Socket::connect_loopback(port, &connect_errno_)) {}

bool RawClient::send(std::string_view bytes, Deadline deadline) {
  return sock_.write_all(bytes, deadline) == IoStatus::kOk;
}

ReadResult RawClient::read_response(HttpMessage& out, const ReadOptions& opts) {
  return sidemeter::testing::read_response(sock_, out, opts);
}

ReadResult RawClient::exchange(std::string_view request, HttpMessage& out, bool head) {
  if (!send(request)) return ReadResult{IoStatus::kError, "send failed"};
  ReadOptions opts;
  opts.response_to_head = head;
  return read_response(out, opts);
}

IoStatus RawClient::read_until_close(std::string* data, Deadline deadline) {
  IoStatus st = sock_.read_to_close(deadline);
  if (data) data->append(sock_.buffer());
  sock_.buffer().clear();
  return st;
}

bool RawClient::wait_closed(Deadline deadline) {
  IoStatus st = read_until_close(nullptr, deadline);
  return st == IoStatus::kClosed || st == IoStatus::kReset;
}

std::string simple_get(std::string_view target, std::string_view extra_headers) {
  std::string out = "GET ";
  out.append(target);
  out += " HTTP/1.1\r\nHost: test.local\r\n";
  out.append(extra_headers);
  out += "\r\n";
  return out;
}

}  // namespace sidemeter::testing
