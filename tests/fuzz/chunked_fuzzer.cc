// libFuzzer target: the chunked decoder (RFC 9112 §7.1) behind a fixed head.
//
// Option byte: bit 0 a response (else a request), bit 1 the sink pauses after each body
// piece, bit 2 a 64-byte body limit (requests). Byte 1 cuts head + body into reads.
//
// Invariants, against the plain reading in chunked_reference.h:
//  - whatever the parser completes, the grammar completes too, at the same byte and with
//    the same data; the data it passes on is always a prefix of what the grammar reads
//    (no framing byte ever passes as data, nothing is passed on beyond an error);
//  - a body of plain chunks (no extensions, no trailers) that the grammar completes is
//    completed by the parser as well (within the body limit);
//  - the data re-framed the way the proxy re-frames it (append_chunk per piece, then
//    kLastChunk) reads back, by both readings, as the same data ending at its last byte;
//  - reads and pauses change nothing (a refused body may have been read further in one
//    read than in several); head + body wire bytes = bytes consumed.
#include <cstdint>
#include <string>

#include "proxy/http1/chunk_framing.h"
#include "proxy/http1/parser.h"
#include "tests/fuzz/chunked_reference.h"
#include "tests/fuzz/fuzz_support.h"

namespace sidemeter::fuzz {
namespace {

constexpr std::string_view kRequestHead =
    "POST /upload HTTP/1.1\r\nHost: fuzz.test\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr std::string_view kResponseHead =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

struct Outcome {
  std::vector<std::string> pieces;  // what on_body was given, piece by piece
  std::string data;
  bool head_seen = false;
  bool complete = false;
  http::ParseError error = http::ParseError::kNone;
  size_t consumed = 0;
  uint64_t head_wire = 0;
  uint64_t body_wire = 0;
};

class Sink final : public http::MessageSink {
 public:
  Sink(Outcome& o, bool pause) : o_(o), pause_(pause) {}
  http::SinkAction on_head(const http::MessageHead&) override {
    o_.head_seen = true;
    return http::SinkAction::kContinue;
  }
  http::SinkAction on_body(std::string_view d) override {
    o_.pieces.emplace_back(d);
    o_.data.append(d);
    return pause_ ? http::SinkAction::kPause : http::SinkAction::kContinue;
  }
  http::SinkAction on_message_complete() override {
    o_.complete = true;
    o_.head_wire = parser->head_wire_bytes();
    o_.body_wire = parser->body_wire_bytes();
    return http::SinkAction::kPause;
  }
  const http::Parser* parser = nullptr;

 private:
  Outcome& o_;
  bool pause_;
};

Outcome run(http::MessageKind kind, const http::ParserLimits& limits, std::string_view bytes,
            const std::vector<size_t>& reads, bool pause) {
  Outcome o;
  Sink sink(o, pause);
  http::Parser parser(kind, limits, sink);
  sink.parser = &parser;
  size_t pos = 0;
  for (size_t n : reads) {
    std::string_view data = bytes.substr(pos, n);
    pos += n;
    while (!data.empty() && !o.complete) {
      const http::FeedResult r = parser.feed(data);
      o.consumed += r.consumed;
      data.remove_prefix(r.consumed);
      if (r.status == http::FeedStatus::kError) {
        o.error = parser.error();
        return o;
      }
      if (r.status == http::FeedStatus::kOk) break;
    }
    if (o.complete) break;
  }
  return o;
}

std::string describe(const Outcome& o, const ChunkedReading& ref) {
  return "parser: complete=" + std::to_string(o.complete) + " error=" +
         std::to_string(static_cast<int>(o.error)) + " consumed=" + std::to_string(o.consumed) +
         " data='" + escaped(o.data, 256) + "'\n    grammar: status=" +
         std::to_string(static_cast<int>(ref.status)) + " end=" + std::to_string(ref.end) +
         " data='" + escaped(ref.data, 256) + "'";
}

}  // namespace
}  // namespace sidemeter::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sidemeter::fuzz;
  using sidemeter::http::MessageKind;
  using Status = ChunkedReading::Status;
  FuzzInput in;
  if (!take_options(data, size, in)) return -1;
  const bool response = (in.options & 1) != 0;
  const bool pause = (in.options & 2) != 0;
  sidemeter::http::ParserLimits limits;
  if (!response && (in.options & 4) != 0) limits.max_body_bytes = 64;
  const MessageKind kind = response ? MessageKind::kResponse : MessageKind::kRequest;
  const std::string_view head = response ? kResponseHead : kRequestHead;
  std::string bytes(head);
  bytes.append(in.bytes);

  const Outcome o = run(kind, limits, bytes, read_sizes(bytes.size(), in.split_seed), pause);
  const Outcome whole = run(kind, limits, bytes, read_sizes(bytes.size(), 0), false);
  const ChunkedReading ref = read_chunked_reference(in.bytes);

  FUZZ_CHECK(o.head_seen, "the fixed head was refused");
  // A refused body is refused either way; how far the parser read into it, and so how
  // much data it passed on first, may depend on where the reads ended.
  const bool both_refused = o.error != sidemeter::http::ParseError::kNone &&
                            whole.error != sidemeter::http::ParseError::kNone;
  FUZZ_CHECK(both_refused || (o.complete == whole.complete && o.error == whole.error &&
                              o.consumed == whole.consumed && o.data == whole.data),
             "reads or pauses changed the outcome:\n    " + describe(o, ref) + "\n    one read: " +
                 describe(whole, ref));
  for (const Outcome* x : {&o, &whole}) {
    FUZZ_CHECK(ref.data.compare(0, x->data.size(), x->data) == 0 &&
                   x->data.size() <= ref.data.size(),
               "data passed on that the grammar does not read as data:\n    " + describe(*x, ref));
  }
  if (o.complete) {
    FUZZ_CHECK(ref.status == Status::kComplete && ref.end + head.size() == o.consumed &&
                   ref.data == o.data,
               "the parser completed a body the grammar reads differently:\n    " +
                   describe(o, ref));
    FUZZ_CHECK(o.consumed == o.head_wire + o.body_wire,
               "head + body wire bytes != consumed:\n    " + describe(o, ref));
  }
  const bool within_limit =
      limits.max_body_bytes == 0 || ref.data.size() <= limits.max_body_bytes;
  if (ref.status == Status::kComplete && !ref.has_extensions && !ref.has_trailers &&
      within_limit) {
    FUZZ_CHECK(o.complete, "a body of plain chunks the grammar completes was refused:\n    " +
                               describe(o, ref));
  }

  // Re-framed as the proxy sends it on: one chunk per piece, then the last chunk.
  if (o.complete) {
    std::string reframed;
    for (const std::string& p : o.pieces) sidemeter::http::append_chunk(reframed, p);
    reframed.append(sidemeter::http::kLastChunk);
    const ChunkedReading back = read_chunked_reference(reframed);
    FUZZ_CHECK(back.status == Status::kComplete && back.end == reframed.size() &&
                   back.data == o.data,
               "re-framed body reads back differently: " + escaped(reframed, 256));
    const Outcome again = run(kind, limits, std::string(head) + reframed,
                              read_sizes(head.size() + reframed.size(), 0), false);
    FUZZ_CHECK(again.complete && again.consumed == head.size() + reframed.size() &&
                   again.data == o.data,
               "the parser refuses our own re-framing: " + escaped(reframed, 256));
  }
  return 0;
}
