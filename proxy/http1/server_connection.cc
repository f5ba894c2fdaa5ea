#include "proxy/http1/server_connection.h"

#include "proxy/http1/chunk_framing.h"
#include "proxy/http1/http_date.h"
#include "proxy/http1/local_response.h"
#include "proxy/worker/worker.h"

namespace sidemeter {
namespace {

// Above this many queued bytes toward the client, stop producing: memory per connection
// stays bounded whatever the body size.
constexpr size_t kHighWater = 256 * 1024;
// Flush a batch early once it is this big.
constexpr size_t kFlushAt = 64 * 1024;
// Pipelined bytes held while an exchange is in flight before we stop reading.
constexpr size_t kMaxPendingInput = 64 * 1024;
// After answering with Connection: close, how long we keep reading (and discarding) so
// the client sees our answer instead of an RST triggered by its unread bytes.
constexpr uint64_t kLingerMs = 2000;
// Body pieces at least this big skip the batch buffer: they go from the read buffer to
// the other socket in one writev with whatever was batched, instead of being copied.
constexpr size_t kDirectWriteAt = 8 * 1024;
// An idle keep-alive connection should cost next to nothing: buffers a big exchange grew
// are dropped, small ones kept warm.
constexpr size_t kKeepCapacity = 16 * 1024;

http::ParserLimits request_limits(const conf::Config& cfg) {
  http::ParserLimits l;
  l.max_start_line_bytes = cfg.limits.max_request_line_bytes;
  l.max_head_bytes = cfg.limits.max_header_bytes;
  l.max_fields = cfg.limits.max_headers;
  l.max_body_bytes = cfg.limits.max_request_body_bytes;
  return l;
}

}  // namespace

Http1ServerConnection::Http1ServerConnection(Worker& worker)
    : worker_(worker),
      snapshot_(worker.snapshot()),
      tcp_(worker.loop(), worker.read_buffer(), this),
      parser_(http::MessageKind::kRequest, request_limits(*snapshot_->config), *this,
              worker.head_buffers()),
      exchange_(worker, *this) {
  timer_.init(worker.loop(), this, on_timer);
  handles_.hold(2);  // tcp_ and timer_, both initialised above
}

void Http1ServerConnection::accept_and_start(uv_stream_t* listener, bool over_capacity) {
  worker_.refresh_now();
  worker_.link(this);
  worker_.gauges().downstream_connections_active.inc();
  counted_ = !over_capacity;
  if (uv_accept(listener, tcp_.stream()) != 0) {
    close_now(false);
    return;
  }
  worker_.gauges().downstream_connections_total.inc();
  const net::TlsServerContext* tls = snapshot_->downstream_tls.get();
  if (over_capacity) {
    worker_.gauges().downstream_connections_refused.inc();
    // A plain-text 503 means nothing to a TLS client, and a handshake is exactly the
    // work an overloaded proxy must not take on: a TLS listener just closes.
    if (tls != nullptr) {
      close_now(false);
      return;
    }
    http::LocalResponse over;
    over.status = 503;
    over.detail = "over the connection limit";
    http::append_local_response(over, true, http::http_date_now(), out_);
    if (flush() == net::Alive::kGone) return;
    linger_then_close();
    return;
  }
  tcp_.set_nodelay();
  set_client_address(tcp_.peer_address());
  if (config().proxy_protocol != conf::ProxyProtocol::kOff) {
    // The header comes before anything else, TLS included: read it off the TCP socket
    // with ourselves as the TcpTransport's handler; the transport (TLS or not) is chosen
    // once it is complete.
    proxy_header_.emplace(net::proxy_protocol::Accept(uint8_t(config().proxy_protocol)));
    state_ = State::kProxyHeader;
    arm_timer(config().timeouts.request_header_ms);
    if (tcp_.start_reading() != 0) close_now(true);
    return;
  }
  start_transport();
}

// Trust is judged once, with the configuration the connection was accepted with, on the
// address the exchanges will report (the PROXY header's source when there is one).
void Http1ServerConnection::set_client_address(const net::SocketAddress& address) {
  peer_.client_ip = address.ip();
  peer_.client_port = address.valid() ? address.port() : 0;
  peer_.trusted_proxy = false;
  if (!address.valid()) return;
  for (const conf::Cidr& cidr : config().trusted_proxies) {
    if (cidr.contains(address.get())) {
      peer_.trusted_proxy = true;
      break;
    }
  }
}

void Http1ServerConnection::start_transport() {
  uint64_t first_timeout = config().timeouts.downstream_idle_ms;
  net::TransportChoice chosen = net::make_downstream_transport(
      tcp_, snapshot_->downstream_tls.get(), worker_.tls_environment(), this);
  if (chosen.transport == nullptr) {  // OpenSSL could not allocate: nothing sensible to answer
    close_now(true);
    return;
  }
  tls_ = std::move(chosen.tls);
  transport_ = chosen.transport;
  if (tls_) {
    handshaking_ = true;
    first_timeout = config().tls.handshake_timeout_ms;
  }
  peer_.secure = transport_->secure();
  state_ = State::kIdle;
  arm_timer(first_timeout);
  if (transport_->start_reading() != 0) close_now(true);
}

// Why not peek (recv MSG_PEEK, then consume exactly the header, as HAProxy does)? libuv
// polls level-triggered and only reads: a peeked but incomplete header would wake the
// loop again and again until the rest came. So the header is read like any bytes, and
// what follows it in the same read is handed on to the transport chosen after it
// (TcpTransport::deliver), which passes it to TLS or HTTP as if just read.
void Http1ServerConnection::on_proxy_header_bytes(std::string_view data) {
  std::string_view rest;
  const net::proxy_protocol::Result r = proxy_header_->feed(data, rest);
  using net::proxy_protocol::Error;
  using net::proxy_protocol::Status;
  if (r.status == Status::kNeedMore) return;
  if (r.status == Status::kError) {
    fail_proxy_header(r.error == Error::kMissing   ? metrics::ProxyProtocolError::kMissing
                      : r.error == Error::kVersion ? metrics::ProxyProtocolError::kVersion
                                                   : metrics::ProxyProtocolError::kMalformed);
    return;
  }
  proxy_header_.reset();
  if (!r.local) set_client_address(r.source);  // LOCAL / UNKNOWN: the TCP peer stays
  start_transport();
  if (state_ == State::kClosing || rest.empty()) return;
  tcp_.deliver(rest);
}

// No HTTP answer: the peer is a load balancer speaking the PROXY protocol (or something
// that should not be here), and the protocol has no error message (§2.1: abort).
void Http1ServerConnection::fail_proxy_header(metrics::ProxyProtocolError reason) {
  worker_.gauges().downstream_proxy_protocol_errors[size_t(reason)].inc();
  proxy_header_.reset();
  close_now(false);
}

void Http1ServerConnection::on_transport_secured(const net::TlsInfo&) {
  worker_.refresh_now();
  handshaking_ = false;
  if (state_ == State::kIdle) arm_timer(config().timeouts.downstream_idle_ms);
}

void Http1ServerConnection::drain() {
  keep_alive_ = false;
  if ((state_ == State::kIdle || state_ == State::kProxyHeader) && pending_in_.empty())
    close_now(false);
}

void Http1ServerConnection::force_close() { close_now(true); }

// ---------------------------------------------------------------- client bytes

void Http1ServerConnection::on_transport_read(std::string_view data) {
  worker_.refresh_now();
  switch (state_) {
    case State::kProxyHeader:
      on_proxy_header_bytes(data);
      return;
    case State::kLingering:
    case State::kClosing:
      return;  // discarded on purpose
    case State::kTunnel:
      arm_timer(config().timeouts.tunnel_idle_ms);
      switch (exchange_.on_tunnel_data(data)) {
        case SendResult::kGone:
          close_now(true);
          return;
        case SendResult::kFull:
          transport_->stop_reading();
          return;
        case SendResult::kOk:
          return;
      }
      return;
    case State::kRequest:
      if (request_head_seen_) arm_timer(config().timeouts.downstream_idle_ms);
      break;
    default:
      break;
  }
  if (input_paused_) {
    pending_in_.append(data);
    if (pending_in_.size() > kMaxPendingInput) transport_->stop_reading();
    return;
  }
  process_input(data);
}

// An exchange that ends inside this call (a local answer, an upstream failure found while
// flushing) resumes input from here rather than from inside: pipelined requests that are
// answered at once would otherwise nest one call deeper each.
void Http1ServerConnection::process_input(std::string_view data) {
  const bool outermost = !in_input_;
  in_input_ = true;
  consume_input(data);
  if (!outermost) return;
  while (resume_deferred_) {
    resume_deferred_ = false;
    resume_input_now();
  }
  in_input_ = false;
}

void Http1ServerConnection::consume_input(std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    if (state_ == State::kIdle) {
      // The first byte of a new request starts the exchange and its header timer.
      if (snapshot_ != worker_.snapshot()) {  // a reload since the last exchange
        snapshot_ = worker_.snapshot();
        parser_.set_limits(request_limits(config()));
      }
      exchange_.begin(snapshot_, peer_);
      state_ = State::kRequest;
      arm_timer(config().timeouts.request_header_ms);
    } else if (state_ != State::kRequest) {
      break;  // an exchange is still answering: later bytes wait their turn
    }
    auto r = parser_.feed(data.substr(off));
    off += r.consumed;
    if (state_ == State::kClosing || state_ == State::kLingering) return;
    if (r.status == http::FeedStatus::kError) {
      reject_request(parser_.error());
      return;
    }
    if (r.status == http::FeedStatus::kPaused) {
      input_paused_ = true;
      break;
    }
  }
  if (off < data.size()) {
    pending_in_.append(data.substr(off));
    input_paused_ = true;
    if (pending_in_.size() > kMaxPendingInput) transport_->stop_reading();
  }
  exchange_.on_request_read_done();
}

void Http1ServerConnection::resume_input() {
  if (in_input_) {
    resume_deferred_ = true;  // process_input goes on once the current call unwinds
    return;
  }
  resume_input_now();
}

void Http1ServerConnection::resume_input_now() {
  if (state_ == State::kClosing || state_ == State::kLingering) return;
  input_paused_ = false;
  if (state_ == State::kRequest) parser_.resume();
  if (!pending_in_.empty()) {
    std::string pending;
    pending.swap(pending_in_);
    process_input(pending);
    if (state_ == State::kClosing || state_ == State::kLingering) return;
  }
  if (peer_eof_) {
    if (state_ == State::kIdle) close_now(false);
    if (state_ == State::kRequest) lose_client(StreamLoss::kReadingRequest);
    return;
  }
  if (!input_paused_ && transport_->start_reading() != 0) close_now(true);
}

// ---------------------------------------------------------------- request parser

http::SinkAction Http1ServerConnection::on_head(const http::MessageHead& head) {
  request_head_seen_ = true;
  http10_client_ = head.version_minor == 0;
  keep_alive_ = keep_alive_ && head.keep_alive && !worker_.draining();
  // The header timer is done; a stalled body is caught by the idle timer instead.
  arm_timer(config().timeouts.downstream_idle_ms);
  return exchange_.on_request_head(head) == RequestFlow::kContinue ? http::SinkAction::kContinue
                                                                   : http::SinkAction::kPause;
}

http::SinkAction Http1ServerConnection::on_body(std::string_view data) {
  return exchange_.on_request_body(data) == RequestFlow::kContinue ? http::SinkAction::kContinue
                                                                   : http::SinkAction::kPause;
}

http::SinkAction Http1ServerConnection::on_message_complete() {
  exchange_.on_request_complete(parser_.body_wire_bytes());
  request_complete_ = true;
  if (state_ == State::kRequest) {
    state_ = State::kResponseWait;
    timer_.cancel();  // the upstream's response timer runs now
  }
  return http::SinkAction::kPause;  // one request at a time
}

void Http1ServerConnection::reject_request(http::ParseError error) {
  const http::ParseErrorInfo info = http::parse_error_info(error);
  std::optional<http::Method> method;
  if (!parser_.head_complete()) method = parser_.request_method();
  exchange_.on_request_rejected(info.status, info.reason, method);
}

// ---------------------------------------------------------------- response (DownstreamStream)

void Http1ServerConnection::send_interim_head(const http::MessageHead& head) {
  if (http10_client_) return;  // interim responses do not exist in HTTP/1.0
  http::ForwardResponseContext ctx;
  ctx.via_pseudonym = config().via_pseudonym;
  ctx.date = http::http_date_now();
  http::append_forward_response_head(head, ctx, out_);
}

void Http1ServerConnection::send_response_head(const http::MessageHead& head) {
  switch (head.framing) {
    case http::BodyFraming::kNone:
      response_framing_ = ResponseFraming::kNone;
      break;
    case http::BodyFraming::kContentLength:
      response_framing_ = ResponseFraming::kLength;
      break;
    case http::BodyFraming::kChunked:
    case http::BodyFraming::kUntilClose:
      // Re-framed for HTTP/1.1 clients so the client connection survives a backend
      // that closes; HTTP/1.0 clients can only be told "until close".
      response_framing_ = http10_client_ ? ResponseFraming::kClose : ResponseFraming::kChunked;
      break;
  }
  if (response_framing_ == ResponseFraming::kClose || !request_complete_ || worker_.draining())
    keep_alive_ = false;
  http::ForwardResponseContext ctx;
  ctx.keep_alive_downstream = keep_alive_;
  ctx.chunked_body = response_framing_ == ResponseFraming::kChunked;
  ctx.downstream_http10 = http10_client_;
  ctx.via_pseudonym = config().via_pseudonym;
  ctx.date = http::http_date_now();
  http::append_forward_response_head(head, ctx, out_);
}

SendResult Http1ServerConnection::send_body(std::string_view data) {
  const bool chunked = response_framing_ == ResponseFraming::kChunked;
  if (data.size() >= kDirectWriteAt) {
    if (write_direct(data, chunked) == net::Alive::kGone) return SendResult::kGone;
    return congested() ? SendResult::kFull : SendResult::kOk;
  }
  if (chunked) {
    http::append_chunk(out_, data);
  } else {
    out_.append(data);
  }
  if (out_.size() >= kFlushAt) {
    if (flush() == net::Alive::kGone) return SendResult::kGone;
    if (congested()) return SendResult::kFull;
  }
  return SendResult::kOk;
}

void Http1ServerConnection::end_response() {
  if (response_framing_ == ResponseFraming::kChunked) out_.append(http::kLastChunk);
  response_ended_ = true;
}

net::Alive Http1ServerConnection::flush() {
  if (!out_.empty() && state_ != State::kClosing) {
    const int rc = transport_->write(out_);
    out_.clear();
    if (rc != 0) lose_client(StreamLoss::kWritingResponse);
  }
  return state_ == State::kClosing ? net::Alive::kGone : net::Alive::kYes;
}

net::Alive Http1ServerConnection::write_direct(std::string_view data, bool chunked) {
  char hex[24];
  const std::string_view parts[4] = {out_, chunked ? http::chunk_header(hex, data.size()) : "",
                                     data, chunked ? http::kChunkEnd : ""};
  const int rc = transport_->writev(parts, 4);
  out_.clear();
  if (rc != 0) {
    lose_client(StreamLoss::kWritingResponse);
    return net::Alive::kGone;
  }
  return net::Alive::kYes;
}

void Http1ServerConnection::finish_when_written() { maybe_finish_exchange(); }

bool Http1ServerConnection::congested() const { return transport_->queued_bytes() > kHighWater; }

LocalResponseSize Http1ServerConnection::queue_local_response(
    const http::LocalResponse& response, bool close) {
  if (close) keep_alive_ = false;
  out_.clear();
  http::append_local_response(response, !keep_alive_, http::http_date_now(), out_);
  const size_t head_end = out_.find("\r\n\r\n");
  const size_t head_bytes = head_end == std::string::npos ? out_.size() : head_end + 4;
  response_ended_ = true;
  return LocalResponseSize{head_bytes, out_.size() - head_bytes};
}

void Http1ServerConnection::send_local_response() {
  if (flush() == net::Alive::kGone) return;
  if (!keep_alive_ || !request_complete_) {
    exchange_.on_response_written();
    linger_then_close();
    return;
  }
  maybe_finish_exchange();
}

void Http1ServerConnection::resume_request() {
  if (state_ == State::kTunnel) {
    if (transport_->start_reading() != 0) close_now(true);
    return;
  }
  if (state_ == State::kRequest && input_paused_) resume_input();
}

void Http1ServerConnection::reset() { close_now(true); }

// ---------------------------------------------------------------- upgrade and tunnel

void Http1ServerConnection::send_upgrade_head(const http::MessageHead& head) {
  http::ForwardResponseContext ctx;
  ctx.upgrade = true;
  ctx.via_pseudonym = config().via_pseudonym;
  ctx.date = http::http_date_now();
  http::append_forward_response_head(head, ctx, out_);
  state_ = State::kTunnel;
  worker_.gauges().tunnels_active.inc();
}

void Http1ServerConnection::open_tunnel() {
  arm_timer(config().timeouts.tunnel_idle_ms);
  input_paused_ = false;
  if (!pending_in_.empty()) {  // client bytes that came right behind the upgrade request
    if (exchange_.on_tunnel_data(pending_in_) == SendResult::kGone) {
      close_now(true);
      return;
    }
    pending_in_.clear();
  }
  if (transport_->start_reading() != 0) close_now(true);
}

SendResult Http1ServerConnection::send_tunnel_data(std::string_view data) {
  arm_timer(config().timeouts.tunnel_idle_ms);
  if (transport_->write(data) != 0) {
    close_now(true);
    return SendResult::kGone;
  }
  return congested() ? SendResult::kFull : SendResult::kOk;
}

void Http1ServerConnection::send_tunnel_eof() {
  upstream_eof_ = true;
  if (peer_eof_) {
    close_now(false);
    return;
  }
  transport_->shutdown_write();
}

// ---------------------------------------------------------------- exchange end

void Http1ServerConnection::maybe_finish_exchange() {
  if (response_ended_ && transport_->queued_bytes() == 0 && out_.empty() &&
      (state_ == State::kRequest || state_ == State::kResponseWait))
    finish_exchange();
}

void Http1ServerConnection::finish_exchange() {
  exchange_.on_response_written();
  if (!keep_alive_ || !request_complete_ || worker_.draining()) {
    linger_then_close();
    return;
  }
  reset_for_next_request();
  state_ = State::kIdle;
  arm_timer(config().timeouts.downstream_idle_ms);
  resume_input();
}

void Http1ServerConnection::reset_for_next_request() {
  parser_.reset();
  request_head_seen_ = false;
  request_complete_ = false;
  response_ended_ = false;
  response_framing_ = ResponseFraming::kNone;
  if (out_.capacity() > kKeepCapacity) std::string().swap(out_);
  if (pending_in_.empty() && pending_in_.capacity() > kKeepCapacity) std::string().swap(pending_in_);
}

// The exchange is recorded with the loss; then the client connection is reset.
void Http1ServerConnection::lose_client(StreamLoss where) {
  exchange_.on_downstream_lost(where);
  close_now(true);
}

void Http1ServerConnection::linger_then_close() {
  if (state_ == State::kClosing || state_ == State::kLingering) return;
  exchange_.on_downstream_closing();
  state_ = State::kLingering;
  transport_->shutdown_write();
  if (peer_eof_) {
    close_now(false);
    return;
  }
  arm_timer(kLingerMs);
  if (transport_->start_reading() != 0) close_now(false);
}

// ---------------------------------------------------------------- transport events

void Http1ServerConnection::on_transport_eof() {
  worker_.refresh_now();
  peer_eof_ = true;
  switch (state_) {
    case State::kProxyHeader:
      // A connection that closes without a byte is a TCP health check, not an error.
      if (proxy_header_->started()) {
        fail_proxy_header(metrics::ProxyProtocolError::kTruncated);
      } else {
        close_now(false);
      }
      return;
    case State::kIdle:
      if (!input_paused_) close_now(false);
      return;
    case State::kRequest:
      if (!input_paused_) lose_client(StreamLoss::kReadingRequest);
      return;
    case State::kResponseWait:
      // A half-close after a complete request: answer, then close (as HAProxy does).
      keep_alive_ = false;
      return;
    case State::kTunnel:
      if (upstream_eof_ || !exchange_.on_tunnel_eof()) close_now(false);
      return;
    case State::kLingering:
      close_now(false);
      return;
    case State::kClosing:
      return;
  }
}

void Http1ServerConnection::on_transport_error(int error) {
  worker_.refresh_now();
  if (error == net::kErrTlsPlainHttp) {
    // The transport queued a plain-text 400 (counted as plain_http): let it arrive.
    handshaking_ = false;
    linger_then_close();
    return;
  }
  if (error == net::kErrTlsHandshake) {
    // Counted by reason; the alert OpenSSL queued goes out before the FIN.
    close_now(false);
    return;
  }
  switch (state_) {
    case State::kProxyHeader:
      if (proxy_header_->started()) {
        fail_proxy_header(metrics::ProxyProtocolError::kTruncated);
      } else {
        close_now(true);
      }
      return;
    case State::kRequest:
      lose_client(StreamLoss::kReadingRequest);
      return;
    case State::kResponseWait:
      lose_client(StreamLoss::kWritingResponse);
      return;
    default:
      close_now(true);
      return;
  }
}

void Http1ServerConnection::on_transport_drained() {
  worker_.refresh_now();
  switch (state_) {
    case State::kTunnel:
      exchange_.on_downstream_drained();
      return;
    case State::kRequest:
    case State::kResponseWait:
      exchange_.on_downstream_drained();
      maybe_finish_exchange();
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------- timers and close

void Http1ServerConnection::on_timer(void* owner) {
  auto* self = static_cast<Http1ServerConnection*>(owner);
  self->worker_.refresh_now();
  switch (self->state_) {
    case State::kProxyHeader:
      self->fail_proxy_header(metrics::ProxyProtocolError::kTimeout);
      return;
    case State::kIdle:
      if (self->handshaking_) self->transport_->note_handshake_timeout();
      self->close_now(false);
      return;
    case State::kLingering:
    case State::kTunnel:
      self->close_now(false);
      return;
    case State::kRequest:
      self->exchange_.on_request_timed_out();
      return;
    default:
      return;
  }
}

void Http1ServerConnection::close_now(bool reset) {
  if (state_ == State::kClosing) return;
  const bool was_tunnel = state_ == State::kTunnel;
  state_ = State::kClosing;
  exchange_.on_downstream_closing();
  if (was_tunnel) worker_.gauges().tunnels_active.dec();
  worker_.unlink(this);
  worker_.gauges().downstream_connections_active.dec();
  if (counted_) worker_.process().downstream_connections.fetch_sub(1, std::memory_order_relaxed);
  counted_ = false;
  transport_->close(reset);
  timer_.close(on_timer_closed);
}

void Http1ServerConnection::on_transport_closed() { handle_closed(); }

void Http1ServerConnection::on_timer_closed(uv_handle_t* h) {
  static_cast<Http1ServerConnection*>(DeadlineTimer::owner_of(h))->handle_closed();
}

void Http1ServerConnection::handle_closed() {
  if (handles_.release()) delete this;
}

}  // namespace sidemeter
