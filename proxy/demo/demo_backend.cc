#include "proxy/demo/demo_backend.h"

#include <netinet/in.h>

#include <cstdio>

#include "proxy/demo/demo_routes.h"
#include "proxy/http1/parser.h"
#include "proxy/net/handle_owner.h"

namespace sidemeter::demo {
namespace {

constexpr size_t kChunkBytes = 8 * 1024;

http::ParserLimits request_limits() {
  http::ParserLimits l;
  l.max_body_bytes = 1024 * 1024;
  return l;
}

void append_hex(std::string& out, size_t n) {
  char buf[24];
  int len = snprintf(buf, sizeof buf, "%zx", n);
  out.append(buf, size_t(len));
}

// Head and (unless HEAD) body in one buffer, so a response is a single write.
void append_response(const DemoReply& r, bool head_only, bool keep_alive, uint64_t served,
                     std::string& out) {
  std::string_view body = r.body_view();
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += http::reason_phrase(r.status);
  out += "\r\nServer: sidemeter-demo\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\n";
  if (r.chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  } else {
    out += "Content-Length: ";
    out += std::to_string(body.size());
    out += "\r\n";
  }
  out += "X-Demo-Served: ";
  out += std::to_string(served);
  out += "\r\n";
  out += r.extra_headers;
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (head_only) return;
  if (!r.chunked) {
    out += body;
    return;
  }
  for (size_t off = 0; off < body.size(); off += kChunkBytes) {
    size_t n = std::min(kChunkBytes, body.size() - off);
    append_hex(out, n);
    out += "\r\n";
    out.append(body.substr(off, n));
    out += "\r\n";
  }
  out += "0\r\n\r\n";
}

}  // namespace

// One accepted connection: parse a request, wait its planned delay, write the response,
// then parse the next one. Reading pauses while a request is in progress, so pipelined
// requests are answered in order.
class BackendConnection final : public http::MessageSink {
 public:
  explicit BackendConnection(DemoBackend& backend)
      : backend_(backend), parser_(http::MessageKind::kRequest, request_limits(), *this) {
    uv_tcp_init(backend.loop_, &tcp_);
    uv_timer_init(backend.loop_, &timer_);
    handles_.hold(2);
    tcp_.data = this;
    timer_.data = this;
    write_req_.data = this;
    backend_.connections_.insert(this);
  }

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  void start() {
    uv_tcp_nodelay(&tcp_, 1);
    if (uv_read_start(stream(), on_alloc, on_read) != 0) close();
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_close);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_close);
  }

  http::SinkAction on_head(const http::MessageHead& head) override {
    method_ = head.method;
    path_.assign(head.path);
    keep_alive_ = head.keep_alive;
    body_bytes_ = 0;
    return http::SinkAction::kContinue;
  }
  http::SinkAction on_body(std::string_view data) override {
    body_bytes_ += data.size();
    return http::SinkAction::kContinue;
  }
  http::SinkAction on_message_complete() override {
    complete_ = true;
    return http::SinkAction::kContinue;
  }

 private:
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<BackendConnection*>(h->data);
    *buf = uv_buf_init(self->backend_.read_buffer_, sizeof self->backend_.read_buffer_);
  }

  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* self = static_cast<BackendConnection*>(s->data);
    if (n < 0) return self->close();
    if (n > 0) self->consume(std::string_view(buf->base, size_t(n)));
  }

  // Feeds bytes until a request completes; the rest waits in pending_ until the response
  // has been written.
  void consume(std::string_view data) {
    if (busy_) {
      pending_.append(data);
      return;
    }
    http::FeedResult r = parser_.feed(data);
    if (r.status == http::FeedStatus::kError) {
      uint16_t status = http::parse_error_info(parser_.error()).status;
      uv_read_stop(stream());
      busy_ = true;
      DemoReply reply;
      reply.status = status;
      reply.content_type = "text/plain";
      reply.body = std::string(http::reason_phrase(status)) + "\n";
      keep_alive_ = false;
      respond(reply, false);
      return;
    }
    if (r.status == http::FeedStatus::kPaused && complete_) {
      complete_ = false;
      pending_.assign(data.substr(r.consumed));
      uv_read_stop(stream());
      busy_ = true;
      head_request_ = method_ == http::Method::kHead;
      reply_ = plan_reply(DemoRequest{method_, path_, body_bytes_}, backend_.rng_);
      uv_timer_start(&timer_, on_delay_done, reply_.delay_ms, 0);
    }
  }

  static void on_delay_done(uv_timer_t* t) {
    auto* self = static_cast<BackendConnection*>(t->data);
    self->respond(self->reply_, self->head_request_);
  }

  void respond(const DemoReply& reply, bool head_only) {
    out_.clear();
    uint64_t served = backend_.served_.fetch_add(1, std::memory_order_relaxed) + 1;
    append_response(reply, head_only, keep_alive_, served, out_);
    uv_buf_t buf = uv_buf_init(out_.data(), unsigned(out_.size()));
    if (uv_write(&write_req_, stream(), &buf, 1, on_written) != 0) close();
  }

  static void on_written(uv_write_t* req, int status) {
    auto* self = static_cast<BackendConnection*>(req->data);
    if (self->closing_) return;
    if (status < 0 || !self->keep_alive_) return self->close();
    self->busy_ = false;
    std::string pending = std::move(self->pending_);
    self->pending_.clear();
    if (!pending.empty()) self->consume(pending);
    if (!self->busy_ && !self->closing_ && uv_read_start(self->stream(), on_alloc, on_read) != 0)
      self->close();
  }

  static void on_close(uv_handle_t* h) {
    auto* self = static_cast<BackendConnection*>(h->data);
    if (!self->handles_.release()) return;
    self->backend_.connections_.erase(self);
    delete self;
  }

  DemoBackend& backend_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_write_t write_req_;
  http::Parser parser_;
  std::string pending_;
  std::string out_;
  std::string path_;
  DemoReply reply_;
  http::Method method_ = http::Method::kGet;
  uint64_t body_bytes_ = 0;
  bool keep_alive_ = true;
  bool head_request_ = false;
  bool complete_ = false;
  bool busy_ = false;
  bool closing_ = false;
  net::HandleOwner handles_;  // tcp_ + timer_
};

DemoBackend::DemoBackend(uv_loop_t* loop, uint64_t seed) : loop_(loop), rng_(seed) {
  server_.data = this;
}

DemoBackend::~DemoBackend() = default;

int DemoBackend::listen(std::string& error) {
  sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_init(loop_, &server_);
  server_open_ = true;
  int rc = uv_tcp_bind(&server_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 128, on_connection);
  if (rc != 0) {
    error = uv_strerror(rc);
    return rc;
  }
  sockaddr_storage bound;
  int len = sizeof bound;
  rc = uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&bound), &len);
  if (rc != 0) {
    error = uv_strerror(rc);
    return rc;
  }
  port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return 0;
}

void DemoBackend::close() {
  if (server_open_) {
    server_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  }
  // Copy: closing erases from the set only in close callbacks, but stay safe anyway.
  auto conns = connections_;
  for (BackendConnection* c : conns) c->close();
}

void DemoBackend::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<DemoBackend*>(server->data);
  if (status < 0) return;
  auto* conn = new BackendConnection(*self);
  if (uv_accept(server, conn->stream()) != 0) {
    conn->close();
    return;
  }
  conn->start();
}

}  // namespace sidemeter::demo
