// libFuzzer target: client bytes → what the proxy would send upstream, or refuse.
//
// Option byte: bit 0 small head limits (start line 64, head 512 bytes, 8 fields), bit 1
// a 64-byte body limit, bit 2 the sink pauses at each head, bit 3 after each body piece
// (backpressure), bit 4 the client came over TLS. Byte 1 cuts the input into reads.
//
// Invariants, for every request the connection reads:
//  - reads and pauses change nothing: cut into reads and paused, the outcome equals one
//    read with no pause (same requests, errors, bytes consumed; same forwarded bytes
//    except chunk sizes, which follow the reads; a refused request is refused either way,
//    though for another of its broken rules when it breaks several, and the parser may
//    have read further into it in one read than in several);
//  - a request refused before its head was complete forwards nothing; one refused or cut
//    off later forwards a valid prefix that never completes a message;
//  - a forwarded request re-parses as exactly one complete message that uses every
//    forwarded byte (nothing after its end is sent), with the same method, path, Host,
//    framing, Content-Length, decoded body and upgrade; hop-by-hop fields are gone, the
//    framing field is ours and appears once, X-Forwarded-For/-Proto appear once;
//  - the parser's accounting: head + body wire bytes = bytes consumed for the request.
#include <cstdint>
#include <string>

#include "proxy/http1/field_rules.h"
#include "tests/fuzz/forward_model.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/reparse.h"

namespace sidemeter::fuzz {
namespace {

using http::BodyFraming;
using http::MessageKind;

std::string describe(const ForwardedMessage& m) {
  std::string s = "request '" + escaped(m.method_text) + " " + escaped(m.target) + "'";
  s += " error=" + std::to_string(static_cast<int>(m.error));
  s += " complete=" + std::to_string(m.complete);
  s += " consumed=" + std::to_string(m.consumed);
  s += "\n    forwarded: " + escaped(m.forwarded);
  return s;
}

// Chunk sizes follow the reads; so does how far into a refused request the parser read
// before it refused (nothing reports that count: the rest is discarded anyway).
bool same_outcome(const ForwardedMessage& a, const ForwardedMessage& b) {
  ForwardedMessage x = a;
  ForwardedMessage y = b;
  if (x.framing == BodyFraming::kChunked && y.framing == BodyFraming::kChunked) {
    x.forwarded.clear();
    y.forwarded.clear();
  }
  // Which rule refuses first may depend on where a read ended when a request breaks two
  // (limits are checked on a line a read cut, before its end is seen), so the reason and
  // even the status (400 or 501) may differ; that it is refused may not.
  if (x.error != http::ParseError::kNone && y.error != http::ParseError::kNone) {
    x.consumed = y.consumed = 0;
    x.error = y.error;
  }
  return x == y;
}

size_t count_fields(const Reparsed::Message& m, std::string_view name) {
  size_t n = 0;
  for (const auto& [k, v] : m.fields) n += http::rules::iequals(k, name) ? 1 : 0;
  return n;
}

std::string field(const Reparsed::Message& m, std::string_view name) {
  for (const auto& [k, v] : m.fields) {
    if (http::rules::iequals(k, name)) return v;
  }
  return {};
}

void check_forwarded(const ForwardedMessage& m, const RequestOptions& o) {
  if (!m.head_seen) {
    FUZZ_CHECK(m.forwarded.empty(), "forwarded before the head was accepted: " + describe(m));
    return;
  }
  const Reparsed rp = reparse(m.forwarded, MessageKind::kRequest, http::Method::kGet, false);
  FUZZ_CHECK(!rp.stuck, "re-parse made no progress: " + describe(m));
  FUZZ_CHECK(rp.error == http::ParseError::kNone,
             "forwarded bytes do not re-parse (error " +
                 std::to_string(static_cast<int>(rp.error)) + " at " +
                 std::to_string(rp.consumed) + "): " + describe(m));
  FUZZ_CHECK(rp.messages.size() == 1,
             std::to_string(rp.messages.size()) + " messages forwarded for one: " + describe(m));
  const Reparsed::Message& f = rp.messages[0];
  if (!m.complete) {
    FUZZ_CHECK(!f.complete, "an unfinished request forwarded as complete: " + describe(m));
    return;
  }
  FUZZ_CHECK(m.consumed == m.head_wire + m.body_wire,
             "head " + std::to_string(m.head_wire) + " + body " + std::to_string(m.body_wire) +
                 " wire bytes != consumed: " + describe(m));
  FUZZ_CHECK(f.complete && rp.consumed == m.forwarded.size(),
             "forwarded request does not end at its last byte (" + std::to_string(rp.consumed) +
                 " of " + std::to_string(m.forwarded.size()) + "): " + describe(m));
  FUZZ_CHECK(f.method_text == m.method_text, "method changed: " + describe(m));
  FUZZ_CHECK(f.path == m.path, "path changed to '" + escaped(f.path) + "': " + describe(m));
  FUZZ_CHECK(!f.target.empty() && (f.target[0] == '/' || f.target == "*"),
             "not origin-form upstream: " + describe(m));
  if (m.target.empty() || m.target[0] == '/' || m.target == "*") {
    FUZZ_CHECK(f.target == m.target, "target changed: " + describe(m));
  }
  FUZZ_CHECK(f.version_minor == 1, "not forwarded as HTTP/1.1: " + describe(m));
  const std::string_view want_host = m.host.empty() ? kModelUpstreamAuthority : m.host;
  FUZZ_CHECK(http::rules::iequals(f.host, want_host),
             "Host '" + escaped(f.host) + "' instead of '" + escaped(want_host) + "': " + describe(m));
  FUZZ_CHECK(f.framing == m.framing, "framing changed: " + describe(m));
  if (m.framing == BodyFraming::kContentLength) {
    FUZZ_CHECK(f.content_length == m.content_length, "Content-Length changed: " + describe(m));
  }
  FUZZ_CHECK(f.body == m.body, "body changed: " + describe(m));
  FUZZ_CHECK(f.upgrade == m.upgrade, "upgrade changed: " + describe(m));
  FUZZ_CHECK(f.keep_alive, "forwarded request ends the upstream connection: " + describe(m));

  // Hop-by-hop fields stop here; the framing fields are the ones we state.
  for (std::string_view hop : {"keep-alive", "te", "trailer", "proxy-connection",
                               "proxy-authorization", "proxy-authenticate"}) {
    FUZZ_CHECK(count_fields(f, hop) == 0, std::string(hop) + " forwarded: " + describe(m));
  }
  const bool chunked = m.framing == BodyFraming::kChunked;
  FUZZ_CHECK(count_fields(f, "transfer-encoding") == (chunked ? 1u : 0u) &&
                 (!chunked || field(f, "transfer-encoding") == "chunked"),
             "Transfer-Encoding not exactly ours: " + describe(m));
  FUZZ_CHECK(count_fields(f, "content-length") <= (chunked ? 0u : 1u),
             "Content-Length not exactly ours: " + describe(m));
  if (m.upgrade) {
    FUZZ_CHECK(count_fields(f, "connection") == 1 && field(f, "connection") == "upgrade",
               "upgrade without exactly 'Connection: upgrade': " + describe(m));
  } else {
    FUZZ_CHECK(count_fields(f, "connection") == 0, "Connection forwarded: " + describe(m));
  }
  FUZZ_CHECK(count_fields(f, "x-forwarded-for") == 1, "X-Forwarded-For not merged: " + describe(m));
  const std::string xff = field(f, "x-forwarded-for");
  FUZZ_CHECK(xff.size() >= kModelClientIp.size() &&
                 xff.compare(xff.size() - kModelClientIp.size(), kModelClientIp.size(),
                             kModelClientIp) == 0,
             "X-Forwarded-For does not end with the client: " + describe(m));
  FUZZ_CHECK(count_fields(f, "x-forwarded-proto") == 1 &&
                 field(f, "x-forwarded-proto") == (o.secure ? "https" : "http"),
             "X-Forwarded-Proto not ours: " + describe(m));
}

}  // namespace
}  // namespace sidemeter::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sidemeter::fuzz;
  FuzzInput in;
  if (!take_options(data, size, in)) return -1;
  RequestOptions o;
  if (in.options & 1) {
    o.limits.max_start_line_bytes = 64;
    o.limits.max_head_bytes = 512;
    o.limits.max_fields = 8;
  }
  if (in.options & 2) o.limits.max_body_bytes = 64;
  o.pause_on_head = (in.options & 4) != 0;
  o.pause_on_body = (in.options & 8) != 0;
  o.secure = (in.options & 16) != 0;

  const RequestRun run = forward_requests(in.bytes, read_sizes(in.bytes.size(), in.split_seed), o);
  RequestOptions plain = o;
  plain.pause_on_head = plain.pause_on_body = false;
  const RequestRun whole = forward_requests(in.bytes, read_sizes(in.bytes.size(), 0), plain);

  FUZZ_CHECK(run.end == whole.end && run.messages.size() == whole.messages.size(),
             "reads or pauses changed the outcome: " + std::to_string(run.messages.size()) +
                 " requests (end " + std::to_string(static_cast<int>(run.end)) + ") against " +
                 std::to_string(whole.messages.size()) + " (end " +
                 std::to_string(static_cast<int>(whole.end)) + ")");
  size_t consumed = 0;
  for (size_t i = 0; i < run.messages.size(); ++i) {
    const ForwardedMessage& m = run.messages[i];
    FUZZ_CHECK(same_outcome(m, whole.messages[i]),
               "reads or pauses changed request " + std::to_string(i) + ":\n  " + describe(m) +
                   "\n  against " + describe(whole.messages[i]));
    FUZZ_CHECK(i + 1 == run.messages.size() || m.complete,
               "a request after an unfinished one: " + describe(m));
    check_forwarded(m, o);
    consumed += m.consumed;
  }
  FUZZ_CHECK(consumed <= in.bytes.size(), "consumed more than was read");
  if (run.end == StreamEnd::kInputEnd) {
    FUZZ_CHECK(consumed == in.bytes.size(), "bytes left unread although the connection goes on");
  }
  return 0;
}
