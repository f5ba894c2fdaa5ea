// TLS on both sides of the real binary (2 workers), checked by independent clients
// (the openssl and curl command lines, an in-process OpenSSL client) and by what the
// proxy counts in /metrics: chain verification, SNI, resumption (tickets and the
// session cache), the handshake-failure matrix with its reasons, certificate swaps
// (Kubernetes symlink and SIGHUP) under a live keep-alive connection, mTLS, and TLS to
// the upstream through a second sidemeter acting as the TLS-terminating application.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "tests/integration/tls_support.h"

namespace sidemeter::testing {
namespace {

const Labels kDown = {{"side", "downstream"}};
const Labels kUp = {{"side", "upstream"}};

Labels with(Labels l, std::string k, std::string v) {
  l[std::move(k)] = std::move(v);
  return l;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tools_available()) GTEST_SKIP() << "openssl or curl not installed (deploy/install-deps.sh)";
  }

  // Upstream (echoes nothing, answers "hello") then the proxy with `tls_yaml` appended.
  void start(const std::string& tls_yaml) {
    upstream_ = std::make_unique<TestUpstream>(TestUpstream::fixed("hello"), 1);
    proxy_ = start_sidemeter(upstream_->address(), tls_yaml);
    ASSERT_TRUE(upstream_->wait_probes(soon())) << proxy_->log_text();
  }

  uint16_t port() const { return proxy_->listen_port(); }
  uint16_t stats() const { return proxy_->stats_port(); }

  TlsClientOptions verified(std::string name = "localhost") const {
    TlsClientOptions o;
    o.server_name = std::move(name);
    o.ca_file = pki_.ca_file;
    return o;
  }

  void TearDown() override {
    if (HasFailure()) {
      if (app_) std::cerr << "==== application (second sidemeter)\n" << app_->log_text();
      if (proxy_) std::cerr << "==== proxy\n" << proxy_->log_text();
    }
    proxy_.reset();
    app_.reset();
    upstream_.reset();
  }

  Pki pki_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<SidemeterProcess> app_;  // upstream TLS cases: the second sidemeter
  std::unique_ptr<SidemeterProcess> proxy_;
};

// ------------------------------------------------------------------ chain, SNI

TEST_F(TlsTest, CurlAndSClientVerifyTheChainAndTheUpstreamSeesHttps) {
  start(tls_section({pki_.server}));
  const std::string p = std::to_string(port());
  CommandResult curl = run_command(
      {"curl", "-sS", "--max-time", "15", "--cacert", pki_.ca_file, "--resolve",
       "localhost:" + p + ":127.0.0.1", "-w", "\n%{http_code} %{ssl_verify_result}",
       "https://localhost:" + p + "/via-curl"});
  ASSERT_EQ(curl.exit_code, 0) << curl.describe();
  EXPECT_EQ(curl.out, "hello\n200 0") << curl.describe();

  CommandResult s = s_client(port(), {"-servername", "localhost", "-CAfile", pki_.ca_file,
                                      "-verify_return_error", "-verify_hostname", "localhost"},
                             close_request("/via-s_client"));
  ASSERT_EQ(s.exit_code, 0) << s.describe();
  EXPECT_NE(s.out.find("Verify return code: 0 (ok)"), std::string::npos) << s.describe();
  EXPECT_NE(s.out.find("HTTP/1.1 200"), std::string::npos) << s.describe();

  // The same client against a CA that did not sign it refuses the chain: the check above
  // is not vacuous.
  CommandResult bad = s_client(port(), {"-servername", "localhost", "-CAfile",
                                        pki_.other_ca_file, "-verify_return_error"},
                               close_request("/never"));
  EXPECT_NE(bad.exit_code, 0) << bad.describe();
  EXPECT_EQ(bad.out.find("HTTP/1.1 200"), std::string::npos) << bad.describe();

  ASSERT_TRUE(upstream_->wait_requests(2, soon()));
  auto seen = upstream_->seen_requests();
  ASSERT_EQ(seen.size(), 2u);
  for (const HttpMessage& m : seen) {
    EXPECT_NE(m.target, "/never");
    EXPECT_EQ(m.header("X-Forwarded-Proto").value_or("<none>"), "https") << m.head_raw;
  }
  // The refusing client sent its alert: the proxy counts a downstream failure.
  EXPECT_GE(wait_metric(stats(), kFailures, kDown, 1), 1);
}

TEST_F(TlsTest, SniPicksExactThenWildcardElseTheFirst) {
  CertOptions a;
  a.common_name = "exact-cert";
  a.dns = {"api.example.test"};
  CertOptions w;
  w.common_name = "wildcard-cert";
  w.dns = {"*.apps.example.test"};
  PemFiles exact = pki_.ca.issue(a, pki_.dir.path(), "exact");
  PemFiles wild = pki_.ca.issue(w, pki_.dir.path(), "wild");
  start(tls_section({exact, wild}));
  struct Case {
    std::string servername;  // "" = no SNI at all
    std::string want_cn;
  } cases[] = {
      {"api.example.test", "exact-cert"},
      {"shop.apps.example.test", "wildcard-cert"},
      {"API.Example.Test", "exact-cert"},                   // DNS names are case-insensitive
      {"deep.shop.apps.example.test", "exact-cert"},        // one label only: no match, first
      {"unknown.test", "exact-cert"},
      {"", "exact-cert"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"-CAfile", pki_.ca_file};
    if (c.servername.empty()) {
      args.push_back("-noservername");
    } else {
      args.insert(args.end(), {"-servername", c.servername});
    }
    CommandResult r = s_client(port(), args, close_request());
    ASSERT_EQ(r.exit_code, 0) << c.servername << "\n" << r.describe();
    EXPECT_NE(served_subject(r).find("CN = " + c.want_cn), std::string::npos)
        << "SNI '" << c.servername << "' got " << served_subject(r);
    EXPECT_NE(r.out.find("HTTP/1.1 200"), std::string::npos) << r.describe();
  }
}

// ------------------------------------------------------------------ resumption

struct ResumptionCase {
  const char* name;
  const char* tls_extra;
  const char* version_flag;  // "" = default (TLS 1.3)
  const char* version_seen;
};

class TlsResumptionTest : public TlsTest,
                          public ::testing::WithParamInterface<ResumptionCase> {};

TEST_P(TlsResumptionTest, ReconnectResumes) {
  const ResumptionCase& c = GetParam();
  start(tls_section({pki_.server}, c.tls_extra));
  const std::string sess = pki_.dir.file("session.pem");
  std::vector<std::string> base = {"-servername", "localhost", "-CAfile", pki_.ca_file};
  if (*c.version_flag) base.push_back(c.version_flag);
  std::vector<std::string> first = base;
  first.insert(first.end(), {"-sess_out", sess});
  CommandResult r1 = s_client(port(), first, close_request("/first"));
  ASSERT_EQ(r1.exit_code, 0) << r1.describe();
  EXPECT_NE(r1.out.find(std::string("New, ") + c.version_seen), std::string::npos) << r1.describe();

  // Several reconnects: with 2 workers they land on both, and each must resume (the
  // ticket keys and the session cache are the process's, not a worker's).
  constexpr int kReconnects = 4;
  for (int i = 0; i < kReconnects; ++i) {
    std::vector<std::string> again = base;
    again.insert(again.end(), {"-sess_in", sess});
    CommandResult r = s_client(port(), again, close_request("/again"));
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find(std::string("Reused, ") + c.version_seen), std::string::npos)
        << "reconnect " << i << " not resumed\n" << r.describe();
  }
  const Labels resumed = with(with(kDown, "resumed", "true"), "version", c.version_seen);
  const Labels full = with(with(kDown, "resumed", "false"), "version", c.version_seen);
  EXPECT_EQ(wait_metric(stats(), kHandshakes, resumed, kReconnects), kReconnects);
  EXPECT_EQ(metric_now(stats(), kHandshakes, full), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, TlsResumptionTest,
    ::testing::Values(ResumptionCase{"Tickets13", "", "", "TLSv1.3"},
                      ResumptionCase{"Tickets12", "", "-tls1_2", "TLSv1.2"},
                      ResumptionCase{"Cache13", "  session_tickets: false\n", "", "TLSv1.3"},
                      ResumptionCase{"Cache12", "  session_tickets: false\n", "-tls1_2",
                                     "TLSv1.2"}),
    [](const auto& info) { return std::string(info.param.name); });

// Resumption must be off when both mechanisms are: the "Reused" above is the proxy's
// doing, not something s_client reports regardless.
TEST_F(TlsTest, NoResumptionWithTicketsAndCacheOff) {
  start(tls_section({pki_.server}, "  session_tickets: false\n  session_cache_size: 0\n"));
  const std::string sess = pki_.dir.file("session.pem");
  CommandResult r1 = s_client(port(), {"-servername", "localhost", "-sess_out", sess},
                              close_request());
  ASSERT_EQ(r1.exit_code, 0) << r1.describe();
  CommandResult r2 = s_client(port(), {"-servername", "localhost", "-sess_in", sess},
                              close_request());
  ASSERT_EQ(r2.exit_code, 0) << r2.describe();
  EXPECT_EQ(r2.out.find("Reused, "), std::string::npos) << r2.describe();
  EXPECT_NE(r2.out.find("New, "), std::string::npos) << r2.describe();
  EXPECT_EQ(wait_metric(stats(), kHandshakes, with(kDown, "resumed", "false"), 2), 2);
  EXPECT_EQ(metric_now(stats(), kHandshakes, with(kDown, "resumed", "true")), 0);
}

// ------------------------------------------------------------------ failure matrix

// Each refused handshake: the client gets no HTTP answer, nothing reaches the upstream,
// and exactly that reason is counted (every other reason stays at 0).
class TlsFailureTest : public TlsTest {
 protected:
  void expect_only_reason(const std::string& reason, double n) {
    EXPECT_EQ(wait_metric(stats(), kFailures, with(kDown, "reason", reason), n), n) << reason;
    const std::string text = fetch_metrics(stats());
    EXPECT_EQ(metric_sum(text, kFailures, kDown).value_or(-1), n) << text;
    EXPECT_EQ(metric_sum(text, kHandshakes, kDown).value_or(-1), 0) << text;
    EXPECT_EQ(upstream_->requests(), 0u);
  }
  void start_mtls() {
    start(tls_section({pki_.server},
                      "  client_certificate: required\n  client_ca_file: " + pki_.ca_file + "\n"));
  }
  // An s_client run that must not get an HTTP response.
  void expect_refused(const std::vector<std::string>& args) {
    CommandResult r = s_client(port(), args, close_request("/must-not-pass"));
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_EQ(r.out.find("HTTP/1.1"), std::string::npos) << r.describe();
  }
};

TEST_F(TlsFailureTest, ClientCertificateFromTheWrongCaIsUnknownCa) {
  start_mtls();
  PemFiles stranger = pki_.client("stranger", pki_.other_ca);
  expect_refused({"-servername", "localhost", "-cert", stranger.certificate_file, "-key",
                  stranger.private_key_file});
  expect_only_reason("unknown_ca", 1);
}

TEST_F(TlsFailureTest, ExpiredClientCertificateIsCertificateExpired) {
  start_mtls();
  PemFiles old = pki_.client("expired", pki_.ca, -2 * 86400, -86400);
  expect_refused({"-servername", "localhost", "-cert", old.certificate_file, "-key",
                  old.private_key_file});
  expect_only_reason("certificate_expired", 1);
}

TEST_F(TlsFailureTest, NoClientCertificateWhenRequiredIsNoCertificate) {
  start_mtls();
  expect_refused({"-servername", "localhost"});
  // TLS 1.2 too: there the refusal comes inside the handshake, not after it.
  expect_refused({"-servername", "localhost", "-tls1_2"});
  expect_only_reason("no_certificate", 2);
}

TEST_F(TlsFailureTest, NoSharedCipher) {
  start(tls_section({pki_.server}));
  // A static-RSA TLS 1.2 suite: not in the proxy's forward-secret list.
  CommandResult r = s_client(port(), {"-tls1_2", "-cipher", "AES128-GCM-SHA256"},
                             close_request());
  EXPECT_NE(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out.find("HTTP/1.1"), std::string::npos) << r.describe();
  expect_only_reason("no_shared_cipher", 1);
}

TEST_F(TlsFailureTest, Tls10IsProtocolVersion) {
  start(tls_section({pki_.server}));
  CommandResult r = s_client(port(), {"-tls1", "-cipher", "DEFAULT@SECLEVEL=0"}, close_request());
  EXPECT_NE(r.exit_code, 0) << r.describe();
  if (r.err.find("no protocols available") != std::string::npos) {
    GTEST_SKIP() << "this openssl refuses to offer TLS 1.0 at all:\n" << r.describe();
  }
  EXPECT_EQ(r.out.find("HTTP/1.1"), std::string::npos) << r.describe();
  expect_only_reason("protocol_version", 1);
}

TEST_F(TlsFailureTest, PlainHttpGetsAPlainText400) {
  start(tls_section({pki_.server}));
  RawClient c(port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send("GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  std::string got;
  const IoStatus st = c.read_until_close(&got);
  EXPECT_EQ(st, IoStatus::kClosed) << "the 400 must arrive before an orderly close: " << to_string(st);
  EXPECT_EQ(got.rfind("HTTP/1.1 400 ", 0), 0u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  EXPECT_NE(got.find("https://"), std::string::npos) << got;
  expect_only_reason("plain_http", 1);
}

TEST_F(TlsFailureTest, StalledHandshakesTimeOut) {
  start(tls_section({pki_.server}, "  handshake_timeout: 1s\n"));
  // One sends nothing, one half a ClientHello (a record header announcing 512 bytes and
  // 5 of them).
  RawClient silent(port());
  RawClient half(port());
  ASSERT_TRUE(silent.connected() && half.connected());
  ASSERT_TRUE(half.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03", 10)));
  const Deadline generous = deadline_in(std::chrono::seconds(15));
  EXPECT_TRUE(silent.wait_closed(generous));
  EXPECT_TRUE(half.wait_closed(generous));
  expect_only_reason("handshake_timeout", 2);
  // A handshake that completes is not cut by that timer: a keep-alive connection idles
  // past 1 s (the idle timeout, 60 s, applies once secured) and still works.
  TlsClient ok(port(), verified());
  ASSERT_TRUE(ok.ok()) << ok.error();
  HttpMessage m;
  ASSERT_TRUE(ok.exchange(simple_get("/1"), m).ok());
  EXPECT_EQ(m.status, 200);
  // Wait for a third stalled connection to be cut: that proves more than 1 s passed.
  RawClient third(port());
  ASSERT_TRUE(third.wait_closed(generous));
  ASSERT_TRUE(ok.exchange(simple_get("/2"), m).ok()) << "the secured connection was cut";
  EXPECT_EQ(m.status, 200);
}

// ------------------------------------------------------------------ mTLS accepted

TEST_F(TlsTest, MutualTlsAcceptsAGoodClientCertificate) {
  // A bundle of two CAs: clients of either are accepted.
  TestCa second("second client root");
  std::string bundle = pki_.ca.certificate_pem() + second.certificate_pem();
  const std::string bundle_file = pki_.dir.file("client-cas.pem");
  overwrite_file(bundle_file, bundle);
  start(tls_section({pki_.server},
                    "  client_certificate: required\n  client_ca_file: " + bundle_file + "\n"));
  PemFiles alice = pki_.client("alice", pki_.ca);
  PemFiles bob = pki_.client("bob", second);
  const std::string p = std::to_string(port());
  for (const PemFiles* who : {&alice, &bob}) {
    CommandResult curl = run_command(
        {"curl", "-sS", "--max-time", "15", "--cacert", pki_.ca_file, "--cert",
         who->certificate_file, "--key", who->private_key_file, "--resolve",
         "localhost:" + p + ":127.0.0.1", "-w", "\n%{http_code}", "https://localhost:" + p + "/m"});
    ASSERT_EQ(curl.exit_code, 0) << curl.describe();
    EXPECT_EQ(curl.out, "hello\n200") << curl.describe();
  }
  // Without one: refused, no request.
  CommandResult none = run_command({"curl", "-sS", "--max-time", "15", "--cacert", pki_.ca_file,
                                    "--resolve", "localhost:" + p + ":127.0.0.1",
                                    "https://localhost:" + p + "/none"});
  EXPECT_NE(none.exit_code, 0) << none.describe();
  EXPECT_EQ(wait_metric(stats(), kFailures, with(kDown, "reason", "no_certificate"), 1), 1);
  EXPECT_EQ(upstream_->requests(), 2u);
}

// ------------------------------------------------------------------ certificate swaps

TEST_F(TlsTest, SecretSymlinkSwapServesTheNewCertificateWithoutDroppingConnections) {
  SecretDir secret(pki_.dir.file("secret"));
  auto publish = [&](const std::string& cn) {
    CertOptions o;
    o.common_name = cn;
    o.dns = {"localhost"};
    auto [crt, key] = pki_.ca.issue_pem(o);
    secret.publish({{"tls.crt", crt}, {"tls.key", key}});
  };
  publish("generation-1");
  start(tls_section({PemFiles{secret.path("tls.crt"), secret.path("tls.key")}}));

  TlsClient kept(port(), verified());
  ASSERT_TRUE(kept.ok()) << kept.error();
  EXPECT_NE(kept.peer_subject().find("CN=generation-1"), std::string::npos) << kept.peer_subject();
  const std::string old_serial = kept.peer_serial_hex();
  HttpMessage m;
  ASSERT_TRUE(kept.exchange(simple_get("/before"), m).ok());
  ASSERT_EQ(m.status, 200);

  // Clients keep connecting and asking throughout the swap: none may fail.
  std::atomic<bool> stop{false};
  std::atomic<int> done{0}, failed{0};
  std::thread traffic([&] {
    while (!stop) {
      TlsClient c(port(), verified());
      HttpMessage r;
      if (c.ok() && c.exchange(simple_get("/during"), r).ok() && r.status == 200) {
        ++done;
      } else {
        ++failed;
      }
    }
  });
  publish("generation-2");
  const bool reloaded = proxy_->wait_for_log("\"tls_reloaded\"", soon()).has_value();
  // The log line comes as the new snapshot is handed to the workers, which adopt it on
  // their own threads: new connections are polled until they get the new certificate.
  std::unique_ptr<TlsClient> fresh;
  const Deadline until = soon();
  while (reloaded && Clock::now() < until) {
    fresh = std::make_unique<TlsClient>(port(), verified());
    if (!fresh->ok() || fresh->peer_subject().find("CN=generation-2") != std::string::npos) break;
  }
  stop = true;
  traffic.join();
  ASSERT_TRUE(reloaded) << "the swapped Secret was not picked up";
  EXPECT_EQ(failed.load(), 0) << done.load() << " succeeded";
  EXPECT_GT(done.load(), 0);
  ASSERT_TRUE(fresh && fresh->ok()) << (fresh ? fresh->error() : "");
  EXPECT_NE(fresh->peer_subject().find("CN=generation-2"), std::string::npos)
      << fresh->peer_subject();
  EXPECT_NE(fresh->peer_serial_hex(), old_serial);
  ASSERT_TRUE(fresh->exchange(simple_get("/new"), m).ok());
  EXPECT_EQ(m.status, 200);

  // The keep-alive connection from before the swap still works, on its old certificate.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(kept.exchange(simple_get("/after"), m).ok()) << "the kept connection was dropped";
    EXPECT_EQ(m.status, 200);
  }
  EXPECT_EQ(kept.peer_serial_hex(), old_serial);
  EXPECT_EQ(metric_now(stats(), kFailures, kDown), 0);

  // And an explicit SIGHUP to a config naming other files.
  CertOptions o;
  o.common_name = "generation-3";
  o.dns = {"localhost"};
  PemFiles third = pki_.ca.issue(o, pki_.dir.path(), "third");
  ASSERT_TRUE(proxy_->rewrite_config(make_config(upstream_->address(), tls_section({third}), kWorkers)));
  ASSERT_TRUE(proxy_->send_signal(SIGHUP));
  ASSERT_TRUE(proxy_->wait_for_log("\"config_reloaded\"", soon()));
  std::string subject;
  for (const Deadline d = soon(); Clock::now() < d;) {
    TlsClient after_hup(port(), verified());
    ASSERT_TRUE(after_hup.ok()) << after_hup.error();
    subject = after_hup.peer_subject();
    if (subject.find("CN=generation-3") != std::string::npos) break;
  }
  EXPECT_NE(subject.find("CN=generation-3"), std::string::npos) << subject;
  ASSERT_TRUE(kept.exchange(simple_get("/after-hup"), m).ok()) << "SIGHUP dropped the connection";
  EXPECT_EQ(m.status, 200);
}

// ------------------------------------------------------------------ upstream TLS

// proxy (upstream.tls) -> app (a second sidemeter with a TLS listener) -> TestUpstream.
class UpstreamTlsTest : public TlsTest {
 protected:
  void start_chain(const std::string& app_tls, const std::string& upstream_tls,
                   const std::string& proxy_extra = "") {
    upstream_ = std::make_unique<TestUpstream>(TestUpstream::fixed("from the application"), 1);
    app_ = start_sidemeter(upstream_->address(), app_tls);
    ASSERT_TRUE(upstream_->wait_probes(soon())) << app_->log_text();
    proxy_ = start_sidemeter("127.0.0.1:" + std::to_string(app_->listen_port()),
                             "upstream:\n  tls:\n    enabled: true\n" + upstream_tls + proxy_extra);
  }
  std::string trusting(const std::string& ca, const std::string& name = "localhost") {
    return "    ca_file: " + ca + "\n    server_name: " + name + "\n";
  }
  int status_of(const std::string& target, const std::string& extra = "") {
    RawClient c(port());
    HttpMessage m;
    if (!c.exchange(simple_get(target, extra), m).ok()) return -1;
    return m.status;
  }
};

TEST_F(UpstreamTlsTest, RequestsFlowAndNewPoolConnectionsResume) {
  // No pooling: every request opens (and resumes) a new upstream TLS connection.
  start_chain(tls_section({pki_.server}), trusting(pki_.ca_file), "  max_idle_per_worker: 0\n");
  constexpr int kRequests = 6;
  for (int i = 0; i < kRequests; ++i) ASSERT_EQ(status_of("/r" + std::to_string(i)), 200);
  ASSERT_TRUE(upstream_->wait_requests(kRequests, soon()));
  // The application sees the proxy's TLS as https.
  for (const HttpMessage& m : upstream_->seen_requests())
    EXPECT_EQ(m.header("X-Forwarded-Proto").value_or(""), "https");
  // Each worker's first connection may be full; later ones resume. Seen from both ends.
  const double up_resumed = wait_metric(stats(), kHandshakes, with(kUp, "resumed", "true"), 1);
  EXPECT_GE(up_resumed, 1);
  EXPECT_EQ(metric_now(stats(), kHandshakes, kUp), kRequests);
  EXPECT_GE(wait_metric(app_->stats_port(), kHandshakes, with(kDown, "resumed", "true"), up_resumed),
            up_resumed);
  EXPECT_EQ(metric_now(stats(), kFailures, kUp), 0);
  // The upstream TLS phase is measured (each exchange opened a TLS connection): its window
  // quantiles are no longer NaN. (Window summaries carry no _count: it would fall.)
  EXPECT_GT(wait_metric(stats(), "sidemeter_upstream_tls_handshake_window_seconds",
                        {{"window", "5m"}, {"quantile", "0.5"}}, 1e-9),
            0);
}

TEST_F(UpstreamTlsTest, MutualTlsToTheApplication) {
  PemFiles ours = pki_.client("sidemeter-client", pki_.ca);
  start_chain(tls_section({pki_.server},
                          "  client_certificate: required\n  client_ca_file: " + pki_.ca_file + "\n"),
              trusting(pki_.ca_file) + "    certificate_file: " + ours.certificate_file +
                  "\n    private_key_file: " + ours.private_key_file + "\n");
  ASSERT_EQ(status_of("/with-cert"), 200);
  EXPECT_EQ(upstream_->requests(), 1u);
  EXPECT_EQ(metric_now(app_->stats_port(), kFailures, kDown), 0);

  // A second proxy in front of the same application, without our certificate: refused
  // by the application (a separate process, so no session of the first can be resumed).
  auto bare = start_sidemeter("127.0.0.1:" + std::to_string(app_->listen_port()),
                              "upstream:\n  tls:\n    enabled: true\n" + trusting(pki_.ca_file));
  {
    RawClient c(bare->listen_port());
    HttpMessage m;
    ASSERT_TRUE(c.exchange(simple_get("/without-cert"), m).ok());
    EXPECT_EQ(m.status, 502);
  }
  EXPECT_EQ(wait_metric(app_->stats_port(), kFailures, with(kDown, "reason", "no_certificate"), 1),
            1);
  EXPECT_EQ(upstream_->requests(), 1u) << "the refused request reached the application";
  // The refusal is the application's, after our side thought the handshake done (TLS
  // 1.3 sends the client certificate in the client's last flight): still a failed
  // handshake for the proxy, with the application's reason, not a reset.
  const Labels tls_failed = {{"error_type", "tls_handshake_failed"}};
  EXPECT_EQ(wait_metric(bare->stats_port(), kUpstreamErrors, tls_failed, 1), 1);
  const std::string text = fetch_metrics(bare->stats_port());
  EXPECT_EQ(metric_sum(text, kUpstreamErrors).value_or(-1), 1) << text;
  EXPECT_EQ(metric_sum(text, kFailures, with(kUp, "reason", "no_certificate")).value_or(-1), 1)
      << text;
  if (HasFailure()) std::cerr << "==== proxy without a certificate\n" << bare->log_text();
}

// The application closes idle TLS connections (close_notify) sooner than the proxy's
// pool gives them up: the next request must not fail on the dead pooled connection.
TEST_F(UpstreamTlsTest, PooledConnectionClosedByTheApplicationIsNotUsed) {
  start_chain(tls_section({pki_.server}) + "timeouts:\n  downstream_idle: 300ms\n",
              trusting(pki_.ca_file));
  ASSERT_EQ(status_of("/first"), 200);
  // Wait until the application has closed it (its own gauge), then ask again.
  const Labels down = {{"side", "downstream"}};
  double open = -1;
  for (const Deadline d = soon(); Clock::now() < d;) {
    open = metric_now(app_->stats_port(), "sidemeter_connections_active", down);
    if (open == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(open, 0) << "the application never closed the idle connection";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(status_of("/again"), 200);
  EXPECT_EQ(upstream_->requests(), 4u);
  EXPECT_EQ(wait_metric(stats(), "sidemeter_request_duration_seconds_count", {}, 4), 4);
  EXPECT_EQ(metric_now(stats(), kUpstreamErrors), 0);
}

// No server_name: the address's IP is what is verified (the certificate has 127.0.0.1
// among its IP subjectAltNames); a certificate without it is refused.
TEST_F(UpstreamTlsTest, IpAddressIsVerifiedWithoutServerName) {
  start_chain(tls_section({pki_.server}), "    ca_file: " + pki_.ca_file + "\n");
  EXPECT_EQ(status_of("/by-ip"), 200);
  CertOptions o;
  o.common_name = "127.0.0.1";  // a CN is not a subjectAltName
  o.dns = {"localhost"};
  PemFiles no_ip = pki_.ca.issue(o, pki_.dir.path(), "no-ip");
  auto other_app = start_sidemeter(upstream_->address(), tls_section({no_ip}));
  auto front = start_sidemeter("127.0.0.1:" + std::to_string(other_app->listen_port()),
                               "upstream:\n  tls:\n    enabled: true\n    ca_file: " +
                                   pki_.ca_file + "\n");
  RawClient c(front->listen_port());
  HttpMessage m;
  ASSERT_TRUE(c.exchange(simple_get("/refused"), m).ok());
  EXPECT_EQ(m.status, 502);
  EXPECT_EQ(wait_metric(front->stats_port(), kFailures, with(kUp, "reason", "bad_certificate"), 1),
            1);
  EXPECT_EQ(upstream_->requests(), 1u);
}

struct VerifyFailure {
  const char* name;
  bool wrong_ca;
  const char* server_name;
};

class UpstreamVerifyTest : public UpstreamTlsTest,
                           public ::testing::WithParamInterface<VerifyFailure> {};

TEST_P(UpstreamVerifyTest, FailedVerificationIs502OnceAndNeverReachesTheApplication) {
  const VerifyFailure& c = GetParam();
  start_chain(tls_section({pki_.server}),
              trusting(c.wrong_ca ? pki_.other_ca_file : pki_.ca_file, c.server_name));
  EXPECT_EQ(status_of("/refused"), 502);
  EXPECT_EQ(wait_metric(stats(), kUpstreamErrors, {{"error_type", "tls_handshake_failed"}}, 1), 1);
  const std::string text = fetch_metrics(stats());
  // One attempt: one failed handshake, no retry, no completed handshake.
  EXPECT_EQ(metric_sum(text, kFailures, kUp).value_or(-1), 1) << text;
  EXPECT_EQ(metric_sum(text, kHandshakes, kUp).value_or(-1), 0) << text;
  EXPECT_EQ(metric_sum(text, "sidemeter_upstream_retries_total").value_or(-1), 0) << text;
  const double reason =
      metric_sum(text, kFailures, with(kUp, "reason", c.wrong_ca ? "unknown_ca" : "bad_certificate"))
          .value_or(-1);
  EXPECT_EQ(reason, 1) << text;
  // The application saw one connection fail, and its backend nothing.
  EXPECT_EQ(wait_metric(app_->stats_port(), kFailures, kDown, 1), 1);
  EXPECT_EQ(metric_now(app_->stats_port(), kHandshakes, kDown), 0);
  EXPECT_EQ(upstream_->requests(), 0u);
  EXPECT_EQ(upstream_->connections(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Cases, UpstreamVerifyTest,
                         ::testing::Values(VerifyFailure{"WrongCa", true, "localhost"},
                                           VerifyFailure{"WrongName", false, "elsewhere.test"}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace sidemeter::testing
