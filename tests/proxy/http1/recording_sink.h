#pragma once
// Test helpers: a sink that copies everything it is given (views die after the callback
// or at reset()) and drivers that feed a byte string whole or in fixed-size pieces.
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http1/field_token.h"
#include "proxy/http1/parser.h"

namespace sidemeter::http::testing {

struct OwnedHead {
  Method method = Method::kOther;
  std::string method_text, target, path, reason, host;
  uint16_t status = 0;
  uint8_t version_minor = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool has_content_length = false;
  bool keep_alive = false, upgrade = false, expect_continue = false;
  uint64_t wire_bytes = 0;
  bool tokens_right = true;  // every field carried lookup_field_token(its name)

  bool operator==(const OwnedHead&) const = default;
};

inline OwnedHead own(const MessageHead& h) {
  OwnedHead o;
  o.method = h.method;
  o.method_text = h.method_text;
  o.target = h.target;
  o.path = h.path;
  o.reason = h.reason;
  o.host = h.host;
  o.status = h.status;
  o.version_minor = h.version_minor;
  for (const auto& f : h.fields) {
    o.fields.emplace_back(f.name, f.value);
    if (f.token != lookup_field_token(f.name)) o.tokens_right = false;
  }
  o.framing = h.framing;
  o.content_length = h.content_length;
  o.has_content_length = h.has_content_length;
  o.keep_alive = h.keep_alive;
  o.upgrade = h.upgrade;
  o.expect_continue = h.expect_continue;
  o.wire_bytes = h.wire_bytes;
  return o;
}

struct Message {
  OwnedHead head;
  std::string body;
  bool complete = false;
  uint64_t head_wire = 0;  // Parser::head_wire_bytes() at completion
  uint64_t body_wire = 0;  // Parser::body_wire_bytes() at completion

  bool operator==(const Message&) const = default;
};

class RecordingSink : public MessageSink {
 public:
  SinkAction on_head(const MessageHead& h) override {
    messages.push_back({own(h), {}, false, 0, 0});
    return pause_on_head ? SinkAction::kPause : SinkAction::kContinue;
  }
  SinkAction on_body(std::string_view data) override {
    ++body_calls;
    body_pieces.emplace_back(data);
    if (!messages.empty()) messages.back().body.append(data);
    return pause_on_body ? SinkAction::kPause : SinkAction::kContinue;
  }
  SinkAction on_message_complete() override {
    ++completes;
    if (!messages.empty()) {
      messages.back().complete = true;
      if (parser != nullptr) {
        messages.back().head_wire = parser->head_wire_bytes();
        messages.back().body_wire = parser->body_wire_bytes();
      }
    }
    return SinkAction::kContinue;
  }

  std::vector<Message> messages;
  std::vector<std::string> body_pieces;
  int body_calls = 0;
  int completes = 0;
  bool pause_on_head = false;
  bool pause_on_body = false;
  const Parser* parser = nullptr;
};

struct RunResult {
  std::vector<Message> messages;
  ParseError error = ParseError::kNone;
  size_t consumed = 0;  // total bytes consumed (before the error, if any)
};

// Feeds `bytes` in pieces of `step` bytes (0 = all at once), the way a connection would:
// on kPaused it feeds the unconsumed rest again. Calls finish() at the end if asked. With a
// `pool`, the parser's head buffers come from it, as a worker's connections' do.
inline RunResult run(MessageKind kind, std::string_view bytes, size_t step = 0,
                     const ParserLimits& limits = {}, Method request_method = Method::kGet,
                     bool finish = false, HeadBufferPool* pool = nullptr) {
  RecordingSink sink;
  Parser p(kind, limits, sink, pool);
  sink.parser = &p;
  p.set_request_method(request_method);
  RunResult out;
  size_t off = 0;
  if (step == 0) step = bytes.size();
  std::string pending;  // bytes handed over but not yet consumed, like a socket buffer
  while (off < bytes.size() || !pending.empty()) {
    if (off < bytes.size()) {
      const size_t len = std::min(step, bytes.size() - off);
      pending.append(bytes.substr(off, len));
      off += len;
    }
    bool stop = false;
    while (!pending.empty()) {
      const FeedResult r = p.feed(pending);
      out.consumed += r.consumed;
      pending.erase(0, r.consumed);
      if (r.status == FeedStatus::kError) {
        out.error = p.error();
        stop = true;
        break;
      }
      if (r.status == FeedStatus::kOk) break;  // wants more bytes
    }
    if (stop) break;
    if (off >= bytes.size() && !pending.empty()) break;  // cannot progress
  }
  if (finish && out.error == ParseError::kNone) {
    const FeedResult r = p.finish();
    if (r.status == FeedStatus::kError) out.error = p.error();
  }
  out.messages = sink.messages;
  return out;
}

}  // namespace sidemeter::http::testing
