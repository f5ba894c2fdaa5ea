#pragma once
#include <uv.h>

#include <string>

#include "proxy/net/transport.h"

namespace sidemeter::net {

// Per-worker read buffer: libuv asks for a buffer right before each read and we consume
// it synchronously in the read callback, so one buffer per loop serves every connection
// and idle connections hold no read memory at all.
//
// 128 KiB: a 64 KiB response with its head arrives in one read and leaves in one writev
// (with 64 KiB it took two of each, and cost 20 % more CPU per response in
// tests/bench); 256 KiB measured no better. Per worker, not per connection.
struct ReadBuffer {
  static constexpr size_t kSize = 128 * 1024;
  char data[kSize];
};

class TcpTransport final : public Transport {
 public:
  TcpTransport(uv_loop_t* loop, ReadBuffer* read_buffer, TransportHandler* handler);
  // For accepted connections: the caller accepts into tcp() after construction.
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  void set_handler(TransportHandler* h) { handler_ = h; }

  int connect(const SocketAddress& addr) override;
  int start_reading() override;
  void stop_reading() override;
  bool reading() const override { return reading_; }
  int write(std::string_view data) override { return writev(&data, 1); }
  int writev(const std::string_view* parts, size_t count) override;
  size_t queued_bytes() const override { return queued_; }
  void shutdown_write() override;
  void close(bool reset) override;
  bool closing() const override { return closing_; }
  SocketAddress peer_address() const override;
  void set_nodelay();
  // Hands bytes already read off this socket to the current handler as if just read:
  // what followed a PROXY protocol header in the read that ended it goes to the
  // transport chosen after the header (TLS or this one). A view, used within the call.
  void deliver(std::string_view data) {
    if (!closing_ && !data.empty()) handler_->on_transport_read(data);
  }

 private:
  struct WriteReq;
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_connect(uv_connect_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_close(uv_handle_t* h);
  int try_write(const uv_buf_t* bufs, unsigned nbufs);

  uv_tcp_t tcp_;
  uv_connect_t connect_req_;
  uv_shutdown_t shutdown_req_;
  ReadBuffer* read_buffer_;
  TransportHandler* handler_;
  size_t queued_ = 0;
  int fd_ = -1;  // the socket, once connected (try_write)
  bool connecting_ = false;  // uv_tcp_connect under way
  bool reading_ = false;
  bool closing_ = false;
  bool shutdown_pending_ = false;
  bool shutdown_requested_ = false;
};

}  // namespace sidemeter::net
