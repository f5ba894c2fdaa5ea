// 256 MiB each way through two TLS hops with bounded memory: client --TLS--> proxy
// (TLS listener, upstream.tls) --TLS--> application (a second sidemeter with a TLS
// listener) --> TestUpstream. Memory is each sidemeter's own VmHWM from /proc, as in
// streaming_test; the bound is the same.
#include <gtest/gtest.h>

#include <memory>

#include "tests/integration/tls_support.h"

namespace sidemeter::testing {
namespace {

using std::chrono::seconds;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kBig = 256 * kMiB;
// As streaming_test: a handful of buffers plus allocator slack (here also OpenSSL's
// record buffers and the per-worker TLS scratch); buffering a 256 MiB body would blow
// through it many times over.
constexpr uint64_t kMaxGrowthKb = 32 * 1024;

Deadline long_deadline() { return deadline_in(seconds(100)); }

Checksum expected_pattern(uint64_t total) {
  Checksum sum;
  std::string buf(kMiB, '\0');
  for (uint64_t off = 0; off < total; off += kMiB - 3) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kMiB - 3, total - off));
    fill_pattern(off, buf.data(), n);
    sum.update(std::string_view(buf.data(), n));
  }
  return sum;
}

IoStatus send_pattern(Socket& s, uint64_t total, Deadline deadline) {
  std::string buf(kMiB, '\0');
  for (uint64_t off = 0; off < total;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kMiB - 3, total - off));
    fill_pattern(off, buf.data(), n);
    IoStatus st = s.write_all(std::string_view(buf.data(), n), deadline);
    if (st != IoStatus::kOk) return st;
    off += n;
  }
  return IoStatus::kOk;
}

class TlsStreamingTest : public ::testing::Test {
 protected:
  void start() {
    // Upload: checksums the body and answers "<bytes> <hash>". Download: sends kBig.
    upstream_ = std::make_unique<TestUpstream>(
        [](UpstreamConn& c) {
          HttpMessage req;
          Checksum sum;
          ReadOptions opts;
          opts.deadline = long_deadline();
          opts.body_sink = [&sum](std::string_view d) { sum.update(d); };
          while (c.read_request(req, opts)) {
            if (req.target == "/download") {
              c.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBig) + "\r\n\r\n");
              if (send_pattern(c.socket(), kBig, long_deadline()) != IoStatus::kOk) return;
            } else {
              c.write(make_response(200, "OK",
                                    std::to_string(sum.bytes) + " " + std::to_string(sum.h)));
            }
            sum = Checksum{};
          }
        },
        1);
    app_ = start_sidemeter(upstream_->address(), tls_section({pki_.server}));
    ASSERT_TRUE(upstream_->wait_probes(soon())) << app_->log_text();
    proxy_ = start_sidemeter("127.0.0.1:" + std::to_string(app_->listen_port()),
                             tls_section({pki_.server}) +
                                 "upstream:\n  tls:\n    enabled: true\n    ca_file: " +
                                 pki_.ca_file + "\n    server_name: localhost\n");
    client_ = std::make_unique<TlsClient>(proxy_->listen_port(), opts());
    ASSERT_TRUE(client_->ok()) << client_->error();
    // Warm: buffers exist on every hop before the baselines are read.
    HttpMessage m;
    ASSERT_TRUE(client_->exchange(simple_get("/warm"), m).ok());
    ASSERT_EQ(m.status, 200);
    proxy_before_ = proxy_->hwm_kb();
    app_before_ = app_->hwm_kb();
    ASSERT_GT(proxy_before_, 0u);
    ASSERT_GT(app_before_, 0u);
  }

  TlsClientOptions opts() const {
    TlsClientOptions o;
    o.server_name = "localhost";
    o.ca_file = pki_.ca_file;
    return o;
  }

  void expect_bounded() {
    const uint64_t p = proxy_->hwm_kb(), a = app_->hwm_kb();
    RecordProperty("proxy_hwm_growth_kb", std::to_string(p - proxy_before_));
    RecordProperty("application_hwm_growth_kb", std::to_string(a - app_before_));
    // Under ASan freed memory sits in its quarantine (256 MiB by default), and OpenSSL
    // frees a record buffer per record (SSL_MODE_RELEASE_BUFFERS): the high-water mark
    // then measures the quarantine, not us. The release build checks the bound.
    if (!sidemeter_bin_sanitized()) {
      EXPECT_LT(p - proxy_before_, kMaxGrowthKb) << "proxy before " << proxy_before_ << " KiB, after " << p;
      EXPECT_LT(a - app_before_, kMaxGrowthKb) << "application before " << app_before_ << " KiB, after " << a;
    }
    // Both hops really were TLS, with one connection each way for the whole transfer.
    for (const char* side : {"downstream", "upstream"}) {
      EXPECT_EQ(wait_metric(proxy_->stats_port(), kHandshakes, {{"side", side}}, 1), 1) << side;
    }
    EXPECT_EQ(wait_metric(app_->stats_port(), kHandshakes, {{"side", "downstream"}}, 1), 1);
  }

  void TearDown() override {
    if (HasFailure()) {
      if (app_) std::cerr << "==== application\n" << app_->log_text();
      if (proxy_) std::cerr << "==== proxy\n" << proxy_->log_text();
    }
    client_.reset();
    proxy_.reset();
    app_.reset();
    upstream_.reset();
  }

  Pki pki_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<SidemeterProcess> app_;
  std::unique_ptr<SidemeterProcess> proxy_;
  std::unique_ptr<TlsClient> client_;
  uint64_t proxy_before_ = 0;
  uint64_t app_before_ = 0;
};

TEST_F(TlsStreamingTest, BigUploadThroughTwoTlsHopsIsExactAndBounded) {
  start();
  Socket& s = client_->socket();
  ASSERT_EQ(s.write_all("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
                            std::to_string(kBig) + "\r\n\r\n",
                        long_deadline()),
            IoStatus::kOk);
  ASSERT_EQ(send_pattern(s, kBig, long_deadline()), IoStatus::kOk);
  HttpMessage resp;
  ReadOptions o;
  o.deadline = long_deadline();
  ASSERT_TRUE(read_response(s, resp, o).ok());
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, std::to_string(kBig) + " " + std::to_string(expected_pattern(kBig).h));
  EXPECT_FALSE(client_->pump_failed());
  expect_bounded();
}

TEST_F(TlsStreamingTest, BigDownloadThroughTwoTlsHopsIsExactAndBounded) {
  start();
  Checksum got;
  ReadOptions o;
  o.deadline = long_deadline();
  o.body_sink = [&got](std::string_view d) { got.update(d); };
  HttpMessage resp;
  ASSERT_TRUE(client_->exchange(simple_get("/download"), resp, o).ok());
  EXPECT_EQ(resp.status, 200);
  const Checksum want = expected_pattern(kBig);
  EXPECT_EQ(got.bytes, kBig);
  EXPECT_EQ(got.h, want.h);
  EXPECT_FALSE(client_->pump_failed());
  expect_bounded();
}

}  // namespace
}  // namespace sidemeter::testing
