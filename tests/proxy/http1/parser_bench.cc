// Parse cost per message on the hot path: a typical browser-ish GET head, a small POST
// with a Content-Length body, a chunked POST, and a response. The parser is reused (reset
// per message) exactly as a keep-alive connection uses it. Not a test: run it by hand.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "proxy/http1/parser.h"

namespace sidemeter::http {
namespace {

class CountingSink : public MessageSink {
 public:
  SinkAction on_head(const MessageHead& h) override {
    fields += h.fields.size();
    return SinkAction::kContinue;
  }
  SinkAction on_body(std::string_view d) override {
    body += d.size();
    return SinkAction::kContinue;
  }
  SinkAction on_message_complete() override {
    ++completes;
    return SinkAction::kContinue;
  }
  uint64_t fields = 0, body = 0, completes = 0;
};

const std::string kGet =
    "GET /api/v1/users/12345/orders?limit=20&offset=40 HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=abcdef0123456789abcdef0123456789; theme=dark\r\n"
    "\r\n";
const std::string kPost =
    "POST /api/v1/items HTTP/1.1\r\nHost: a.example\r\nContent-Type: application/json\r\n"
    "Content-Length: 27\r\n\r\n{\"name\":\"widget\",\"qty\":12}\n";
const std::string kChunked =
    "POST /upload HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n"
    "10\r\n0123456789abcdef\r\n8\r\n01234567\r\n0\r\n\r\n";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n"
    "Cache-Control: no-cache\r\nDate: Mon, 24 Nov 2025 02:00:00 GMT\r\n\r\n{\"ok\":true}\r\n";

void run_one(benchmark::State& state, MessageKind kind, const std::string& raw) {
  CountingSink sink;
  Parser p(kind, {}, sink);
  for (auto _ : state) {
    const FeedResult r = p.feed(raw);
    if (r.status != FeedStatus::kPaused || r.consumed != raw.size()) {
      state.SkipWithError("parse failed");
      break;
    }
    p.reset();
  }
  benchmark::DoNotOptimize(sink.completes);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}

void BM_Get(benchmark::State& s) { run_one(s, MessageKind::kRequest, kGet); }
void BM_PostContentLength(benchmark::State& s) { run_one(s, MessageKind::kRequest, kPost); }
void BM_PostChunked(benchmark::State& s) { run_one(s, MessageKind::kRequest, kChunked); }
void BM_Response(benchmark::State& s) { run_one(s, MessageKind::kResponse, kResponse); }
BENCHMARK(BM_Get);
BENCHMARK(BM_PostContentLength);
BENCHMARK(BM_PostChunked);
BENCHMARK(BM_Response);

}  // namespace
}  // namespace sidemeter::http

BENCHMARK_MAIN();
