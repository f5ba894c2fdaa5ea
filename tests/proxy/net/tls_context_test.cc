// Building TLS contexts from configuration: every problem reported at once, with its
// key and file; what certificates() and files() say; change detection across the file
// moves a reload meets (overwrite, atomic replace, Kubernetes' ..data symlink swap).
#include "proxy/net/tls_context.h"

#include <gtest/gtest.h>

#include <ctime>

#include "tests/support/test_pki.h"

namespace sidemeter::net {
namespace {

using testing::CertOptions;
using testing::PemFiles;
using testing::SecretDir;
using testing::TempDir;
using testing::TestCa;

bool has_problem(const TlsConfigError& e, const std::string& text) {
  for (const auto& p : e.problems()) {
    if (p == text) return true;
  }
  return false;
}

std::string problems_of(const TlsConfigError& e) { return e.what(); }

class TlsContextTest : public ::testing::Test {
 protected:
  TlsContextTest() : ca_("context test root") {
    CertOptions o;
    o.dns = {"one.test", "two.test"};
    good_ = ca_.issue(o, dir_.path(), "good");
    CertOptions other;
    other.dns = {"other.test"};
    other_ = ca_.issue(other, dir_.path(), "other");
  }
  TempDir dir_;
  TestCa ca_;
  PemFiles good_;
  PemFiles other_;
  std::shared_ptr<TicketKeys> keys_ = std::make_shared<TicketKeys>();
};

TEST_F(TlsContextTest, ReportsEveryProblemWithKeyAndFile) {
  conf::DownstreamTls c;
  c.certificates.push_back({good_.certificate_file, good_.private_key_file});
  c.certificates.push_back({good_.certificate_file, other_.private_key_file});  // mismatch
  c.certificates.push_back({dir_.file("missing.crt"), dir_.file("missing.key")});
  c.certificates.push_back({other_.private_key_file, other_.certificate_file});  // swapped
  c.ciphers = "NOT-A-CIPHER";
  c.ciphersuites = "TLS_NOT_A_SUITE";
  c.client_certificate = conf::ClientCertificate::kRequired;
  c.client_ca_file = dir_.file("no-ca.pem");
  try {
    TlsServerContext::create(c, keys_);
    FAIL() << "no error";
  } catch (const TlsConfigError& e) {
    EXPECT_TRUE(has_problem(e, "tls.certificates[1].private_key_file: " + other_.private_key_file +
                                   ": key does not match the certificate"))
        << problems_of(e);
    EXPECT_TRUE(has_problem(e, "tls.certificates[2].certificate_file: " + dir_.file("missing.crt") +
                                   ": No such file or directory"))
        << problems_of(e);
    EXPECT_TRUE(has_problem(e, "tls.certificates[2].private_key_file: " + dir_.file("missing.key") +
                                   ": No such file or directory"))
        << problems_of(e);
    EXPECT_TRUE(has_problem(e, "tls.client_ca_file: " + dir_.file("no-ca.pem") +
                                   ": No such file or directory"))
        << problems_of(e);
    bool ciphers = false, suites = false, swapped_cert = false, swapped_key = false;
    for (const auto& p : e.problems()) {
      ciphers |= p.rfind("tls.ciphers: ", 0) == 0;
      suites |= p.rfind("tls.ciphersuites: ", 0) == 0;
      swapped_cert |= p.rfind("tls.certificates[3].certificate_file: " + other_.private_key_file + ": no PEM certificate", 0) == 0;
      swapped_key |= p.rfind("tls.certificates[3].private_key_file: " + other_.certificate_file + ": no usable PEM private key", 0) == 0;
      EXPECT_EQ(p.find("tls.certificates[0]"), std::string::npos) << p;
    }
    EXPECT_TRUE(ciphers && suites && swapped_cert && swapped_key) << problems_of(e);
    EXPECT_EQ(e.problems().size(), 8u) << problems_of(e);
  }
}

TEST_F(TlsContextTest, RequiresAClientCaUnderMutualTls) {
  conf::DownstreamTls c;
  c.certificates.push_back({good_.certificate_file, good_.private_key_file});
  c.client_certificate = conf::ClientCertificate::kOptional;
  try {
    TlsServerContext::create(c, keys_);
    FAIL() << "no error";
  } catch (const TlsConfigError& e) {
    EXPECT_TRUE(has_problem(e, "tls.client_ca_file: no file given")) << problems_of(e);
  }
}

TEST_F(TlsContextTest, CertificatesAndFiles) {
  CertOptions cn_only;
  cn_only.common_name = "cn-only.test";
  PemFiles cn = ca_.issue(cn_only, dir_.path(), "cn");
  const std::string ca_file = ca_.write_certificate(dir_.file("ca.pem"));
  conf::DownstreamTls c;
  c.certificates.push_back({good_.certificate_file, good_.private_key_file});
  c.certificates.push_back({cn.certificate_file, cn.private_key_file});
  c.client_certificate = conf::ClientCertificate::kOptional;
  c.client_ca_file = ca_file;
  auto ctx = TlsServerContext::create(c, keys_);
  ASSERT_EQ(ctx->certificates().size(), 2u);
  EXPECT_EQ(ctx->certificates()[0].name, "one.test");
  EXPECT_EQ(ctx->certificates()[0].file, good_.certificate_file);
  EXPECT_EQ(ctx->certificates()[0].side, metrics::TlsSide::kDownstream);
  EXPECT_EQ(ctx->certificates()[1].name, "cn-only.test");
  const int64_t expected = int64_t(time(nullptr)) + 30 * 86400;  // CertOptions' default
  EXPECT_NEAR(double(ctx->certificates()[0].not_after_unix_s), double(expected), 120.0);
  EXPECT_EQ(ctx->files(), (std::vector<std::string>{good_.certificate_file, good_.private_key_file,
                                                    cn.certificate_file, cn.private_key_file,
                                                    ca_file}));
  EXPECT_FALSE(ctx->files_changed());
  testing::overwrite_file(ca_file, ca_.certificate_pem() + "\n");  // same inode, larger
  EXPECT_TRUE(ctx->files_changed());
}

TEST_F(TlsContextTest, AtomicReplaceIsAChange) {
  conf::DownstreamTls c;
  c.certificates.push_back({good_.certificate_file, good_.private_key_file});
  auto ctx = TlsServerContext::create(c, keys_);
  EXPECT_FALSE(ctx->files_changed());
  auto [cert, key] = ca_.issue_pem(CertOptions{});
  testing::replace_file(good_.private_key_file, key);
  EXPECT_TRUE(ctx->files_changed());
}

TEST_F(TlsContextTest, KubernetesSecretSwapIsSeenAndReloads) {
  SecretDir secret(dir_.file("secret"));
  CertOptions v1;
  v1.dns = {"v1.test"};
  auto [cert1, key1] = ca_.issue_pem(v1);
  secret.publish({{"tls.crt", cert1}, {"tls.key", key1}});
  conf::DownstreamTls c;
  c.certificates.push_back({secret.path("tls.crt"), secret.path("tls.key")});
  auto ctx = TlsServerContext::create(c, keys_);
  EXPECT_EQ(ctx->certificates().at(0).name, "v1.test");
  EXPECT_FALSE(ctx->files_changed());

  CertOptions v2;
  v2.dns = {"v2.test"};
  auto [cert2, key2] = ca_.issue_pem(v2);
  secret.publish({{"tls.crt", cert2}, {"tls.key", key2}});
  EXPECT_TRUE(ctx->files_changed());
  auto reloaded = TlsServerContext::create(c, keys_);
  EXPECT_EQ(reloaded->certificates().at(0).name, "v2.test");
  EXPECT_FALSE(reloaded->files_changed());
}

TEST_F(TlsContextTest, ClientContextProblemsAndNames) {
  conf::UpstreamTls u;
  u.enabled = true;
  u.ca_file = dir_.file("nope.pem");
  u.client_certificate = {good_.certificate_file, other_.private_key_file};
  try {
    TlsClientContext::create(u, "backend.test");
    FAIL() << "no error";
  } catch (const TlsConfigError& e) {
    EXPECT_TRUE(has_problem(e, "upstream.tls.ca_file: " + dir_.file("nope.pem") +
                                   ": No such file or directory"))
        << problems_of(e);
    EXPECT_TRUE(has_problem(e, "upstream.tls.client_certificate.private_key_file: " +
                                   other_.private_key_file + ": key does not match the certificate"))
        << problems_of(e);
    EXPECT_EQ(e.problems().size(), 2u) << problems_of(e);
  }
  conf::UpstreamTls ok;
  ok.enabled = true;  // the system store
  EXPECT_EQ(TlsClientContext::create(ok, "backend.test")->server_name(), "backend.test");
  EXPECT_EQ(TlsClientContext::create(ok, "10.1.2.3")->server_name(), "");
  EXPECT_EQ(TlsClientContext::create(ok, "[::1]")->server_name(), "");
  ok.server_name = "named.test";
  EXPECT_EQ(TlsClientContext::create(ok, "10.1.2.3")->server_name(), "named.test");
  EXPECT_TRUE(TlsClientContext::create(ok, "x")->certificates().empty());
}

TEST(TicketKeysTest, KeepsTheCurrentAndTwoPrevious) {
  TicketKeys keys;
  TicketKeys::Key first = keys.current();
  TicketKeys::Key found;
  bool current = false;
  ASSERT_TRUE(keys.find(first.name.data(), &found, &current));
  EXPECT_TRUE(current);
  EXPECT_EQ(found.aes, first.aes);
  keys.rotate();
  EXPECT_NE(keys.current().name, first.name);
  ASSERT_TRUE(keys.find(first.name.data(), &found, &current));
  EXPECT_FALSE(current);
  keys.rotate();
  EXPECT_TRUE(keys.find(first.name.data(), &found, &current));
  keys.rotate();
  EXPECT_FALSE(keys.find(first.name.data(), &found, &current));
}

}  // namespace
}  // namespace sidemeter::net
