// Our TLS client transport against our TLS server transport on a real loop over
// loopback, with certificates made for the test. Odd peers (TLS 1.0 only, no shared
// cipher, a stalled handshake, plain HTTP) are our own SSL objects bent with OpenSSL
// calls or plain TCP ends, so everything runs on the one loop thread.
#include "proxy/net/tls_transport.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <random>

#include "proxy/net/tls_context.h"
#include "tests/proxy/net/tls_loop.h"
#include "tests/support/test_pki.h"

namespace sidemeter::net {
namespace {

using metrics::TlsFailure;
using metrics::TlsSide;
using metrics::TlsVersionSeen;
using tls_test::End;
using tls_test::kNotYet;
using tls_test::TlsLoop;
using testing::CertOptions;
using testing::KeyType;
using testing::PemFiles;
using testing::TempDir;
using testing::TestCa;

constexpr TlsSide kDown = TlsSide::kDownstream;
constexpr TlsSide kUp = TlsSide::kUpstream;

// The first DNS subjectAltName of the certificate the server presented.
std::string served_name(SSL* client) {
  X509* x = SSL_get0_peer_certificate(client);
  if (x == nullptr) return "(none)";
  auto* gens =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  std::string name = "(no SAN)";
  for (int i = 0; gens != nullptr && i < sk_GENERAL_NAME_num(gens); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
    if (g->type != GEN_DNS) continue;
    name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                size_t(ASN1_STRING_length(g->d.dNSName)));
    break;
  }
  GENERAL_NAMES_free(gens);
  return name;
}

class TlsTransportTest : public ::testing::Test {
 protected:
  // One CA and server certificate for the whole suite: RSA keys take a while to make.
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    ca_ = new TestCa("sidemeter test root");
    other_ca_ = new TestCa("unrelated root");
    ca_file_ = ca_->write_certificate(dir_->file("ca.pem"));
    CertOptions server;
    server.common_name = "server.test";
    server.dns = {"server.test"};
    server.ips = {"127.0.0.1"};
    server_cert_ = new PemFiles(ca_->issue(server, dir_->path(), "server"));
  }
  static void TearDownTestSuite() {
    delete server_cert_;
    delete other_ca_;
    delete ca_;
    delete dir_;
  }
  void TearDown() override { loop_.finish(); }

  static conf::DownstreamTls server_conf(std::vector<PemFiles> certs = {}) {
    conf::DownstreamTls c;
    if (certs.empty()) certs.push_back(*server_cert_);
    for (const auto& p : certs) c.certificates.push_back({p.certificate_file, p.private_key_file});
    return c;
  }
  std::shared_ptr<const TlsServerContext> server_ctx(const conf::DownstreamTls& c) {
    return TlsServerContext::create(c, keys_);
  }
  static conf::UpstreamTls client_conf(std::string server_name = "server.test") {
    conf::UpstreamTls c;
    c.enabled = true;
    c.ca_file = ca_file_;
    c.server_name = std::move(server_name);
    return c;
  }
  static std::shared_ptr<const TlsClientContext> client_ctx(const conf::UpstreamTls& c,
                                                            const std::string& host = "127.0.0.1") {
    return TlsClientContext::create(c, host);
  }

  // Connects, runs until both ends settled, returns the client end.
  End& handshake(const TlsClientContext& ctx, const std::function<void(SSL*)>& tweak = {}) {
    size_t before = loop_.accepted();
    End& c = loop_.connect(ctx, tweak);
    loop_.run_until([&] {
      if (c.connected == kNotYet || loop_.accepted() == before) return false;
      End& s = loop_.server(before);
      return s.secured || !s.errors.empty() || s.eof;
    });
    return c;
  }
  End& last_server() { return loop_.server(loop_.accepted() - 1); }

  // A connection that sends one byte each way (so a TLS 1.3 client has read its
  // tickets) and closes both ends. Returns whether it resumed (both sides agree).
  bool round_trip(const TlsClientContext& ctx, const std::function<void(SSL*)>& tweak = {}) {
    loop_.on_accept = [](End& s) { s.echo = true; };
    End& c = handshake(ctx, tweak);
    EXPECT_EQ(c.connected, 0);
    End& s = last_server();
    EXPECT_TRUE(s.secured);
    EXPECT_EQ(c.t().write("x"), 0);
    c.t().start_reading();
    loop_.run_until([&] { return c.received == "x"; });
    EXPECT_EQ(c.t().tls()->resumed, s.secured_resumed);
    bool resumed = c.t().tls()->resumed;
    loop_.close(c);
    loop_.close(s);
    return resumed;
  }

  static TempDir* dir_;
  static TestCa* ca_;
  static TestCa* other_ca_;
  static std::string ca_file_;
  static PemFiles* server_cert_;
  std::shared_ptr<TicketKeys> keys_ = std::make_shared<TicketKeys>();
  TlsLoop loop_;
};

TempDir* TlsTransportTest::dir_ = nullptr;
TestCa* TlsTransportTest::ca_ = nullptr;
TestCa* TlsTransportTest::other_ca_ = nullptr;
std::string TlsTransportTest::ca_file_;
PemFiles* TlsTransportTest::server_cert_ = nullptr;

TEST_F(TlsTransportTest, Tls13HandshakeAlpnSniEchoAndOrderlyShutdown) {
  loop_.listen(server_ctx(server_conf()));
  loop_.on_accept = [](End& s) { s.echo = true; };
  auto ctx = client_ctx(client_conf());
  End& c = loop_.connect(ctx->new_ssl());
  // Written before TCP even connected: held, then sent after the handshake.
  ASSERT_EQ(c.t().write("early "), 0);
  EXPECT_EQ(c.t().queued_bytes(), 6u);
  EXPECT_EQ(c.t().tls(), nullptr);
  EXPECT_TRUE(c.t().secure());
  c.t().start_reading();
  loop_.run_until([&] { return c.received == "early "; });
  EXPECT_TRUE(c.tcp_connected);
  EXPECT_EQ(c.connected, 0);
  ASSERT_NE(c.t().tls(), nullptr);
  EXPECT_EQ(c.t().tls()->version, "TLSv1.3");
  EXPECT_EQ(c.t().tls()->alpn, "http/1.1");
  EXPECT_EQ(c.t().tls()->server_name, "server.test");
  EXPECT_FALSE(c.t().tls()->resumed);
  EXPECT_GT(c.t().tls()->handshake_ns, 0u);

  End& s = loop_.server(0);
  EXPECT_TRUE(s.secured);
  EXPECT_EQ(s.secured_version, "TLSv1.3");
  EXPECT_EQ(s.secured_alpn, "http/1.1");
  EXPECT_EQ(s.secured_sni, "server.test");
  EXPECT_EQ(s.received, "early ");
  ASSERT_NE(s.t().tls(), nullptr);
  EXPECT_FALSE(s.t().tls()->cipher.empty());

  // Writes after the handshake, several pieces in one call.
  std::string_view parts[] = {"a", "bc", "def"};
  ASSERT_EQ(c.t().writev(parts, 3), 0);
  loop_.run_until([&] { return c.received == "early abcdef"; });

  // close_notify then FIN: the server reads an orderly end.
  c.t().shutdown_write();
  loop_.run_until([&] { return s.eof; });
  EXPECT_TRUE(s.errors.empty());

  EXPECT_EQ(loop_.counters().handshakes(kDown, TlsVersionSeen::k1_3, false), 1u);
  EXPECT_EQ(loop_.counters().handshakes(kUp, TlsVersionSeen::k1_3, false), 1u);
  EXPECT_EQ(loop_.counters().handshakes(kDown, TlsVersionSeen::k1_3, true), 0u);
}

TEST_F(TlsTransportTest, HeldBytesAndShutdownBeforeTheHandshakeKeepTheirOrder) {
  loop_.listen(server_ctx(server_conf()));
  End& c = loop_.connect(client_ctx(client_conf())->new_ssl());
  ASSERT_EQ(c.t().write("request"), 0);
  c.t().shutdown_write();  // must not cut the handshake, nor the held bytes
  loop_.run_until([&] { return loop_.accepted() == 1 && loop_.server(0).eof; });
  EXPECT_EQ(c.connected, 0);
  EXPECT_EQ(loop_.server(0).received, "request");
  EXPECT_TRUE(loop_.server(0).errors.empty());
}

TEST_F(TlsTransportTest, Tls12Handshake) {
  loop_.listen(server_ctx(server_conf()));
  auto ctx = client_ctx(client_conf());
  End& c = handshake(*ctx, [](SSL* s) { SSL_set_max_proto_version(s, TLS1_2_VERSION); });
  ASSERT_EQ(c.connected, 0);
  EXPECT_EQ(c.t().tls()->version, "TLSv1.2");
  EXPECT_EQ(c.t().tls()->alpn, "http/1.1");
  EXPECT_EQ(loop_.server(0).secured_version, "TLSv1.2");
  EXPECT_EQ(loop_.counters().handshakes(kDown, TlsVersionSeen::k1_2, false), 1u);
  EXPECT_EQ(loop_.counters().handshakes(kUp, TlsVersionSeen::k1_2, false), 1u);
  EXPECT_EQ(loop_.counters().handshakes(kDown, TlsVersionSeen::k1_3, false), 0u);
}

TEST_F(TlsTransportTest, MinVersion13RefusesTls12Client) {
  auto conf = server_conf();
  conf.min_version = conf::TlsVersion::k1_3;
  loop_.listen(server_ctx(conf));
  auto ctx = client_ctx(client_conf());
  End& c = handshake(*ctx, [](SSL* s) { SSL_set_max_proto_version(s, TLS1_2_VERSION); });
  EXPECT_EQ(c.connected, kErrTlsHandshake);
  EXPECT_EQ(loop_.server(0).errors, std::vector<int>{kErrTlsHandshake});
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kProtocolVersion), 1u);
  EXPECT_EQ(loop_.counters().failures(kUp, TlsFailure::kProtocolVersion), 1u);
}

TEST_F(TlsTransportTest, ClientOfferingOtherProtocolsGetsNoAlpnButAConnection) {
  loop_.listen(server_ctx(server_conf()));
  auto ctx = client_ctx(client_conf());
  End& c = handshake(*ctx, [](SSL* s) {
    static const unsigned char h2[] = "\x02h2";
    SSL_set_alpn_protos(s, h2, 3);
  });
  ASSERT_EQ(c.connected, 0);
  EXPECT_EQ(c.t().tls()->alpn, "");
  EXPECT_TRUE(loop_.server(0).secured);
  EXPECT_EQ(loop_.server(0).secured_alpn, "");

  End& c2 = handshake(*ctx, [](SSL* s) { SSL_set_alpn_protos(s, nullptr, 0); });
  ASSERT_EQ(c2.connected, 0);
  EXPECT_EQ(c2.t().tls()->alpn, "");
}

TEST_F(TlsTransportTest, SniPicksTheCertificate) {
  CertOptions a;
  a.dns = {"a.example"};
  a.key = KeyType::kRsa2048;  // another key type: chosen before the cipher is
  CertOptions wild;
  wild.dns = {"*.wild.example"};
  CertOptions first;
  first.dns = {"default.test"};
  CertOptions cn_only;  // no subjectAltName at all: its CN is its name
  cn_only.common_name = "legacy.example";
  auto conf = server_conf({ca_->issue(first, dir_->path(), "sni-default"),
                           ca_->issue(a, dir_->path(), "sni-a"),
                           ca_->issue(wild, dir_->path(), "sni-wild"),
                           ca_->issue(cn_only, dir_->path(), "sni-cn")});
  loop_.listen(server_ctx(conf));
  struct Case {
    std::string sni;
    std::string served;
  };
  const Case cases[] = {
      {"a.example", "a.example"},       {"A.Example", "a.example"},
      {"x.wild.example", "*.wild.example"}, {"a.b.wild.example", "default.test"},
      {"wild.example", "default.test"}, {"unknown.test", "default.test"},
      {"legacy.example", "(no SAN)"},
  };
  for (const auto& k : cases) {
    auto cc = client_conf(k.sni);
    cc.verify = false;  // what was served is the question, not whether it verifies
    auto ctx = client_ctx(cc);
    End& c = handshake(*ctx);
    ASSERT_EQ(c.connected, 0) << k.sni;
    EXPECT_EQ(served_name(c.ssl()), k.served) << k.sni;
    EXPECT_EQ(last_server().secured_sni, k.sni) << k.sni;
  }
  // No SNI at all (an IP upstream): the first certificate.
  auto cc = client_conf("");
  cc.verify = false;
  End& c = handshake(*client_ctx(cc, "127.0.0.1"));
  ASSERT_EQ(c.connected, 0);
  EXPECT_EQ(served_name(c.ssl()), "default.test");
  EXPECT_EQ(last_server().secured_sni, "");
  // And the verified path: a wildcard name verifies against the wildcard certificate.
  End& v = handshake(*client_ctx(client_conf("api.wild.example")));
  EXPECT_EQ(v.connected, 0);
}

TEST_F(TlsTransportTest, UpstreamVerifiesAnIpLiteralAgainstIpSans) {
  loop_.listen(server_ctx(server_conf()));
  End& ok = handshake(*client_ctx(client_conf(""), "127.0.0.1"));
  EXPECT_EQ(ok.connected, 0);
  EXPECT_EQ(ok.t().tls()->server_name, "");  // no SNI for an address
  End& wrong = handshake(*client_ctx(client_conf(""), "127.0.0.2"));
  EXPECT_EQ(wrong.connected, kErrTlsHandshake);
  EXPECT_EQ(loop_.counters().failures(kUp, TlsFailure::kBadCertificate), 1u);
}

TEST_F(TlsTransportTest, ResumesByTicketTls13AndTls12) {
  auto conf = server_conf();
  conf.session_cache_size = 0;  // tickets alone
  loop_.listen(server_ctx(conf));
  auto ctx = client_ctx(client_conf());
  EXPECT_FALSE(round_trip(*ctx));
  EXPECT_GT(ctx->stored_sessions(), 0u);
  EXPECT_TRUE(round_trip(*ctx));
  EXPECT_EQ(loop_.counters().handshakes(kDown, TlsVersionSeen::k1_3, true), 1u);
  EXPECT_EQ(loop_.counters().handshakes(kUp, TlsVersionSeen::k1_3, true), 1u);

  auto ctx12 = client_ctx(client_conf());
  auto tls12 = [](SSL* s) { SSL_set_max_proto_version(s, TLS1_2_VERSION); };
  EXPECT_FALSE(round_trip(*ctx12, tls12));
  EXPECT_TRUE(round_trip(*ctx12, tls12));
  EXPECT_EQ(loop_.counters().handshakes(kDown, TlsVersionSeen::k1_2, true), 1u);
}

TEST_F(TlsTransportTest, ResumesByServerCacheWithoutTickets) {
  auto conf = server_conf();
  conf.session_tickets = false;
  loop_.listen(server_ctx(conf));
  auto ctx = client_ctx(client_conf());
  EXPECT_FALSE(round_trip(*ctx));
  EXPECT_TRUE(round_trip(*ctx));
  auto ctx12 = client_ctx(client_conf());
  auto tls12 = [](SSL* s) { SSL_set_max_proto_version(s, TLS1_2_VERSION); };
  EXPECT_FALSE(round_trip(*ctx12, tls12));
  EXPECT_TRUE(round_trip(*ctx12, tls12));
}

TEST_F(TlsTransportTest, NoResumptionWithoutTicketsOrCache) {
  auto conf = server_conf();
  conf.session_tickets = false;
  conf.session_cache_size = 0;
  loop_.listen(server_ctx(conf));
  auto ctx = client_ctx(client_conf());
  EXPECT_FALSE(round_trip(*ctx));
  EXPECT_FALSE(round_trip(*ctx));
}

TEST_F(TlsTransportTest, TicketsSurviveTwoRotationsAndAReloadButNotThree) {
  auto conf = server_conf();
  conf.session_cache_size = 0;
  loop_.listen(server_ctx(conf));
  for (int rotations = 1; rotations <= 3; ++rotations) {
    auto ctx = client_ctx(client_conf());
    EXPECT_FALSE(round_trip(*ctx));
    for (int i = 0; i < rotations; ++i) keys_->rotate();
    // A reload builds a new context; the keys are the same object.
    loop_.set_server_context(server_ctx(conf));
    EXPECT_EQ(round_trip(*ctx), rotations < 3) << rotations << " rotations";
  }
  EXPECT_EQ(loop_.counters().handshakes(kDown, TlsVersionSeen::k1_3, true), 2u);
}

class MutualTlsTest : public TlsTransportTest {
 protected:
  void listen_requiring_client_certificates() {
    auto conf = server_conf();
    conf.client_certificate = conf::ClientCertificate::kRequired;
    conf.client_ca_file = ca_file_;
    loop_.listen(server_ctx(conf));
  }
  conf::UpstreamTls with_client_cert(const TestCa& issuer, const std::string& stem) {
    CertOptions o;
    o.common_name = "client " + stem;
    o.client = true;
    PemFiles f = issuer.issue(o, dir_->path(), stem);
    auto c = client_conf();
    c.client_certificate = {f.certificate_file, f.private_key_file};
    return c;
  }
  // Runs until the server end decided.
  End& attempt(const TlsClientContext& ctx, const std::function<void(SSL*)>& tweak = {}) {
    End& c = handshake(ctx, tweak);
    c.t().start_reading();  // TLS 1.3: the refusal arrives after the client finished
    return c;
  }
};

TEST_F(MutualTlsTest, RequiredClientCertificateAcceptedWhenGood) {
  listen_requiring_client_certificates();
  auto ctx = client_ctx(with_client_cert(*ca_, "good-client"));
  ASSERT_EQ(ctx->certificates().size(), 1u);
  EXPECT_EQ(ctx->certificates()[0].side, kUp);
  End& c = attempt(*ctx);
  EXPECT_EQ(c.connected, 0);
  EXPECT_TRUE(loop_.server(0).secured);
  EXPECT_NE(SSL_get0_peer_certificate(loop_.server(0).ssl()), nullptr);
  // TLS 1.2 as well (the certificate travels in another message).
  End& c12 = attempt(*ctx, [](SSL* s) { SSL_set_max_proto_version(s, TLS1_2_VERSION); });
  EXPECT_EQ(c12.connected, 0);
  EXPECT_TRUE(loop_.server(1).secured);
}

TEST_F(MutualTlsTest, RequiredClientCertificateMissingOrFromAnotherCa) {
  listen_requiring_client_certificates();
  attempt(*client_ctx(client_conf()));
  EXPECT_EQ(loop_.server(0).errors, std::vector<int>{kErrTlsHandshake});
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kNoCertificate), 1u);

  attempt(*client_ctx(client_conf()), [](SSL* s) { SSL_set_max_proto_version(s, TLS1_2_VERSION); });
  EXPECT_EQ(loop_.server(1).errors, std::vector<int>{kErrTlsHandshake});
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kNoCertificate), 2u);

  attempt(*client_ctx(with_client_cert(*other_ca_, "stranger")));
  EXPECT_EQ(loop_.server(2).errors, std::vector<int>{kErrTlsHandshake});
  EXPECT_FALSE(loop_.server(2).secured);
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kUnknownCa), 1u);
}

TEST_F(TlsTransportTest, UpstreamVerificationFailuresAreClassified) {
  CertOptions expired;
  expired.dns = {"server.test"};
  expired.valid_from_s = -2 * 86400;
  expired.valid_until_s = -86400;
  CertOptions future = expired;
  future.valid_from_s = 86400;
  future.valid_until_s = 2 * 86400;
  CertOptions good;
  good.dns = {"server.test"};
  struct Case {
    PemFiles served;
    std::string verify_name;
    TlsFailure reason;       // counted by our client (upstream)
    TlsFailure server_heard; // the alert OpenSSL sends for it, counted by the server
  };
  const Case cases[] = {
      {other_ca_->issue(good, dir_->path(), "unknown-ca"), "server.test", TlsFailure::kUnknownCa,
       TlsFailure::kUnknownCa},
      {ca_->issue(expired, dir_->path(), "expired"), "server.test",
       TlsFailure::kCertificateExpired, TlsFailure::kCertificateExpired},
      // Not yet valid: the same reason for us; OpenSSL's alert says bad_certificate.
      {ca_->issue(future, dir_->path(), "future"), "server.test", TlsFailure::kCertificateExpired,
       TlsFailure::kBadCertificate},
      {*server_cert_, "other.test", TlsFailure::kBadCertificate, TlsFailure::kBadCertificate},
  };
  loop_.listen(nullptr);
  for (const auto& k : cases) {
    const std::string label(metrics::tls_failure_name(k.reason));
    loop_.set_server_context(server_ctx(server_conf({k.served})));
    const uint64_t up_before = loop_.counters().failures(kUp, k.reason);
    const uint64_t down_before = loop_.counters().failures(kDown, k.server_heard);
    End& c = handshake(*client_ctx(client_conf(k.verify_name)));
    EXPECT_EQ(c.connected, kErrTlsHandshake) << label;
    EXPECT_EQ(loop_.counters().failures(kUp, k.reason), up_before + 1) << label;
    // The server hears our alert and counts what it says (see classify_tls_failure).
    End& s = last_server();
    loop_.run_until([&] { return !s.errors.empty(); });
    EXPECT_EQ(loop_.counters().failures(kDown, k.server_heard), down_before + 1) << label;
  }
  EXPECT_EQ(loop_.counters().handshakes(kUp, TlsVersionSeen::k1_3, false), 0u);
}

TEST_F(TlsTransportTest, PlainHttpToTheTlsPortGetsAPlainText400) {
  loop_.listen(server_ctx(server_conf()));
  loop_.on_accept = [](End& s) { s.linger_on_error = true; };
  End& c = loop_.connect(SslPtr());
  loop_.run_until([&] { return c.connected != kNotYet; });
  ASSERT_EQ(c.connected, 0);
  ASSERT_EQ(c.t().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  c.t().start_reading();
  loop_.run_until([&] { return c.eof; });
  EXPECT_EQ(c.received.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << c.received;
  EXPECT_NE(c.received.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(c.received.find("This port speaks TLS"), std::string::npos);
  End& s = loop_.server(0);
  EXPECT_EQ(s.errors, std::vector<int>{kErrTlsPlainHttp});
  EXPECT_FALSE(s.secured);
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kPlainHttp), 1u);
  // Further input is discarded, and the end still comes through for the lingering owner.
  ASSERT_EQ(c.t().write("more junk"), 0);
  c.t().shutdown_write();
  loop_.run_until([&] { return s.eof; });
  EXPECT_TRUE(s.received.empty());
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kOther), 0u);
}

TEST_F(TlsTransportTest, BinaryGarbageIsAHandshakeFailureNotPlainHttp) {
  loop_.listen(server_ctx(server_conf()));
  End& c = loop_.connect(SslPtr());
  loop_.run_until([&] { return c.connected != kNotYet; });
  ASSERT_EQ(c.t().write(std::string_view("\x01\x02\x03\x04garbage garbage", 19)), 0);
  loop_.run_until([&] { return loop_.accepted() == 1 && !loop_.server(0).errors.empty(); });
  EXPECT_EQ(loop_.server(0).errors, std::vector<int>{kErrTlsHandshake});
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kPlainHttp), 0u);
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kOther), 1u);
}

TEST_F(TlsTransportTest, StalledHandshakeCountsATimeoutOnce) {
  loop_.listen(server_ctx(server_conf()));
  // A real ClientHello, made by a client SSL on memory BIOs, sent by a plain TCP end
  // that then never answers the server's flight.
  auto ctx = client_ctx(client_conf());
  SslPtr hello_maker = ctx->new_ssl();
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(hello_maker.get(), rbio, wbio);
  ASSERT_EQ(SSL_do_handshake(hello_maker.get()), -1);
  char* hello = nullptr;
  long hello_len = BIO_get_mem_data(wbio, &hello);
  ASSERT_GT(hello_len, 0);

  End& c = loop_.connect(SslPtr());
  loop_.run_until([&] { return c.connected != kNotYet; });
  ASSERT_EQ(c.t().write(std::string_view(hello, size_t(hello_len))), 0);
  c.t().start_reading();
  // The server answered (ServerHello...): it is mid-handshake, waiting for us.
  loop_.run_until([&] { return c.received_bytes > 0; });
  End& s = loop_.server(0);
  EXPECT_FALSE(s.secured);
  s.t().note_handshake_timeout();
  s.t().note_handshake_timeout();
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kHandshakeTimeout), 1u);

  // Once secured, a late deadline is not a timeout.
  End& ok = handshake(*ctx);
  ASSERT_EQ(ok.connected, 0);
  last_server().t().note_handshake_timeout();
  ok.t().note_handshake_timeout();
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kHandshakeTimeout), 1u);
  EXPECT_EQ(loop_.counters().failures(kUp, TlsFailure::kHandshakeTimeout), 0u);
}

TEST_F(TlsTransportTest, PeerClosingMidHandshakeCountsPeerClosed) {
  loop_.listen(server_ctx(server_conf()));
  End& c = loop_.connect(SslPtr());
  loop_.run_until([&] { return c.connected != kNotYet; });
  ASSERT_EQ(c.t().write(std::string_view("\x16\x03\x01\x00\xc8", 5)), 0);  // a record header
  c.t().shutdown_write();
  loop_.run_until([&] { return loop_.accepted() == 1 && !loop_.server(0).errors.empty(); });
  EXPECT_EQ(loop_.server(0).errors, std::vector<int>{kErrTlsHandshake});
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kPeerClosed), 1u);

  // A TCP probe that connects and leaves without a byte is not a handshake attempt.
  End& probe = loop_.connect(SslPtr());
  loop_.run_until([&] { return probe.connected != kNotYet; });
  probe.t().shutdown_write();
  loop_.run_until([&] { return loop_.accepted() == 2 && loop_.server(1).eof; });
  EXPECT_TRUE(loop_.server(1).errors.empty());
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kPeerClosed), 1u);
}

TEST_F(TlsTransportTest, Tls10OnlyClientIsRefused) {
  loop_.listen(server_ctx(server_conf()));
  auto ctx = client_ctx(client_conf());
  End& c = handshake(*ctx, [](SSL* s) {
    SSL_set_security_level(s, 0);
    SSL_set_cipher_list(s, "DEFAULT@SECLEVEL=0");
    SSL_set_min_proto_version(s, TLS1_VERSION);
    SSL_set_max_proto_version(s, TLS1_VERSION);
  });
  EXPECT_EQ(c.connected, kErrTlsHandshake);
  EXPECT_EQ(loop_.server(0).errors, std::vector<int>{kErrTlsHandshake});
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kProtocolVersion), 1u);
  EXPECT_EQ(loop_.counters().failures(kUp, TlsFailure::kProtocolVersion), 1u);
}

TEST_F(TlsTransportTest, NoSharedCipher) {
  auto conf = server_conf();
  conf.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
  loop_.listen(server_ctx(conf));
  End& c = handshake(*client_ctx(client_conf()), [](SSL* s) {
    SSL_set_max_proto_version(s, TLS1_2_VERSION);
    SSL_set_cipher_list(s, "ECDHE-ECDSA-CHACHA20-POLY1305");
  });
  EXPECT_EQ(c.connected, kErrTlsHandshake);
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kNoSharedCipher), 1u);
  EXPECT_EQ(loop_.counters().failures(kUp, TlsFailure::kNoSharedCipher), 1u);
}

TEST_F(TlsTransportTest, ServesTheChainFromTheCertificateFile) {
  // leaf + intermediate in one file; the client trusts only the root.
  TestCa intermediate = ca_->intermediate("sidemeter test intermediate");
  CertOptions o;
  o.dns = {"server.test"};
  loop_.listen(server_ctx(server_conf({intermediate.issue(o, dir_->path(), "chained")})));
  End& c = handshake(*client_ctx(client_conf()));
  EXPECT_EQ(c.connected, 0);
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(c.ssl());
  ASSERT_NE(chain, nullptr);
  EXPECT_EQ(sk_X509_num(chain), 2);
}

TEST_F(MutualTlsTest, OptionalClientCertificate) {
  auto conf = server_conf();
  conf.client_certificate = conf::ClientCertificate::kOptional;
  conf.client_ca_file = ca_file_;
  loop_.listen(server_ctx(conf));
  End& without = attempt(*client_ctx(client_conf()));
  EXPECT_EQ(without.connected, 0);
  EXPECT_TRUE(loop_.server(0).secured);
  EXPECT_EQ(SSL_get0_peer_certificate(loop_.server(0).ssl()), nullptr);
  End& with = attempt(*client_ctx(with_client_cert(*ca_, "optional-client")));
  EXPECT_EQ(with.connected, 0);
  EXPECT_TRUE(loop_.server(1).secured);
  EXPECT_NE(SSL_get0_peer_certificate(loop_.server(1).ssl()), nullptr);
  // Presented but not chaining to client_ca_file: refused even when optional.
  attempt(*client_ctx(with_client_cert(*other_ca_, "optional-stranger")));
  EXPECT_EQ(loop_.server(2).errors, std::vector<int>{kErrTlsHandshake});
  EXPECT_EQ(loop_.counters().failures(kDown, TlsFailure::kUnknownCa), 1u);
}

// 64 MiB each way through an echoing server that stops reading while its queue is
// above a mark, with a client that writes only while its own queue is below it: both
// queues stay within the mark plus what one read may still deliver.
TEST_F(TlsTransportTest, LargeTransferBothWaysStaysBounded) {
  constexpr uint64_t kTotal = 64ull << 20;
  constexpr size_t kHigh = 1 << 20;
  constexpr size_t kChunk = 64 << 10;
  constexpr size_t kPeriod = 1 << 20;  // the pattern repeats every MiB
  std::string pattern(kPeriod + kChunk, '\0');
  std::mt19937 rng(7);
  for (char& ch : pattern) ch = char(rng());

  size_t server_max_queue = 0;
  int server_stops = 0;
  loop_.on_accept = [&](End& s) {
    s.keep = false;
    s.read_hook = [&, e = &s](std::string_view data) {
      ASSERT_EQ(e->t().write(data), 0);
      server_max_queue = std::max(server_max_queue, e->t().queued_bytes());
      if (e->t().queued_bytes() > kHigh && e->t().reading()) {
        e->t().stop_reading();
        ++server_stops;
      }
    };
    s.drained_hook = [e = &s] { e->t().start_reading(); };
  };
  loop_.listen(server_ctx(server_conf()));
  auto ctx = client_ctx(client_conf());
  End& c = loop_.connect(ctx->new_ssl());
  c.keep = false;
  uint64_t sent = 0;
  uint64_t checked = 0;
  size_t client_max_queue = 0;
  bool mismatch = false;
  auto pump = [&] {
    while (sent < kTotal && c.t().queued_bytes() < kHigh) {
      ASSERT_EQ(c.t().write(std::string_view(pattern).substr(sent % kPeriod, kChunk)), 0);
      sent += kChunk;
      client_max_queue = std::max(client_max_queue, c.t().queued_bytes());
    }
  };
  c.connected_hook = [&] {
    ASSERT_EQ(c.connected, 0);
    pump();
  };
  c.drained_hook = pump;
  c.read_hook = [&](std::string_view data) {
    while (!data.empty() && !mismatch) {
      size_t at = size_t(checked % kPeriod);
      size_t n = std::min(data.size(), kPeriod - at);
      if (data.substr(0, n) != std::string_view(pattern).substr(at, n)) mismatch = true;
      checked += n;
      data.remove_prefix(n);
    }
  };
  c.t().start_reading();
  loop_.run_until([&] { return checked >= kTotal || mismatch || !c.errors.empty(); });
  EXPECT_FALSE(mismatch);
  EXPECT_EQ(checked, kTotal);
  EXPECT_TRUE(c.errors.empty());
  EXPECT_EQ(loop_.server(0).received_bytes, kTotal);
  // The mark, plus one chunk (client) or what one batch of records decrypts to (server:
  // the read that crossed the mark and the rest of it after stop_reading).
  EXPECT_LE(client_max_queue, kHigh + kChunk + 4096);
  EXPECT_LE(server_max_queue, kHigh + 2 * (ReadBuffer::kSize + 16 * 1024 + 4096));
  RecordProperty("server_max_queue", int(server_max_queue));
  RecordProperty("client_max_queue", int(client_max_queue));
  RecordProperty("server_stops", server_stops);
}

}  // namespace
}  // namespace sidemeter::net
