#include "proxy/demo/demo_traffic.h"

#include <netinet/in.h>

#include <algorithm>

#include "proxy/http1/parser.h"

namespace sidemeter::demo {
namespace {

constexpr std::string_view kSearchWords[] = {"latency",  "sidecar",    "histogram", "p99",
                                             "upstream", "keep-alive", "envoy",     "nginx"};

std::string request_head(std::string_view method, std::string_view target) {
  std::string s;
  s.reserve(160);
  s += method;
  s += ' ';
  s += target;
  s += " HTTP/1.1\r\nHost: demo.local\r\nUser-Agent: sidemeter-demo\r\nAccept: */*\r\n";
  return s;
}

}  // namespace

DemoTrafficRequest next_demo_request(DemoRng& rng) {
  DemoTrafficRequest r;
  // Weights sum to 100: mostly cheap reads, some writes, a few slow and failing calls.
  uint32_t pick = rng.between(0, 99);
  if (pick < 40) {
    r.bytes = request_head("GET", "/api/users/" + std::to_string(rng.between(1, 5000)));
  } else if (pick < 45) {
    r.head = true;
    r.bytes = request_head("HEAD", "/api/users/" + std::to_string(rng.between(1, 5000)));
  } else if (pick < 63) {
    auto word = kSearchWords[rng.between(0, std::size(kSearchWords) - 1)];
    r.bytes = request_head(
        "GET", "/api/search?q=" + std::string(word) + "&page=" + std::to_string(rng.between(1, 5)));
  } else if (pick < 73) {
    std::string body =
        R"({"customer_id":)" + std::to_string(rng.between(1, 5000)) + R"(,"items":[)";
    uint32_t items = rng.between(1, 8);
    for (uint32_t i = 0; i < items; ++i) {
      if (i) body += ',';
      body += R"({"sku":"SKU-)" + std::to_string(rng.between(1000, 9999)) + R"(","qty":)" +
              std::to_string(rng.between(1, 5)) + "}";
    }
    body += "]}";
    r.bytes = request_head("POST", "/api/orders");
    r.bytes += "Content-Type: application/json\r\nContent-Length: ";
    r.bytes += std::to_string(body.size());
    r.bytes += "\r\n\r\n";
    r.bytes += body;
    return r;
  } else if (pick < 80) {
    r.bytes = request_head("GET", "/static/app.js");
  } else if (pick < 95) {
    r.bytes = request_head("GET", "/api/flaky");
  } else if (pick < 98) {
    r.bytes = request_head("GET", "/api/slow");
  } else {
    r.bytes = request_head("GET", "/favicon.ico");
  }
  r.bytes += "\r\n";
  return r;
}

// One keep-alive client. The timer means what the state says: connect when
// disconnected, send when idle, give up when connecting or awaiting a response.
class TrafficClient final : public http::MessageSink {
 public:
  explicit TrafficClient(DemoTraffic& owner)
      : owner_(owner), parser_(http::MessageKind::kResponse, http::ParserLimits{}, *this) {
    uv_timer_init(owner.loop_, &timer_);
    timer_.data = this;
    connect_req_.data = this;
    write_req_.data = this;
  }

  void start() {
    // Staggered so the clients do not fire in lockstep.
    arm(owner_.rng_.between(0, owner_.options_.mean_think_ms));
  }

  void close() {
    if (stopped_) return;
    stopped_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    if (tcp_open_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_)))
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_tcp_closed);
  }

  http::SinkAction on_head(const http::MessageHead& head) override {
    // 1xx heads are followed by the final response on the same parse.
    if (head.status >= 200) keep_alive_ = head.keep_alive;
    return http::SinkAction::kContinue;
  }
  http::SinkAction on_body(std::string_view) override { return http::SinkAction::kContinue; }
  http::SinkAction on_message_complete() override {
    complete_ = true;
    return http::SinkAction::kContinue;
  }

 private:
  enum class State { kDisconnected, kConnecting, kIdle, kAwaiting, kClosing };

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  void arm(uint64_t ms) { uv_timer_start(&timer_, on_timer, ms, 0); }

  uint64_t think_ms() {
    double ms = owner_.rng_.exponential(owner_.options_.mean_think_ms);
    return uint64_t(std::clamp(ms, 5.0, 10.0 * owner_.options_.mean_think_ms));
  }

  static void on_timer(uv_timer_t* t) {
    auto* self = static_cast<TrafficClient*>(t->data);
    switch (self->state_) {
      case State::kDisconnected:
        return self->connect();
      case State::kIdle:
        return self->send_request();
      case State::kConnecting:
      case State::kAwaiting:
        return self->drop(false);  // timed out
      case State::kClosing:
        return;
    }
  }

  void connect() {
    uv_tcp_init(owner_.loop_, &tcp_);
    tcp_.data = this;
    tcp_open_ = true;
    state_ = State::kConnecting;
    sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", owner_.port_, &addr);
    if (uv_tcp_connect(&connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&addr),
                       on_connect) != 0)
      return drop(false);
    arm(owner_.options_.request_timeout_ms);
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* self = static_cast<TrafficClient*>(req->data);
    if (self->stopped_ || self->state_ != State::kConnecting) return;
    if (status < 0) return self->drop(false);
    self->owner_.counters_.connects.fetch_add(1, std::memory_order_relaxed);
    uv_tcp_nodelay(&self->tcp_, 1);
    if (uv_read_start(self->stream(), on_alloc, on_read) != 0) return self->drop(false);
    self->send_request();
  }

  void send_request() {
    DemoTrafficRequest req = next_demo_request(owner_.rng_);
    out_ = std::move(req.bytes);
    parser_.reset();
    parser_.set_request_method(req.head ? http::Method::kHead : http::Method::kGet);
    complete_ = false;
    keep_alive_ = true;
    state_ = State::kAwaiting;
    uv_buf_t buf = uv_buf_init(out_.data(), unsigned(out_.size()));
    if (uv_write(&write_req_, stream(), &buf, 1, on_written) != 0) return drop(false);
    arm(owner_.options_.request_timeout_ms);
  }

  static void on_written(uv_write_t* req, int status) {
    auto* self = static_cast<TrafficClient*>(req->data);
    if (status < 0 && !self->stopped_ && self->state_ == State::kAwaiting) self->drop(false);
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<TrafficClient*>(h->data);
    *buf = uv_buf_init(self->owner_.read_buffer_, sizeof self->owner_.read_buffer_);
  }

  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* self = static_cast<TrafficClient*>(s->data);
    if (self->stopped_ || self->state_ == State::kClosing) return;
    if (n < 0) {
      // A close between exchanges is the server ending keep-alive, not a failure.
      return self->drop(self->state_ == State::kIdle);
    }
    if (n == 0) return;
    if (self->state_ != State::kAwaiting) return self->drop(false);  // unsolicited bytes
    http::FeedResult r = self->parser_.feed(std::string_view(buf->base, size_t(n)));
    if (r.status == http::FeedStatus::kError) return self->drop(false);
    if (!self->complete_) return;
    self->owner_.counters_.responses.fetch_add(1, std::memory_order_relaxed);
    self->backoff_ms_ = 0;
    if (!self->keep_alive_ || r.consumed != size_t(n)) return self->drop(true);
    self->state_ = State::kIdle;
    self->arm(self->think_ms());
  }

  // Closes the connection and schedules a new one: soon after an orderly close, with
  // exponential backoff after failures (so a dead proxy is not hammered).
  void drop(bool orderly) {
    state_ = State::kClosing;
    uv_timer_stop(&timer_);
    if (!orderly) {
      owner_.counters_.failures.fetch_add(1, std::memory_order_relaxed);
      const auto& o = owner_.options_;
      backoff_ms_ = backoff_ms_ == 0 ? o.min_reconnect_ms
                                     : std::min<uint64_t>(backoff_ms_ * 2, o.max_reconnect_ms);
    }
    next_connect_ms_ = orderly ? think_ms() : backoff_ms_;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_tcp_closed);
  }

  static void on_tcp_closed(uv_handle_t* h) {
    auto* self = static_cast<TrafficClient*>(h->data);
    self->tcp_open_ = false;
    if (self->stopped_) return;
    self->state_ = State::kDisconnected;
    self->arm(self->next_connect_ms_);
  }

  DemoTraffic& owner_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_connect_t connect_req_;
  uv_write_t write_req_;
  http::Parser parser_;
  std::string out_;
  State state_ = State::kDisconnected;
  uint64_t backoff_ms_ = 0;
  uint64_t next_connect_ms_ = 0;
  bool tcp_open_ = false;
  bool keep_alive_ = true;
  bool complete_ = false;
  bool stopped_ = false;
};

DemoTraffic::DemoTraffic(uv_loop_t* loop, uint16_t port, uint64_t seed, TrafficCounters& counters,
                         TrafficOptions options)
    : loop_(loop), port_(port), options_(options), rng_(seed), counters_(counters) {}

DemoTraffic::~DemoTraffic() = default;

void DemoTraffic::start() {
  for (uint32_t i = 0; i < options_.connections; ++i) {
    clients_.push_back(std::make_unique<TrafficClient>(*this));
    clients_.back()->start();
  }
}

void DemoTraffic::close() {
  for (auto& c : clients_) c->close();
}

uint32_t DemoTraffic::approx_rate_per_s() const {
  // Think time plus a typical ~35 ms response per exchange.
  return uint32_t(options_.connections * 1000 / (options_.mean_think_ms + 35));
}

}  // namespace sidemeter::demo
