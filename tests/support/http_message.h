#pragma once
// A lenient HTTP/1.x reader for tests. It reads what the proxy (or the client side of
// the proxy) put on the wire and records how it was framed, so tests can assert on
// framing as well as content. It is deliberately independent of proxy/http so a bug
// there cannot hide itself.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/socket.h"

namespace sidemeter::testing {

struct Header {
  std::string name;
  std::string value;
};

enum class BodyFraming { kNone, kContentLength, kChunked, kClose };

struct HttpMessage {
  // Request line (requests) or status line (responses).
  std::string method;
  std::string target;
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;

  std::vector<Header> headers;
  std::vector<Header> trailers;
  std::string body;         // de-chunked; empty when a body sink consumed it
  uint64_t body_bytes = 0;  // counted even when streamed to a sink
  BodyFraming framing = BodyFraming::kNone;
  std::string head_raw;      // request/status line + headers + blank line, as received
  std::vector<int> interim;  // 1xx statuses seen before this final response
  int64_t conn_index = -1;   // test upstream: which accepted connection carried it

  // Case-insensitive lookups.
  std::optional<std::string> header(std::string_view name) const;
  size_t header_count(std::string_view name) const;
  bool has(std::string_view name) const { return header_count(name) > 0; }
  // True if any comma-separated element of any `name` field equals `token` (ci).
  bool has_token(std::string_view name, std::string_view token) const;
};

struct ReadOptions {
  Deadline deadline = deadline_in(std::chrono::seconds(10));
  bool response_to_head = false;  // responses: no body regardless of headers
  bool stop_at_interim = false;   // responses: return a 1xx instead of skipping it
  bool head_only = false;         // requests: stop after the header section
  // If set, body bytes go here instead of HttpMessage::body (big-body tests).
  std::function<void(std::string_view)> body_sink;
};

struct ReadResult {
  IoStatus status = IoStatus::kOk;  // kOk: message complete
  std::string error;                // parse error description, if status == kError
  bool ok() const { return status == IoStatus::kOk; }
};

ReadResult read_request(Socket& s, HttpMessage& out, const ReadOptions& opts = {});
ReadResult read_response(Socket& s, HttpMessage& out, const ReadOptions& opts = {});
// Reads the body of a request whose head was read with head_only (Expect: 100-continue).
ReadResult read_request_body(Socket& s, HttpMessage& m, const ReadOptions& opts = {});

bool iequals(std::string_view a, std::string_view b);

// Builds "name: value\r\n" lines; convenience for handlers.
std::string make_response(int status, std::string_view reason, std::string_view body,
                          const std::vector<Header>& extra = {});

// Deterministic pseudo-random payload bytes and a rolling checksum, so big transfers
// can be verified without holding them in memory.
void fill_pattern(uint64_t offset, char* dst, size_t n);
struct Checksum {
  uint64_t h = 1469598103934665603ull;
  uint64_t bytes = 0;
  void update(std::string_view data);
};

}  // namespace sidemeter::testing
