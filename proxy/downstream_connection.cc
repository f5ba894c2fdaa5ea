#include "proxy/downstream_connection.h"

#include <charconv>

#include "proxy/exchange_method.h"
#include "proxy/http/field_rules.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

namespace sidemeter {
namespace {

// Above this many queued bytes on the other side, stop reading this side: memory per
// connection stays bounded whatever the body size.
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

http::ParserLimits request_limits(const conf::Config& cfg) {
  http::ParserLimits l;
  l.max_start_line_bytes = cfg.limits.max_request_line_bytes;
  l.max_head_bytes = cfg.limits.max_header_bytes;
  l.max_fields = cfg.limits.max_headers;
  l.max_body_bytes = cfg.limits.max_request_body_bytes;
  return l;
}

bool idempotent(http::Method m) {
  switch (m) {
    case http::Method::kGet:
    case http::Method::kHead:
    case http::Method::kOptions:
    case http::Method::kTrace:
    case http::Method::kPut:
    case http::Method::kDelete:
      return true;
    default:
      return false;
  }
}

void append_chunk_header(std::string& out, size_t n) {
  char buf[20];
  auto r = std::to_chars(buf, buf + sizeof buf, n, 16);
  out.append(buf, r.ptr);
  out.append("\r\n");
}

// "<hex>\r\n" into `buf`; returns the view.
std::string_view chunk_header(char (&buf)[24], size_t n) {
  auto r = std::to_chars(buf, buf + 20, n, 16);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  return std::string_view(buf, size_t(r.ptr + 2 - buf));
}

}  // namespace

DownstreamConnection::DownstreamConnection(Worker& worker)
    : worker_(worker),
      snapshot_(worker.snapshot()),
      transport_(worker.loop(), worker.read_buffer(), this),
      parser_(http::MessageKind::kRequest, request_limits(*snapshot_->config), *this) {
  timer_.init(worker.loop(), this, on_timer);
}

uint64_t DownstreamConnection::now() const {
  return worker_.measuring() ? worker_.now_ns() : 0;
}

void DownstreamConnection::accept_and_start(uv_stream_t* listener, bool over_capacity) {
  worker_.refresh_now();
  worker_.link(this);
  worker_.gauges().downstream_connections_active.inc();
  counted_ = !over_capacity;
  if (uv_accept(listener, transport_.stream()) != 0) {
    close_now(false);
    return;
  }
  worker_.gauges().downstream_connections_total.inc();
  if (over_capacity) {
    worker_.gauges().downstream_connections_refused.inc();
    http::append_local_response(503, "over the connection limit", true, out_);
    flush();
    linger_then_close();
    return;
  }
  transport_.set_nodelay();
  const net::SocketAddress peer = transport_.peer_address();
  client_ip_ = peer.ip();
  client_port_ = peer.valid() ? peer.port() : 0;
  state_ = State::kIdle;
  arm_timer(config().timeouts.downstream_idle_ms);
  if (transport_.start_reading() != 0) close_now(true);
}

void DownstreamConnection::drain() {
  keep_alive_ = false;
  if (state_ == State::kIdle && pending_in_.empty()) close_now(false);
}

void DownstreamConnection::force_close() { close_now(true); }

// ---------------------------------------------------------------- downstream bytes

void DownstreamConnection::on_transport_read(std::string_view data) {
  worker_.refresh_now();
  switch (state_) {
    case State::kLingering:
    case State::kClosing:
      return;  // discarded on purpose
    case State::kTunnel:
      arm_timer(config().timeouts.tunnel_idle_ms);
      if (up_ == nullptr || !up_->send(data)) {
        up_ = nullptr;
        close_now(true);
        return;
      }
      if (up_->queued_bytes() > kHighWater) transport_.stop_reading();
      return;
    case State::kRequest:
      if (req_ != nullptr) arm_timer(config().timeouts.downstream_idle_ms);
      break;
    default:
      break;
  }
  if (input_paused_) {
    pending_in_.append(data);
    if (pending_in_.size() > kMaxPendingInput) transport_.stop_reading();
    return;
  }
  process_input(data);
}

void DownstreamConnection::process_input(std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    if (state_ == State::kIdle) {
      // The first byte of a new request starts the exchange and its header timer.
      if (snapshot_ != worker_.snapshot()) {  // a reload since the last exchange
        snapshot_ = worker_.snapshot();
        parser_.set_limits(request_limits(config()));
      }
      sample_ = metrics::ExchangeSample{};
      sample_.t.request_first_byte = now();
      sample_.client_ip = client_ip_;
      sample_.client_port = client_port_;
      in_exchange_ = true;
      state_ = State::kRequest;
      worker_.gauges().requests_active.inc();
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
    if (pending_in_.size() > kMaxPendingInput) transport_.stop_reading();
  }
  flush();
}

void DownstreamConnection::resume_input() {
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
    if (state_ == State::kRequest) abort_exchange(metrics::DownstreamError::kClientAbortRequest);
    return;
  }
  if (!input_paused_ && transport_.start_reading() != 0) close_now(true);
}

// ---------------------------------------------------------------- request parser

http::SinkAction DownstreamConnection::on_head(const http::MessageHead& head) {
  req_ = &head;
  method_ = head.method;
  sample_.method = to_metrics_method(head.method);
  sample_.path = head.path;
  sample_.t.request_headers_done = now();
  sample_.request_head_bytes = head.wire_bytes;
  if (worker_.access_log_on()) capture_for_access_log(head);
  http10_client_ = head.version_minor == 0;
  keep_alive_ = keep_alive_ && head.keep_alive && !worker_.draining();
  request_chunked_ = head.framing == http::BodyFraming::kChunked;
  request_has_body_ = request_chunked_ ||
                      (head.framing == http::BodyFraming::kContentLength && head.content_length > 0);
  upgrade_requested_ = head.upgrade;
  if (!request_has_body_) sample_.t.request_body_done = sample_.t.request_headers_done;
  // The header timer is done; a stalled body is caught by the idle timer instead.
  arm_timer(config().timeouts.downstream_idle_ms);

  up_head_.clear();
  http::ForwardRequestContext ctx;
  ctx.client_ip = client_ip_;
  ctx.proto = "http";
  ctx.chunked_body = request_chunked_;
  ctx.upgrade = upgrade_requested_;
  ctx.fallback_host = snapshot_->upstream_authority;
  http::append_forward_request_head(head, ctx, up_head_);
  if (!start_upstream(true)) return http::SinkAction::kPause;
  up_out_.append(up_head_);
  return http::SinkAction::kContinue;
}

http::SinkAction DownstreamConnection::on_body(std::string_view data) {
  if (up_ == nullptr) return http::SinkAction::kContinue;  // answered early: discard
  if (data.size() >= kDirectWriteAt) {
    if (!send_upstream_direct(data, request_chunked_) || up_ == nullptr)
      return http::SinkAction::kPause;
    return up_->queued_bytes() > kHighWater ? http::SinkAction::kPause
                                            : http::SinkAction::kContinue;
  }
  if (request_chunked_) {
    append_chunk_header(up_out_, data.size());
    up_out_.append(data);
    up_out_.append("\r\n");
  } else {
    up_out_.append(data);
  }
  if (up_out_.size() >= kFlushAt) {
    flush();
    if (state_ == State::kClosing || state_ == State::kLingering || up_ == nullptr)
      return http::SinkAction::kPause;
  }
  if (up_->queued_bytes() + up_out_.size() > kHighWater) return http::SinkAction::kPause;
  return http::SinkAction::kContinue;
}

http::SinkAction DownstreamConnection::on_message_complete() {
  if (request_chunked_ && up_ != nullptr) up_out_.append("0\r\n\r\n");
  sample_.t.request_body_done = now();
  sample_.request_body_bytes = parser_.body_wire_bytes();
  request_complete_ = true;
  if (up_ != nullptr) up_->set_request_complete();
  if (state_ == State::kRequest) {
    state_ = State::kResponseWait;
    timer_.cancel();  // the upstream's response timer runs now
  }
  return http::SinkAction::kPause;
}

// ---------------------------------------------------------------- upstream side

bool DownstreamConnection::start_upstream(bool allow_pool) {
  sample_.upstream_attempts++;
  sample_.t.upstream_connect_start = now();
  sample_.t.upstream_connect_done = 0;
  sample_.t.upstream_request_sent = 0;
  UpstreamConnection* c = allow_pool ? worker_.pool().take() : nullptr;
  if (c != nullptr) {
    sample_.upstream_reused = true;
    sample_.t.upstream_connect_done = sample_.t.upstream_connect_start;
    c->attach(this, method_);
    up_ = c;
    return true;
  }
  sample_.upstream_reused = false;
  net::SocketAddress addr;
  if (snapshot_->upstream->current(addr)) {
    c = UpstreamConnection::create(worker_, snapshot_);
    c->attach(this, method_);
    if (c->connect(addr)) {
      up_ = c;
      return true;
    }
  }
  on_upstream_failed(metrics::UpstreamError::kConnectRefused);
  return false;
}

void DownstreamConnection::flush() {
  if (up_ != nullptr && !up_out_.empty()) {
    bool mark_sent =
        sample_.t.upstream_request_sent == 0 && up_->state() == UpstreamConnection::State::kActive;
    bool ok = up_->send(up_out_);
    up_out_.clear();
    if (ok && mark_sent) mark_request_sent();
    if (!ok) {
      up_ = nullptr;
      on_upstream_failed(metrics::UpstreamError::kResetBeforeResponse);
      if (state_ == State::kClosing) return;
    }
  } else if (up_ == nullptr) {
    up_out_.clear();
  }
  if (!out_.empty() && state_ != State::kClosing) {
    response_out_bytes_ += out_.size();
    int rc = transport_.write(out_);
    out_.clear();
    if (rc != 0) abort_exchange(metrics::DownstreamError::kClientAbortResponse);
  }
}

bool DownstreamConnection::send_upstream_direct(std::string_view data, bool chunked) {
  char hex[24];
  std::string_view parts[4] = {up_out_, chunked ? chunk_header(hex, data.size()) : "", data,
                               chunked ? "\r\n" : ""};
  bool mark_sent =
      sample_.t.upstream_request_sent == 0 && up_->state() == UpstreamConnection::State::kActive;
  bool ok = up_->sendv(parts, 4);
  up_out_.clear();
  if (ok && mark_sent) mark_request_sent();
  if (!ok) {
    up_ = nullptr;
    on_upstream_failed(metrics::UpstreamError::kResetBeforeResponse);
  }
  return ok;
}

bool DownstreamConnection::send_downstream_direct(std::string_view data, bool chunked) {
  char hex[24];
  std::string_view parts[4] = {out_, chunked ? chunk_header(hex, data.size()) : "", data,
                               chunked ? "\r\n" : ""};
  int rc = transport_.writev(parts, 4);
  out_.clear();
  if (rc != 0) {
    abort_exchange(metrics::DownstreamError::kClientAbortResponse);
    return false;
  }
  return true;
}

void DownstreamConnection::on_upstream_connected() {
  sample_.t.upstream_connect_done = now();  // the callback's entry: when the connect completed
  mark_request_sent();                      // the buffered request was just written
}

// Read the clock again after our own work: the time from the request's arrival to here
// is the proxy's processing, which proxy_overhead must see (a cached per-callback
// timestamp would hide it).
void DownstreamConnection::mark_request_sent() {
  worker_.refresh_now();
  sample_.t.upstream_request_sent = now();
}

void DownstreamConnection::mark_last_byte_written() {
  worker_.refresh_now();
  sample_.t.response_last_byte_written = now();
}

http::SinkAction DownstreamConnection::on_upstream_head(const http::MessageHead& head) {
  if (sample_.t.upstream_first_byte == 0 && up_ != nullptr)
    sample_.t.upstream_first_byte = up_->first_byte_ns();
  if (head.status < 200) {
    if (head.status == 101) {
      if (!upgrade_requested_) {  // 101 nobody asked for: not a response we can forward
        up_->abandon();
        up_ = nullptr;
        on_upstream_failed(metrics::UpstreamError::kInvalidResponse);
        return http::SinkAction::kPause;
      }
      http::ForwardResponseContext ctx;
      ctx.upgrade = true;
      http::append_forward_response_head(head, ctx, out_);
      response_head_sent_ = true;
      sample_.status = 101;
      sample_.response_head_bytes = head.wire_bytes;
      sample_.t.upstream_response_done = now();
      up_->enter_tunnel();
      state_ = State::kTunnel;
      worker_.gauges().tunnels_active.inc();
      return http::SinkAction::kContinue;
    }
    if (!http10_client_) {  // interim responses do not exist in HTTP/1.0
      http::ForwardResponseContext ctx;
      http::append_forward_response_head(head, ctx, out_);
    }
    return http::SinkAction::kContinue;
  }
  sample_.status = head.status;
  sample_.response_head_bytes = head.wire_bytes;
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
  http::append_forward_response_head(head, ctx, out_);
  response_head_sent_ = true;
  return http::SinkAction::kContinue;
}

http::SinkAction DownstreamConnection::on_upstream_body(std::string_view data) {
  if (data.size() >= kDirectWriteAt) {
    if (!send_downstream_direct(data, response_framing_ == ResponseFraming::kChunked))
      return http::SinkAction::kPause;
    return transport_.queued_bytes() > kHighWater ? http::SinkAction::kPause
                                                  : http::SinkAction::kContinue;
  }
  if (response_framing_ == ResponseFraming::kChunked) {
    append_chunk_header(out_, data.size());
    out_.append(data);
    out_.append("\r\n");
  } else {
    out_.append(data);
  }
  if (out_.size() >= kFlushAt) {
    flush();
    if (state_ == State::kClosing) return http::SinkAction::kPause;
    if (transport_.queued_bytes() > kHighWater) return http::SinkAction::kPause;
  }
  return http::SinkAction::kContinue;
}

http::SinkAction DownstreamConnection::on_upstream_complete() {
  sample_.t.upstream_response_done = now();
  if (up_ != nullptr) {
    sample_.response_head_bytes = up_->response_wire_bytes_head();
    sample_.response_body_bytes = up_->response_wire_bytes_body();
  }
  if (response_framing_ == ResponseFraming::kChunked) out_.append("0\r\n\r\n");
  response_complete_ = true;
  up_ = nullptr;  // the connection returns to the pool (or closes) by itself
  return http::SinkAction::kContinue;
}

void DownstreamConnection::on_upstream_read_done() {
  flush();
  if (state_ == State::kClosing) return;
  if (state_ == State::kTunnel && in_exchange_) {
    // The exchange ends with the 101; the tunnel that follows is not an exchange.
    mark_last_byte_written();
    record_exchange();
    arm_timer(config().timeouts.tunnel_idle_ms);
    input_paused_ = false;
    if (!pending_in_.empty() && up_ != nullptr) {
      if (!up_->send(pending_in_)) {
        up_ = nullptr;
        close_now(true);
        return;
      }
      pending_in_.clear();
    }
    if (transport_.start_reading() != 0) close_now(true);
    return;
  }
  if (!response_complete_ && up_ != nullptr && transport_.queued_bytes() > kHighWater)
    up_->pause_reading();
  maybe_finish_exchange();
}

void DownstreamConnection::on_upstream_failed(metrics::UpstreamError error) {
  up_ = nullptr;
  if (state_ == State::kClosing || state_ == State::kLingering) return;
  if (state_ == State::kTunnel) {
    close_now(true);
    return;
  }
  // A pooled connection the backend closed just before our request arrived: the
  // request never reached it, so an idempotent one without a body is safe to resend,
  // once, on a fresh connection.
  bool stale_pooled = config().upstream.retry_on_stale_connection && sample_.upstream_reused &&
                      (error == metrics::UpstreamError::kResetBeforeResponse ||
                       error == metrics::UpstreamError::kClosedEarly);
  if (stale_pooled && !response_head_sent_ && sample_.upstream_attempts < 2 &&
      idempotent(method_) && !request_has_body_) {
    worker_.gauges().upstream_retries_total.inc();
    up_out_.clear();
    if (start_upstream(false)) {
      up_out_.append(up_head_);
      if (request_complete_ && up_ != nullptr) up_->set_request_complete();
      flush();
    }
    return;
  }
  sample_.upstream_error = error;
  sample_.t.upstream_failed = now();
  if (!response_head_sent_) {
    bool timeout = error == metrics::UpstreamError::kConnectTimeout ||
                   error == metrics::UpstreamError::kResponseTimeout;
    respond_locally(timeout ? 504 : 502, metrics::upstream_error_name(error),
                    !request_complete_ || !keep_alive_);
    return;
  }
  // Part of the response is already on its way: the client must see a truncation, not a
  // clean end, so the connection is reset.
  flush();
  if (state_ == State::kClosing) return;
  record_exchange();
  close_now(true);
}

void DownstreamConnection::on_upstream_drained() {
  if (state_ == State::kTunnel) {
    if (transport_.start_reading() != 0) close_now(true);
    return;
  }
  if (state_ == State::kRequest && input_paused_) resume_input();
}

void DownstreamConnection::on_upstream_tunnel_data(std::string_view data) {
  arm_timer(config().timeouts.tunnel_idle_ms);
  if (transport_.write(data) != 0) {
    close_now(true);
    return;
  }
  if (transport_.queued_bytes() > kHighWater && up_ != nullptr) up_->pause_reading();
}

void DownstreamConnection::on_upstream_tunnel_eof() {
  upstream_eof_ = true;
  if (peer_eof_) {
    close_now(false);
    return;
  }
  transport_.shutdown_write();
}

// ---------------------------------------------------------------- exchange end

void DownstreamConnection::maybe_finish_exchange() {
  if (response_complete_ && transport_.queued_bytes() == 0 && out_.empty() &&
      (state_ == State::kRequest || state_ == State::kResponseWait))
    finish_exchange();
}

void DownstreamConnection::finish_exchange() {
  mark_last_byte_written();
  record_exchange();
  if (!keep_alive_ || !request_complete_ || worker_.draining()) {
    linger_then_close();
    return;
  }
  reset_exchange();
  state_ = State::kIdle;
  arm_timer(config().timeouts.downstream_idle_ms);
  resume_input();
}

void DownstreamConnection::record_exchange() {
  if (!in_exchange_) return;
  in_exchange_ = false;
  worker_.gauges().requests_active.dec();
  if (worker_.measuring()) worker_.recorder().record(sample_);
}

// Views into the parser's head storage, which stays put until reset_exchange(), after
// the sample is recorded. Only while the access log is on: a walk over the fields.
void DownstreamConnection::capture_for_access_log(const http::MessageHead& head) {
  const size_t q = head.target.find('?');
  if (q != std::string_view::npos) {
    std::string_view query = head.target.substr(q + 1);
    sample_.query = query.substr(0, query.find('#'));
  }
  for (const http::HeaderField& f : head.fields) {
    std::string_view* into = nullptr;
    if (http::rules::iequals_lower(f.name, "traceparent")) {
      into = &sample_.traceparent;
    } else if (http::rules::iequals_lower(f.name, "x-request-id")) {
      into = &sample_.x_request_id;
    }
    if (into != nullptr && into->empty()) *into = f.value.substr(0, metrics::kMaxCapturedValue);
  }
}

void DownstreamConnection::reset_exchange() {
  parser_.reset();
  req_ = nullptr;
  up_ = nullptr;
  request_chunked_ = false;
  request_has_body_ = false;
  request_complete_ = false;
  response_head_sent_ = false;
  response_complete_ = false;
  upgrade_requested_ = false;
  response_framing_ = ResponseFraming::kNone;
  response_out_bytes_ = 0;
  up_head_.clear();
  // An idle keep-alive connection should cost next to nothing: drop buffers a big
  // exchange grew, keep the small ones warm.
  constexpr size_t kKeepCapacity = 16 * 1024;
  if (out_.capacity() > kKeepCapacity) std::string().swap(out_);
  if (up_out_.capacity() > kKeepCapacity) std::string().swap(up_out_);
  if (pending_in_.empty() && pending_in_.capacity() > kKeepCapacity) std::string().swap(pending_in_);
}

void DownstreamConnection::reject_request(http::ParseError error) {
  auto info = http::parse_error_info(error);
  sample_.downstream_error = metrics::DownstreamError::kRequestRejected;
  if (!parser_.head_complete()) sample_.method = to_metrics_method(parser_.request_method());
  sample_.reject_reason = info.reason;
  if (up_ != nullptr) {  // part of it was already forwarded: that connection is spoiled
    up_->abandon();
    up_ = nullptr;
  }
  up_out_.clear();
  if (response_head_sent_) {
    record_exchange();
    close_now(true);
    return;
  }
  respond_locally(info.status, info.reason, true);
}

void DownstreamConnection::respond_locally(uint16_t status, std::string_view detail, bool close) {
  if (up_ != nullptr) {
    up_->abandon();
    up_ = nullptr;
  }
  sample_.status = status;
  sample_.local_response = true;
  if (close) keep_alive_ = false;
  out_.clear();
  http::append_local_response(status, detail, !keep_alive_, out_);
  // What the client gets is what it would have got from the upstream: count it alike.
  const size_t head_end = out_.find("\r\n\r\n");
  const size_t head_bytes = head_end == std::string::npos ? out_.size() : head_end + 4;
  sample_.response_head_bytes = head_bytes;
  sample_.response_body_bytes = out_.size() - head_bytes;
  response_head_sent_ = true;
  response_complete_ = true;
  flush();
  if (state_ == State::kClosing) return;
  if (!keep_alive_ || !request_complete_) {
    mark_last_byte_written();
    record_exchange();
    linger_then_close();
    return;
  }
  maybe_finish_exchange();
}

void DownstreamConnection::abort_exchange(metrics::DownstreamError error) {
  if (sample_.downstream_error == metrics::DownstreamError::kNone)
    sample_.downstream_error = error;
  record_exchange();
  close_now(true);
}

void DownstreamConnection::linger_then_close() {
  if (state_ == State::kClosing || state_ == State::kLingering) return;
  if (up_ != nullptr) {
    up_->abandon();
    up_ = nullptr;
  }
  state_ = State::kLingering;
  transport_.shutdown_write();
  if (peer_eof_) {
    close_now(false);
    return;
  }
  arm_timer(kLingerMs);
  if (transport_.start_reading() != 0) close_now(false);
}

// ---------------------------------------------------------------- transport events

void DownstreamConnection::on_transport_eof() {
  worker_.refresh_now();
  peer_eof_ = true;
  switch (state_) {
    case State::kIdle:
      if (!input_paused_) close_now(false);
      return;
    case State::kRequest:
      if (!input_paused_) abort_exchange(metrics::DownstreamError::kClientAbortRequest);
      return;
    case State::kResponseWait:
      // A half-close after a complete request: answer, then close (as HAProxy does).
      keep_alive_ = false;
      return;
    case State::kTunnel:
      if (upstream_eof_ || up_ == nullptr) {
        close_now(false);
        return;
      }
      up_->shutdown_write();
      return;
    case State::kLingering:
      close_now(false);
      return;
    case State::kClosing:
      return;
  }
}

void DownstreamConnection::on_transport_error(int) {
  worker_.refresh_now();
  switch (state_) {
    case State::kRequest:
      abort_exchange(metrics::DownstreamError::kClientAbortRequest);
      return;
    case State::kResponseWait:
      abort_exchange(metrics::DownstreamError::kClientAbortResponse);
      return;
    default:
      close_now(true);
      return;
  }
}

void DownstreamConnection::on_transport_drained() {
  worker_.refresh_now();
  switch (state_) {
    case State::kTunnel:
      if (up_ != nullptr) up_->resume_reading();
      return;
    case State::kRequest:
    case State::kResponseWait:
      if (up_ != nullptr && !response_complete_) up_->resume_reading();
      maybe_finish_exchange();
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------- timers and close

void DownstreamConnection::arm_timer(uint64_t ms) {
  timer_.set(ms);
}

void DownstreamConnection::on_timer(void* owner) {
  auto* self = static_cast<DownstreamConnection*>(owner);
  self->worker_.refresh_now();
  switch (self->state_) {
    case State::kIdle:
    case State::kLingering:
      self->close_now(false);
      return;
    case State::kRequest:
      if (self->response_head_sent_) {
        self->abort_exchange(metrics::DownstreamError::kClientAbortRequest);
        return;
      }
      self->sample_.downstream_error = self->req_ == nullptr
                                           ? metrics::DownstreamError::kHeaderTimeout
                                           : metrics::DownstreamError::kClientAbortRequest;
      self->respond_locally(408, self->req_ == nullptr ? "request header timeout"
                                                       : "request body timeout",
                            true);
      return;
    case State::kTunnel:
      self->close_now(false);
      return;
    default:
      return;
  }
}

void DownstreamConnection::close_now(bool reset) {
  if (state_ == State::kClosing) return;
  bool was_tunnel = state_ == State::kTunnel;
  state_ = State::kClosing;
  if (up_ != nullptr) {
    up_->abandon();
    up_ = nullptr;
  }
  record_exchange();
  if (was_tunnel) worker_.gauges().tunnels_active.dec();
  worker_.unlink(this);
  worker_.gauges().downstream_connections_active.dec();
  if (counted_) worker_.process().downstream_connections.fetch_sub(1, std::memory_order_relaxed);
  counted_ = false;
  transport_.close(reset);
  timer_.close(on_timer_closed);
}

void DownstreamConnection::on_transport_closed() { handle_closed(); }

void DownstreamConnection::on_timer_closed(uv_handle_t* h) {
  static_cast<DownstreamConnection*>(DeadlineTimer::owner_of(h))->handle_closed();
}

void DownstreamConnection::handle_closed() {
  if (--open_handles_ == 0) delete this;
}

}  // namespace sidemeter
