#pragma once
// Certificates made at test time with OpenSSL's C API, so no key is committed and no
// openssl binary is needed: CAs (ECDSA P-256 or RSA 2048, roots or intermediates),
// server and client leaves with DNS/IP subjectAltNames and any validity window, written
// as PEM (leaf then chain in one file, the key in another). Plus the file moves a reload
// test needs: an in-place overwrite, an atomic replace, and a Kubernetes-style Secret
// directory whose ..data symlink is swapped.
//
// Failures throw std::runtime_error (a test helper: the test fails with the reason).
// Not thread-safe; one test thread.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sidemeter::testing {

enum class KeyType { kEcdsaP256, kRsa2048 };

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const;  // path()/name

 private:
  std::string path_;
};

struct CertOptions {
  std::string common_name = "sidemeter test";
  std::vector<std::string> dns;  // subjectAltName DNS entries ("*.example.com" allowed)
  std::vector<std::string> ips;  // subjectAltName IP entries
  KeyType key = KeyType::kEcdsaP256;
  int64_t valid_from_s = -3600;         // notBefore, seconds from now
  int64_t valid_until_s = 30 * 86400;   // notAfter, seconds from now
  bool client = false;                  // extendedKeyUsage clientAuth, else serverAuth
};

struct PemFiles {
  std::string certificate_file;  // leaf, then the issuing intermediates
  std::string private_key_file;
};

class TestCa {
 public:
  explicit TestCa(std::string name, KeyType key = KeyType::kEcdsaP256);
  ~TestCa();
  TestCa(TestCa&&) noexcept;
  TestCa& operator=(TestCa&&) noexcept;

  // A CA signed by this one; what it issues carries it as the chain.
  TestCa intermediate(std::string name, KeyType key = KeyType::kEcdsaP256) const;
  // PEM text of a new leaf plus chain, and of its key.
  std::pair<std::string, std::string> issue_pem(const CertOptions& options) const;
  // Writes dir/<stem>.crt and dir/<stem>.key.
  PemFiles issue(const CertOptions& options, const std::string& dir, const std::string& stem) const;
  std::string certificate_pem() const;  // this CA alone (a trust anchor for a root)
  std::string write_certificate(const std::string& path) const;  // returns path

 private:
  struct Impl;
  explicit TestCa(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Truncates and rewrites `path` (same inode; mtime and size change).
void overwrite_file(const std::string& path, std::string_view content);
// Writes a sibling then renames it over `path` (a new inode, atomically).
void replace_file(const std::string& path, std::string_view content);

// A Kubernetes Secret volume: <dir>/<name> -> ..data/<name>, ..data -> ..<version>.
// publish() writes a new version directory and swaps ..data with one rename, the way
// the kubelet does, then removes the previous version.
class SecretDir {
 public:
  explicit SecretDir(std::string dir);
  void publish(const std::vector<std::pair<std::string, std::string>>& files);  // name, content
  std::string path(std::string_view name) const;  // the stable path a config names

 private:
  std::string dir_;
  std::string current_;  // "..v3"
  int version_ = 0;
};

}  // namespace sidemeter::testing
