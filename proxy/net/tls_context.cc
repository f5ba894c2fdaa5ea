#include "proxy/net/tls_context.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>

namespace sidemeter::net {
namespace {

using Problems = std::vector<std::string>;

// Whatever a context's callbacks need lives in the SSL_CTX's ex_data and is freed with
// it: SSLs keep their SSL_CTX alive after a reload dropped the context object, and a
// handshake in progress may still pick a certificate or decrypt a ticket.
struct CtxState {
  virtual ~CtxState() = default;
};

void free_state(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<CtxState*>(ptr);
}

int state_index() {
  static const int index =
      CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, nullptr, nullptr, nullptr, free_state);
  return index;
}

template <typename T>
T* state_of(const SSL* ssl) {
  auto* base = static_cast<CtxState*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), state_index()));
  return static_cast<T*>(base);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  }
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// Never prompt on a terminal for an encrypted key: fail, and say so.
int no_password(char*, int, int, void*) { return -1; }

std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return r != nullptr ? r : "unknown error";
}

void add_problem(Problems& problems, std::string_view key, std::string_view file,
                 std::string_view what) {
  std::string p(key);
  p.append(": ");
  if (!file.empty()) {
    p.append(file);
    p.append(": ");
  }
  p.append(what);
  problems.push_back(std::move(p));
}

BIO* open_file(const std::string& file, std::string_view key, Problems& problems) {
  if (file.empty()) {
    add_problem(problems, key, "", "no file given");
    return nullptr;
  }
  errno = 0;
  BIO* bio = BIO_new_file(file.c_str(), "r");
  if (bio == nullptr) {
    int err = errno;
    ERR_clear_error();
    add_problem(problems, key, file, err != 0 ? std::strerror(err) : "cannot open");
  }
  return bio;
}

// A certificate chain and its key as loaded from PEM files.
struct Chain {
  X509* leaf = nullptr;
  STACK_OF(X509)* intermediates = nullptr;
  EVP_PKEY* key = nullptr;
  Chain() = default;
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;
  ~Chain() {
    X509_free(leaf);
    if (intermediates != nullptr) sk_X509_pop_free(intermediates, X509_free);
    EVP_PKEY_free(key);
  }
  bool ok() const { return leaf != nullptr && key != nullptr; }
};

// Adds a problem for anything wrong; chain.ok() tells whether it is usable.
void load_chain(const conf::TlsCertificate& files, const std::string& key_prefix,
                Problems& problems, Chain& chain) {
  const std::string cert_key = key_prefix + ".certificate_file";
  const std::string key_key = key_prefix + ".private_key_file";
  if (BIO* bio = open_file(files.certificate_file, cert_key, problems)) {
    chain.leaf = PEM_read_bio_X509_AUX(bio, nullptr, no_password, nullptr);
    if (chain.leaf == nullptr) {
      add_problem(problems, cert_key, files.certificate_file,
                  "no PEM certificate (" + openssl_reason() + ")");
    } else {
      chain.intermediates = sk_X509_new_null();
      while (X509* x = PEM_read_bio_X509(bio, nullptr, no_password, nullptr)) {
        sk_X509_push(chain.intermediates, x);
      }
      unsigned long e = ERR_peek_last_error();
      if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        add_problem(problems, cert_key, files.certificate_file,
                    "unreadable certificate after the first (" + openssl_reason() + ")");
      }
      ERR_clear_error();
    }
    BIO_free(bio);
  }
  if (BIO* bio = open_file(files.private_key_file, key_key, problems)) {
    chain.key = PEM_read_bio_PrivateKey(bio, nullptr, no_password, nullptr);
    if (chain.key == nullptr) {
      add_problem(problems, key_key, files.private_key_file,
                  "no usable PEM private key, or it is encrypted (" + openssl_reason() + ")");
    }
    BIO_free(bio);
  }
  if (chain.ok() && X509_check_private_key(chain.leaf, chain.key) != 1) {
    ERR_clear_error();
    add_problem(problems, key_key, files.private_key_file, "key does not match the certificate");
    EVP_PKEY_free(chain.key);
    chain.key = nullptr;
  }
}

// DNS subjectAltNames, lower case; *has_san tells whether the extension exists at all
// (then the CN is not a name: RFC 6125).
std::vector<std::string> dns_names(X509* x, bool* has_san) {
  std::vector<std::string> names;
  auto* gens =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  *has_san = gens != nullptr;
  if (gens == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
    if (g->type != GEN_DNS) continue;
    const auto* data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName));
    names.push_back(lower(std::string_view(data, size_t(ASN1_STRING_length(g->d.dNSName)))));
  }
  GENERAL_NAMES_free(gens);
  return names;
}

std::string common_name(X509* x) {
  X509_NAME* subject = X509_get_subject_name(x);
  int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (i < 0) return {};
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), size_t(len));
  OPENSSL_free(utf8);
  return out;
}

int64_t not_after_unix_s(X509* x) {
  tm t{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &t) != 1) return 0;
  return int64_t(timegm(&t));
}

metrics::CertificateExpiry expiry_of(X509* leaf, const std::string& file, metrics::TlsSide side) {
  metrics::CertificateExpiry e;
  bool has_san = false;
  std::vector<std::string> dns = dns_names(leaf, &has_san);
  if (!dns.empty()) {
    e.name = dns.front();
  } else {
    e.name = common_name(leaf);
    if (e.name.empty()) e.name = file;
  }
  e.file = file;
  e.side = side;
  e.not_after_unix_s = not_after_unix_s(leaf);
  return e;
}

bool is_ip_literal(std::string_view host, std::string* bare) {
  std::string h(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1) {
    *bare = h;
    return true;
  }
  return false;
}

int version_number(conf::TlsVersion v) {
  return v == conf::TlsVersion::k1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

// ---- server ------------------------------------------------------------------------

struct ServedCertificate {
  Chain chain;
  std::vector<std::string> names;  // DNS SANs (or the CN without SANs), lower case
};

struct ServerState final : CtxState {
  std::vector<std::unique_ptr<ServedCertificate>> certificates;
  std::shared_ptr<TicketKeys> keys;

  // Exact names first, then one-label wildcards, in config order; else the first.
  const ServedCertificate& pick(const char* sni) const {
    if (sni != nullptr && certificates.size() > 1) {
      std::string host = lower(sni);
      for (const auto& c : certificates) {
        for (const auto& n : c->names) {
          if (n == host) return *c;
        }
      }
      size_t dot = host.find('.');
      if (dot != std::string::npos && dot > 0) {
        std::string_view parent = std::string_view(host).substr(dot);  // ".example.com"
        for (const auto& c : certificates) {
          for (const auto& n : c->names) {
            if (n.size() > 2 && n[0] == '*' && n[1] == '.' &&
                std::string_view(n).substr(1) == parent) {
              return *c;
            }
          }
        }
      }
    }
    return *certificates.front();
  }
};

// Runs before the cipher is chosen (full handshakes only), so the certificate's key type
// steers the choice; one SSL_CTX serves every certificate and shares the session cache
// and ticket keys among them.
int select_certificate(SSL* ssl, void* arg) {
  const auto* state = static_cast<const ServerState*>(arg);
  const ServedCertificate& c = state->pick(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
  return SSL_use_cert_and_key(ssl, c.chain.leaf, c.chain.key, c.chain.intermediates, 1) == 1;
}

// http/1.1 when offered; a client offering only others goes on without ALPN (it may
// still speak HTTP/1.1, and a refusal would only tell it less).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  for (unsigned i = 0; i < inlen;) {
    unsigned len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *outlen = 8;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

bool set_hmac_key(EVP_MAC_CTX* hctx, TicketKeys::Key& k) {
  char digest[] = "SHA256";
  OSSL_PARAM params[3] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac.data(), k.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

int ticket_key_cb(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                  EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
  auto* state = state_of<ServerState>(ssl);
  TicketKeys::Key k;
  int rc;
  if (enc == 1) {
    k = state->keys->current();
    memcpy(key_name, k.name.data(), k.name.size());
    rc = RAND_bytes(iv, 16) == 1 &&
                 EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) == 1 &&
                 set_hmac_key(hctx, k)
             ? 1
             : -1;
  } else {
    bool current = false;
    if (!state->keys->find(key_name, &k, &current)) return 0;  // full handshake, new ticket
    rc = set_hmac_key(hctx, k) &&
                 EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) == 1
             ? (current ? 1 : 2)  // 2: resume, and reissue under the current key
             : -1;
  }
  OPENSSL_cleanse(&k, sizeof k);
  return rc;
}

void set_client_ca(SSL_CTX* ctx, const std::string& file, const std::string& key,
                   Problems& problems) {
  BIO* probe = open_file(file, key, problems);
  if (probe == nullptr) return;
  BIO_free(probe);
  if (SSL_CTX_load_verify_locations(ctx, file.c_str(), nullptr) != 1) {
    add_problem(problems, key, file, "no usable CA certificate (" + openssl_reason() + ")");
    return;
  }
  // The names a client is told to pick its certificate by.
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(file.c_str());
  ERR_clear_error();
  if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
}

}  // namespace

// ---- errors, keys, files -----------------------------------------------------------

namespace {
std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out.push_back('\n');
    out.append(l);
  }
  return out;
}
}  // namespace

TlsConfigError::TlsConfigError(std::vector<std::string> problems)
    : std::runtime_error(join(problems)), problems_(std::move(problems)) {}

TicketKeys::Key TicketKeys::make_key() {
  Key k;
  if (RAND_bytes(k.name.data(), int(k.name.size())) != 1 ||
      RAND_priv_bytes(k.aes.data(), int(k.aes.size())) != 1 ||
      RAND_priv_bytes(k.hmac.data(), int(k.hmac.size())) != 1) {
    throw std::runtime_error("TLS session ticket key: the random generator failed");
  }
  return k;
}

TicketKeys::TicketKeys() {
  keys_[0] = make_key();
  count_ = 1;
}

void TicketKeys::rotate() {
  Key fresh = make_key();
  std::lock_guard lock(mu_);
  for (size_t i = kKept - 1; i > 0; --i) keys_[i] = keys_[i - 1];
  keys_[0] = fresh;
  OPENSSL_cleanse(&fresh, sizeof fresh);
  if (count_ < kKept) ++count_;
}

TicketKeys::Key TicketKeys::current() const {
  std::lock_guard lock(mu_);
  return keys_[0];
}

bool TicketKeys::find(const unsigned char* name, Key* out, bool* is_current) const {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < count_; ++i) {
    if (memcmp(keys_[i].name.data(), name, keys_[i].name.size()) == 0) {
      *out = keys_[i];
      *is_current = i == 0;
      return true;
    }
  }
  return false;
}

FileStamp stamp_file(const std::string& path) {
  FileStamp s;
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.size = int64_t(st.st_size);
  return s;
}

void WatchedFiles::add(const std::string& path) {
  if (path.empty()) return;
  for (const auto& p : paths_) {
    if (p == path) return;
  }
  paths_.push_back(path);
  stamps_.push_back(stamp_file(path));
}

bool WatchedFiles::changed_on_disk() const {
  for (size_t i = 0; i < paths_.size(); ++i) {
    if (!(stamp_file(paths_[i]) == stamps_[i])) return true;
  }
  return false;
}

// ---- server context ----------------------------------------------------------------

std::shared_ptr<const TlsServerContext> TlsServerContext::create(const conf::DownstreamTls& config,
                                                                 std::shared_ptr<TicketKeys> keys) {
  Problems problems;
  std::shared_ptr<TlsServerContext> self(new TlsServerContext());
  for (const auto& c : config.certificates) {
    self->files_.add(c.certificate_file);
    self->files_.add(c.private_key_file);
  }
  if (config.client_certificate != conf::ClientCertificate::kNone) {
    self->files_.add(config.client_ca_file);
  }

  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) throw TlsConfigError({"tls: cannot create an OpenSSL context"});
  self->ctx_ = ctx;
  auto* state = new ServerState();
  SSL_CTX_set_ex_data(ctx, state_index(), static_cast<CtxState*>(state));  // freed with ctx
  state->keys = std::move(keys);

  SSL_CTX_set_min_proto_version(ctx, version_number(config.min_version));
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  // Our order of ciphers wins over the client's (as HAProxy and nginx do by default):
  // most clients list AES-256 first, and AES-128-GCM gives the same security margin for
  // less CPU per byte (the TLS bench measured 1 KiB responses 17 % dearer under AES-256).
  uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
  if (!config.session_tickets) options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, options);
  // Idle connections give their record buffers back (tens of KiB each).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

  if (config.min_version == conf::TlsVersion::k1_2 &&
      SSL_CTX_set_cipher_list(ctx, config.ciphers.c_str()) != 1) {
    ERR_clear_error();
    add_problem(problems, "tls.ciphers", "", "no TLS 1.2 cipher in \"" + config.ciphers + "\" is known to OpenSSL");
  }
  if (SSL_CTX_set_ciphersuites(ctx, config.ciphersuites.c_str()) != 1 ||
      config.ciphersuites.empty()) {
    ERR_clear_error();
    add_problem(problems, "tls.ciphersuites", "",
                "no TLS 1.3 suite in \"" + config.ciphersuites + "\" is known to OpenSSL");
  }

  if (config.certificates.empty()) add_problem(problems, "tls.certificates", "", "none given");
  for (size_t i = 0; i < config.certificates.size(); ++i) {
    auto served = std::make_unique<ServedCertificate>();
    std::string prefix = "tls.certificates[" + std::to_string(i) + "]";
    load_chain(config.certificates[i], prefix, problems, served->chain);
    if (!served->chain.ok()) continue;
    bool has_san = false;
    served->names = dns_names(served->chain.leaf, &has_san);
    if (!has_san) {
      std::string cn = lower(common_name(served->chain.leaf));
      if (!cn.empty()) served->names.push_back(cn);
    }
    self->expiry_.push_back(expiry_of(served->chain.leaf, config.certificates[i].certificate_file,
                                      metrics::TlsSide::kDownstream));
    state->certificates.push_back(std::move(served));
  }
  SSL_CTX_set_cert_cb(ctx, select_certificate, state);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);

  if (config.client_certificate != conf::ClientCertificate::kNone) {
    int mode = SSL_VERIFY_PEER;
    if (config.client_certificate == conf::ClientCertificate::kRequired) {
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(ctx, mode, nullptr);
    set_client_ca(ctx, config.client_ca_file, "tls.client_ca_file", problems);
  }

  // Resumption needs a session id context whenever client certificates are verified; one
  // listener, one context name.
  static const unsigned char kSessionContext[] = "sidemeter";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  if (config.session_cache_size == 0) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, long(config.session_cache_size));
  }
  if (config.session_tickets) {
    if (state->keys == nullptr) {
      add_problem(problems, "tls.session_tickets", "", "no ticket keys (internal error)");
    } else {
      SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
    }
  }

  if (!problems.empty()) throw TlsConfigError(std::move(problems));
  return self;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

SslPtr TlsServerContext::new_ssl() const {
  SslPtr ssl(SSL_new(ctx_));
  if (ssl) SSL_set_accept_state(ssl.get());
  return ssl;
}

// ---- client context ----------------------------------------------------------------

// Sessions to resume, newest first. TLS 1.3 tickets are used once (RFC 8446 C.4: reuse
// lets an observer link connections); a TLS 1.2 session serves until replaced. Every
// full or resumed handshake adds fresh ones, so a busy pool keeps the list topped up.
struct TlsClientSessions final : CtxState {
  static constexpr size_t kMax = 8;
  mutable std::mutex mu;
  std::deque<SSL_SESSION*> list;
  ~TlsClientSessions() override {
    for (SSL_SESSION* s : list) SSL_SESSION_free(s);
  }

  void add(SSL_SESSION* s) {
    std::lock_guard lock(mu);
    list.push_front(s);
    if (list.size() > kMax) {
      SSL_SESSION_free(list.back());
      list.pop_back();
    }
  }

  // The newest resumable session, with a reference for the caller (null if none).
  SSL_SESSION* take() {
    std::lock_guard lock(mu);
    while (!list.empty()) {
      SSL_SESSION* s = list.front();
      if (SSL_SESSION_is_resumable(s) != 1) {
        SSL_SESSION_free(s);
        list.pop_front();
        continue;
      }
      if (SSL_SESSION_get_protocol_version(s) == TLS1_3_VERSION) {
        list.pop_front();  // our reference passes to the caller
      } else {
        SSL_SESSION_up_ref(s);
      }
      return s;
    }
    return nullptr;
  }
};

namespace {

// TLS 1.3 sessions arrive after the handshake (NewSessionTicket), TLS 1.2 ones at its
// end; either way here. Returning 1 keeps OpenSSL's reference for us.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* sessions = state_of<TlsClientSessions>(ssl);
  if (sessions == nullptr) return 0;
  sessions->add(session);
  return 1;
}

}  // namespace

std::shared_ptr<const TlsClientContext> TlsClientContext::create(const conf::UpstreamTls& config,
                                                                 const std::string& upstream_host) {
  Problems problems;
  std::shared_ptr<TlsClientContext> self(new TlsClientContext());
  if (config.verify) self->files_.add(config.ca_file);
  const bool has_client_cert = !config.client_certificate.certificate_file.empty() ||
                               !config.client_certificate.private_key_file.empty();
  if (has_client_cert) {
    self->files_.add(config.client_certificate.certificate_file);
    self->files_.add(config.client_certificate.private_key_file);
  }

  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) throw TlsConfigError({"upstream.tls: cannot create an OpenSSL context"});
  self->ctx_ = ctx;

  SSL_CTX_set_min_proto_version(ctx, version_number(config.min_version));
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn - 1);

  self->verify_ = config.verify;
  if (config.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!config.ca_file.empty()) {
      if (BIO* probe = open_file(config.ca_file, "upstream.tls.ca_file", problems)) {
        BIO_free(probe);
        if (SSL_CTX_load_verify_locations(ctx, config.ca_file.c_str(), nullptr) != 1) {
          add_problem(problems, "upstream.tls.ca_file", config.ca_file,
                      "no usable CA certificate (" + openssl_reason() + ")");
        }
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      add_problem(problems, "upstream.tls.ca_file", "",
                  "the system CA store is unusable (" + openssl_reason() + ")");
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }

  const std::string& name = config.server_name.empty() ? upstream_host : config.server_name;
  std::string ip;
  if (is_ip_literal(name, &ip)) {
    self->verify_ip_ = true;
    self->verify_name_ = ip;  // RFC 6066: no SNI for an address
  } else {
    self->sni_ = name;
    self->verify_name_ = name;
  }
  if (self->verify_name_.empty()) {
    add_problem(problems, "upstream.tls.server_name", "", "no name to verify the upstream by");
  }

  if (has_client_cert) {
    Chain chain;
    load_chain(config.client_certificate, "upstream.tls.client_certificate", problems, chain);
    if (chain.ok()) {
      if (SSL_CTX_use_cert_and_key(ctx, chain.leaf, chain.key, chain.intermediates, 1) != 1) {
        add_problem(problems, "upstream.tls.client_certificate.certificate_file",
                    config.client_certificate.certificate_file,
                    "OpenSSL refused the certificate (" + openssl_reason() + ")");
      }
      self->expiry_.push_back(expiry_of(chain.leaf, config.client_certificate.certificate_file,
                                        metrics::TlsSide::kUpstream));
    }
  }

  if (config.session_resumption) {
    auto* sessions = new TlsClientSessions();
    SSL_CTX_set_ex_data(ctx, state_index(), static_cast<CtxState*>(sessions));  // freed with ctx
    self->sessions_ = sessions;
    // OpenSSL's internal client cache is keyed by nothing useful; we keep our own list.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }

  if (!problems.empty()) throw TlsConfigError(std::move(problems));
  return self;
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

SslPtr TlsClientContext::new_ssl() const {
  SslPtr ssl(SSL_new(ctx_));
  if (!ssl) return ssl;
  SSL* s = ssl.get();
  if (!sni_.empty()) SSL_set_tlsext_host_name(s, sni_.c_str());
  if (verify_) {
    if (verify_ip_) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), verify_name_.c_str());
    } else {
      SSL_set_hostflags(s, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(s, verify_name_.c_str());
    }
  }
  if (sessions_ != nullptr) {
    if (SSL_SESSION* session = sessions_->take()) {
      SSL_set_session(s, session);
      SSL_SESSION_free(session);
    }
  }
  SSL_set_connect_state(s);
  return ssl;
}

size_t TlsClientContext::stored_sessions() const {
  if (sessions_ == nullptr) return 0;
  std::lock_guard lock(sessions_->mu);
  return sessions_->list.size();
}

// ---- failure classification --------------------------------------------------------

namespace {

metrics::TlsFailure from_verify_result(long v) {
  using F = metrics::TlsFailure;
  switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return F::kCertificateExpired;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return F::kUnknownCa;
    default:
      return F::kBadCertificate;
  }
}

}  // namespace

metrics::TlsFailure classify_tls_failure(const SSL* ssl, std::string* detail) {
  using F = metrics::TlsFailure;
  unsigned long first = 0;
  unsigned long first_ssl = 0;
  while (unsigned long e = ERR_get_error()) {
    if (first == 0) first = e;
    if (first_ssl == 0 && ERR_GET_LIB(e) == ERR_LIB_SSL) first_ssl = e;
  }
  const unsigned long e = first_ssl != 0 ? first_ssl : first;
  const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (detail != nullptr) {
    const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
    *detail = r != nullptr ? r : "";
    if (verify != X509_V_OK) {
      if (!detail->empty()) detail->append(": ");
      detail->append(X509_verify_cert_error_string(verify));
    }
  }
  if (first_ssl != 0) {
    switch (ERR_GET_REASON(first_ssl)) {
      case SSL_R_NO_SHARED_CIPHER:
      case SSL_R_NO_SHARED_GROUPS:
      case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
      case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
      case SSL_R_NO_CIPHERS_AVAILABLE:
      case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
        return F::kNoSharedCipher;
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_VERSION_TOO_LOW:
      case SSL_R_VERSION_TOO_HIGH:
      case SSL_R_WRONG_SSL_VERSION:
      case SSL_R_NO_PROTOCOLS_AVAILABLE:
      case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        return F::kProtocolVersion;
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return F::kNoCertificate;
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        return F::kCertificateExpired;
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        return F::kUnknownCa;
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        return F::kBadCertificate;
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return from_verify_result(verify);
      case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return F::kPeerClosed;
      default:
        break;
    }
  }
  return F::kOther;
}

}  // namespace sidemeter::net
