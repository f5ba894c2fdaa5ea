#include "tests/support/test_pki.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace sidemeter::testing {
namespace {

[[noreturn]] void fail(const std::string& what) {
  unsigned long e = ERR_get_error();
  std::string msg = "test_pki: ";
  msg.append(what);
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg.append(": ");
    msg.append(buf);
  }
  ERR_clear_error();
  throw std::runtime_error(msg);
}

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

KeyPtr make_key(KeyType type) {
  EVP_PKEY* k = type == KeyType::kEcdsaP256
                    ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t(2048));
  if (k == nullptr) fail("key generation");
  return KeyPtr(k);
}

void add_ext(X509* x, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr || X509_add_ext(x, ext, -1) != 1) fail("extension " + value);
  X509_EXTENSION_free(ext);
}

// issuer == nullptr: self-signed.
X509Ptr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                  bool ca, const CertOptions* leaf) {
  X509Ptr x(X509_new());
  if (!x) fail("X509_new");
  X509_set_version(x.get(), X509_VERSION_3);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  const int64_t from = leaf != nullptr ? leaf->valid_from_s : -86400;
  const int64_t until = leaf != nullptr ? leaf->valid_until_s : 3650LL * 86400;
  X509_gmtime_adj(X509_getm_notBefore(x.get()), long(from));
  X509_gmtime_adj(X509_getm_notAfter(x.get()), long(until));
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(x.get(), key);

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  add_ext(x.get(), &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (ca) {
    add_ext(x.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x.get(), &ctx, NID_key_usage,
            EVP_PKEY_is_a(key, "RSA") ? "critical,digitalSignature,keyEncipherment"
                                      : "critical,digitalSignature");
  }
  add_ext(x.get(), &ctx, NID_subject_key_identifier, "hash");
  add_ext(x.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  if (leaf != nullptr) {
    add_ext(x.get(), &ctx, NID_ext_key_usage, leaf->client ? "clientAuth" : "serverAuth");
    std::string san;
    for (const auto& d : leaf->dns) {
      if (!san.empty()) san.push_back(',');
      san.append("DNS:");
      san.append(d);
    }
    for (const auto& ip : leaf->ips) {
      if (!san.empty()) san.push_back(',');
      san.append("IP:");
      san.append(ip);
    }
    if (!san.empty()) add_ext(x.get(), &ctx, NID_subject_alt_name, san);
  }
  if (X509_sign(x.get(), issuer_key, EVP_sha256()) == 0) fail("X509_sign");
  return x;
}

std::string pem_of(X509* x) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, size_t(len));
  BIO_free(bio);
  return out;
}

std::string pem_of(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, size_t(len));
  BIO_free(bio);
  return out;
}

void write_all(const std::string& path, std::string_view content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(content.data(), std::streamsize(content.size()));
  f.close();
  if (!f) throw std::runtime_error("test_pki: cannot write " + path);
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp");
  tmpl.append("/sidemeter-pki-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("test_pki: mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::file(std::string_view name) const {
  std::string p = path_;
  p.push_back('/');
  p.append(name);
  return p;
}

struct TestCa::Impl {
  KeyPtr key;
  X509Ptr cert;
  std::string chain_pem;  // what leaves carry after themselves: intermediates, not the root
};

TestCa::TestCa(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TestCa::TestCa(std::string name, KeyType key) : impl_(std::make_unique<Impl>()) {
  impl_->key = make_key(key);
  impl_->cert = make_cert(impl_->key.get(), name, nullptr, impl_->key.get(), true, nullptr);
}

TestCa::~TestCa() = default;
TestCa::TestCa(TestCa&&) noexcept = default;
TestCa& TestCa::operator=(TestCa&&) noexcept = default;

TestCa TestCa::intermediate(std::string name, KeyType key) const {
  auto impl = std::make_unique<Impl>();
  impl->key = make_key(key);
  impl->cert =
      make_cert(impl->key.get(), name, impl_->cert.get(), impl_->key.get(), true, nullptr);
  impl->chain_pem = pem_of(impl->cert.get());
  impl->chain_pem.append(impl_->chain_pem);
  return TestCa(std::move(impl));
}

std::pair<std::string, std::string> TestCa::issue_pem(const CertOptions& options) const {
  KeyPtr key = make_key(options.key);
  X509Ptr cert = make_cert(key.get(), options.common_name, impl_->cert.get(), impl_->key.get(),
                           false, &options);
  std::string chain = pem_of(cert.get());
  chain.append(impl_->chain_pem);
  return {chain, pem_of(key.get())};
}

PemFiles TestCa::issue(const CertOptions& options, const std::string& dir,
                       const std::string& stem) const {
  auto [cert, key] = issue_pem(options);
  PemFiles files;
  files.certificate_file = dir + "/";
  files.certificate_file.append(stem);
  files.private_key_file = files.certificate_file;
  files.certificate_file.append(".crt");
  files.private_key_file.append(".key");
  write_all(files.certificate_file, cert);
  write_all(files.private_key_file, key);
  return files;
}

std::string TestCa::certificate_pem() const { return pem_of(impl_->cert.get()); }

std::string TestCa::write_certificate(const std::string& path) const {
  write_all(path, certificate_pem());
  return path;
}

void overwrite_file(const std::string& path, std::string_view content) { write_all(path, content); }

void replace_file(const std::string& path, std::string_view content) {
  std::string tmp = path;
  tmp.append(".tmp");
  write_all(tmp, content);
  std::filesystem::rename(tmp, path);
}

SecretDir::SecretDir(std::string dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
}

void SecretDir::publish(const std::vector<std::pair<std::string, std::string>>& files) {
  namespace fs = std::filesystem;
  std::string version = "..v" + std::to_string(++version_);
  fs::create_directory(dir_ + "/" + version);
  for (const auto& [name, content] : files) write_all(dir_ + "/" + version + "/" + name, content);
  const std::string tmp_link = dir_ + "/..data_tmp";
  fs::remove(tmp_link);
  fs::create_directory_symlink(version, tmp_link);
  fs::rename(tmp_link, dir_ + "/..data");  // rename(2) over a symlink: atomic
  for (const auto& [name, content] : files) {
    const std::string link = dir_ + "/" + name;
    if (!fs::is_symlink(fs::symlink_status(link))) fs::create_symlink("..data/" + name, link);
  }
  if (!current_.empty()) fs::remove_all(dir_ + "/" + current_);
  current_ = version;
}

std::string SecretDir::path(std::string_view name) const {
  std::string p = dir_;
  p.push_back('/');
  p.append(name);
  return p;
}

}  // namespace sidemeter::testing
