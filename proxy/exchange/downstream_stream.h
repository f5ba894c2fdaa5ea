#pragma once
// The seam between an Exchange (one request/response, protocol-neutral:
// proxy/exchange/exchange.h) and the downstream codec that carries it to the client —
// HTTP/1 today (proxy/http1/server_connection.h), one stream of an HTTP/2 connection
// later. Modelled on h2o's h2o_req_t / its connection callbacks and nghttpx's
// Downstream / Upstream pair.
//
// Exchange → codec: DownstreamStream, below. The codec owns the wire format (status
// line, Connection headers, chunked re-framing, what an HTTP/1.0 client may see, the
// bytes of a local response), its buffers, its timers and its transport; the exchange
// says what to send, never how.
//
// Codec → exchange: Exchange's public "from the codec" methods, in this order for one
// exchange: begin → on_request_head → on_request_body* → on_request_complete, with
// on_request_read_done at the end of every batch of request bytes; then
// on_response_written when the response's last byte is out. Any time: on_request_rejected,
// on_request_timed_out, on_downstream_lost, on_downstream_drained, on_downstream_closing,
// and after an upgrade the tunnel calls.
//
// Lifetime and ownership:
//   - The codec owns its Exchange (HTTP/1 embeds its only one: no allocation per request)
//     and outlives it. The exchange never frees the codec; the codec frees itself only in
//     its last close callback (proxy/net/handle_owner.h).
//   - The request head passed to on_request_head stays valid (in the codec's parser) until
//     the exchange ends; every other view is valid for the call only.
//   - A call returning net::Alive::kGone, or SendResult::kGone, has ended the exchange on
//     this stream (the client is lost, or the response was completed and the stream moved
//     on): the exchange returns at once without touching its state.
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http1/local_response.h"
#include "proxy/http1/message.h"
#include "proxy/net/handle_owner.h"

namespace sidemeter {

// Who the client is. Filled by the codec when the connection starts, read by the exchange
// for its sample and the forwarded request; lives as long as the connection.
struct DownstreamPeer {
  std::string client_ip;         // "" when unknown
  uint16_t client_port = 0;      // 0 when unknown
  bool secure = false;           // the client's transport encrypts: X-Forwarded-Proto https
  // The client address is in trusted_proxies: its X-Forwarded-For / Forwarded are kept.
  bool trusted_proxy = false;
};

// What the exchange asks of a body piece or tunnel bytes given to the codec.
enum class [[nodiscard]] SendResult : uint8_t {
  kOk,    // taken; send more
  kFull,  // taken, but over the high-water mark: stop producing until told it drained
  kGone,  // the client is lost; the exchange already heard why (on_downstream_lost)
};

// What the exchange returns to the codec for a request piece.
enum class [[nodiscard]] RequestFlow : uint8_t {
  kContinue,  // feed more request bytes
  kPause,     // stop reading the request until DownstreamStream::resume_request() (or end)
};

// How the client lost its exchange, as far as the codec can tell.
enum class StreamLoss : uint8_t {
  kReadingRequest,   // closed, reset or timed out while the request was still arriving
  kWritingResponse,  // a response write failed, or reset while waiting for the response
};

// Bytes of a local response, as the client receives them (counted like a forwarded one).
struct LocalResponseSize {
  uint64_t head_bytes = 0;
  uint64_t body_bytes = 0;
};

class DownstreamStream {
 public:
  // --- the response, forwarded from the upstream. All buffered, no I/O, unless stated.
  // A 1xx other than 101; dropped for clients whose protocol has no interim responses.
  virtual void send_interim_head(const http::MessageHead& head) = 0;
  // The final response head as the upstream sent it; the codec picks framing and the
  // connection fields for its client.
  virtual void send_response_head(const http::MessageHead& head) = 0;
  // A piece of the response body, decoded (no upstream framing). May write at once (big
  // pieces skip the buffer).
  virtual SendResult send_body(std::string_view data) = 0;
  // The response body is complete (the codec adds the terminator its framing needs).
  virtual void end_response() = 0;
  // Write what is buffered now (the end of a batch of upstream bytes). kGone: the write
  // failed, the exchange heard on_downstream_lost and the stream is closing.
  virtual net::Alive flush() = 0;
  // The exchange has nothing more to send: once every byte is written (now, or when the
  // transport drains) the codec calls on_response_written and moves on (next request or
  // close). Must be the caller's last act: the next exchange may begin inside it.
  virtual void finish_when_written() = 0;
  // More than the high-water mark is queued toward the client (the exchange pauses the
  // upstream until on_downstream_drained).
  virtual bool congested() const = 0;

  // --- local answers (502, 504, 408, 400..., and the 200 to an OPTIONS or TRACE with
  // Max-Forwards: 0): the codec writes the bytes, with Date and without Via.
  // Replaces anything buffered with `response` (views valid for the call); `close` asks
  // for the connection to close after it. No I/O yet, so the exchange can count the sizes
  // before anything can fail.
  virtual LocalResponseSize queue_local_response(const http::LocalResponse& response,
                                                 bool close) = 0;
  // Writes it and ends the exchange like finish_when_written (on_response_written). Must
  // be the caller's last act.
  virtual void send_local_response() = 0;

  // --- flow control of the request.
  // Read the request on after a RequestFlow::kPause (the upstream drained); in a tunnel,
  // read client bytes again.
  virtual void resume_request() = 0;

  // --- upgrade and tunnel.
  // The 101 the client asked for: buffered like a head; from now on the stream carries
  // raw bytes (Exchange::on_tunnel_data / on_tunnel_eof) instead of requests.
  virtual void send_upgrade_head(const http::MessageHead& head) = 0;
  // The 101 is written and the exchange is recorded: relay client bytes from now on.
  virtual void open_tunnel() = 0;
  // Raw bytes from the upstream; kFull pauses the upstream until on_downstream_drained.
  virtual SendResult send_tunnel_data(std::string_view data) = 0;
  // The upstream finished sending: half-close toward the client.
  virtual void send_tunnel_eof() = 0;

  // Give up on the client at once (the response was truncated: reset, not a clean end).
  // The codec calls on_downstream_closing before it returns.
  virtual void reset() = 0;

 protected:
  ~DownstreamStream() = default;  // not owned through this interface
};

}  // namespace sidemeter
