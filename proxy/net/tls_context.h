#pragma once
// TLS configuration turned into OpenSSL contexts: one server context for the listener,
// one client context per upstream. Built on the control thread (create() throws,
// listing every problem it found); used read-only by worker threads, which call
// new_ssl() for each connection.
//
// Lifetime: an SSL made by new_ssl() holds a reference to its context's SSL_CTX and to
// everything its callbacks use (certificates, ticket keys, stored client sessions), so
// a reload may drop the old context while its connections live on with the
// certificate they were accepted with.
#include <openssl/ssl.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "conf/config.h"
#include "metrics/tls_stats.h"

namespace sidemeter::net {

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

// Everything wrong with a TLS configuration, one line each, naming the config key and
// the file: "tls.certificates[1].private_key_file: /x/key.pem: key does not match the
// certificate". what() joins them with newlines.
class TlsConfigError : public std::runtime_error {
 public:
  explicit TlsConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Session ticket keys, shared by every server context the process builds so tickets
// survive a reload. rotate() makes a new current key; tickets under it and the previous
// two still decrypt (under an old key they resume and are reissued under the current
// one). Any thread; the ticket callback takes the lock for an 80-byte copy per
// handshake.
class TicketKeys {
 public:
  static constexpr size_t kKept = 3;  // current + previous two
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes;   // AES-256-CBC
    std::array<unsigned char, 32> hmac;  // HMAC-SHA256
  };
  TicketKeys();  // starts with one random key; throws std::runtime_error if RAND fails
  void rotate();  // control thread, every session_ticket_rotation_ms
  Key current() const;
  // The key named `name` if still kept; *is_current tells whether it is the newest.
  bool find(const unsigned char* name, Key* out, bool* is_current) const;

 private:
  static Key make_key();
  mutable std::mutex mu_;
  std::array<Key, kKept> keys_;  // [0] current
  size_t count_ = 0;
};

// What a file was when a context was built: stat() follows symlinks, so a Kubernetes
// Secret update (the ..data symlink swapped to a new directory) changes the inode even
// when the content's size and mtime look alike.
struct FileStamp {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  int64_t mtime_ns = 0;
  int64_t size = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp_file(const std::string& path);

// The files a context was built from, stamped before they were read (a change during
// the build shows at the next check).
class WatchedFiles {
 public:
  void add(const std::string& path);
  const std::vector<std::string>& paths() const { return paths_; }
  // Stats every file again (control thread, e.g. once a second): whether any differs.
  bool changed_on_disk() const;

 private:
  std::vector<std::string> paths_;
  std::vector<FileStamp> stamps_;
};

class TlsServerContext {
 public:
  // Throws TlsConfigError (every problem) when a file is unreadable or inconsistent, a
  // cipher policy matches nothing, or client_ca_file is missing under mTLS. Config keys
  // in messages are spelled "tls.<key>".
  static std::shared_ptr<const TlsServerContext> create(const conf::DownstreamTls& config,
                                                        std::shared_ptr<TicketKeys> keys);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // A server-role SSL (accept state) for one accepted connection. Any thread. Null only
  // when OpenSSL cannot allocate.
  SslPtr new_ssl() const;
  // One per configured certificate, in config order: side downstream, name = first DNS
  // subjectAltName, else subject CN, else the file.
  const std::vector<metrics::CertificateExpiry>& certificates() const { return expiry_; }
  const std::vector<std::string>& files() const { return files_.paths(); }
  bool files_changed() const { return files_.changed_on_disk(); }
  SSL_CTX* native() const { return ctx_; }

 private:
  TlsServerContext() = default;
  SSL_CTX* ctx_ = nullptr;
  std::vector<metrics::CertificateExpiry> expiry_;
  WatchedFiles files_;
};

struct TlsClientSessions;  // stored sessions, private to tls_context.cc

class TlsClientContext {
 public:
  // Throws TlsConfigError; keys spelled "upstream.tls.<key>". `upstream_host` is
  // upstream.address's host: the SNI and verified name unless server_name is set. An IP
  // literal (v4, or v6 with or without brackets) is sent without SNI and verified
  // against the certificate's IP subjectAltNames.
  static std::shared_ptr<const TlsClientContext> create(const conf::UpstreamTls& config,
                                                        const std::string& upstream_host);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // A client-role SSL (connect state) with SNI, the name to verify, ALPN http/1.1 and,
  // when session_resumption is on, the newest stored session. Any thread.
  SslPtr new_ssl() const;
  // The client certificate, if configured (side upstream).
  const std::vector<metrics::CertificateExpiry>& certificates() const { return expiry_; }
  const std::vector<std::string>& files() const { return files_.paths(); }
  bool files_changed() const { return files_.changed_on_disk(); }
  const std::string& server_name() const { return sni_; }  // "" for an IP literal
  size_t stored_sessions() const;  // for tests and /stats: sessions waiting to be resumed
  SSL_CTX* native() const { return ctx_; }

 private:
  TlsClientContext() = default;
  SSL_CTX* ctx_ = nullptr;
  TlsClientSessions* sessions_ = nullptr;  // owned by ctx_ (ex_data): outlives this while SSLs do
  std::string sni_;
  std::string verify_name_;
  bool verify_ip_ = false;
  bool verify_ = true;
  std::vector<metrics::CertificateExpiry> expiry_;
  WatchedFiles files_;
};

// Why a handshake failed, read from this thread's OpenSSL error queue (drained) and the
// SSL's verify result. Alerts received from the peer map to the same reasons as local
// failures: "downstream unknown_ca" is either a client certificate we could not chain
// (mTLS) or a client that could not chain ours. A received handshake_failure alert is
// counted as no_shared_cipher, its usual cause. *detail (if given) gets OpenSSL's reason
// text for logs.
metrics::TlsFailure classify_tls_failure(const SSL* ssl, std::string* detail = nullptr);

}  // namespace sidemeter::net
