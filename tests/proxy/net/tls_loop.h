#pragma once
// Harness for TLS transport tests on a real uv loop over loopback: a listener on port 0
// whose accepted connections are held like a proxy holds them (TcpTransport by value,
// TlsTransport on the heap over it), client ends the same way, and run_until() with a
// watchdog so a broken transport fails a test instead of hanging it.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metrics/tls_stats.h"
#include "proxy/net/socket_address.h"
#include "proxy/net/tcp_transport.h"
#include "proxy/net/tls_transport.h"

namespace sidemeter::net::tls_test {

inline constexpr int kNotYet = 1;  // no on_transport_connected yet (statuses are <= 0)

// One connection end and everything it was told.
class End final : public TransportHandler {
 public:
  // ssl null: plain TCP.
  End(uv_loop_t* loop, ReadBuffer* rb, TlsBuffers* tb, SslPtr ssl, TlsTransport::Role role,
      metrics::TlsCounters* counters)
      : tcp_(loop, rb, this) {
    if (ssl) {
      tls_ = std::make_unique<TlsTransport>(&tcp_, std::move(ssl), role, tb, this, counters);
    }
  }
  Transport& t() { return tls_ ? static_cast<Transport&>(*tls_) : static_cast<Transport&>(tcp_); }
  TcpTransport& tcp() { return tcp_; }
  TlsTransport& tls() { return *tls_; }
  SSL* ssl() { return tls_->native_handle(); }

  // What happened.
  int connected = kNotYet;
  bool tcp_connected = false;
  bool secured = false;
  std::string secured_alpn, secured_sni, secured_version;
  bool secured_resumed = false;
  std::string received;
  uint64_t received_bytes = 0;
  bool eof = false;
  std::vector<int> errors;
  int drained = 0;
  bool closed = false;

  // Behaviour.
  bool keep = true;             // append reads to `received`
  bool echo = false;            // write back what arrives
  bool linger_on_error = false; // on kErrTlsPlainHttp: shutdown_write, keep reading
  std::function<void(std::string_view)> read_hook;
  std::function<void()> drained_hook;
  std::function<void()> connected_hook;

  void on_transport_connected(int status) override {
    connected = status;
    if (connected_hook) connected_hook();
  }
  void on_transport_tcp_connected() override { tcp_connected = true; }
  void on_transport_secured(const TlsInfo& info) override {
    secured = true;
    secured_alpn = info.alpn;
    secured_sni = info.server_name;
    secured_version = info.version;
    secured_resumed = info.resumed;
  }
  void on_transport_read(std::string_view data) override {
    received_bytes += data.size();
    if (keep) received.append(data);
    if (echo) {
      EXPECT_EQ(t().write(data), 0);
    }
    if (read_hook) read_hook(data);
  }
  void on_transport_eof() override { eof = true; }
  void on_transport_error(int e) override {
    errors.push_back(e);
    if (linger_on_error && e == kErrTlsPlainHttp) t().shutdown_write();
  }
  void on_transport_drained() override {
    ++drained;
    if (drained_hook) drained_hook();
  }
  void on_transport_closed() override { closed = true; }

 private:
  TcpTransport tcp_;  // declared first: destroyed after the TLS transport on it
  std::unique_ptr<TlsTransport> tls_;
};

class TlsLoop {
 public:
  TlsLoop() {
    EXPECT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &watchdog_);
    watchdog_.data = this;
  }

  // Closes everything and requires the loop to close cleanly.
  void finish() {
    for (auto* v : {&servers_, &clients_}) {
      for (auto& e : *v) {
        if (!e->t().closing()) e->t().close(false);
      }
    }
    if (listening_) uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    for (auto* v : {&servers_, &clients_}) {
      for (auto& e : *v) EXPECT_TRUE(e->closed);
    }
    servers_.clear();
    clients_.clear();
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  uv_loop_t* loop() { return &loop_; }
  metrics::TlsCounters& counters() { return counters_; }

  // ctx null: a plain TCP listener.
  void listen(std::shared_ptr<const TlsServerContext> ctx) {
    server_ctx_ = std::move(ctx);
    uv_tcp_init(&loop_, &listener_);
    listener_.data = this;
    listening_ = true;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    ASSERT_EQ(uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&addr), 0), 0);
    ASSERT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 64, on_connection), 0);
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  // Replaces the context new connections get (a reload).
  void set_server_context(std::shared_ptr<const TlsServerContext> ctx) { server_ctx_ = std::move(ctx); }
  std::function<void(End&)> on_accept;  // configure a server end before it reads

  // ssl null: plain TCP client.
  End& connect(SslPtr ssl) {
    auto end = std::make_unique<End>(&loop_, &read_buffer_, &tls_buffers_, std::move(ssl),
                                     TlsTransport::Role::kClient, &counters_);
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", port_, &addr);
    EXPECT_EQ(end->t().connect(from_sockaddr(reinterpret_cast<sockaddr*>(&addr))), 0);
    clients_.push_back(std::move(end));
    return *clients_.back();
  }
  End& connect(const TlsClientContext& ctx, const std::function<void(SSL*)>& tweak = {}) {
    SslPtr ssl = ctx.new_ssl();
    if (tweak) tweak(ssl.get());
    return connect(std::move(ssl));
  }

  // Frees client ends already closed (their TLS state goes with them).
  void drop_closed_clients() {
    std::erase_if(clients_, [](const std::unique_ptr<End>& e) { return e->closed; });
  }

  size_t accepted() const { return servers_.size(); }
  End& server(size_t i) { return *servers_.at(i); }

  // Runs the loop until pred() holds; false (and a test failure) after 10 s.
  bool run_until(const std::function<bool()>& pred) {
    timed_out_ = false;
    uv_timer_start(&watchdog_, [](uv_timer_t* t) {
      auto* self = static_cast<TlsLoop*>(t->data);
      self->timed_out_ = true;
      uv_stop(t->loop);
    }, 10'000, 0);
    while (!pred() && !timed_out_) uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&watchdog_);
    EXPECT_FALSE(timed_out_) << "the loop waited 10 s for a condition";
    return pred();
  }
  // Closes an end and runs until its handler heard on_transport_closed.
  void close(End& e) {
    e.t().close(false);
    run_until([&] { return e.closed; });
  }

 private:
  static void on_connection(uv_stream_t* s, int status) {
    auto* self = static_cast<TlsLoop*>(s->data);
    ASSERT_EQ(status, 0);
    SslPtr ssl = self->server_ctx_ ? self->server_ctx_->new_ssl() : SslPtr();
    auto end = std::make_unique<End>(&self->loop_, &self->read_buffer_, &self->tls_buffers_,
                                     std::move(ssl), TlsTransport::Role::kServer, &self->counters_);
    ASSERT_EQ(uv_accept(s, end->tcp().stream()), 0);
    if (self->on_accept) self->on_accept(*end);
    end->t().start_reading();
    self->servers_.push_back(std::move(end));
  }

  uv_loop_t loop_;
  uv_tcp_t listener_;
  uv_timer_t watchdog_;
  bool listening_ = false;
  bool timed_out_ = false;
  uint16_t port_ = 0;
  ReadBuffer read_buffer_;
  TlsBuffers tls_buffers_;
  metrics::TlsCounters counters_;
  std::shared_ptr<const TlsServerContext> server_ctx_;
  std::vector<std::unique_ptr<End>> servers_;
  std::vector<std::unique_ptr<End>> clients_;
};

}  // namespace sidemeter::net::tls_test
