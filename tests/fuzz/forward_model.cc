#include "tests/fuzz/forward_model.h"

#include "proxy/http1/chunk_framing.h"

namespace sidemeter::fuzz {
namespace {

void copy_head(const http::MessageHead& h, ForwardedMessage& m) {
  m.head_seen = true;
  m.method_text = h.method_text;
  m.target = h.target;
  m.path = h.path;
  m.host = h.host;
  m.status = h.status;
  m.version_minor = h.version_minor;
  m.framing = h.framing;
  m.content_length = h.content_length;
  m.has_content_length = h.has_content_length;
  m.keep_alive = h.keep_alive;
  m.upgrade = h.upgrade;
}

// Feeds the reads to `step`, which returns false to stop; shared by both directions.
template <typename Step>
void for_each_read(std::string_view input, const std::vector<size_t>& reads, Step step) {
  size_t pos = 0;
  for (size_t n : reads) {
    if (!step(input.substr(pos, n))) return;
    pos += n;
  }
}

// ------------------------------------------------------------------ client → upstream

class RequestSide final : public http::MessageSink {
 public:
  RequestSide(const RequestOptions& o, RequestRun& run) : options_(o), run_(run) {}

  http::SinkAction on_head(const http::MessageHead& h) override {
    ForwardedMessage& m = run_.messages.back();
    copy_head(h, m);
    // Exchange::on_request_head + send_request_head + UpstreamConnection::send_request_head.
    chunked_ = h.framing == http::BodyFraming::kChunked;
    http::ForwardRequestContext ctx;
    ctx.client_ip = kModelClientIp;
    ctx.proto = options_.secure ? "https" : "http";
    ctx.chunked_body = chunked_;
    ctx.upgrade = h.upgrade;
    ctx.fallback_host = kModelUpstreamAuthority;
    http::append_forward_request_head(h, ctx, m.forwarded);
    return options_.pause_on_head ? http::SinkAction::kPause : http::SinkAction::kContinue;
  }

  http::SinkAction on_body(std::string_view data) override {
    // UpstreamConnection::send_body: a chunk per piece when re-framing (its direct-write
    // path sends chunk_header + data + kChunkEnd, the same bytes).
    ForwardedMessage& m = run_.messages.back();
    m.body.append(data);
    if (chunked_) {
      http::append_chunk(m.forwarded, data);
    } else {
      m.forwarded.append(data);
    }
    return options_.pause_on_body ? http::SinkAction::kPause : http::SinkAction::kContinue;
  }

  http::SinkAction on_message_complete() override {
    ForwardedMessage& m = run_.messages.back();
    if (chunked_) m.forwarded.append(http::kLastChunk);  // UpstreamConnection::end_request
    m.complete = true;
    m.head_wire = parser_->head_wire_bytes();
    m.body_wire = parser_->body_wire_bytes();
    return http::SinkAction::kPause;  // one request at a time
  }

  void set_parser(const http::Parser* p) { parser_ = p; }

 private:
  const RequestOptions& options_;
  RequestRun& run_;
  const http::Parser* parser_ = nullptr;
  bool chunked_ = false;
};

// ------------------------------------------------------------------ upstream → client

class ResponseSide final : public http::MessageSink {
 public:
  ResponseSide(const ResponseOptions& o, ResponseRun& run) : options_(o), run_(run) {}

  http::SinkAction on_head(const http::MessageHead& h) override {
    ForwardedMessage& m = run_.messages.back();
    copy_head(h, m);
    // UpstreamConnection::on_head, then Exchange::on_upstream_head.
    if (h.status < 200) {
      if (h.status != 101) {
        // Http1ServerConnection::send_interim_head: nothing for an HTTP/1.0 client.
        if (!options_.downstream_http10) {
          http::append_forward_response_head(h, http::ForwardResponseContext{}, m.forwarded);
        }
        return http::SinkAction::kContinue;
      }
      if (!options_.upgrade_requested) {  // a 101 nobody asked for: invalid response
        refused_ = true;
        return http::SinkAction::kPause;
      }
      upgraded_ = true;
      http::ForwardResponseContext ctx;  // Http1ServerConnection::send_upgrade_head
      ctx.upgrade = true;
      http::append_forward_response_head(h, ctx, m.forwarded);
      return http::SinkAction::kContinue;
    }
    final_seen_ = true;
    // Http1ServerConnection::send_response_head (the request was read completely).
    bool keep_alive = options_.client_keep_alive;
    switch (h.framing) {
      case http::BodyFraming::kNone:
      case http::BodyFraming::kContentLength:
        chunked_ = false;
        break;
      case http::BodyFraming::kChunked:
      case http::BodyFraming::kUntilClose:
        chunked_ = !options_.downstream_http10;
        if (options_.downstream_http10) keep_alive = false;  // "until close" to 1.0
        break;
    }
    http::ForwardResponseContext ctx;
    ctx.keep_alive_downstream = keep_alive;
    ctx.chunked_body = chunked_;
    ctx.downstream_http10 = options_.downstream_http10;
    http::append_forward_response_head(h, ctx, m.forwarded);
    return http::SinkAction::kContinue;
  }

  http::SinkAction on_body(std::string_view data) override {
    ForwardedMessage& m = run_.messages.back();
    m.body.append(data);
    if (chunked_) {  // Http1ServerConnection::send_body
      http::append_chunk(m.forwarded, data);
    } else {
      m.forwarded.append(data);
    }
    return options_.pause_on_body ? http::SinkAction::kPause : http::SinkAction::kContinue;
  }

  http::SinkAction on_message_complete() override {
    ForwardedMessage& m = run_.messages.back();
    m.complete = true;
    m.head_wire = parser_->head_wire_bytes();
    m.body_wire = parser_->body_wire_bytes();
    if (m.status >= 200 && chunked_) m.forwarded.append(http::kLastChunk);  // end_response
    return http::SinkAction::kPause;
  }

  void set_parser(const http::Parser* p) { parser_ = p; }
  bool refused() const { return refused_; }
  bool upgraded() const { return upgraded_; }
  bool final_seen() const { return final_seen_; }

 private:
  const ResponseOptions& options_;
  ResponseRun& run_;
  const http::Parser* parser_ = nullptr;
  bool chunked_ = false;
  bool refused_ = false;
  bool upgraded_ = false;
  bool final_seen_ = false;
};

}  // namespace

RequestRun forward_requests(std::string_view input, const std::vector<size_t>& reads,
                            const RequestOptions& options) {
  RequestRun run;
  RequestSide side(options, run);
  http::Parser parser(http::MessageKind::kRequest, options.limits, side);
  side.set_parser(&parser);
  bool idle = true;  // between requests: the next byte starts one
  bool done = false;
  // Http1ServerConnection::process_input. A pause the sink asked for (backpressure) is
  // lifted later and the unconsumed rest fed again; feeding it right away is the same.
  for_each_read(input, reads, [&](std::string_view data) {
    size_t off = 0;
    while (off < data.size()) {
      if (idle) {
        run.messages.emplace_back();
        idle = false;
      }
      ForwardedMessage& m = run.messages.back();
      const http::FeedResult r = parser.feed(data.substr(off));
      off += r.consumed;
      m.consumed += r.consumed;
      if (r.status == http::FeedStatus::kError) {
        m.error = parser.error();
        run.end = StreamEnd::kRefused;
        done = true;
        return false;
      }
      if (r.status == http::FeedStatus::kOk) break;
      if (!m.complete) continue;  // paused by the sink
      idle = true;
      if (m.upgrade) {
        run.end = StreamEnd::kUpgrade;
        done = true;
        return false;
      }
      if (!m.keep_alive) {
        run.end = StreamEnd::kClose;
        done = true;
        return false;
      }
    }
    return true;
  });
  if (!done) run.end = StreamEnd::kInputEnd;
  return run;
}

ResponseRun forward_response(std::string_view input, const std::vector<size_t>& reads,
                             const ResponseOptions& options) {
  ResponseRun run;
  ResponseSide side(options, run);
  http::Parser parser(http::MessageKind::kResponse, options.limits, side);
  side.set_parser(&parser);
  parser.set_request_method(options.request_method);
  run.messages.emplace_back();
  bool done = false;
  auto stop = [&](StreamEnd e) {
    run.end = e;
    done = true;
    return false;
  };
  // UpstreamConnection::process.
  for_each_read(input, reads, [&](std::string_view data) {
    size_t off = 0;
    while (off < data.size()) {
      ForwardedMessage& m = run.messages.back();
      const http::FeedResult r = parser.feed(data.substr(off));
      off += r.consumed;
      m.consumed += r.consumed;
      if (side.refused()) return stop(StreamEnd::kRefused);
      if (r.status == http::FeedStatus::kError) {
        m.error = parser.error();
        return stop(StreamEnd::kRefused);
      }
      if (r.status == http::FeedStatus::kOk) break;
      if (!m.complete) continue;  // paused by the client side: resumed later
      if (side.upgraded()) return stop(StreamEnd::kUpgrade);
      if (m.status < 200) {  // an interim response: the final one follows
        parser.reset();
        parser.set_request_method(options.request_method);
        run.messages.emplace_back();
        continue;
      }
      return stop(StreamEnd::kResponseDone);  // leftover bytes: the connection closes
    }
    return true;
  });
  if (!done && options.upstream_closes) {
    // UpstreamConnection::on_transport_eof: finish() ends a close-delimited body.
    ForwardedMessage& m = run.messages.back();
    // Anything but a complete final response is kClosedEarly: the client gets a 502, or
    // a reset when the head had gone out.
    const http::FeedResult r = parser.finish();
    if (r.status == http::FeedStatus::kError) m.error = parser.error();
    run.end = r.status != http::FeedStatus::kError && m.complete && side.final_seen()
                  ? StreamEnd::kResponseDone
                  : StreamEnd::kRefused;
    done = true;
  }
  if (!done) run.end = StreamEnd::kInputEnd;
  // Messages that never started (an interim answer followed by nothing) are dropped.
  if (!run.messages.empty() && !run.messages.back().head_seen &&
      run.messages.back().consumed == 0 && run.messages.back().error == http::ParseError::kNone) {
    run.messages.pop_back();
  }
  for (const ForwardedMessage& m : run.messages) run.downstream += m.forwarded;
  run.final_seen = side.final_seen();
  return run;
}

}  // namespace sidemeter::fuzz
