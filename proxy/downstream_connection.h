#pragma once
// One client connection and the exchange in progress on it. Requests are handled one at
// a time (pipelined bytes wait in pending_in_); the exchange's sample is recorded once,
// when it ends, whichever way it ends. Frees itself only in its close callbacks.
#include <uv.h>

#include <string>

#include "metrics/exchange_sample.h"
#include "proxy/config_snapshot.h"
#include "proxy/deadline_timer.h"
#include "proxy/http/parser.h"
#include "proxy/net/tcp_transport.h"
#include "proxy/upstream_connection.h"

namespace sidemeter {

class Worker;

class DownstreamConnection final : public net::TransportHandler,
                                   public http::MessageSink,
                                   public UpstreamObserver {
 public:
  explicit DownstreamConnection(Worker& worker);
  // Accept from the listener and start; on failure the object closes itself.
  void accept_and_start(uv_stream_t* listener, bool over_capacity);
  // Worker drain: close now if idle, otherwise after the exchange in progress.
  void drain();
  void force_close();

  DownstreamConnection* next = nullptr;  // worker's intrusive list
  DownstreamConnection* prev = nullptr;

  // net::TransportHandler
  void on_transport_connected(int) override {}
  void on_transport_read(std::string_view data) override;
  void on_transport_eof() override;
  void on_transport_error(int uv_error) override;
  void on_transport_drained() override;
  void on_transport_closed() override;

  // http::MessageSink (the request parser)
  http::SinkAction on_head(const http::MessageHead& head) override;
  http::SinkAction on_body(std::string_view data) override;
  http::SinkAction on_message_complete() override;

  // UpstreamObserver
  void on_upstream_connected() override;
  http::SinkAction on_upstream_head(const http::MessageHead& head) override;
  http::SinkAction on_upstream_body(std::string_view data) override;
  http::SinkAction on_upstream_complete() override;
  void on_upstream_read_done() override;
  void on_upstream_failed(metrics::UpstreamError error) override;
  void on_upstream_drained() override;
  void on_upstream_tunnel_data(std::string_view data) override;
  void on_upstream_tunnel_eof() override;

 private:
  enum class State : uint8_t {
    kIdle,         // between requests (keep-alive)
    kRequest,      // reading a request head or body; the exchange is in flight
    kResponseWait, // request fully read, response in flight
    kTunnel,       // after 101: bytes both ways
    kLingering,    // answered and FIN sent: discard input briefly so no RST eats the answer
    kClosing,
  };
  enum class ResponseFraming : uint8_t { kNone, kLength, kChunked, kClose };

  ~DownstreamConnection() override = default;
  void process_input(std::string_view data);
  void resume_input();
  bool start_upstream(bool allow_pool);
  bool send_upstream(std::string_view data);
  void flush();
  void mark_request_sent();
  void mark_last_byte_written();
  // Sends batched bytes plus `data` in one writev, framed as a chunk when asked.
  bool send_upstream_direct(std::string_view data, bool chunked);
  bool send_downstream_direct(std::string_view data, bool chunked);
  void maybe_finish_exchange();
  void finish_exchange();
  void record_exchange();
  void capture_for_access_log(const http::MessageHead& head);
  void reset_exchange();
  void reject_request(http::ParseError error);
  void respond_locally(uint16_t status, std::string_view detail, bool close);
  void abort_exchange(metrics::DownstreamError error);
  void linger_then_close();
  void close_now(bool reset);
  void arm_timer(uint64_t ms);
  static void on_timer(void* self);
  static void on_timer_closed(uv_handle_t* h);
  void handle_closed();
  uint64_t now() const;
  bool response_pending() const;
  const conf::Config& config() const { return *snapshot_->config; }

  Worker& worker_;
  // The configuration of the exchange in progress (or of the next one): taken at accept
  // and again as each exchange starts, never in the middle of one.
  ConfigSnapshotPtr snapshot_;
  net::TcpTransport transport_;
  http::Parser parser_;
  DeadlineTimer timer_;
  State state_ = State::kIdle;
  int open_handles_ = 2;
  bool counted_ = false;        // holds a slot in the process-wide connection count
  bool keep_alive_ = true;      // this connection continues after the current exchange
  bool input_paused_ = false;   // parser paused (pipelined request or backpressure)
  bool peer_eof_ = false;
  bool upstream_eof_ = false;  // tunnel: the upstream finished sending
  bool in_exchange_ = false;   // an exchange started and is not recorded yet

  std::string client_ip_;
  uint16_t client_port_ = 0;
  std::string pending_in_;  // bytes read but not yet parsed (pipelining, backpressure)
  std::string out_;         // response bytes batched until the end of a read
  std::string up_out_;      // request bytes batched until the end of a read
  std::string up_head_;     // forwarded request head, kept for one retry

  // The exchange in flight.
  UpstreamConnection* up_ = nullptr;
  metrics::ExchangeSample sample_;
  const http::MessageHead* req_ = nullptr;
  http::Method method_ = http::Method::kGet;
  bool request_chunked_ = false;
  bool request_has_body_ = false;
  bool request_complete_ = false;
  bool response_head_sent_ = false;
  bool response_complete_ = false;
  bool upgrade_requested_ = false;
  bool http10_client_ = false;
  ResponseFraming response_framing_ = ResponseFraming::kNone;
  uint64_t response_out_bytes_ = 0;
};

}  // namespace sidemeter
