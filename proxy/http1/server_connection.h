#pragma once
// One HTTP/1 client connection: on a `proxy_protocol` listener first the PROXY protocol
// header (proxy/net/proxy_protocol.h; read before TLS, its source becomes the client
// address, the transport is chosen after it), then the transport, the request parser,
// keep-alive and pipelining (one exchange at a time; pipelined bytes wait in
// pending_in_), response framing (chunked re-framing, HTTP/1.0 clients, Connection
// fields), the bytes of local responses, lingering close, the idle/header/body timers and
// the byte relay after a 101.
// What a request means — the upstream attempt, retries, local answers, the sample — is
// its Exchange's business (proxy/exchange/exchange.h), driven through DownstreamStream.
//
// Lives in proxy/http1/ with the codec it speaks, but builds into the proxy library: the
// http1 syntax library itself stays free of libuv and metrics.
// Frees itself only after its last close callback (proxy/net/handle_owner.h).
#include <uv.h>

#include <optional>
#include <string>

#include "proxy/config_snapshot.h"
#include "proxy/deadline_timer.h"
#include "proxy/exchange/downstream_stream.h"
#include "proxy/exchange/exchange.h"
#include "proxy/http1/parser.h"
#include "metrics/worker_gauges.h"
#include "proxy/net/handle_owner.h"
#include "proxy/net/proxy_protocol.h"
#include "proxy/net/tcp_transport.h"
#include "proxy/net/tls_transport.h"

namespace sidemeter {

class Worker;

class Http1ServerConnection final : public net::TransportHandler,
                                    public http::MessageSink,
                                    public DownstreamStream {
 public:
  explicit Http1ServerConnection(Worker& worker);
  // Accept from the listener and start; on failure the object closes itself.
  void accept_and_start(uv_stream_t* listener, bool over_capacity);
  // Worker drain: close now if idle, otherwise after the exchange in progress.
  void drain();
  void force_close();

  Http1ServerConnection* next = nullptr;  // worker's intrusive list
  Http1ServerConnection* prev = nullptr;

  // net::TransportHandler
  void on_transport_connected(int) override {}
  void on_transport_secured(const net::TlsInfo& info) override;
  void on_transport_read(std::string_view data) override;
  void on_transport_eof() override;
  void on_transport_error(int uv_error) override;
  void on_transport_drained() override;
  void on_transport_closed() override;

  // http::MessageSink (the request parser)
  http::SinkAction on_head(const http::MessageHead& head) override;
  http::SinkAction on_body(std::string_view data) override;
  http::SinkAction on_message_complete() override;

  // DownstreamStream (what the exchange asks of us)
  void send_interim_head(const http::MessageHead& head) override;
  void send_response_head(const http::MessageHead& head) override;
  SendResult send_body(std::string_view data) override;
  void end_response() override;
  net::Alive flush() override;
  void finish_when_written() override;
  bool congested() const override;
  LocalResponseSize queue_local_response(const http::LocalResponse& response,
                                         bool close) override;
  void send_local_response() override;
  void resume_request() override;
  void send_upgrade_head(const http::MessageHead& head) override;
  void open_tunnel() override;
  SendResult send_tunnel_data(std::string_view data) override;
  void send_tunnel_eof() override;
  void reset() override;

 private:
  enum class State : uint8_t {
    kProxyHeader,  // PROXY protocol listener: reading the header, before TLS and HTTP
    kIdle,         // between requests (keep-alive)
    kRequest,      // reading a request head or body; the exchange is in flight
    kResponseWait, // request fully read, response in flight
    kTunnel,       // after 101: bytes both ways
    kLingering,    // answered and FIN sent: discard input briefly so no RST eats the answer
    kClosing,
  };
  enum class ResponseFraming : uint8_t { kNone, kLength, kChunked, kClose };

  ~Http1ServerConnection() override = default;
  void start_transport();
  void on_proxy_header_bytes(std::string_view data);
  void fail_proxy_header(metrics::ProxyProtocolError reason);
  void set_client_address(const net::SocketAddress& address);
  void process_input(std::string_view data);
  void consume_input(std::string_view data);
  void resume_input();
  void resume_input_now();
  // Sends the batch plus `data` in one writev, framed as a chunk when asked.
  net::Alive write_direct(std::string_view data, bool chunked);
  void maybe_finish_exchange();
  void finish_exchange();
  void reset_for_next_request();
  void reject_request(http::ParseError error);
  void lose_client(StreamLoss where);
  void linger_then_close();
  void close_now(bool reset);
  void arm_timer(uint64_t ms) { timer_.set(ms); }
  static void on_timer(void* self);
  static void on_timer_closed(uv_handle_t* h);
  void handle_closed();
  const conf::Config& config() const { return *snapshot_->config; }

  Worker& worker_;
  // The configuration of the exchange in progress (or of the next one): taken at accept
  // and again as each exchange starts, never in the middle of one.
  ConfigSnapshotPtr snapshot_;
  net::TcpTransport tcp_;
  // On a TLS listener, wraps tcp_ (declared after it, so it goes first).
  std::unique_ptr<net::TlsTransport> tls_;
  // Every read and write goes through this: tls_ when there is one, else tcp_.
  net::Transport* transport_ = &tcp_;
  http::Parser parser_;
  DeadlineTimer timer_;
  net::HandleOwner handles_;  // transport + timer
  DownstreamPeer peer_;
  // Set while state_ is kProxyHeader.
  std::optional<net::proxy_protocol::HeaderReader> proxy_header_;
  Exchange exchange_;  // the one in flight (HTTP/1: one at a time)
  State state_ = State::kIdle;
  bool counted_ = false;        // holds a slot in the process-wide connection count
  bool keep_alive_ = true;      // this connection continues after the current exchange
  bool input_paused_ = false;   // parser paused (pipelined request or backpressure)
  bool peer_eof_ = false;
  bool upstream_eof_ = false;   // tunnel: the upstream finished sending
  bool http10_client_ = false;
  bool handshaking_ = false;    // TLS: the idle timer is the handshake deadline meanwhile
  bool in_input_ = false;         // inside process_input
  bool resume_deferred_ = false;  // resume_input was asked inside process_input
  bool request_head_seen_ = false;
  bool request_complete_ = false;
  bool response_ended_ = false;  // the exchange has nothing more to send
  ResponseFraming response_framing_ = ResponseFraming::kNone;

  std::string pending_in_;  // bytes read but not yet parsed (pipelining, backpressure)
  std::string out_;         // response bytes batched until the end of a read
};

}  // namespace sidemeter
