#pragma once
// Reads bytes the proxy sent on the way the next hop would, with the same strict parser
// and generous limits (the proxy adds fields of its own): the fuzz targets check that
// what was forwarded frames exactly like what was received.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http1/parser.h"

namespace sidemeter::fuzz {

struct Reparsed {
  struct Message {
    std::string method_text, target, path, host;
    uint16_t status = 0;
    uint8_t version_minor = 0;
    std::vector<std::pair<std::string, std::string>> fields;
    http::BodyFraming framing = http::BodyFraming::kNone;
    uint64_t content_length = 0;
    bool keep_alive = false;
    bool upgrade = false;
    std::string body;
    bool complete = false;
  };
  std::vector<Message> messages;  // in order; only the last may be incomplete
  http::ParseError error = http::ParseError::kNone;
  size_t consumed = 0;  // bytes read before stopping
  bool stuck = false;   // a feed that neither consumed nor completed anything
};

inline http::ParserLimits generous_limits() {
  http::ParserLimits l;
  l.max_start_line_bytes = 1u << 20;
  l.max_head_bytes = 1u << 24;
  l.max_fields = 1u << 20;
  l.max_body_bytes = 0;
  return l;
}

// Reads every message in `bytes` (requests, or responses to `method`: interim ones are
// followed by more). `closes`: the sender closes after the last byte (ends a body
// delimited by close). Stops at an error, or after a message that ends the connection
// (a response that is final, an upgrade).
inline Reparsed reparse(std::string_view bytes, http::MessageKind kind, http::Method method,
                        bool closes) {
  struct Sink final : http::MessageSink {
    Reparsed* out = nullptr;
    http::SinkAction on_head(const http::MessageHead& h) override {
      Reparsed::Message m;
      m.method_text = h.method_text;
      m.target = h.target;
      m.path = h.path;
      m.host = h.host;
      m.status = h.status;
      m.version_minor = h.version_minor;
      for (const http::HeaderField& f : h.fields) m.fields.emplace_back(f.name, f.value);
      m.framing = h.framing;
      m.content_length = h.content_length;
      m.keep_alive = h.keep_alive;
      m.upgrade = h.upgrade;
      out->messages.push_back(std::move(m));
      return http::SinkAction::kContinue;
    }
    http::SinkAction on_body(std::string_view d) override {
      out->messages.back().body.append(d);
      return http::SinkAction::kContinue;
    }
    http::SinkAction on_message_complete() override {
      out->messages.back().complete = true;
      return http::SinkAction::kPause;
    }
  };
  Reparsed out;
  Sink sink;
  sink.out = &out;
  http::Parser parser(kind, generous_limits(), sink);
  parser.set_request_method(method);
  while (out.consumed < bytes.size()) {
    const size_t before = out.messages.size();
    const bool was_complete = before > 0 && out.messages.back().complete;
    const http::FeedResult r = parser.feed(bytes.substr(out.consumed));
    out.consumed += r.consumed;
    if (r.consumed == 0 && out.messages.size() == before &&
        (before == 0 || out.messages.back().complete == was_complete)) {
      out.stuck = true;
      return out;
    }
    if (r.status == http::FeedStatus::kError) {
      out.error = parser.error();
      return out;
    }
    if (r.status == http::FeedStatus::kOk) break;
    if (out.messages.empty() || !out.messages.back().complete) continue;
    const Reparsed::Message& m = out.messages.back();
    if (kind == http::MessageKind::kResponse) {
      if (m.status >= 200 || m.status == 101) return out;  // leftover stays unread
      parser.reset();
      parser.set_request_method(method);
    } else if (m.upgrade) {
      return out;
    }
  }
  if (closes && (out.messages.empty() || !out.messages.back().complete)) {
    const http::FeedResult r = parser.finish();
    if (r.status == http::FeedStatus::kError) out.error = parser.error();
  }
  return out;
}

}  // namespace sidemeter::fuzz
