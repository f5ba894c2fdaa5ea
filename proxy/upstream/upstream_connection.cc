#include "proxy/upstream/upstream_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "proxy/http1/chunk_framing.h"
#include "proxy/upstream/keep_alive_hint.h"
#include "proxy/upstream/upstream_pool.h"
#include "proxy/worker/worker.h"

namespace sidemeter {
namespace {
// Flush the request batch early once it is this big.
constexpr size_t kFlushAt = 64 * 1024;
// Body pieces at least this big skip the batch: they go from the client's read buffer to
// the socket in one writev with whatever was batched, instead of being copied.
constexpr size_t kDirectWriteAt = 8 * 1024;
// A pooled connection keeps a batch buffer this big warm; a bigger one a large request
// grew is given back.
constexpr size_t kKeepCapacity = 16 * 1024;

http::ParserLimits response_limits(const conf::Config& cfg) {
  http::ParserLimits l;
  // Responses get the same head limits as requests; bodies are unlimited (streamed).
  l.max_start_line_bytes = cfg.limits.max_request_line_bytes;
  l.max_head_bytes = cfg.limits.max_header_bytes;
  l.max_fields = cfg.limits.max_headers;
  l.max_body_bytes = 0;
  return l;
}
}  // namespace

UpstreamConnection* UpstreamConnection::create(Worker& worker, ConfigSnapshotPtr snapshot) {
  return new UpstreamConnection(worker, std::move(snapshot));
}

UpstreamConnection::UpstreamConnection(Worker& worker, ConfigSnapshotPtr snapshot)
    : worker_(worker),
      snapshot_(std::move(snapshot)),
      tcp_(worker.loop(), worker.read_buffer(), this),
      parser_(http::MessageKind::kResponse, response_limits(*snapshot_->config), *this) {
  timer_.init(worker.loop(), this, on_timer);
  handles_.hold(2);  // tcp_ and timer_, both initialised above
  net::TransportChoice chosen = net::make_upstream_transport(
      tcp_, snapshot_->upstream_tls.get(), worker.tls_environment(), this);
  // Null only when OpenSSL could not allocate: transport_ stays on tcp_ and connect()
  // gives up (a TLS upstream without its TLS layer).
  if (chosen.transport != nullptr) {
    tls_ = std::move(chosen.tls);
    transport_ = chosen.transport;
  }
  worker_.gauges().upstream_connections_active.inc();
  worker_.gauges().upstream_connections_total.inc();
}

net::Alive UpstreamConnection::connect(const net::SocketAddress& addr,
                                       uint32_t address_generation) {
  state_ = State::kConnecting;
  address_generation_ = address_generation;
  if (snapshot_->upstream_tls && !tls_) {
    observer_ = nullptr;
    close_now(false);
    return net::Alive::kGone;
  }
  start_timer(config().timeouts.upstream_connect_ms);
  if (transport_->connect(addr) != 0) {
    observer_ = nullptr;
    close_now(false);
    return net::Alive::kGone;
  }
  return net::Alive::kYes;
}

void UpstreamConnection::attach(UpstreamObserver* observer, http::Method method) {
  observer_ = observer;
  method_ = method;
  parser_.reset();
  parser_.set_request_method(method);
  first_byte_ns_ = 0;
  response_bytes_ = 0;
  request_chunked_ = false;
  request_complete_ = false;
  response_complete_ = false;
  response_keep_alive_ = true;
  final_head_seen_ = false;
  upgrade_101_ = false;
  request_write_failed_ = false;  // always false here: such a connection is never pooled
  request_stopped_ = false;
  pooled_idle_limit_ms_ = kNoHint;
  batch_.clear();  // always empty here: flushed at the end of every client read
  if (state_ == State::kIdle) {
    state_ = State::kActive;
    arm_response_timer();
  }
}

bool UpstreamConnection::sendv(const std::string_view* parts, size_t count) {
  if (state_ == State::kConnecting) {
    for (size_t i = 0; i < count; ++i) pre_connect_.append(parts[i]);
    return true;
  }
  if (state_ != State::kActive && state_ != State::kTunnel) return false;
  if (state_ == State::kActive && request_dropped()) return true;  // dropped on purpose
  if (transport_->writev(parts, count) != 0) {
    if (state_ == State::kActive) {
      request_write_failed();
      return true;
    }
    observer_ = nullptr;  // the caller learns it from our return value
    close_now(true);
    return false;
  }
  return true;
}

void UpstreamConnection::send_request_head(const http::MessageHead& req,
                                           const http::ForwardRequestContext& ctx) {
  request_chunked_ = ctx.chunked_body;
  http::append_forward_request_head(req, ctx, batch_);
}

UpstreamConnection::RequestWrite UpstreamConnection::send_body(std::string_view data) {
  if (data.size() >= kDirectWriteAt) {
    char hex[24];
    const std::string_view parts[3] = {request_chunked_ ? http::chunk_header(hex, data.size()) : "",
                                       data, request_chunked_ ? http::kChunkEnd : ""};
    return write_batch_with(parts, 3);
  }
  if (request_chunked_) {
    http::append_chunk(batch_, data);
  } else {
    batch_.append(data);
  }
  return batch_.size() >= kFlushAt ? flush_request() : RequestWrite::kHeld;
}

void UpstreamConnection::end_request() {
  if (request_chunked_) batch_.append(http::kLastChunk);
  request_complete_ = true;
}

UpstreamConnection::RequestWrite UpstreamConnection::flush_request() {
  if (batch_.empty()) return RequestWrite::kHeld;
  return write_batch_with(nullptr, 0);
}

// The batch and up to three more pieces in one writev.
UpstreamConnection::RequestWrite UpstreamConnection::write_batch_with(
    const std::string_view* extra, size_t count) {
  const bool active = state_ == State::kActive;  // else held until the connect completes
  if (state_ == State::kConnecting && count == 0 && pre_connect_.empty()) {
    // A new connection's first batch (the request head, usually all of the request):
    // held as it is, not copied.
    pre_connect_.swap(batch_);
    return RequestWrite::kHeld;
  }
  std::string_view parts[4] = {batch_};
  for (size_t i = 0; i < count; ++i) parts[1 + i] = extra[i];
  const bool ok = sendv(parts, 1 + count);
  batch_.clear();
  if (!ok) return RequestWrite::kBroken;
  return active && !request_dropped() ? RequestWrite::kWritten : RequestWrite::kHeld;
}

// The upstream can no longer take the request (EPIPE, ECONNRESET: it closed or reset the
// connection). It may have answered first, and typically has: a 413 or 401 sent at once,
// then a close without reading the body, so the kernel resets the connection on the body
// bytes still arriving (RFC 9112 §9.6). What was received before the RST is not lost:
// Linux's tcp_reset() purges the write queue only, reads return the queued bytes first
// and the error (or, once a write consumed it, end of stream) after them. So the read
// side goes on, and the response is forwarded if it completes.
// What cannot be saved: response bytes the upstream had not yet sent when it reset (its
// RST discards its own send queue, e.g. a response bigger than our receive window), and
// bytes on stacks that discard received data on RST (not Linux). Then the stream ends
// without a complete response and the attempt fails as before (broken_read_error()).
// The response timer stays armed as a backstop.
void UpstreamConnection::request_write_failed() {
  request_write_failed_ = true;
  batch_.clear();
  pre_connect_.clear();
}

// An error response (4xx/5xx) with Connection: close arrived before the request was
// complete: the upstream does not want the rest of the body (RFC 9112 §9.5: cease
// sending and close our side). A 2xx or a keep-alive answer does not stop the body: a
// streaming upstream may answer early and still read it, and one that keeps the
// connection must read it anyway.
void UpstreamConnection::stop_request() {
  request_stopped_ = true;
  batch_.clear();
  transport_->shutdown_write();  // after what is already queued
}

// How an attempt whose request could not be written ends when the stream does before a
// complete response: the failed write was a reset, whatever the read side reports.
metrics::UpstreamError UpstreamConnection::broken_read_error() const {
  return response_bytes_ > 0 ? metrics::UpstreamError::kResetMidResponse
                             : metrics::UpstreamError::kResetBeforeResponse;
}

void UpstreamConnection::arm_response_timer() {
  if (state_ == State::kActive && !read_paused_)
    start_timer(config().timeouts.upstream_response_ms);
}

void UpstreamConnection::pause_reading() {
  read_paused_ = true;
  transport_->stop_reading();
  if (state_ == State::kActive) stop_timer();  // a slow client is not a slow upstream
}

void UpstreamConnection::resume_reading() {
  if (!read_paused_ || state_ == State::kClosing) return;
  read_paused_ = false;
  arm_response_timer();
  if (!held_.empty()) {
    std::string pending;
    pending.swap(held_);
    process(pending);
    if (state_ == State::kClosing || read_paused_) return;
  }
  transport_->start_reading();
}

void UpstreamConnection::enter_tunnel() {
  state_ = State::kTunnel;
  stop_timer();  // the downstream side owns the tunnel idle timeout
}

void UpstreamConnection::abandon(bool reset) {
  if (state_ == State::kClosing) return;
  observer_ = nullptr;
  close_now(reset);
}

void UpstreamConnection::become_idle() {
  state_ = State::kIdle;
  observer_ = nullptr;
  // The parser is left as the response ended: an idle connection parses nothing (bytes
  // that arrive close it), and attach() resets it for the next exchange.
  if (batch_.capacity() > kKeepCapacity) std::string().swap(batch_);
  // Our idle timeout, or sooner when the upstream said it closes sooner.
  start_timer(std::min(config().timeouts.upstream_idle_ms, pooled_idle_limit_ms_));
  read_paused_ = false;
  // Keep reading while idle: a close (or stray bytes) from the backend is noticed at
  // once and the connection leaves the pool before anyone picks it.
  transport_->start_reading();
}

// A close (FIN), a reset or stray bytes from the upstream are noticed by the idle read on
// the loop's next turn; this catches those that arrived since that turn, typically the
// upstream's idle close racing the request we are about to send. Any byte pending on an
// idle connection means it is unusable, under TLS too (a close_notify is such a byte).
// A close that is still on the wire is not seen: the stale-connection retry
// (Exchange::upstream_failed) is there for that. That retry also covers the close that
// arrived since the loop's last turn, so a request it covers skips the look (one recv
// system call fewer per request: ~2 % of a small request's CPU on loopback).
bool UpstreamConnection::ready_for_reuse(bool look_for_close) {
  if (snapshot_->upstream->address_generation() != address_generation_) return false;
  if (!look_for_close) return true;
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(tcp_.stream()), &fd) != 0) return false;
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void UpstreamConnection::on_transport_tcp_connected() {
  worker_.refresh_now();
  tcp_.set_nodelay();
  tcp_connected_ = true;
  if (worker_.measuring()) tcp_connected_ns_ = worker_.now_ns();
}

void UpstreamConnection::on_transport_connected(int status) {
  worker_.refresh_now();
  stop_timer();
  // Readiness follows real connects; the load keeps the shared line clean when unchanged.
  // A failed TLS handshake still reached the upstream: that is a TLS problem (counted by
  // reason, answered 502 tls_handshake_failed), not an unreachable backend.
  UpstreamTarget& target = *snapshot_->upstream;
  target.set_reachable(status == 0 || status == net::kErrTlsHandshake);
  if (status != 0) {
    fail(status == net::kErrTlsHandshake ? metrics::UpstreamError::kTlsHandshakeFailed
         : status == UV_ETIMEDOUT        ? metrics::UpstreamError::kConnectTimeout
                                         : metrics::UpstreamError::kConnectRefused);
    return;
  }
  state_ = State::kActive;
  if (!tls_) tcp_.set_nodelay();
  transport_->start_reading();
  if (!pre_connect_.empty()) {
    std::string out;
    out.swap(pre_connect_);
    if (transport_->write(out) != 0) request_write_failed();  // an answer may still come
  }
  arm_response_timer();
  if (observer_ != nullptr) observer_->on_upstream_connected();
}

void UpstreamConnection::on_transport_read(std::string_view data) {
  worker_.refresh_now();
  switch (state_) {
    case State::kIdle:
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      worker_.pool().forget(this);
      close_now(true);
      return;
    case State::kTunnel:
      if (observer_ != nullptr) observer_->on_upstream_tunnel_data(data);
      return;
    case State::kActive:
      break;
    default:
      return;
  }
  if (first_byte_ns_ == 0 && worker_.measuring()) first_byte_ns_ = worker_.now_ns();
  response_bytes_ += data.size();
  arm_response_timer();
  process(data);
}

void UpstreamConnection::process(std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    auto r = parser_.feed(data.substr(off));
    off += r.consumed;
    if (state_ == State::kClosing) return;
    if (r.status == http::FeedStatus::kError) {
      fail(metrics::UpstreamError::kInvalidResponse);
      return;
    }
    if (r.status == http::FeedStatus::kOk) break;
    if (!response_complete_) {  // paused by the observer: hold the rest until resumed
      held_.assign(data.substr(off));
      transport_->stop_reading();
      read_paused_ = true;
      if (observer_ != nullptr) observer_->on_upstream_read_done();
      return;
    }
    if (upgrade_101_) {
      if (observer_ != nullptr) observer_->on_upstream_read_done();
      if (state_ != State::kTunnel) return;  // the observer refused the upgrade
      if (off < data.size() && observer_ != nullptr)
        observer_->on_upstream_tunnel_data(data.substr(off));
      return;
    }
    if (!final_head_seen_) {  // a 1xx interim response: the final one follows
      parser_.reset();
      parser_.set_request_method(method_);
      response_complete_ = false;
      continue;
    }
    if (observer_ != nullptr) observer_->on_upstream_read_done();
    if (state_ == State::kClosing) return;
    finish_exchange(off < data.size());
    return;
  }
  if (observer_ != nullptr) observer_->on_upstream_read_done();
}

void UpstreamConnection::finish_exchange(bool leftover_bytes) {
  exchanges_++;
  observer_ = nullptr;
  // Bytes after a complete response mean the backend and we disagree on framing:
  // never reuse such a connection. Nor one that did not carry its whole request, or
  // whose upstream closes idle connections too soon to be worth pooling.
  bool reusable = response_keep_alive_ && request_complete_ && !request_dropped() &&
                  !leftover_bytes && pooled_idle_limit_ms_ != 0 && state_ == State::kActive &&
                  !worker_.draining();
  if (reusable) {
    stop_timer();
    worker_.pool().put(this);
  } else {
    close_now(false);
  }
}

// End of stream outside an exchange: an idle pooled connection just goes; a tunnel tells
// its client side. True when handled.
bool UpstreamConnection::end_outside_exchange(bool reset) {
  if (state_ == State::kIdle) {
    worker_.pool().forget(this);
    close_now(reset);
    return true;
  }
  if (state_ == State::kTunnel) {
    if (observer_ != nullptr) observer_->on_upstream_tunnel_eof();
    return true;
  }
  return false;
}

void UpstreamConnection::on_transport_eof() {
  worker_.refresh_now();
  if (end_outside_exchange(false)) return;
  switch (state_) {
    case State::kActive: {
      response_keep_alive_ = false;
      auto r = parser_.finish();
      if (state_ == State::kClosing) return;
      if (r.status != http::FeedStatus::kError && response_complete_ && final_head_seen_) {
        if (observer_ != nullptr) observer_->on_upstream_read_done();
        if (state_ == State::kClosing) return;
        finish_exchange(false);
        return;
      }
      fail(request_write_failed_ ? broken_read_error() : metrics::UpstreamError::kClosedEarly);
      return;
    }
    default:
      return;
  }
}

void UpstreamConnection::on_transport_error(int error) {
  worker_.refresh_now();
  if (end_outside_exchange(true)) return;
  switch (state_) {
    case State::kActive:
      // TLS 1.3: the application refused our client certificate after our side of the
      // handshake was done (counted by reason by the transport).
      if (error == net::kErrTlsHandshake && response_bytes_ == 0) {
        fail(metrics::UpstreamError::kTlsHandshakeFailed);
        return;
      }
      fail(response_bytes_ > 0 ? metrics::UpstreamError::kResetMidResponse
                               : metrics::UpstreamError::kResetBeforeResponse);
      return;
    default:
      return;
  }
}

// A queued request write failed (TCP reports it from its write callback, TLS from its
// own). Mid-exchange the response may still be readable: see request_write_failed().
void UpstreamConnection::on_transport_write_error(int uv_error) {
  if (state_ == State::kActive) {
    worker_.refresh_now();
    request_write_failed();
    return;
  }
  on_transport_error(uv_error);
}

void UpstreamConnection::on_transport_drained() {
  worker_.refresh_now();
  if ((state_ == State::kActive || state_ == State::kTunnel) && observer_ != nullptr) {
    if (state_ == State::kActive) arm_response_timer();
    observer_->on_upstream_drained();
  }
}

http::SinkAction UpstreamConnection::on_head(const http::MessageHead& head) {
  if (head.status < 200) {
    upgrade_101_ = head.status == 101;
  } else {
    final_head_seen_ = true;
    response_keep_alive_ = head.keep_alive;
    if (head.keep_alive) {
      if (std::optional<uint64_t> s = upstream::keep_alive_timeout_s(head))
        pooled_idle_limit_ms_ = upstream::pooled_idle_limit_ms(*s);
    }
    if (head.status >= 400 && !head.keep_alive && !request_complete_ && !request_dropped())
      stop_request();
  }
  if (observer_ == nullptr) return http::SinkAction::kPause;
  return observer_->on_upstream_head(head);
}

http::SinkAction UpstreamConnection::on_body(std::string_view data) {
  if (observer_ == nullptr) return http::SinkAction::kPause;
  return observer_->on_upstream_body(data);
}

http::SinkAction UpstreamConnection::on_message_complete() {
  response_complete_ = true;
  if (final_head_seen_ && observer_ != nullptr) observer_->on_upstream_complete();
  return http::SinkAction::kPause;
}

void UpstreamConnection::fail(metrics::UpstreamError error) {
  UpstreamObserver* observer = observer_;
  observer_ = nullptr;
  close_now(true);
  if (observer != nullptr) observer->on_upstream_failed(error);
}

void UpstreamConnection::close_now(bool reset) {
  if (state_ == State::kClosing) return;
  state_ = State::kClosing;
  worker_.gauges().upstream_connections_active.dec();
  transport_->close(reset);
  timer_.close(on_timer_closed);
}

void UpstreamConnection::start_timer(uint64_t ms) {
  timer_.set(ms);
}

void UpstreamConnection::stop_timer() { timer_.cancel(); }

void UpstreamConnection::on_timer(void* owner) {
  auto* self = static_cast<UpstreamConnection*>(owner);
  self->worker_.refresh_now();
  switch (self->state_) {
    case State::kConnecting:
      if (self->tls_ && self->tcp_connected_) {
        // TCP made it; the handshake did not finish in time (counted as such).
        self->transport_->note_handshake_timeout();
      } else {
        self->snapshot_->upstream->set_reachable(false);
      }
      self->fail(metrics::UpstreamError::kConnectTimeout);
      return;
    case State::kActive:
      self->fail(metrics::UpstreamError::kResponseTimeout);
      return;
    case State::kIdle:
      self->worker_.pool().forget(self);
      self->close_now(false);
      return;
    default:
      return;
  }
}

void UpstreamConnection::on_transport_closed() { handle_closed(); }

void UpstreamConnection::on_timer_closed(uv_handle_t* h) {
  static_cast<UpstreamConnection*>(DeadlineTimer::owner_of(h))->handle_closed();
}

// Both handles report here; the object goes only when the last one is closed.
void UpstreamConnection::handle_closed() {
  if (handles_.release()) delete this;
}

}  // namespace sidemeter
