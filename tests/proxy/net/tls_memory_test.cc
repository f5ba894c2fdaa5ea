// What a TLS connection holds in OpenSSL's heap, idle and mid-read, measured with a
// counting allocator installed before OpenSSL's first allocation. Prints the figures
// (quoted in tls_transport.h) and checks the one claim they support:
// SSL_MODE_RELEASE_BUFFERS leaves an idle connection without its record buffers.
#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "proxy/net/tls_context.h"
#include "proxy/net/tls_transport.h"
#include "tests/proxy/net/tls_loop.h"
#include "tests/support/test_pki.h"

namespace {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};  // one thread allocates in this test

void note_peak() {
  if (g_live.load() > g_peak.load()) g_peak = g_live.load();
}
constexpr size_t kHeader = 16;  // keeps malloc's alignment

void* counting_malloc(size_t n, const char*, int) {
  auto* p = static_cast<char*>(std::malloc(n + kHeader));
  if (p == nullptr) return nullptr;
  std::memcpy(p, &n, sizeof n);
  g_live += int64_t(n);
  note_peak();
  return p + kHeader;
}
void counting_free(void* q, const char*, int) {
  if (q == nullptr) return;
  char* p = static_cast<char*>(q) - kHeader;
  size_t n;
  std::memcpy(&n, p, sizeof n);
  g_live -= int64_t(n);
  std::free(p);
}
void* counting_realloc(void* q, size_t n, const char* f, int l) {
  if (q == nullptr) return counting_malloc(n, f, l);
  if (n == 0) {
    counting_free(q, f, l);
    return nullptr;
  }
  char* p = static_cast<char*>(q) - kHeader;
  size_t old;
  std::memcpy(&old, p, sizeof old);
  auto* r = static_cast<char*>(std::realloc(p, n + kHeader));
  if (r == nullptr) return nullptr;
  std::memcpy(r, &n, sizeof n);
  g_live += int64_t(n) - int64_t(old);
  note_peak();
  return r + kHeader;
}

// Before main, so before OpenSSL's first allocation.
const bool g_installed =
    CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) == 1;

}  // namespace

namespace sidemeter::net {
namespace {

using tls_test::End;
using tls_test::kNotYet;
using tls_test::TlsLoop;

struct Figures {
  int64_t idle_pair = 0;    // one server + one client connection, idle, per pair
  int64_t idle_server = 0;  // the server side alone
  int64_t reading = 0;      // peak extra while a 16 KiB record goes client -> server -> back
};

Figures measure(bool release_buffers) {
  testing::TempDir dir;
  testing::TestCa ca("memory root");
  testing::CertOptions o;
  o.dns = {"server.test"};
  testing::PemFiles files = ca.issue(o, dir.path(), "server");
  conf::DownstreamTls dconf;
  dconf.certificates.push_back({files.certificate_file, files.private_key_file});
  conf::UpstreamTls uconf;
  uconf.ca_file = ca.write_certificate(dir.file("ca.pem"));
  uconf.server_name = "server.test";
  auto sctx = TlsServerContext::create(dconf, std::make_shared<TicketKeys>());
  auto cctx = TlsClientContext::create(uconf, "127.0.0.1");

  Figures f;
  TlsLoop loop;
  loop.on_accept = [&](End& s) {
    s.echo = true;
    s.keep = false;
    if (!release_buffers) SSL_clear_mode(s.ssl(), SSL_MODE_RELEASE_BUFFERS);
  };
  loop.listen(sctx);
  // One round trip first: lazily made OpenSSL state (method tables, the session cache)
  // is not a connection's.
  auto open_pair = [&]() -> End& {
    End& c = loop.connect(*cctx, [&](SSL* s) {
      if (!release_buffers) SSL_clear_mode(s, SSL_MODE_RELEASE_BUFFERS);
    });
    c.keep = false;
    c.t().start_reading();
    EXPECT_EQ(c.t().write("x"), 0);
    loop.run_until([&] { return c.received_bytes == 1; });
    return c;
  };
  loop.close(open_pair());
  loop.close(loop.server(0));

  constexpr int kPairs = 40;
  const int64_t before = g_live.load();
  std::vector<End*> clients;
  for (int i = 0; i < kPairs; ++i) clients.push_back(&open_pair());
  const int64_t idle = g_live.load();
  f.idle_pair = (idle - before) / kPairs;

  // Mid-read: a full record arriving at an idle server connection.
  const std::string big(16 * 1024, 'b');
  End& c = *clients.back();
  const int64_t resting = g_live.load();
  g_peak = resting;
  EXPECT_EQ(c.t().write(big), 0);
  loop.run_until([&] { return c.received_bytes == 1 + big.size(); });
  f.reading = g_peak.load() - resting;
  EXPECT_LE(g_live.load(), resting);  // given back once the record went through

  for (End* e : clients) loop.close(*e);
  loop.drop_closed_clients();
  f.idle_server = (g_live.load() - before) / kPairs;
  loop.finish();
  return f;
}

TEST(TlsMemory, IdleConnectionsHoldNoRecordBuffers) {
  ASSERT_TRUE(g_installed) << "OpenSSL allocated before the counting allocator was installed";
  Figures with = measure(true);
  Figures without = measure(false);
  std::printf("OpenSSL heap per connection (bytes): idle pair %lld, idle server %lld, "
              "a 16 KiB record through it peaks at +%lld; without RELEASE_BUFFERS: idle pair %lld, "
              "idle server %lld\n",
              (long long)with.idle_pair, (long long)with.idle_server, (long long)with.reading,
              (long long)without.idle_pair, (long long)without.idle_server);
  std::printf("ours per connection: TcpTransport %zu, TlsTransport %zu\n", sizeof(TcpTransport),
              sizeof(TlsTransport));
  RecordProperty("idle_pair", int(with.idle_pair));
  RecordProperty("idle_server", int(with.idle_server));
  RecordProperty("reading_extra", int(with.reading));
  RecordProperty("idle_server_without_release", int(without.idle_server));
  EXPECT_GT(with.idle_server, 0);
  // Both record buffers (~17 KiB read, ~17 KiB write) stay allocated without the mode.
  EXPECT_GE(without.idle_server - with.idle_server, 16 * 1024);
  // Sealing and opening a record needs a buffer of at least its size, given back after.
  EXPECT_GE(with.reading, 16 * 1024);
}

}  // namespace
}  // namespace sidemeter::net
