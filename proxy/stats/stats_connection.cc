#include "proxy/stats/stats_connection.h"

#include <strings.h>

#include <utility>

#include "proxy/text/json_writer.h"

namespace sidemeter::stats {
namespace {

// Stats requests are a request line and a few headers; anything bigger is not ours.
http::ParserLimits stats_parser_limits() {
  http::ParserLimits l;
  l.max_start_line_bytes = 4096;
  l.max_head_bytes = 16 * 1024;
  l.max_fields = 64;
  l.max_body_bytes = 0;  // bodies are refused in on_head instead
  return l;
}

bool name_is(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

template <typename T>
uv_handle_t* H(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}
template <typename T>
uv_stream_t* S(T* h) {
  return reinterpret_cast<uv_stream_t*>(h);
}

}  // namespace

struct StatsConnection::WriteReq {
  uv_write_t req;
  StatsConnection* conn;
  std::string owned;                          // head / prefix
  std::shared_ptr<const std::string> shared;  // a frame shared by every subscriber
};

StatsConnection::StatsConnection(StatsConnectionOwner& owner, const ConnectionLimits& limits)
    : owner_(owner),
      limits_(limits),
      parser_(http::MessageKind::kRequest, stats_parser_limits(), *this) {}

StatsConnection::~StatsConnection() = default;

StatsConnection* StatsConnection::accept(uv_stream_t* server, StatsConnectionOwner& owner,
                                         const ConnectionLimits& limits) {
  auto* c = new StatsConnection(owner, limits);
  uv_tcp_init(server->loop, &c->tcp_);
  uv_timer_init(server->loop, &c->timer_);
  c->tcp_.data = c;
  c->timer_.data = c;
  c->handles_.hold(2);
  if (uv_accept(server, S(&c->tcp_)) != 0) {
    // Nothing to answer; the handles still have to go through uv_close before delete.
    c->closing_ = true;
    auto on_closed = [](uv_handle_t* h) {
      auto* conn = static_cast<StatsConnection*>(h->data);
      if (conn->handles_.release()) delete conn;
    };
    uv_close(H(&c->tcp_), on_closed);
    uv_close(H(&c->timer_), on_closed);
    return nullptr;
  }
  uv_tcp_nodelay(&c->tcp_, 1);
  uv_read_start(S(&c->tcp_), on_alloc, on_read);
  c->reading_ = true;
  c->arm_idle_timer();
  return c;
}

void StatsConnection::on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  // Reads are copied into input_ at once, so one buffer per thread serves every connection.
  thread_local char storage[16 * 1024];
  *buf = uv_buf_init(storage, sizeof storage);
}

void StatsConnection::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<StatsConnection*>(s->data);
  if (n < 0) {
    c->peer_closed_ = true;
    // A half-closed client still gets the answers already queued.
    if (n == UV_EOF && !c->streaming_ && c->pending_writes_ > 0) {
      uv_read_stop(s);
      c->reading_ = false;
      c->close_after_write_ = true;
    } else {
      c->close();
    }
    return;
  }
  if (n == 0 || c->closing_) return;
  if (c->streaming_) return;  // subscribers have nothing more to say; keep reading for EOF
  if (c->input_.size() + size_t(n) > 64 * 1024) {
    // Far more pipelined input than any honest client sends before reading answers.
    c->reject(400, "too much pipelined input");
    return;
  }
  c->input_.append(buf->base, size_t(n));
  c->process_input();
}

void StatsConnection::process_input() {
  size_t pos = 0;
  while (!closing_ && !streaming_ && !close_after_write_ && pos < input_.size()) {
    if (unsent_bytes() > limits_.max_response_backlog_bytes) {
      // The client is not reading its answers: wait for the writes before parsing more.
      if (reading_) uv_read_stop(S(&tcp_));
      reading_ = false;
      break;
    }
    const http::FeedResult r = parser_.feed(std::string_view(input_).substr(pos));
    pos += r.consumed;
    if (r.status == http::FeedStatus::kError) {
      const http::ParseErrorInfo info = http::parse_error_info(parser_.error());
      reject(info.status >= 400 ? info.status : 400, info.reason);
      return;
    }
    if (body_refused_) {
      reject(400, "stats requests carry no body");
      return;
    }
    if (r.status == http::FeedStatus::kPaused && message_done_) {
      message_done_ = false;
      arm_idle_timer();
      owner_.on_request(*this, request_);
      if (!request_.keep_alive && !streaming_) close_after_write_ = true;
    } else if (r.status == http::FeedStatus::kOk) {
      pos = input_.size();
    }
  }
  if (closing_) return;
  input_.erase(0, pos);
  if (close_after_write_ && pending_writes_ == 0) close();
}

http::SinkAction StatsConnection::on_head(const http::MessageHead& head) {
  request_ = StatsRequest();
  request_.method = head.method;
  request_.head = head.method == http::Method::kHead;
  request_.path.assign(head.path);
  request_.target.assign(head.target);
  request_.keep_alive = head.keep_alive;
  for (const http::HeaderField& f : head.fields) {
    if (name_is(f.name, "accept")) {
      request_.accept.assign(f.value);
    } else if (name_is(f.name, "authorization")) {
      request_.authorization.assign(f.value);
    }
  }
  // `Content-Length: 0` (what `curl -d ''` sends with POST /-/reload) is no body.
  if (head.framing != http::BodyFraming::kNone &&
      !(head.framing == http::BodyFraming::kContentLength && head.content_length == 0)) {
    body_refused_ = true;
    return http::SinkAction::kPause;
  }
  return http::SinkAction::kContinue;
}

http::SinkAction StatsConnection::on_body(std::string_view) { return http::SinkAction::kPause; }

http::SinkAction StatsConnection::on_message_complete() {
  message_done_ = true;
  return http::SinkAction::kPause;
}

void StatsConnection::reject(uint16_t status, std::string_view detail) {
  std::string body(http::reason_phrase(status));
  body += ": ";
  body += detail;
  body += '\n';
  request_.keep_alive = false;
  request_.head = false;
  respond(status, "text/plain; charset=utf-8", body);
  input_.clear();
  close_after_write_ = true;
  if (reading_) uv_read_stop(S(&tcp_));
  reading_ = false;
  if (pending_writes_ == 0) close();
}

void StatsConnection::respond(uint16_t status, std::string_view content_type, std::string_view body,
                              std::string_view extra_headers) {
  if (closing_) return;
  auto* w = new WriteReq;
  std::string& out = w->owned;
  out.reserve(160 + extra_headers.size() + (request_.head ? 0 : body.size()));
  out += "HTTP/1.1 ";
  text::append_uint(out, status);
  out += ' ';
  out += http::reason_phrase(status);
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  text::append_uint(out, body.size());
  out += "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
  if (!request_.keep_alive) out += "Connection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  if (!request_.head) out += body;
  const uv_buf_t buf = uv_buf_init(out.data(), unsigned(out.size()));
  write(w, &buf, 1);
}

void StatsConnection::start_stream(std::string_view content_type, std::string_view preamble) {
  if (closing_) return;
  streaming_ = true;
  uv_timer_stop(&timer_);  // subscribers stay as long as they keep up
  input_.clear();
  auto* w = new WriteReq;
  std::string& out = w->owned;
  // No length: the stream ends when either side closes.
  out += "HTTP/1.1 200 OK\r\nContent-Type: ";
  out += content_type;
  out +=
      "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
      "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n";
  out += preamble;
  const uv_buf_t buf = uv_buf_init(out.data(), unsigned(out.size()));
  write(w, &buf, 1);
}

bool StatsConnection::push_frame(std::string_view prefix, std::shared_ptr<const std::string> frame,
                                 std::string_view suffix) {
  if (closing_) return true;
  if (unsent_bytes() + prefix.size() + frame->size() + suffix.size() >
      limits_.max_subscriber_buffer_bytes) {
    return false;
  }
  auto* w = new WriteReq;
  w->owned.assign(prefix);
  w->owned += '\0';  // suffix stored after the prefix so both outlive the write
  w->owned.append(suffix);
  w->shared = std::move(frame);
  const uv_buf_t bufs[3] = {
      uv_buf_init(w->owned.data(), unsigned(prefix.size())),
      uv_buf_init(const_cast<char*>(w->shared->data()), unsigned(w->shared->size())),
      uv_buf_init(w->owned.data() + prefix.size() + 1, unsigned(suffix.size())),
  };
  write(w, bufs, 3);  // a failed write closes the connection: not a slow reader
  return true;
}

bool StatsConnection::write(WriteReq* w, const uv_buf_t* bufs, unsigned n) {
  w->conn = this;
  w->req.data = w;
  const int rc = uv_write(&w->req, S(&tcp_), bufs, n, on_write);
  if (rc != 0) {
    delete w;
    close();
    return false;
  }
  ++pending_writes_;
  handles_.hold();  // the write callback comes even after close (UV_ECANCELED)
  return true;
}

void StatsConnection::on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  StatsConnection* c = w->conn;
  delete w;
  --c->pending_writes_;
  if (c->closing_) {
    c->release_one();
    return;
  }
  // Not closing, so the handles are open and this cannot be the last release.
  (void)c->handles_.release();
  if (status != 0) {
    c->close();
    return;
  }
  if (c->close_after_write_) {
    if (c->pending_writes_ == 0) c->close();
    return;
  }
  if (!c->reading_ && !c->streaming_ && c->unsent_bytes() == 0) {
    c->reading_ = true;
    uv_read_start(S(&c->tcp_), on_alloc, on_read);
    c->process_input();
  }
}

size_t StatsConnection::unsent_bytes() const {
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
}

void StatsConnection::arm_idle_timer() {
  if (limits_.idle_timeout_ms == 0) return;
  uv_timer_start(&timer_, on_timeout, limits_.idle_timeout_ms, 0);
}

void StatsConnection::on_timeout(uv_timer_t* t) { static_cast<StatsConnection*>(t->data)->close(); }

void StatsConnection::close() {
  if (closing_) return;
  closing_ = true;
  uv_close(H(&tcp_), on_handle_closed);
  uv_close(H(&timer_), on_handle_closed);
}

void StatsConnection::on_handle_closed(uv_handle_t* h) {
  static_cast<StatsConnection*>(h->data)->release_one();
}

// Write callbacks of a closed stream still run (with UV_ECANCELED); the connection goes
// after the last of them and of the close callbacks, whichever order they come in.
void StatsConnection::release_one() {
  if (!handles_.release()) return;
  owner_.on_closed(*this);
  delete this;
}

}  // namespace sidemeter::stats
