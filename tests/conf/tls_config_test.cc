// tls and upstream.tls: defaults, every key, every error with its position, the files
// checked at load, interpolation, several errors at once.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "conf/config.h"
#include "tests/conf/load_text.h"

using namespace sidemeter::conf;
using namespace sidemeter::conf::testing;

namespace {

// Real files for the keys that name one (contents do not matter to conf).
struct Pem {
  TempDir dir;
  std::string crt = dir.write("a.crt", "-----BEGIN CERTIFICATE-----\n");
  std::string key = dir.write("a.key", "-----BEGIN PRIVATE KEY-----\n");
  std::string crt2 = dir.write("b.crt", "-----BEGIN CERTIFICATE-----\n");
  std::string key2 = dir.write("b.key", "-----BEGIN PRIVATE KEY-----\n");
  std::string ca = dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
};

// Joined without "literal" + std::string (GCC 12 warns falsely, -Wrestrict).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

}  // namespace

TEST(TlsConfig, Defaults) {
  auto r = load_text("workers: 1\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const DownstreamTls& t = r.config->tls;
  EXPECT_FALSE(t.enabled());
  EXPECT_TRUE(t.certificates.empty());
  EXPECT_EQ(t.min_version, TlsVersion::k1_2);
  EXPECT_EQ(t.ciphers, DownstreamTls{}.ciphers);
  EXPECT_EQ(t.ciphersuites,
            "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(t.client_certificate, ClientCertificate::kNone);
  EXPECT_EQ(t.client_ca_file, "");
  EXPECT_TRUE(t.session_tickets);
  EXPECT_EQ(t.session_ticket_rotation_ms, 3'600'000u);
  EXPECT_EQ(t.session_cache_size, 20'480u);
  EXPECT_EQ(t.handshake_timeout_ms, 10'000u);
  const UpstreamTls& u = r.config->upstream.tls;
  EXPECT_FALSE(u.enabled);
  EXPECT_EQ(u.ca_file, "");
  EXPECT_EQ(u.server_name, "");
  EXPECT_TRUE(u.verify);
  EXPECT_EQ(u.client_certificate, TlsCertificate{});
  EXPECT_EQ(u.min_version, TlsVersion::k1_2);
  EXPECT_TRUE(u.session_resumption);
  EXPECT_EQ(r.config->tls, DownstreamTls{});
  EXPECT_EQ(r.config->upstream.tls, UpstreamTls{});
}

TEST(TlsConfig, VersionNames) {
  EXPECT_EQ(tls_version_name(TlsVersion::k1_2), "TLSv1.2");
  EXPECT_EQ(tls_version_name(TlsVersion::k1_3), "TLSv1.3");
}

TEST(TlsConfig, EveryKey) {
  Pem pem;
  auto r = load_text(cat({R"(tls:
  certificates:
    - certificate_file: )", pem.crt, R"(
      private_key_file: )", pem.key, R"(
    - {private_key_file: )", pem.key2, ", certificate_file: ", pem.crt2, R"(}
  min_version: TLSv1.3
  ciphers: "ECDHE-RSA-AES128-GCM-SHA256"
  ciphersuites: TLS_AES_256_GCM_SHA384
  client_certificate: required
  client_ca_file: )", pem.ca, R"(
  session_tickets: false
  session_ticket_rotation: 30m
  session_cache_size: 0
  handshake_timeout: 2500ms
upstream:
  tls:
    enabled: true
    ca_file: )", pem.ca, R"(
    server_name: app.internal
    verify: false
    certificate_file: )", pem.crt, R"(
    private_key_file: )", pem.key, R"(
    min_version: "1.3"
    session_resumption: false
)"}));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  const DownstreamTls& t = r.config->tls;
  ASSERT_EQ(t.certificates.size(), 2u);
  EXPECT_TRUE(t.enabled());
  EXPECT_EQ(t.certificates[0], (TlsCertificate{pem.crt, pem.key}));
  EXPECT_EQ(t.certificates[1], (TlsCertificate{pem.crt2, pem.key2}));
  EXPECT_EQ(t.min_version, TlsVersion::k1_3);
  EXPECT_EQ(t.ciphers, "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_EQ(t.ciphersuites, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(t.client_certificate, ClientCertificate::kRequired);
  EXPECT_EQ(t.client_ca_file, pem.ca);
  EXPECT_FALSE(t.session_tickets);
  EXPECT_EQ(t.session_ticket_rotation_ms, 1'800'000u);
  EXPECT_EQ(t.session_cache_size, 0u);
  EXPECT_EQ(t.handshake_timeout_ms, 2'500u);
  const UpstreamTls& u = r.config->upstream.tls;
  EXPECT_TRUE(u.enabled);
  EXPECT_EQ(u.ca_file, pem.ca);
  EXPECT_EQ(u.server_name, "app.internal");
  EXPECT_FALSE(u.verify);
  EXPECT_EQ(u.client_certificate, (TlsCertificate{pem.crt, pem.key}));
  EXPECT_EQ(u.min_version, TlsVersion::k1_3);
  EXPECT_FALSE(u.session_resumption);
}

TEST(TlsConfig, VersionSpellings) {
  for (const char* text : {"TLSv1.2", "1.2", "\"1.2\""}) {
    auto r = load_text(cat({"tls:\n  min_version: ", text, "\n"}));
    ASSERT_TRUE(r.config) << text << ::testing::PrintToString(r.errors);
    EXPECT_EQ(r.config->tls.min_version, TlsVersion::k1_2) << text;
  }
  for (const char* text : {"TLSv1.3", "1.3"}) {
    auto r = load_text(cat({"upstream:\n  tls:\n    min_version: ", text, "\n"}));
    ASSERT_TRUE(r.config) << text << ::testing::PrintToString(r.errors);
    EXPECT_EQ(r.config->upstream.tls.min_version, TlsVersion::k1_3) << text;
  }
  EXPECT_EQ(error_of("tls:\n  min_version: TLSv1.1\n"),
            "F:2:16: tls.min_version: TLS 1.0 and 1.1 are not offered (RFC 8996); expected "
            "TLSv1.2 or TLSv1.3, got 'TLSv1.1'");
  EXPECT_EQ(error_of("upstream:\n  tls:\n    min_version: tls1.3\n"),
            "F:3:18: upstream.tls.min_version: expected TLSv1.2 or TLSv1.3, got 'tls1.3'");
}

TEST(TlsConfig, ClientCertificateModes) {
  Pem pem;
  for (const auto& [text, mode] : {std::pair{"optional", ClientCertificate::kOptional},
                                   std::pair{"required", ClientCertificate::kRequired}}) {
    auto r = load_text(cat({"tls:\n  certificates: [{certificate_file: ", pem.crt,
                            ", private_key_file: ", pem.key, "}]\n  client_certificate: ", text,
                            "\n  client_ca_file: ", pem.ca, "\n"}));
    ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
    EXPECT_EQ(r.config->tls.client_certificate, mode);
  }
  EXPECT_EQ(error_of("tls:\n  client_certificate: always\n"),
            "F:2:23: tls.client_certificate: expected none, optional or required, got 'always'");
}

TEST(TlsConfig, ValueErrorsAtTheirPosition) {
  EXPECT_EQ(error_of("tls:\n  ciphers: \"\"\n"),
            "F:2:12: tls.ciphers: missing value (expected a colon-separated list of names)");
  EXPECT_EQ(error_of("tls:\n  ciphersuites: \"A B\"\n"),
            "F:2:17: tls.ciphersuites must be printable ASCII without spaces");
  EXPECT_EQ(error_of("tls:\n  session_ticket_rotation: 10s\n"),
            "F:2:28: tls.session_ticket_rotation must be 1m-24h, got 10s");
  EXPECT_EQ(error_of("tls:\n  session_cache_size: -1\n"),
            "F:2:23: tls.session_cache_size must be 0-10000000, got -1");
  EXPECT_EQ(error_of("tls:\n  handshake_timeout: 10\n"),
            "F:2:22: tls.handshake_timeout: '10': missing unit (ms, s, m or h), e.g. 10s");
  EXPECT_EQ(error_of("tls:\n  session_tickets: yes\n"),
            "F:2:20: tls.session_tickets: expected true or false, got 'yes'");
  EXPECT_EQ(error_of("upstream:\n  tls:\n    server_name: \"[::1]\"\n"),
            "F:3:18: upstream.tls.server_name must be a host name or an IP address (letters, "
            "digits, '.', '-', ':'), got '[::1]'");
  EXPECT_EQ(error_of("upstream:\n  tls:\n    enabled: 1\n"),
            "F:3:14: upstream.tls.enabled: expected true or false, got '1'");
  EXPECT_EQ(error_of("tls:\n  certificate: x\n"),
            "F:2:3: unknown key 'certificate' in tls (did you mean 'certificates'?)");
}

TEST(TlsConfig, CertificateEntries) {
  Pem pem;
  // Each entry needs both files, non-empty.
  EXPECT_EQ(error_of(cat({"tls:\n  certificates:\n    - certificate_file: ", pem.crt, "\n"})),
            "F:3:7: an entry of tls.certificates is missing 'private_key_file'");
  EXPECT_EQ(error_of(cat({"tls:\n  certificates:\n    - certificate_file: \"\"\n      "
                          "private_key_file: ", pem.key, "\n"})),
            "F:3:25: tls.certificates.certificate_file: missing value (expected a PEM file: "
            "the certificate, then its chain)");
  EXPECT_EQ(error_of(cat({"tls:\n  certificates:\n    - certificate_file: ", pem.crt,
                          "\n      private_key_file:\n"})),
            "F:4:7: tls.certificates.private_key_file: missing value (expected a PEM file: the "
            "certificate's private key)");
  EXPECT_EQ(error_of(cat({"tls:\n  certificates:\n    - {certificate_file: ", pem.crt,
                          ", privat_key_file: b}\n"})),
            cat({"F:3:", std::to_string(28 + pem.crt.size()),
                 ": unknown key 'privat_key_file' in an entry of tls.certificates (did you mean "
                 "'private_key_file'?)"}));
  EXPECT_EQ(error_of("tls:\n  certificates: /etc/tls.crt\n"),
            "F:2:17: tls.certificates must be a list, got the scalar '/etc/tls.crt'");
  // The same pair twice: at the second entry's certificate_file.
  EXPECT_EQ(error_of(cat({"tls:\n  certificates:\n    - {certificate_file: ", pem.crt,
                          ", private_key_file: ", pem.key, "}\n    - {certificate_file: ",
                          pem.crt, ", private_key_file: ", pem.key, "}\n"})),
            "F:4:26: tls.certificates[1]: the same certificate_file and private_key_file as "
            "tls.certificates[0]");
  // One certificate file with two keys is two entries (SNI would never pick the second,
  // but that is for the transport to judge with the certificates' names).
  auto r = load_text(cat({"tls:\n  certificates:\n    - {certificate_file: ", pem.crt,
                          ", private_key_file: ", pem.key, "}\n    - {certificate_file: ",
                          pem.crt, ", private_key_file: ", pem.key2, "}\n"}));
  EXPECT_TRUE(r.config) << ::testing::PrintToString(r.errors);
}

TEST(TlsConfig, FilesMustBeReadableAtLoad) {
  Pem pem;
  const std::string gone = pem.dir.path() + "/gone.pem";
  EXPECT_EQ(error_of(cat({"tls:\n  certificates:\n    - certificate_file: ", gone,
                          "\n      private_key_file: ", pem.key, "\n"})),
            cat({"F:3:25: tls.certificates[0].certificate_file: ", gone,
                 ": No such file or directory"}));
  EXPECT_EQ(error_of(cat({"tls:\n  certificates:\n    - {certificate_file: ", pem.crt,
                          ", private_key_file: ", pem.key, "}\n    - {certificate_file: ",
                          pem.crt2, ", private_key_file: ", pem.dir.path(), "}\n"})),
            cat({"F:4:", std::to_string(46 + pem.crt2.size()),
                 ": tls.certificates[1].private_key_file: ", pem.dir.path(),
                 ": Is a directory"}));
  EXPECT_EQ(error_of(cat({"upstream:\n  tls:\n    ca_file: ", gone, "\n"})),
            cat({"F:3:14: upstream.tls.ca_file: ", gone, ": No such file or directory"}));
  if (geteuid() != 0) {  // root reads anything
    const std::string locked = pem.dir.write("locked.key", "x");
    ASSERT_EQ(chmod(locked.c_str(), 0), 0);
    EXPECT_EQ(error_of(cat({"upstream:\n  tls:\n    certificate_file: ", pem.crt,
                            "\n    private_key_file: ", locked, "\n"})),
              cat({"F:4:23: upstream.tls.private_key_file: ", locked, ": Permission denied"}));
  }
}

TEST(TlsConfig, RelativeFilesAreTheConfigFilesDirectorys) {
  TempDir dir;
  dir.write("tls.crt", "x");
  dir.write("tls.key", "x");
  CommandLine cli;
  cli.config_path = dir.write(
      "sidemeter.yaml",
      "tls:\n  certificates: [{certificate_file: tls.crt, private_key_file: tls.key}]\n");
  LoadResult r = load(cli, fake_env());
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->tls.certificates[0].certificate_file, dir.path() + "/tls.crt");
  EXPECT_EQ(r.config->tls.certificates[0].private_key_file, dir.path() + "/tls.key");
  // The printed config names the resolved files, so it loads from anywhere.
  EXPECT_NE(print_config(*r.config).find(cat({"certificate_file: \"", dir.path(), "/tls.crt\""})),
            std::string::npos);
}

TEST(TlsConfig, Interpolation) {
  Pem pem;
  auto r = load_text(
      "tls:\n  certificates:\n    - certificate_file: ${TLS_DIR}/a.crt\n"
      "      private_key_file: \"${TLS_DIR}/a.key\"\n  min_version: ${TLS_MIN:-TLSv1.3}\n"
      "upstream:\n  tls:\n    enabled: ${UPSTREAM_TLS}\n    server_name: ${APP_HOST}\n",
      fake_env({{"TLS_DIR", pem.dir.path()}, {"UPSTREAM_TLS", "true"}, {"APP_HOST", "app"}}));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->tls.certificates[0], (TlsCertificate{pem.crt, pem.key}));
  EXPECT_EQ(r.config->tls.min_version, TlsVersion::k1_3);
  EXPECT_TRUE(r.config->upstream.tls.enabled);
  EXPECT_EQ(r.config->upstream.tls.server_name, "app");
  // An unset variable is reported once, at its position, not again as a missing file.
  auto bad = load_text("upstream:\n  tls:\n    ca_file: ${CA}\n");
  EXPECT_EQ(bad.errors, std::vector<std::string>{
                            "F:3:14: environment variable CA is not set (use ${CA:-default})"});
}

TEST(TlsConfig, RulesAcrossKeys) {
  Pem pem;
  const std::string certs = cat({"tls:\n  certificates: [{certificate_file: ", pem.crt,
                                 ", private_key_file: ", pem.key, "}]\n"});
  EXPECT_EQ(error_of(certs + "  client_certificate: required\n"),
            "F:3:23: tls.client_certificate is required but tls.client_ca_file is not set (the "
            "CAs client certificates are verified against)");
  EXPECT_EQ(error_of(certs + "  client_ca_file: " + pem.ca + "\n"),
            "F:3:19: tls.client_ca_file is set but tls.client_certificate is none (set it to "
            "optional or required to ask clients for a certificate)");
  EXPECT_EQ(error_of(cat({"tls:\n  client_certificate: optional\n  client_ca_file: ", pem.ca,
                          "\n"})),
            "F:2:23: tls.client_certificate needs tls.certificates (without them the listener "
            "is plain HTTP)");
  EXPECT_EQ(error_of(cat({"upstream:\n  tls:\n    enabled: true\n    certificate_file: ",
                          pem.crt, "\n"})),
            "F:4:23: upstream.tls.certificate_file and upstream.tls.private_key_file go together "
            "(a client certificate and its key): private_key_file is not set");
  EXPECT_EQ(error_of(cat({"upstream:\n  tls:\n    private_key_file: ", pem.key, "\n"})),
            "F:3:23: upstream.tls.certificate_file and upstream.tls.private_key_file go together "
            "(a client certificate and its key): certificate_file is not set");
}

TEST(TlsConfig, SeveralErrorsAtOnce) {
  Pem pem;
  const std::string gone = pem.dir.path() + "/gone.crt";
  auto r = load_text(cat({R"(tls:
  certificates:
    - certificate_file: )", gone, R"(
      private_key_file: )", pem.key, R"(
    - certificate_file: )", pem.crt, R"(
  min_version: TLSv1.0
  client_certificate: required
  handshake_timeout: 0s
upstream:
  tls:
    verify: nope
    certificate_file: )", pem.crt, R"(
)"}));
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.errors,
            (std::vector<std::string>{
                "F:5:7: an entry of tls.certificates is missing 'private_key_file'",
                "F:6:16: tls.min_version: TLS 1.0 and 1.1 are not offered (RFC 8996); expected "
                "TLSv1.2 or TLSv1.3, got 'TLSv1.0'",
                "F:8:22: tls.handshake_timeout must be 100ms-1h, got 0s",
                "F:11:13: upstream.tls.verify: expected true or false, got 'nope'",
                cat({"F:3:25: tls.certificates[0].certificate_file: ", gone,
                     ": No such file or directory"}),
                "F:7:23: tls.client_certificate is required but tls.client_ca_file is not set "
                "(the CAs client certificates are verified against)",
                "F:12:23: upstream.tls.certificate_file and upstream.tls.private_key_file go "
                "together (a client certificate and its key): private_key_file is not set",
            }))
      << ::testing::PrintToString(r.errors);
}

TEST(TlsConfig, NoKeyNeedsARestartAndTheHashSeesThem) {
  Pem pem;
  auto plain = load_text("workers: 1\n");
  auto tls = load_text(cat({"workers: 1\ntls:\n  certificates: [{certificate_file: ", pem.crt,
                            ", private_key_file: ", pem.key, "}]\nupstream:\n  tls: {enabled: "
                            "true, server_name: app}\n"}));
  ASSERT_TRUE(plain.config && tls.config) << ::testing::PrintToString(tls.errors);
  EXPECT_TRUE(restart_only_changes(*plain.config, *tls.config).empty());
  EXPECT_NE(plain.config->hash, tls.config->hash);
  Config kept = keep_restart_only_keys(*plain.config, *tls.config);
  EXPECT_EQ(kept.tls, tls.config->tls);
  EXPECT_EQ(kept.upstream.tls, tls.config->upstream.tls);
}

TEST(TlsConfig, CertificateExpiryRule) {
  auto r = load_text(R"(alerts:
  rules:
    - name: CertSoon
      figure: tls_certificate_expiry
      when: below
      warning: 30d
      critical: 72h
      for: 0s
)");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  ASSERT_EQ(r.config->alerts.rules.size(), 1u);
  const auto& rule = r.config->alerts.rules[0];
  EXPECT_EQ(rule.figure.figure, sidemeter::metrics::alerts::Figure::kTlsCertificateExpiry);
  EXPECT_EQ(rule.warning->value, 30.0 * 86400);  // seconds
  EXPECT_EQ(rule.critical->value, 72.0 * 3600);
  // Printed in days when whole days, so the dump loads back to the same rule.
  const std::string printed = print_config(*r.config);
  EXPECT_NE(printed.find("  warning: 30d\n"), std::string::npos) << printed;
  EXPECT_NE(printed.find("  critical: 3d\n"), std::string::npos) << printed;
  EXPECT_EQ(error_of("alerts:\n  rules:\n    - {name: a, figure: tls_certificate_expiry, when: "
                     "below, warning: 14}\n"),
            "F:3:71: alerts.rules.warning: '14': missing unit (ms, s, m or h), e.g. 14s (or "
            "days: 14d)");
  EXPECT_EQ(error_of("alerts:\n  rules:\n    - {name: a, figure: tls_certificate_expiry, when: "
                     "below, warning: 4000d}\n"),
            "F:3:71: alerts.rules.warning must be 0-3650d, got 4000d");
  EXPECT_EQ(error_of("alerts:\n  rules:\n    - {name: a, figure: tls_certificate_expiry, when: "
                     "below, warning: 1500ms}\n"),
            "F:3:71: alerts.rules.warning must be whole seconds, got 1500ms");
  EXPECT_EQ(error_of("alerts:\n  rules:\n    - {name: a, figure: tls_certificate_expiry.min, "
                     "warning: 1d}\n"),
            "F:3:25: alerts.rules.figure: figure 'tls_certificate_expiry' takes no '.min'");
  EXPECT_EQ(error_of("alerts:\n  rules:\n    - {name: a, figure: tls_certificate_expiry, when: "
                     "below, warning: 1d, route: /a}\n"),
            "F:3:82: figure 'tls_certificate_expiry' cannot be scoped to a route or method "
            "(only latency, request_size.avg, response_size.avg, error_rate, rps can)");
}
