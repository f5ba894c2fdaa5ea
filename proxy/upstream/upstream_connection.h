#pragma once
// One HTTP/1 connection to the upstream. It lives across exchanges (via the pool) and
// tells the exchange that currently owns it what happened through UpstreamObserver.
// It frames the request itself (head, chunked body), so the exchange frames nothing.
// It frees itself, and only after its last close callback (proxy/net/handle_owner.h).
#include <uv.h>

#include <string>

#include "metrics/exchange_sample.h"
#include "proxy/config_snapshot.h"
#include "proxy/deadline_timer.h"
#include "proxy/http1/parser.h"
#include "proxy/net/handle_owner.h"
#include "proxy/net/tcp_transport.h"
#include "proxy/net/tls_transport.h"

namespace sidemeter {

class Worker;

class UpstreamObserver {
 public:
  virtual ~UpstreamObserver() = default;
  virtual void on_upstream_connected() = 0;
  virtual http::SinkAction on_upstream_head(const http::MessageHead& head) = 0;
  virtual http::SinkAction on_upstream_body(std::string_view data) = 0;
  virtual http::SinkAction on_upstream_complete() = 0;
  // End of one batch of upstream bytes: the observer flushes what it buffered.
  virtual void on_upstream_read_done() = 0;
  // The connection failed; it is already detached and closing.
  virtual void on_upstream_failed(metrics::UpstreamError error) = 0;
  virtual void on_upstream_drained() = 0;  // request bytes all written
  // After a 101: raw bytes and end of stream from the upstream.
  virtual void on_upstream_tunnel_data(std::string_view data) = 0;
  virtual void on_upstream_tunnel_eof() = 0;
};

class UpstreamConnection final : public net::TransportHandler, public http::MessageSink {
 public:
  enum class State : uint8_t { kConnecting, kActive, kIdle, kTunnel, kClosing };

  // `snapshot` names the upstream it connects to and the timeouts it uses for life.
  static UpstreamConnection* create(Worker& worker, ConfigSnapshotPtr snapshot);
  // Starts connecting to `addr`, which the target resolved as its `address_generation`
  // (UpstreamTarget::current); kGone if it could not even start (the object is closing
  // then).
  net::Alive connect(const net::SocketAddress& addr, uint32_t address_generation);

  // Begin an exchange. `method` tells the response parser whether a body follows.
  void attach(UpstreamObserver* observer, http::Method method);

  // The request, framed here. Head and small body pieces are batched until
  // flush_request() (the end of a client read) or until the batch is big; big pieces go
  // out at once, with the batch, in one writev straight from the caller's buffer.
  enum class [[nodiscard]] RequestWrite : uint8_t {
    kHeld,     // batched, held until the connect completes, or dropped (the upstream
               // can no longer take the request: see "Early responses" below)
    kWritten,  // handed to the socket now (the request's first byte may be on its way)
    kBroken,   // the connection failed and is closing; no on_upstream_failed follows
  };
  // Early responses (RFC 9112 §9.5: a client sending a body watches for a response
  // while it sends). The request stops going out, and what is left of it is dropped,
  // when the upstream
  //   - answers with an error status (4xx/5xx) and Connection: close before the request
  //     is complete: it does not want the rest of the body, and our side is shut down
  //     (FIN once queued bytes are out);
  //   - or cannot take more (a write fails: EPIPE/ECONNRESET after it closed or reset).
  //     The response it may have sent before is still readable, so the read side goes
  //     on until that response completes (forwarded as the upstream's answer) or the
  //     stream ends (the attempt failed: on_upstream_failed, as before).
  // Either way the connection is never pooled afterwards.
  // `ctx.chunked_body` also says how the body pieces that follow are framed.
  void send_request_head(const http::MessageHead& req, const http::ForwardRequestContext& ctx);
  RequestWrite send_body(std::string_view data);  // decoded bytes
  // The request is complete: the last chunk if chunked; the connection may then be
  // reused after the response.
  void end_request();
  RequestWrite flush_request();

  // Raw bytes (tunnel); buffered until connected. kGone if the connection broke (it is
  // closing, and tells its observer nothing more).
  net::Alive send(std::string_view data) {
    return sendv(&data, 1) ? net::Alive::kYes : net::Alive::kGone;
  }
  size_t queued_bytes() const {
    return batch_.size() + pre_connect_.size() + transport_->queued_bytes();
  }
  void arm_response_timer();  // (re)start the response timeout
  void pause_reading();
  void resume_reading();

  // Switch to a byte tunnel (after a 101 was forwarded).
  void enter_tunnel();
  void shutdown_write() { transport_->shutdown_write(); }
  // The observer gives up on this connection (client went away, error): close it.
  void abandon(bool reset = true);

  // Pool side.
  void become_idle();
  // Whether an idle connection may carry the next request: its address is still the
  // target's, and nothing is pending on its socket (see the .cc). One recv syscall.
  bool ready_for_reuse(bool look_for_close);
  bool idle() const { return state_ == State::kIdle; }
  uint32_t address_generation() const { return address_generation_; }
  bool reused() const { return exchanges_ > 0; }
  State state() const { return state_; }
  uint64_t first_byte_ns() const { return first_byte_ns_; }
  uint64_t response_wire_bytes_head() const { return parser_.head_wire_bytes(); }
  uint64_t response_wire_bytes_body() const { return parser_.body_wire_bytes(); }
  bool response_started() const { return response_bytes_ > 0; }
  const UpstreamTarget* target() const { return snapshot_->upstream.get(); }
  // The TLS context it was made with (null: plain TCP); the pool retires a connection
  // whose context a reload replaced.
  const net::TlsClientContext* tls_context() const { return snapshot_->upstream_tls.get(); }
  // TLS only: when the TCP connect completed and the handshake began (the worker's
  // clock, 0 when not measuring or plain). The connect and TLS phases meet there.
  uint64_t tcp_connected_ns() const { return tcp_connected_ns_; }

  // net::TransportHandler
  void on_transport_connected(int status) override;
  void on_transport_tcp_connected() override;
  void on_transport_read(std::string_view data) override;
  void on_transport_eof() override;
  void on_transport_error(int uv_error) override;
  void on_transport_write_error(int uv_error) override;
  void on_transport_drained() override;
  void on_transport_closed() override;

  // http::MessageSink
  http::SinkAction on_head(const http::MessageHead& head) override;
  http::SinkAction on_body(std::string_view data) override;
  http::SinkAction on_message_complete() override;

 private:
  UpstreamConnection(Worker& worker, ConfigSnapshotPtr snapshot);
  const conf::Config& config() const { return *snapshot_->config; }
  ~UpstreamConnection() override = default;
  bool sendv(const std::string_view* parts, size_t count);
  RequestWrite write_batch_with(const std::string_view* extra, size_t count);
  void process(std::string_view data);
  bool end_outside_exchange(bool reset);
  void fail(metrics::UpstreamError error);
  void request_write_failed();
  void stop_request();
  bool request_dropped() const { return request_write_failed_ || request_stopped_; }
  metrics::UpstreamError broken_read_error() const;
  void close_now(bool reset);
  void finish_exchange(bool leftover_bytes);
  void start_timer(uint64_t ms);
  void stop_timer();
  static void on_timer(void* self);
  static void on_timer_closed(uv_handle_t* h);
  void handle_closed();

  Worker& worker_;
  ConfigSnapshotPtr snapshot_;
  net::TcpTransport tcp_;
  // With upstream TLS, wraps tcp_ (declared after it, so it goes first).
  std::unique_ptr<net::TlsTransport> tls_;
  // Every read and write goes through this: tls_ when there is one, else tcp_.
  net::Transport* transport_ = &tcp_;
  uint64_t tcp_connected_ns_ = 0;
  http::Parser parser_;
  DeadlineTimer timer_;
  net::HandleOwner handles_;  // transport + timer
  UpstreamObserver* observer_ = nullptr;
  std::string batch_;        // request bytes batched until the end of a client read
  std::string pre_connect_;  // request bytes sent before the connect completed
  std::string held_;         // response bytes held while the downstream is full
  State state_ = State::kConnecting;
  http::Method method_ = http::Method::kGet;
  uint64_t first_byte_ns_ = 0;
  uint64_t response_bytes_ = 0;
  uint32_t exchanges_ = 0;
  uint32_t address_generation_ = 0;
  // From the last response's Keep-Alive timeout hint, less a margin
  // (upstream/keep_alive_hint.h); kNoHint when it had none.
  static constexpr uint64_t kNoHint = UINT64_MAX;
  uint64_t pooled_idle_limit_ms_ = kNoHint;
  bool request_chunked_ = false;  // body pieces are framed as chunks
  bool request_complete_ = false;
  bool response_complete_ = false;
  bool response_keep_alive_ = true;
  bool final_head_seen_ = false;
  bool read_paused_ = false;
  bool upgrade_101_ = false;
  bool tcp_connected_ = false;    // TLS: the handshake is under way
  bool request_write_failed_ = false;  // a request write failed; reading goes on
  bool request_stopped_ = false;       // an early error response: the body is not sent
};

}  // namespace sidemeter
