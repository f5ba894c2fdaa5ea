#pragma once
// One connection on the stats port: reads small GET requests with the project's strict
// parser, answers them in order (keep-alive and pipelining), and can turn into a stream
// subscriber that gets pushed frames. Lives on the control loop; frees itself once its
// handles are closed, after telling its owner.
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/http1/parser.h"
#include "proxy/net/handle_owner.h"

namespace sidemeter::stats {

struct StatsRequest {
  http::Method method = http::Method::kOther;
  bool head = false;   // HEAD: answer like GET without the body
  std::string path;    // without query
  std::string target;  // as received, query included
  std::string accept;
  std::string authorization;
  bool keep_alive = true;
};

class StatsConnection;

class StatsConnectionOwner {
 public:
  virtual ~StatsConnectionOwner() = default;
  // A complete request: answer with respond() or start_stream() before returning.
  virtual void on_request(StatsConnection& c, const StatsRequest& r) = 0;
  // Both handles are closed; `c` is deleted right after this returns.
  virtual void on_closed(StatsConnection& c) = 0;
};

struct ConnectionLimits {
  size_t max_subscriber_buffer_bytes = size_t{1} << 20;
  size_t max_response_backlog_bytes = size_t{4} << 20;
  uint64_t idle_timeout_ms = 30'000;
};

class StatsConnection final : private http::MessageSink {
 public:
  // Accepts a pending connection from `server`. Returns nullptr (connection refused and
  // dropped) on failure.
  static StatsConnection* accept(uv_stream_t* server, StatsConnectionOwner& owner,
                                 const ConnectionLimits& limits);

  // Response with a complete body. `extra_headers` are full "Name: value\r\n" lines.
  void respond(uint16_t status, std::string_view content_type, std::string_view body,
               std::string_view extra_headers = {});
  // Sends a response head without length and keeps the connection as a subscriber;
  // `preamble` follows the head at once.
  void start_stream(std::string_view content_type, std::string_view preamble);
  // Queues prefix + shared frame + suffix. False when that would put more than the
  // subscriber bound unsent: the caller then drops it with close().
  bool push_frame(std::string_view prefix, std::shared_ptr<const std::string> frame,
                  std::string_view suffix);
  void close();

  bool streaming() const { return streaming_; }
  bool closing() const { return closing_; }
  size_t unsent_bytes() const;

  // Intrusive list links, maintained by the owner.
  StatsConnection* prev = nullptr;
  StatsConnection* next = nullptr;
  int stream_format = 0;  // owner's tag for subscribers (SSE / NDJSON)

 private:
  struct WriteReq;

  StatsConnection(StatsConnectionOwner& owner, const ConnectionLimits& limits);
  ~StatsConnection() override;

  http::SinkAction on_head(const http::MessageHead& head) override;
  http::SinkAction on_body(std::string_view data) override;
  http::SinkAction on_message_complete() override;

  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_timeout(uv_timer_t* t);
  static void on_handle_closed(uv_handle_t* h);

  void process_input();
  void reject(uint16_t status, std::string_view detail);
  bool write(WriteReq* req, const uv_buf_t* bufs, unsigned n);
  void arm_idle_timer();
  void release_one();

  StatsConnectionOwner& owner_;
  const ConnectionLimits limits_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  http::Parser parser_;
  StatsRequest request_;
  std::string input_;  // received, not yet parsed (pipelined requests, paused reads)
  size_t pending_writes_ = 0;
  net::HandleOwner handles_;  // tcp_, timer_ and each write in flight
  bool message_done_ = false;
  bool body_refused_ = false;
  bool streaming_ = false;
  bool close_after_write_ = false;
  bool reading_ = false;
  bool peer_closed_ = false;
  bool closing_ = false;
};

}  // namespace sidemeter::stats
