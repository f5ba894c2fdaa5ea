#pragma once
// What the proxy's HTTP/1 glue sends on for a peer's bytes, without sockets: the same
// Parser, append_forward_*_head, append_chunk and kLastChunk the proxy calls, wrapped in
// the choices its connection classes make around them. Each choice names the place it
// mirrors, so a change there shows where to follow:
//  - requests (client → upstream): Http1ServerConnection::process_input and its parser
//    callbacks, Exchange::on_request_head / send_request_head, UpstreamConnection::
//    send_request_head / send_body / end_request;
//  - responses (upstream → client): UpstreamConnection::process / on_head /
//    on_transport_eof, Exchange::on_upstream_head, Http1ServerConnection::
//    send_interim_head / send_response_head / send_upgrade_head / send_body / end_response.
// The fuzz targets check invariants on the result; it links only the http1 library.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http1/parser.h"

namespace sidemeter::fuzz {

// One message as read and as sent on.
struct ForwardedMessage {
  // From the head (copied: the parser's views die at reset()).
  std::string method_text, target, path, host;  // requests
  uint16_t status = 0;                           // responses
  uint8_t version_minor = 1;
  http::BodyFraming framing = http::BodyFraming::kNone;
  uint64_t content_length = 0;
  bool has_content_length = false;
  bool keep_alive = true;
  bool upgrade = false;

  std::string body;       // decoded body bytes the sink was given
  std::string forwarded;  // bytes sent to the other side for this message
  uint64_t consumed = 0;  // input bytes the parser consumed for this message
  uint64_t head_wire = 0;  // Parser::head_wire_bytes() at the end
  uint64_t body_wire = 0;  // Parser::body_wire_bytes() at the end
  bool head_seen = false;
  bool complete = false;
  http::ParseError error = http::ParseError::kNone;

  bool operator==(const ForwardedMessage&) const = default;
};

enum class StreamEnd : uint8_t {
  kInputEnd,      // the input ran out (a message may be left incomplete)
  kRefused,       // a parse error (or, for responses, a 101 nobody asked for)
  kClose,         // a request without keep-alive: the connection ends after it
  kUpgrade,       // an upgrade request / a 101: what follows is a tunnel, not HTTP
  kResponseDone,  // the final response is complete; later bytes are never read
};

struct RequestOptions {
  http::ParserLimits limits;
  bool pause_on_head = false;  // the sink asks to pause at the head (no upstream yet)
  bool pause_on_body = false;  // ... after every body piece (upstream backpressure)
  bool secure = false;         // the client came over TLS (X-Forwarded-Proto: https)
};

struct RequestRun {
  std::vector<ForwardedMessage> messages;  // one per request started; the last may be cut
  StreamEnd end = StreamEnd::kInputEnd;
  bool operator==(const RequestRun&) const = default;
};

// `reads`: the sizes of the reads the input arrives in (they add up to input.size()).
RequestRun forward_requests(std::string_view input, const std::vector<size_t>& reads,
                            const RequestOptions& options);

struct ResponseOptions {
  http::ParserLimits limits;
  http::Method request_method = http::Method::kGet;
  bool upgrade_requested = false;  // the request asked to upgrade
  bool downstream_http10 = false;  // the client spoke HTTP/1.0
  bool client_keep_alive = true;   // the client's connection stays open afterwards
  bool pause_on_body = false;      // the client is slow: pause after every body piece
  bool upstream_closes = true;     // the upstream closes after its last byte
};

struct ResponseRun {
  std::vector<ForwardedMessage> messages;  // interim responses, then the final one
  std::string downstream;                  // every byte sent to the client, in order
  StreamEnd end = StreamEnd::kInputEnd;
  bool final_seen = false;
  bool operator==(const ResponseRun&) const = default;
};

ResponseRun forward_response(std::string_view input, const std::vector<size_t>& reads,
                             const ResponseOptions& options);

// The client's address and the upstream authority the model forwards with.
inline constexpr std::string_view kModelClientIp = "192.0.2.7";
inline constexpr std::string_view kModelUpstreamAuthority = "upstream.test:8080";

}  // namespace sidemeter::fuzz
