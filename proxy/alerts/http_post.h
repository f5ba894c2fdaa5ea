#pragma once
// One HTTP/1.1 POST on a libuv loop, for alert delivery: resolve (numeric hosts skip the
// resolver; of a name's addresses the first IPv4 one is tried, else the first), connect,
// write the request (Host, Content-Type: application/json, Content-Length,
// Connection: close), read the status line and the rest of the answer
// (to its Content-Length or EOF, at most 64 KiB). The whole attempt, resolution
// included, is bounded by one timeout. Plain http only.
//
// Lifetime: the object frees itself once its last handle has closed (and the resolver
// request, if any, has called back); the write buffer lives in it, so it outlives the
// write callback. `done` is called exactly once, on the loop thread, unless cancel() came
// first; after `done` (or cancel()) the caller must not touch the pointer again.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "proxy/net/handle_owner.h"

namespace sidemeter::alerts {

struct PostResult {
  enum class Kind : uint8_t {
    kHttp,         // an answer came: `status` holds its code
    kResolve,      // the host name did not resolve
    kConnect,      // connect failed (refused, unreachable)
    kTimeout,      // timeout_ms passed before an answer
    kIo,           // write or read failed, or the peer closed before a status line
    kBadResponse,  // what came back is not an HTTP/1.x status line
  };
  Kind kind = Kind::kIo;
  int status = 0;      // kHttp: the status code
  std::string detail;  // libuv error name or a short reason, for logs
};
std::string_view post_result_kind_name(PostResult::Kind k);  // "http", "resolve", ...

class HttpPost {
 public:
  using Done = std::function<void(const PostResult&)>;

  // Starts the attempt; never calls `done` synchronously (a failure to start is reported
  // from the loop). `target` is the request target ("/api/v2/alerts").
  static HttpPost* start(uv_loop_t* loop, const conf::HttpUrl& url, std::string target,
                         std::string_view body, uint64_t timeout_ms, Done done);

  // Abandons the attempt: `done` is not called; handles close and the object frees itself.
  void cancel();

 private:
  HttpPost() = default;
  ~HttpPost() = default;
  void begin();
  void connect_to(const struct sockaddr* addr);
  void on_read(ssize_t nread, const uv_buf_t* buf);
  // Parses what has been read; true once the answer is complete (or malformed).
  bool answer_complete();
  void finish(PostResult result);
  void release();  // one pending handle or request is gone; frees at zero

  uv_loop_t* loop_ = nullptr;
  conf::HttpUrl url_;
  std::string request_;   // the bytes written; alive until the write callback
  std::string response_;
  uint64_t timeout_ms_ = 0;
  Done done_;
  uv_timer_t timer_;
  uv_getaddrinfo_t resolve_;
  uv_tcp_t tcp_;
  uv_connect_t connect_req_;
  uv_write_t write_req_;
  char read_buf_[4096];
  net::HandleOwner handles_;  // open handles + an outstanding resolver request
  bool resolving_ = false;
  bool tcp_open_ = false;
  bool finished_ = false;
  int status_ = 0;           // from the status line, once read
  size_t body_start_ = 0;    // offset of the body once the head is complete
  int64_t content_length_ = -1;
};

}  // namespace sidemeter::alerts
