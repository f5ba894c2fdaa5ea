#pragma once
// Incremental HTTP/1.x parser enforcing RFC 9112 framing and field syntax strictly (a
// proxy must refuse whatever its upstream could read differently). Our scanner and rules
// (field_rules.h) alone read the head: start line, fields, limits, framing (§6.3),
// keep-alive, upgrade. Content-Length and close-delimited bodies are byte counts; the
// chunked coding is walked by llhttp 8.1 (strict mode) behind our chunk-size-line and
// trailer rules. See parser.cc. Feeds raw bytes, calls the sink with a validated head,
// decoded body bytes and message end. No libuv types: the connection code owns sockets,
// this owns syntax.
//
// Limits: max_start_line_bytes counts the start line without its CRLF (equal passes, one
// more is 414). max_head_bytes counts start line through the final empty line, plus
// skipped leading empty lines (equal passes, one more is 431). max_fields: one more field
// line is 431. max_body_bytes counts decoded body bytes (413; a Content-Length above it
// is refused before on_head). Trailers are held to max_head_bytes / max_fields too.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/http1/head_buffers.h"
#include "proxy/http1/message.h"
#include "proxy/http1/parse_error.h"

namespace sidemeter::http {

struct ParserLimits {
  uint32_t max_start_line_bytes = 8 * 1024;
  uint32_t max_head_bytes = 64 * 1024;  // start line + fields
  uint32_t max_fields = 100;
  uint64_t max_body_bytes = 0;  // 0 = unlimited
};

// What a sink callback asks the parser to do next.
enum class SinkAction : uint8_t {
  kContinue,
  kPause,  // stop feeding after this callback; feed() returns kPaused and what it consumed
};

class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // The head is complete and passed every check. `head` is valid until reset().
  virtual SinkAction on_head(const MessageHead& head) = 0;
  // Decoded body bytes (chunk framing removed). May be called many times.
  virtual SinkAction on_body(std::string_view data) = 0;
  // The whole message (and any trailers, which are dropped) has been read.
  virtual SinkAction on_message_complete() = 0;
};

enum class FeedStatus : uint8_t {
  kOk,      // all input consumed, more wanted
  kPaused,  // a callback asked to pause, or a message completed: call resume()
  kError,   // error() says why; the connection cannot continue
};

struct FeedResult {
  FeedStatus status;
  size_t consumed;  // bytes of the input consumed (the rest belongs to later calls)
};

enum class MessageKind : uint8_t { kRequest, kResponse };

class Parser {
 public:
  // With a `pool` (a worker's, outliving the parser), the head's buffers come from it at
  // a message's first byte and go back at reset(); without, the parser keeps its own for
  // its lifetime.
  Parser(MessageKind kind, const ParserLimits& limits, MessageSink& sink,
         HeadBufferPool* pool = nullptr);
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Always pauses after on_message_complete so the caller handles one exchange at a time
  // (pipelined bytes stay with the caller). Body bytes passed to on_body are views into
  // `data`, valid only during the callback. `consumed` includes every byte passed to a
  // callback that asked to pause. A message without body (or whose Content-Length body
  // ends exactly there) completes in the same call even if on_head/on_body asked to pause,
  // so feeding zero bytes is never needed. feed() implies resume(); feed() after a
  // completed message implies reset() (head views of the old message die then).
  // Callbacks must not call reset()/feed() re-entrantly.
  FeedResult feed(std::string_view data);

  // The peer closed its side. For a response delimited by close this completes the
  // message (on_message_complete is called); mid-message it is an error (kMalformed for
  // requests; the caller reports closed_early for responses).
  FeedResult finish();

  // Clears the pause so feed() can continue the same message.
  void resume();
  // Prepare for the next message on the same connection (also clears an error).
  void reset();

  // Limits for the messages that start after this call (a configuration reload between
  // two requests on one keep-alive connection).
  void set_limits(const ParserLimits& limits);

  // Responses: the request method decides whether a body follows (HEAD, CONNECT 2xx).
  // Survives reset(), so it also covers the final response after a 1xx.
  void set_request_method(Method m);

  // Heap bytes this parser holds for heads now (head buffer and field list capacity).
  size_t head_bytes_held() const;

  ParseError error() const;
  bool message_in_progress() const;  // some bytes of a message have been consumed
  bool head_complete() const;
  uint64_t body_wire_bytes() const;  // body bytes consumed so far incl. chunk framing
  uint64_t head_wire_bytes() const;
  // Requests: the method once the request line has been read (also when the message was
  // then refused, e.g. CONNECT, so a rejection is counted under the method it came with);
  // kOther before that.
  Method request_method() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Serialize heads for forwarding, per RFC 9110 §7.6.1: drop Connection, the fields it
// names, Keep-Alive, TE, Transfer-Encoding, Upgrade (unless upgrading), Proxy-Connection
// and Proxy-*; re-add framing we chose. Appends to `out`.
//
// Request policy: always "HTTP/1.1"; an absolute-form target is sent in origin-form (the
// parser already made sure Host equals its authority); Host kept where it was;
// Proxy-Authorization dropped (credentials for this hop); any Content-Length /
// Transfer-Encoding replaced by the framing we chose ("Content-Length: N" for CL framing
// or a declared CL of 0, "Transfer-Encoding: chunked" when ctx.chunked_body); no
// Connection field (persistent by default) unless upgrading ("Connection: upgrade").
// Via: every Via line merged into one, "1.1 <ctx.via_pseudonym>" appended ("1.0 ..." for
// an HTTP/1.0 client; RFC 9110 §7.6.3). Max-Forwards: decremented when
// ctx.decrement_max_forwards (the caller checked it is one 1*DIGIT field, not 0).
// X-Forwarded-For: with ctx.trust_forwarded, every client XFF line merged into one and
// ctx.client_ip appended; otherwise the client's are dropped and ctx.client_ip alone sent
// (a client must not choose the address the backend believes). Forwarded (RFC 7239) only
// when the request has one: trusted, its lines merged and an element "for=<client_ip>"
// appended (§4; an IPv6 address quoted and bracketed, §6: for="[2001:db8::1]"; no
// client_ip: for=unknown, §6.3); untrusted, replaced by that element alone.
// X-Forwarded-Proto: the client's is dropped and ctx.proto set (we are the edge; a
// client must not choose the scheme the backend believes). X-Forwarded-Host: the
// client's is kept, else one is added from Host. A field named in Connection is dropped,
// except Host (Connection: host must not strip routing information).
struct ForwardRequestContext {
  std::string_view client_ip;     // appended to X-Forwarded-For and Forwarded
  bool trust_forwarded = false;   // keep the client's X-Forwarded-For / Forwarded chains
  std::string_view proto;         // "http" / "https" -> X-Forwarded-Proto
  bool chunked_body = false;      // we re-frame the body as chunked
  bool upgrade = false;           // forward Connection: upgrade + Upgrade
  std::string_view fallback_host; // sent as Host when the request has none (HTTP/1.0)
  std::string_view via_pseudonym; // received-by in our Via entry; empty: none added
  bool decrement_max_forwards = false;  // OPTIONS/TRACE with Max-Forwards >= 1
};
void append_forward_request_head(const MessageHead& req, const ForwardRequestContext& ctx,
                                 std::string& out);

// Response policy: status line "HTTP/1.1 <code> <reason>" (standard phrase when the
// upstream sent none); hop-by-hop and Proxy-Authenticate dropped; Via merged with
// "1.x <ctx.via_pseudonym>" appended, x the upstream's version (1xx and 101 included);
// "Date: <ctx.date>" added to a response that has none (RFC 9110 §6.6.1, 1xx included);
// no framing fields on
// 1xx/204; "Transfer-Encoding: chunked" when chunked_body (never to an HTTP/1.0 client),
// else "Content-Length: N" for CL framing and for a declared length without body (HEAD,
// 304); then "Connection: upgrade" (101), "Connection: close" or, for a kept-alive
// HTTP/1.0 client, "Connection: keep-alive".
struct ForwardResponseContext {
  bool keep_alive_downstream = true;  // false -> "Connection: close"
  bool chunked_body = false;          // we re-frame the body as chunked
  bool upgrade = false;               // 101: keep Upgrade + Connection: upgrade
  bool downstream_http10 = false;     // respond as HTTP/1.1 but no chunking to 1.0 clients
  std::string_view via_pseudonym;     // received-by in our Via entry; empty: none added
  std::string_view date;              // IMF-fixdate for a response without Date; empty: none
};
void append_forward_response_head(const MessageHead& resp, const ForwardResponseContext& ctx,
                                  std::string& out);

// Local responses: local_response.h.

// Standard reason phrase ("Bad Request"); a class name for unlisted codes.
std::string_view reason_phrase(uint16_t status);

}  // namespace sidemeter::http
