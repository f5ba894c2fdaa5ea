// libFuzzer target: upstream bytes → what the proxy would send the client, or refuse.
//
// Option byte: bits 0-2 the request's method (GET HEAD POST PUT DELETE OPTIONS PATCH
// CONNECT), bit 3 the client speaks HTTP/1.0, bit 4 the request asked to upgrade, bit 5
// the client's connection ends after this exchange, bit 6 the client side pauses after
// each body piece (a slow reader), bit 7 the upstream keeps its connection open after its
// last byte (else it closes, which ends a body delimited by close). Byte 1 cuts the input
// into reads.
//
// Invariants:
//  - reads and pauses change nothing (as in request_fuzzer.cc);
//  - what the client receives re-parses, as the client would read it, into the same
//    interim statuses (none for an HTTP/1.0 client) and the same final status and
//    decoded body, ending exactly at the last byte sent: nothing after the response's
//    end reaches the client;
//  - a response refused, or cut off, before its head was complete sends the client no
//    part of it; one that fails later never reads as complete to the client (unless
//    the client is told "until close", where the proxy's reset is what tells it);
//  - the parser's accounting: head + body wire bytes = bytes consumed for each message.
#include <cstdint>
#include <string>

#include "tests/fuzz/forward_model.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/reparse.h"

namespace sidemeter::fuzz {
namespace {

using http::BodyFraming;
using http::Method;

constexpr Method kMethods[8] = {Method::kGet,    Method::kHead,    Method::kPost,  Method::kPut,
                                Method::kDelete, Method::kOptions, Method::kPatch, Method::kConnect};

std::string describe(const ResponseRun& run) {
  std::string s = "end=" + std::to_string(static_cast<int>(run.end));
  for (const ForwardedMessage& m : run.messages) {
    s += "\n    status " + std::to_string(m.status) + " error=" +
         std::to_string(static_cast<int>(m.error)) + " complete=" + std::to_string(m.complete) +
         " consumed=" + std::to_string(m.consumed) + " body=" + std::to_string(m.body.size());
  }
  s += "\n    to the client: " + escaped(run.downstream);
  return s;
}

// Equal except chunk sizes (they follow the reads) when the client gets chunks.
bool same_outcome(const ResponseRun& a, const ResponseRun& b) {
  if (a.end != b.end || a.final_seen != b.final_seen || a.messages.size() != b.messages.size())
    return false;
  for (size_t i = 0; i < a.messages.size(); ++i) {
    ForwardedMessage x = a.messages[i];
    ForwardedMessage y = b.messages[i];
    if (x.framing == BodyFraming::kChunked || x.framing == BodyFraming::kUntilClose) {
      // Re-framed in chunks that follow the reads (the body is compared decoded).
      x.forwarded.clear();
      y.forwarded.clear();
    }
    // How far into a refused response the parser read is not reported anywhere.
    // ... nor which of two broken rules refused it first (a 502 either way).
    if (x.error != sidemeter::http::ParseError::kNone &&
        y.error != sidemeter::http::ParseError::kNone) {
      x.consumed = y.consumed = 0;
      x.error = y.error;
    }
    if (!(x == y)) return false;
  }
  return true;
}

}  // namespace
}  // namespace sidemeter::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sidemeter::fuzz;
  using sidemeter::http::MessageKind;
  FuzzInput in;
  if (!take_options(data, size, in)) return -1;
  ResponseOptions o;
  o.request_method = kMethods[in.options & 7];
  o.downstream_http10 = (in.options & 8) != 0;
  o.upgrade_requested = (in.options & 16) != 0;
  o.client_keep_alive = (in.options & 32) == 0;
  o.pause_on_body = (in.options & 64) != 0;
  o.upstream_closes = (in.options & 128) == 0;

  const ResponseRun run = forward_response(in.bytes, read_sizes(in.bytes.size(), in.split_seed), o);
  ResponseOptions plain = o;
  plain.pause_on_body = false;
  const ResponseRun whole = forward_response(in.bytes, read_sizes(in.bytes.size(), 0), plain);
  FUZZ_CHECK(same_outcome(run, whole),
             "reads or pauses changed the outcome:\n  " + describe(run) + "\n  against " +
                 describe(whole));

  size_t consumed = 0;
  for (const ForwardedMessage& m : run.messages) {
    consumed += m.consumed;
    if (m.complete) {
      FUZZ_CHECK(m.consumed == m.head_wire + m.body_wire,
                 "head + body wire bytes != consumed: " + describe(run));
    }
    if (!m.head_seen) FUZZ_CHECK(m.forwarded.empty(), "sent before a head: " + describe(run));
  }
  FUZZ_CHECK(consumed <= in.bytes.size(), "consumed more than was read");

  // The client's view. It reads "until close" only when told so: an HTTP/1.0 client of
  // a response that had no length of its own.
  const ForwardedMessage* final_msg =
      run.final_seen && !run.messages.empty() ? &run.messages.back() : nullptr;
  const bool client_reads_until_close =
      final_msg != nullptr && o.downstream_http10 &&
      (final_msg->framing == BodyFraming::kChunked ||
       final_msg->framing == BodyFraming::kUntilClose);
  const bool done = run.end == StreamEnd::kResponseDone;
  const Reparsed rp = reparse(run.downstream, MessageKind::kResponse, o.request_method,
                              done && client_reads_until_close);
  FUZZ_CHECK(!rp.stuck, "re-parse made no progress: " + describe(run));
  FUZZ_CHECK(rp.error == sidemeter::http::ParseError::kNone,
             "the client cannot parse what it got (error " +
                 std::to_string(static_cast<int>(rp.error)) + " at " +
                 std::to_string(rp.consumed) + "): " + describe(run));

  // Interim and final heads as sent, in order.
  std::vector<const ForwardedMessage*> sent;
  for (const ForwardedMessage& m : run.messages) {
    if (m.head_seen && !m.forwarded.empty()) sent.push_back(&m);
  }
  FUZZ_CHECK(rp.messages.size() == sent.size(),
             std::to_string(rp.messages.size()) + " responses read by the client, " +
                 std::to_string(sent.size()) + " sent: " + describe(run));
  for (size_t i = 0; i < sent.size(); ++i) {
    FUZZ_CHECK(rp.messages[i].status == sent[i]->status, "status changed: " + describe(run));
    if (sent[i]->status < 200) {
      FUZZ_CHECK(!o.downstream_http10 || sent[i]->status == 101,
                 "an interim response sent to an HTTP/1.0 client: " + describe(run));
      FUZZ_CHECK(rp.messages[i].complete, "interim response incomplete: " + describe(run));
    }
  }
  if (done) {
    FUZZ_CHECK(!rp.messages.empty() && rp.messages.back().complete &&
                   rp.consumed == run.downstream.size(),
               "the final response does not end at the last byte sent (" +
                   std::to_string(rp.consumed) + " of " +
                   std::to_string(run.downstream.size()) + "): " + describe(run));
    FUZZ_CHECK(rp.messages.back().body == final_msg->body,
               "body changed: " + describe(run));
  } else if (run.end == StreamEnd::kUpgrade) {
    FUZZ_CHECK(!rp.messages.empty() && rp.messages.back().status == 101 &&
                   rp.consumed == run.downstream.size(),
               "the 101 is not the last thing sent: " + describe(run));
  } else if (final_msg != nullptr && !client_reads_until_close) {
    // Refused or cut off: the client must not see a complete final response.
    FUZZ_CHECK(rp.messages.empty() || !rp.messages.back().complete ||
                   rp.messages.back().status < 200,
               "a failed response reads as complete to the client: " + describe(run));
  }
  return 0;
}
