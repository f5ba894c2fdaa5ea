// Big bodies stream through with bounded memory, and backpressure reaches the sender
// when the receiver stops reading. Memory is the proxy's own VmHWM from /proc.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "tests/integration/proxy_fixture.h"

namespace sidemeter::testing {
namespace {

using std::chrono::seconds;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kBig = 256 * kMiB;
// A handful of read/write buffers plus allocator slack; unbounded buffering of a
// 256 MiB body would blow through this many times over.
constexpr uint64_t kMaxGrowthKb = 32 * 1024;
// Socket buffers on both proxy sides plus proxy buffers stay well below this.
constexpr uint64_t kMaxInFlight = 64 * kMiB;

Deadline long_deadline() { return deadline_in(seconds(90)); }

std::string hex(uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(n));
  return buf;
}

// Writes `total` pattern bytes starting at `from`, as chunked framing if asked.
IoStatus send_pattern(Socket& s, uint64_t from, uint64_t total, bool chunked, Checksum& sum,
                      Deadline deadline) {
  std::string buf(kMiB, '\0');
  for (uint64_t off = from; off < total;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kMiB - 3, total - off));
    fill_pattern(off, buf.data(), n);
    std::string_view data(buf.data(), n);
    sum.update(data);
    IoStatus st = chunked ? s.write_all(hex(n) + "\r\n", deadline) : IoStatus::kOk;
    if (st == IoStatus::kOk) st = s.write_all(data, deadline);
    if (st == IoStatus::kOk && chunked) st = s.write_all("\r\n", deadline);
    if (st != IoStatus::kOk) return st;
    off += n;
  }
  return chunked ? s.write_all("0\r\n\r\n", deadline) : IoStatus::kOk;
}

// Upstream that checksums the request body and answers "<bytes> <hash>".
UpstreamHandler checksum_upstream() {
  return [](UpstreamConn& c) {
    HttpMessage req;
    Checksum sum;
    ReadOptions opts;
    opts.deadline = long_deadline();
    opts.body_sink = [&sum](std::string_view d) { sum.update(d); };
    while (c.read_request(req, opts)) {
      c.write(make_response(200, "OK", std::to_string(sum.bytes) + " " + std::to_string(sum.h)));
      sum = Checksum{};
    }
  };
}

class StreamingTest : public ProxyTest {
 protected:
  // Baseline high-water mark after the proxy has served one request (buffers exist).
  uint64_t warm_hwm_kb() {
    EXPECT_EQ(fetch(simple_get("/warm")).status, 200);
    uint64_t hwm = proxy_->hwm_kb();
    EXPECT_GT(hwm, 0u) << "cannot read /proc/" << proxy_->pid() << "/status";
    return hwm;
  }

  void upload(uint64_t total, bool chunked) {
    start(checksum_upstream());
    uint64_t before = warm_hwm_kb();
    RawClient c(port());
    std::string head = "POST /upload HTTP/1.1\r\nHost: test.local\r\n";
    head += chunked ? "Transfer-Encoding: chunked\r\n\r\n"
                    : "Content-Length: " + std::to_string(total) + "\r\n\r\n";
    ASSERT_TRUE(c.send(head));
    Checksum sent;
    ASSERT_EQ(send_pattern(c.socket(), 0, total, chunked, sent, long_deadline()), IoStatus::kOk);
    HttpMessage resp;
    ReadOptions opts;
    opts.deadline = long_deadline();
    ASSERT_TRUE(c.read_response(resp, opts).ok());
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, std::to_string(total) + " " + std::to_string(sent.h));
    uint64_t after = proxy_->hwm_kb();
    EXPECT_LT(after - before, kMaxGrowthKb) << "before " << before << " KiB, after " << after;
  }
};

TEST_F(StreamingTest, BigContentLengthUploadIsExactAndBounded) { upload(kBig, false); }
TEST_F(StreamingTest, BigChunkedUploadIsExactAndBounded) { upload(kBig / 4, true); }

TEST_F(StreamingTest, BigDownloadIsExactAndBounded) {
  start([](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      if (req.target == "/warm") {
        c.write(make_response(200, "OK", "warm"));
        continue;
      }
      c.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBig) + "\r\n\r\n");
      Checksum ignored;
      if (send_pattern(c.socket(), 0, kBig, false, ignored, long_deadline()) != IoStatus::kOk) {
        return;
      }
    }
  });
  uint64_t before = warm_hwm_kb();
  RawClient client(port());
  Checksum got;
  ReadOptions opts;
  opts.deadline = long_deadline();
  opts.body_sink = [&got](std::string_view d) { got.update(d); };
  HttpMessage resp;
  ASSERT_TRUE(client.send(simple_get("/big")));
  ASSERT_TRUE(client.read_response(resp, opts).ok());
  EXPECT_EQ(resp.status, 200);
  Checksum expected;
  std::string buf(kMiB, '\0');
  for (uint64_t off = 0; off < kBig; off += kMiB - 3) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kMiB - 3, kBig - off));
    fill_pattern(off, buf.data(), n);
    expected.update(std::string_view(buf.data(), n));
  }
  EXPECT_EQ(got.bytes, kBig);
  EXPECT_EQ(got.h, expected.h);
  uint64_t after = proxy_->hwm_kb();
  EXPECT_LT(after - before, kMaxGrowthKb) << "before " << before << " KiB, after " << after;
}

TEST_F(StreamingTest, SlowClientBackpressuresUpstream) {
  struct State {
    Latch stalled;
    std::atomic<uint64_t> written_at_stall{0};
    std::atomic<bool> finished{false};
  };
  auto state = std::make_shared<State>();
  start([state](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    if (req.target == "/warm") {
      c.write(make_response(200, "OK", "warm"));
      if (!c.read_request(req)) return;
    }
    c.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBig) + "\r\n\r\n");
    std::string buf(kMiB, '\0');
    uint64_t written = 0;
    bool stall_seen = false;
    while (written < kBig) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kMiB, kBig - written));
      fill_pattern(written, buf.data(), n);
      uint64_t progress = 0;
      // Until the stall: give up after 1 s without progress; after it: normal deadline.
      IoStatus st = stall_seen ? c.socket().write_all(std::string_view(buf.data(), n),
                                                      long_deadline(), &progress)
                               : c.socket().write_until_stalled(std::string_view(buf.data(), n),
                                                                seconds(1), &progress);
      written += progress;
      if (st == IoStatus::kTimeout && !stall_seen) {
        stall_seen = true;
        state->written_at_stall = written;
        state->stalled.open();
        // Finish the partial chunk then carry on with the rest.
        if (progress < n) {
          if (c.socket().write_all(std::string_view(buf.data() + progress, n - progress),
                                   long_deadline()) != IoStatus::kOk) {
            return;
          }
          written += n - progress;
        }
        continue;
      }
      if (st != IoStatus::kOk) return;
    }
    if (!stall_seen) {
      state->written_at_stall = written;
      state->stalled.open();  // never stalled: the assertion below reports it
    }
    state->finished = true;
  });
  uint64_t before = warm_hwm_kb();
  RawClient client(port());
  ASSERT_TRUE(client.send(simple_get("/big")));
  // Do not read until the upstream cannot write any more.
  ASSERT_TRUE(state->stalled.wait(long_deadline()));
  EXPECT_LT(state->written_at_stall.load(), kMaxInFlight)
      << "upstream wrote " << state->written_at_stall << " bytes to a client that reads nothing";
  uint64_t during = proxy_->hwm_kb();
  EXPECT_LT(during - before, kMaxGrowthKb) << "before " << before << " KiB, during " << during;
  Checksum got;
  ReadOptions opts;
  opts.deadline = long_deadline();
  opts.body_sink = [&got](std::string_view d) { got.update(d); };
  HttpMessage resp;
  ASSERT_TRUE(client.read_response(resp, opts).ok());
  EXPECT_EQ(got.bytes, kBig);
}

TEST_F(StreamingTest, SlowUpstreamBackpressuresClient) {
  struct State {
    Latch release;
    Checksum got;
    Latch done;
  };
  auto state = std::make_shared<State>();
  start([state](UpstreamConn& c) {
    HttpMessage req;
    ReadOptions head_only;
    head_only.head_only = true;
    while (c.read_request(req, head_only)) {
      if (req.target != "/warm" && !c.wait_for(state->release, long_deadline())) return;
      ReadOptions opts;
      opts.deadline = long_deadline();
      opts.body_sink = [&](std::string_view d) { state->got.update(d); };
      if (!c.read_body(req, opts)) return;
      if (req.target != "/warm") state->done.open();
      c.write(make_response(200, "OK", "stored"));
    }
  });
  uint64_t before = warm_hwm_kb();
  RawClient client(port());
  ASSERT_TRUE(client.send("POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: " +
                          std::to_string(kBig) + "\r\n\r\n"));
  std::string buf(kMiB, '\0');
  uint64_t written = 0;
  Checksum sent;
  IoStatus st = IoStatus::kOk;
  // Write until the proxy stops taking bytes because the upstream does not read.
  while (written < kBig) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kMiB, kBig - written));
    fill_pattern(written, buf.data(), n);
    uint64_t progress = 0;
    st =
        client.socket().write_until_stalled(std::string_view(buf.data(), n), seconds(1), &progress);
    sent.update(std::string_view(buf.data(), progress));
    written += progress;
    if (st != IoStatus::kOk) break;
  }
  ASSERT_EQ(st, IoStatus::kTimeout) << "client wrote all " << written << " bytes unimpeded";
  EXPECT_LT(written, kMaxInFlight);
  uint64_t during = proxy_->hwm_kb();
  EXPECT_LT(during - before, kMaxGrowthKb) << "before " << before << " KiB, during " << during;
  state->release.open();
  ASSERT_EQ(send_pattern(client.socket(), written, kBig, false, sent, long_deadline()),
            IoStatus::kOk);
  HttpMessage resp;
  ReadOptions opts;
  opts.deadline = long_deadline();
  ASSERT_TRUE(client.read_response(resp, opts).ok());
  EXPECT_EQ(resp.status, 200);
  ASSERT_TRUE(state->done.wait(long_deadline()));
  EXPECT_EQ(state->got.bytes, kBig);
  EXPECT_EQ(state->got.h, sent.h);
}

}  // namespace
}  // namespace sidemeter::testing
