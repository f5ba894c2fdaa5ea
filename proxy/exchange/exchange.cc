#include "proxy/exchange/exchange.h"

#include "proxy/exchange/exchange_method.h"
#include "proxy/http1/field_rules.h"
#include "proxy/http1/max_forwards.h"
#include "proxy/http1/parse_error.h"
#include "proxy/upstream/upstream_pool.h"
#include "proxy/worker/worker.h"

namespace sidemeter {
namespace {

// Above this many request bytes queued toward the upstream, stop reading the client:
// memory per exchange stays bounded whatever the body size.
constexpr size_t kHighWater = 256 * 1024;

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

}  // namespace

uint64_t Exchange::now() const { return worker_.measuring() ? worker_.now_ns() : 0; }

// ---------------------------------------------------------------- request (from the codec)

void Exchange::begin(const ConfigSnapshotPtr& snapshot, const DownstreamPeer& peer) {
  snapshot_ = &snapshot;
  peer_ = &peer;
  up_ = nullptr;
  req_ = nullptr;
  request_chunked_ = false;
  request_has_body_ = false;
  request_complete_ = false;
  response_head_sent_ = false;
  response_complete_ = false;
  upgrade_requested_ = false;
  tunnel_ = false;
  head_waits_for_body_ = false;
  decrement_max_forwards_ = false;
  max_forwards_answer_ = false;
  sample_ = metrics::ExchangeSample{};
  sample_.t.request_first_byte = now();
  sample_.client_ip = peer.client_ip;
  sample_.client_port = peer.client_port;
  in_flight_ = true;
  worker_.gauges().requests_active.inc();
}

RequestFlow Exchange::on_request_head(const http::MessageHead& head) {
  req_ = &head;
  method_ = head.method;
  sample_.method = to_metrics_method(head.method);
  sample_.path = head.path;
  sample_.t.request_headers_done = now();
  sample_.request_head_bytes = head.wire_bytes;
  if (worker_.access_log_on()) capture_for_access_log(head);
  request_chunked_ = head.framing == http::BodyFraming::kChunked;
  request_has_body_ = request_chunked_ ||
                      (head.framing == http::BodyFraming::kContentLength && head.content_length > 0);
  upgrade_requested_ = head.upgrade;
  if (!request_has_body_) sample_.t.request_body_done = sample_.t.request_headers_done;
  if (method_ == http::Method::kOptions || method_ == http::Method::kTrace) {
    if (apply_max_forwards(head) == RequestFlow::kPause) return RequestFlow::kPause;
    if (max_forwards_answer_) return RequestFlow::kContinue;  // nothing goes upstream
  }
  if (!start_upstream(true)) return RequestFlow::kPause;
  send_request_head();
  return RequestFlow::kContinue;
}

RequestFlow Exchange::on_request_body(std::string_view data) {
  if (up_ == nullptr) return RequestFlow::kContinue;  // answered early: discard
  const UpstreamConnection::RequestWrite w = up_->send_body(data);
  if (w == UpstreamConnection::RequestWrite::kBroken) {
    up_ = nullptr;
    (void)upstream_failed(metrics::UpstreamError::kResetBeforeResponse);
    return RequestFlow::kPause;
  }
  note_request_written(w);
  return up_->queued_bytes() > kHighWater ? RequestFlow::kPause : RequestFlow::kContinue;
}

void Exchange::on_request_complete(uint64_t body_wire_bytes) {
  if (up_ != nullptr) up_->end_request();
  sample_.t.request_body_done = now();
  sample_.request_body_bytes = body_wire_bytes;
  request_complete_ = true;
}

void Exchange::on_request_read_done() {
  if (max_forwards_answer_ && request_complete_ && in_flight_) {
    // Outside the parser's callbacks: the codec may move on to the next request inside.
    max_forwards_answer_ = false;
    answer_as_final_recipient(false);
    return;
  }
  (void)flush();
}

RequestFlow Exchange::apply_max_forwards(const http::MessageHead& head) {
  std::string_view value;
  switch (http::read_max_forwards(head, value)) {
    case http::MaxForwards::kAbsent:
      return RequestFlow::kContinue;
    case http::MaxForwards::kPositive:
      decrement_max_forwards_ = true;
      return RequestFlow::kContinue;
    case http::MaxForwards::kInvalid: {
      const http::ParseErrorInfo info = http::parse_error_info(http::ParseError::kInvalidMaxForwards);
      on_request_rejected(info.status, info.reason, std::nullopt);
      return RequestFlow::kPause;
    }
    case http::MaxForwards::kZero:
      break;
  }
  if (request_has_body_) {
    // A TRACE must not have content (RFC 9110 §9.3.8), an OPTIONS rarely has: answer
    // now and close rather than read a body nobody will see.
    answer_as_final_recipient(true);
    return RequestFlow::kPause;
  }
  max_forwards_answer_ = true;
  return RequestFlow::kContinue;
}

// We are the final recipient (Max-Forwards: 0). OPTIONS: what we forward, no content.
// TRACE: the request reflected as message/http without its sensitive fields, the SHOULD
// of RFC 9110 §9.3.8 (what reached this hop is what a TRACE is for; credentials and
// cookies are what cross-site tracing steals, so they stay out).
void Exchange::answer_as_final_recipient(bool close) {
  http::LocalResponse r;
  r.status = 200;
  if (method_ == http::Method::kOptions) {
    r.body = http::LocalBody::kEmpty;
    r.allow = true;
  } else {
    r.body = http::LocalBody::kMessage;
    r.request = req_;
  }
  respond_locally(r, close);
}

void Exchange::on_request_rejected(uint16_t status, const char* reason,
                                   std::optional<http::Method> method) {
  sample_.downstream_error = metrics::DownstreamError::kRequestRejected;
  if (method) sample_.method = to_metrics_method(*method);
  sample_.reject_reason = reason;
  note_response_bytes();  // when a response was already being forwarded
  abandon_upstream();  // part of the request may have gone: that connection is spoiled
  if (response_head_sent_) {
    record();
    stream_.reset();
    return;
  }
  respond_locally(status, reason, true);
}

void Exchange::on_request_timed_out() {
  if (response_head_sent_) {
    reset_downstream(metrics::DownstreamError::kClientAbortRequest);
    return;
  }
  const bool head_seen = req_ != nullptr;
  sample_.downstream_error = head_seen ? metrics::DownstreamError::kClientAbortRequest
                                       : metrics::DownstreamError::kHeaderTimeout;
  respond_locally(408, head_seen ? "request body timeout" : "request header timeout", true);
}

void Exchange::on_downstream_lost(StreamLoss where) {
  note_response_bytes();
  if (sample_.downstream_error == metrics::DownstreamError::kNone)
    sample_.downstream_error = where == StreamLoss::kReadingRequest
                                   ? metrics::DownstreamError::kClientAbortRequest
                                   : metrics::DownstreamError::kClientAbortResponse;
  record();
}

void Exchange::on_downstream_drained() {
  if (up_ != nullptr && (tunnel_ || !response_complete_)) up_->resume_reading();
}

void Exchange::on_response_written() {
  mark_last_byte_written();
  record();
  req_ = nullptr;  // the codec reuses the head's storage for the next request
}

void Exchange::on_downstream_closing() {
  abandon_upstream();
  record();
}

SendResult Exchange::on_tunnel_data(std::string_view data) {
  if (up_ == nullptr || up_->send(data) == net::Alive::kGone) {
    up_ = nullptr;
    return SendResult::kGone;
  }
  return up_->queued_bytes() > kHighWater ? SendResult::kFull : SendResult::kOk;
}

bool Exchange::on_tunnel_eof() {
  if (up_ == nullptr) return false;
  up_->shutdown_write();
  return true;
}

// ---------------------------------------------------------------- upstream attempt

bool Exchange::start_upstream(bool allow_pool) {
  sample_.upstream_attempts++;
  sample_.t.upstream_connect_start = now();
  sample_.t.upstream_connect_done = 0;
  sample_.t.upstream_tls_done = 0;
  sample_.t.upstream_request_sent = 0;
  // A request the stale-connection retry covers learns of a close by sending (and is
  // resent); any other asks the socket first.
  const bool retry_covers = snapshot().config->upstream.retry_on_stale_connection &&
                            idempotent(method_) && !request_has_body_;
  UpstreamConnection* c = allow_pool ? worker_.pool().take(!retry_covers) : nullptr;
  if (c != nullptr) {
    sample_.upstream_reused = true;
    sample_.t.upstream_connect_done = sample_.t.upstream_connect_start;
    c->attach(this, method_);
    up_ = c;
    return true;
  }
  sample_.upstream_reused = false;
  net::SocketAddress addr;
  uint32_t generation = 0;
  if (snapshot().upstream->current(addr, &generation)) {
    c = UpstreamConnection::create(worker_, *snapshot_);
    c->attach(this, method_);
    if (c->connect(addr, generation) == net::Alive::kYes) {
      up_ = c;
      return true;
    }
  }
  (void)upstream_failed(metrics::UpstreamError::kConnectRefused);
  return false;
}

// The client's transport, not a constant, decides X-Forwarded-Proto.
void Exchange::send_request_head() {
  http::ForwardRequestContext ctx;
  ctx.client_ip = peer_->client_ip;
  ctx.trust_forwarded = peer_->trusted_proxy;
  ctx.proto = peer_->secure ? "https" : "http";
  ctx.chunked_body = request_chunked_;
  ctx.upgrade = upgrade_requested_;
  ctx.fallback_host = snapshot().upstream_authority;
  ctx.via_pseudonym = snapshot().config->via_pseudonym;
  ctx.decrement_max_forwards = decrement_max_forwards_;
  up_->send_request_head(*req_, ctx);
}

net::Alive Exchange::flush() {
  if (flush_request() == net::Alive::kGone) return net::Alive::kGone;
  return stream_.flush();
}

net::Alive Exchange::flush_request() {
  if (up_ != nullptr) {
    const UpstreamConnection::RequestWrite w = up_->flush_request();
    if (w == UpstreamConnection::RequestWrite::kBroken) {
      up_ = nullptr;
      if (upstream_failed(metrics::UpstreamError::kResetBeforeResponse) == net::Alive::kGone)
        return net::Alive::kGone;
    } else {
      note_request_written(w);
    }
  }
  return net::Alive::kYes;
}

void Exchange::note_request_written(UpstreamConnection::RequestWrite w) {
  if (w == UpstreamConnection::RequestWrite::kWritten && sample_.t.upstream_request_sent == 0)
    mark_request_sent();
}

void Exchange::on_upstream_connected() {
  // The callback's entry: when the connection became ready. Over TLS that is the end of
  // the handshake, and the TCP connect completed earlier.
  const uint64_t ready = now();
  const uint64_t tcp_done = up_ != nullptr ? up_->tcp_connected_ns() : 0;
  if (tcp_done != 0) {
    sample_.t.upstream_connect_done = tcp_done;
    sample_.t.upstream_tls_done = ready;
  } else {
    sample_.t.upstream_connect_done = ready;
  }
  mark_request_sent();  // the buffered request was just written
}

// Read the clock again after our own work: the time from the request's arrival to here
// is the proxy's processing, which proxy_overhead must see (a cached per-callback
// timestamp would hide it).
void Exchange::mark_request_sent() {
  worker_.refresh_now();
  sample_.t.upstream_request_sent = now();
}

void Exchange::mark_last_byte_written() {
  worker_.refresh_now();
  sample_.t.response_last_byte_written = now();
}

// ---------------------------------------------------------------- response (from upstream)

http::SinkAction Exchange::on_upstream_head(const http::MessageHead& head) {
  if (sample_.t.upstream_first_byte == 0 && up_ != nullptr)
    sample_.t.upstream_first_byte = up_->first_byte_ns();
  if (head.status < 200) {
    if (head.status != 101) {
      stream_.send_interim_head(head);
      return http::SinkAction::kContinue;
    }
    if (!upgrade_requested_) {  // 101 nobody asked for: not a response we can forward
      abandon_upstream();
      (void)upstream_failed(metrics::UpstreamError::kInvalidResponse);
      return http::SinkAction::kPause;
    }
    stream_.send_upgrade_head(head);
    response_head_sent_ = true;
    sample_.status = 101;
    sample_.response_head_bytes = head.wire_bytes;
    sample_.t.upstream_response_done = now();
    up_->enter_tunnel();
    tunnel_ = true;
    return http::SinkAction::kContinue;
  }
  sample_.status = head.status;
  sample_.response_head_bytes = head.wire_bytes;
  stream_.send_response_head(head);
  response_head_sent_ = true;
  head_waits_for_body_ = head.framing == http::BodyFraming::kContentLength &&
                         head.content_length > 0 && head.content_length <= kHeadWaitMaxBody;
  return http::SinkAction::kContinue;
}

http::SinkAction Exchange::on_upstream_body(std::string_view data) {
  head_waits_for_body_ = false;
  return stream_.send_body(data) == SendResult::kOk ? http::SinkAction::kContinue
                                                     : http::SinkAction::kPause;
}

http::SinkAction Exchange::on_upstream_complete() {
  sample_.t.upstream_response_done = now();
  note_response_bytes();
  stream_.end_response();
  response_complete_ = true;
  up_ = nullptr;  // the connection returns to the pool (or closes) by itself
  return http::SinkAction::kContinue;
}

void Exchange::on_upstream_read_done() {
  // Many backends write a response's head and its body apart (nginx's sendfile, Python
  // servers' two sendall calls). When we read the head before the body was written (we
  // share a CPU with the backend and were woken by its first write), writing the head at
  // once costs one more write, one more TCP segment and one more wakeup of the client
  // per response: at concurrency 1 that was 2.7 writes and 7.3 segments per request
  // instead of 2 and 6, and ~12 us more latency than nginx and h2o, which also send the
  // head with the body. So a head whose short Content-Length body has not started waits
  // in the buffer for the body's first bytes, the next read. No timer: the body is the
  // very next thing the backend sends (a backend that stalls between the two is covered
  // by the response timeout); longer bodies, chunked and close-delimited responses (which
  // may be streams, such as Server-Sent Events) are never held.
  if (head_waits_for_body_ && !response_complete_) {
    (void)flush_request();  // the request side still goes; gone or not, nothing follows
    return;
  }
  if (flush() == net::Alive::kGone) return;
  if (tunnel_ && in_flight_) {
    // The exchange ends with the 101; the tunnel that follows is not an exchange.
    mark_last_byte_written();
    record();
    stream_.open_tunnel();
    return;
  }
  if (!response_complete_ && up_ != nullptr && stream_.congested()) up_->pause_reading();
  stream_.finish_when_written();
}

void Exchange::on_upstream_failed(metrics::UpstreamError error) {
  note_response_bytes();  // a response cut short: what of it came (and went on)
  (void)upstream_failed(error);
}

// Response sizes as the upstream socket saw them: the whole response, or the part that
// came before it was cut short (by either side). Not for local answers (no upstream).
void Exchange::note_response_bytes() {
  if (up_ == nullptr || !response_head_sent_ || !in_flight_) return;
  sample_.response_head_bytes = up_->response_wire_bytes_head();
  sample_.response_body_bytes = up_->response_wire_bytes_body();
}

net::Alive Exchange::upstream_failed(metrics::UpstreamError error) {
  up_ = nullptr;
  if (tunnel_) {
    stream_.reset();
    return net::Alive::kGone;
  }
  if (!in_flight_) return net::Alive::kGone;  // already answered (lingering) or closing
  // A pooled connection the backend closed just before our request arrived: the
  // request never reached it, so an idempotent one without a body is safe to resend,
  // once, on a fresh connection.
  const bool stale_pooled = snapshot().config->upstream.retry_on_stale_connection &&
                            sample_.upstream_reused &&
                            (error == metrics::UpstreamError::kResetBeforeResponse ||
                             error == metrics::UpstreamError::kClosedEarly);
  if (stale_pooled && !response_head_sent_ && sample_.upstream_attempts < 2 &&
      idempotent(method_) && !request_has_body_) {
    worker_.gauges().upstream_retries_total.inc();
    if (!start_upstream(false)) return net::Alive::kGone;
    send_request_head();
    if (request_complete_) up_->end_request();
    return flush();
  }
  sample_.upstream_error = error;
  sample_.t.upstream_failed = now();
  if (!response_head_sent_) {
    const bool timeout = error == metrics::UpstreamError::kConnectTimeout ||
                         error == metrics::UpstreamError::kResponseTimeout;
    respond_locally(timeout ? 504 : 502, metrics::upstream_error_name(error), !request_complete_);
    return net::Alive::kGone;
  }
  // Part of the response is already on its way: the client must see a truncation, not a
  // clean end, so the connection is reset.
  if (stream_.flush() == net::Alive::kGone) return net::Alive::kGone;
  record();
  stream_.reset();
  return net::Alive::kGone;
}

void Exchange::on_upstream_drained() { stream_.resume_request(); }

void Exchange::on_upstream_tunnel_data(std::string_view data) {
  if (stream_.send_tunnel_data(data) == SendResult::kFull && up_ != nullptr) up_->pause_reading();
}

void Exchange::on_upstream_tunnel_eof() { stream_.send_tunnel_eof(); }

// ---------------------------------------------------------------- the end

void Exchange::respond_locally(uint16_t status, std::string_view detail, bool close) {
  http::LocalResponse r;
  r.status = status;
  r.detail = detail;
  respond_locally(r, close);
}

void Exchange::respond_locally(const http::LocalResponse& response, bool close) {
  abandon_upstream();
  sample_.status = response.status;
  sample_.local_response = true;
  // What the client gets is what it would have got from the upstream: count it alike.
  const LocalResponseSize size = stream_.queue_local_response(response, close);
  sample_.response_head_bytes = size.head_bytes;
  sample_.response_body_bytes = size.body_bytes;
  response_head_sent_ = true;
  response_complete_ = true;
  stream_.send_local_response();
}

void Exchange::reset_downstream(metrics::DownstreamError error) {
  if (sample_.downstream_error == metrics::DownstreamError::kNone)
    sample_.downstream_error = error;
  note_response_bytes();
  record();
  stream_.reset();
}

void Exchange::record() {
  if (!in_flight_) return;
  in_flight_ = false;
  worker_.gauges().requests_active.dec();
  if (!worker_.measuring()) return;
  if (sample_.t.response_last_byte_written != 0) {
    sample_.t.exchange_ended = sample_.t.response_last_byte_written;
  } else {
    // Cut short: it lasted until now (read afresh, not the callback's cached time), and
    // that duration is what the histograms get (metrics/exchange_sample.h).
    worker_.refresh_now();
    sample_.t.exchange_ended = now();
  }
  worker_.recorder().record(sample_);
}

void Exchange::abandon_upstream() {
  if (up_ == nullptr) return;
  up_->abandon();
  up_ = nullptr;
}

// Views into the codec's head storage, which stays put until the exchange ends, after
// the sample is recorded. Only while the access log is on: a walk over the fields.
void Exchange::capture_for_access_log(const http::MessageHead& head) {
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

}  // namespace sidemeter
