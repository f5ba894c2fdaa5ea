#include "tests/support/tls_client.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sidemeter::testing {
namespace {

std::string openssl_errors() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!s.empty()) s += "; ";
    s += buf;
  }
  return s;
}

int poll_ms(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 1000));
}

}  // namespace

TlsSession::~TlsSession() {
  if (s_ != nullptr) SSL_SESSION_free(s_);
}
TlsSession::TlsSession(const TlsSession& o) : s_(o.s_) {
  if (s_ != nullptr) SSL_SESSION_up_ref(s_);
}
TlsSession& TlsSession::operator=(const TlsSession& o) {
  if (this != &o) {
    if (o.s_ != nullptr) SSL_SESSION_up_ref(o.s_);
    if (s_ != nullptr) SSL_SESSION_free(s_);
    s_ = o.s_;
  }
  return *this;
}

int TlsClient::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsClient*>(SSL_get_app_data(ssl));
  std::lock_guard<std::mutex> lock(self->session_mu_);
  self->session_ = TlsSession(session);  // keeps the reference OpenSSL handed us
  return 1;
}

TlsSession TlsClient::session() const {
  std::lock_guard<std::mutex> lock(session_mu_);
  return session_;
}

TlsClient::TlsClient(uint16_t port, const TlsClientOptions& o, Deadline deadline) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) {
    error_ = "SSL_CTX_new: " + openssl_errors();
    return;
  }
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx_, on_new_session);
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr) != 1) {
      error_ = "loading " + o.ca_file + ": " + openssl_errors();
      return;
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.certificate_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx_, o.certificate_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, o.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      error_ = "loading the client certificate: " + openssl_errors();
      return;
    }
  }
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr) {
    error_ = "SSL_new: " + openssl_errors();
    return;
  }
  SSL_set_app_data(ssl_, this);
  if (!o.server_name.empty()) {
    SSL_set_tlsext_host_name(ssl_, o.server_name.c_str());
    if (!o.ca_file.empty()) SSL_set1_host(ssl_, o.server_name.c_str());
  }
  if (o.session.valid()) SSL_set_session(ssl_, o.session.get());

  Socket tcp = Socket::connect_loopback(port);
  if (!tcp.valid()) {
    error_ = "connect failed";
    return;
  }
  tcp_fd_ = ::dup(tcp.fd());
  tcp.close();
  ::fcntl(tcp_fd_, F_SETFL, ::fcntl(tcp_fd_, F_GETFL) | O_NONBLOCK);
  SSL_set_fd(ssl_, tcp_fd_);
  for (;;) {
    ERR_clear_error();
    const int r = SSL_connect(ssl_);
    if (r == 1) break;
    const int e = SSL_get_error(ssl_, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      error_ = "handshake failed: " + openssl_errors();
      const long v = SSL_get_verify_result(ssl_);
      if (v != X509_V_OK) error_ += std::string(" (verify: ") + X509_verify_cert_error_string(v) + ")";
      return;
    }
    pollfd p{tcp_fd_, short(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    if (Clock::now() >= deadline) {
      error_ = "handshake timed out";
      return;
    }
    ::poll(&p, 1, poll_ms(deadline));
  }
  resumed_ = SSL_session_reused(ssl_) == 1;
  version_ = SSL_get_version(ssl_);
  if (X509* peer = SSL_get1_peer_certificate(ssl_)) {
    char buf[512];
    X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof buf);
    subject_ = buf;
    if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(peer), nullptr)) {
      char* hex = BN_bn2hex(bn);
      serial_ = hex;
      OPENSSL_free(hex);
      BN_free(bn);
    }
    X509_free(peer);
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0 ||
      ::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    error_ = "socketpair/pipe failed";
    return;
  }
  plain_ = Socket(pair[0]);
  pump_fd_ = pair[1];
  ::fcntl(pump_fd_, F_SETFL, ::fcntl(pump_fd_, F_GETFL) | O_NONBLOCK);
  ok_ = true;
  thread_ = std::thread([this] { pump(); });
}

TlsClient::~TlsClient() {
  if (thread_.joinable()) {
    char c = 0;
    (void)!::write(stop_pipe_[1], &c, 1);
    thread_.join();
  }
  plain_.close();
  for (int fd : {pump_fd_, stop_pipe_[0], stop_pipe_[1], tcp_fd_}) {
    if (fd >= 0) ::close(fd);
  }
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

ReadResult TlsClient::exchange(std::string_view request, HttpMessage& out,
                               const ReadOptions& opts) {
  if (plain_.write_all(request, opts.deadline) != IoStatus::kOk) {
    ReadResult r;
    r.status = IoStatus::kError;
    r.error = "write failed";
    return r;
  }
  return read_response(plain_, out, opts);
}

// Single-threaded, non-blocking both ways: SSL objects must not be used from two threads.
void TlsClient::pump() {
  std::string to_tls, to_plain;  // bytes waiting to go each way
  size_t to_plain_off = 0;
  bool plain_eof = false;  // the test shut its side: close_notify + FIN sent
  bool tls_eof = false;    // the server closed: our plain side got EOF
  bool tls_want_write = false;
  char buf[65536];
  for (;;) {
    // Move what can move without waiting.
    bool progress = true;
    while (progress) {
      progress = false;
      if (!to_tls.empty()) {
        ERR_clear_error();
        size_t n = 0;
        const int r = SSL_write_ex(ssl_, to_tls.data(), to_tls.size(), &n);
        if (r == 1) {
          to_tls.erase(0, n);
          progress = true;
          tls_want_write = false;
        } else {
          const int e = SSL_get_error(ssl_, r);
          if (e == SSL_ERROR_WANT_WRITE) {
            tls_want_write = true;
          } else if (e != SSL_ERROR_WANT_READ) {
            pump_error_ = true;
            to_tls.clear();
            tls_eof = true;
            ::shutdown(pump_fd_, SHUT_WR);
          }
        }
      }
      if (to_tls.empty() && plain_eof == false && to_tls.size() < sizeof buf) {
        const ssize_t n = ::recv(pump_fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
          to_tls.append(buf, size_t(n));
          progress = true;
        } else if (n == 0) {
          plain_eof = true;
          if (!tls_eof) {
            SSL_shutdown(ssl_);
            ::shutdown(tcp_fd_, SHUT_WR);
          }
        }
      }
      if (to_plain_off < to_plain.size()) {
        const ssize_t n = ::send(pump_fd_, to_plain.data() + to_plain_off,
                                 to_plain.size() - to_plain_off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
          to_plain_off += size_t(n);
          progress = true;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
          to_plain.clear();  // the test closed its socket
          to_plain_off = 0;
        }
        if (to_plain_off == to_plain.size()) {
          to_plain.clear();
          to_plain_off = 0;
        }
      }
      if (to_plain.empty() && !tls_eof) {
        ERR_clear_error();
        size_t n = 0;
        const int r = SSL_read_ex(ssl_, buf, sizeof buf, &n);
        if (r == 1) {
          to_plain.assign(buf, n);
          to_plain_off = 0;
          progress = true;
        } else {
          const int e = SSL_get_error(ssl_, r);
          if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            if (e != SSL_ERROR_ZERO_RETURN) pump_error_ = e != SSL_ERROR_SYSCALL || errno != 0;
            tls_eof = true;
            ::shutdown(pump_fd_, SHUT_WR);
            progress = true;
          }
        }
      }
    }
    pollfd p[3];
    nfds_t n = 0;
    p[n++] = pollfd{stop_pipe_[0], POLLIN, 0};
    short tcp_events = 0;
    if (!tls_eof && to_plain.empty()) tcp_events |= POLLIN;
    if (tls_want_write) tcp_events |= POLLOUT;
    p[n++] = pollfd{tcp_events != 0 ? tcp_fd_ : -1, tcp_events, 0};
    short plain_events = 0;
    if (!plain_eof && to_tls.empty()) plain_events |= POLLIN;
    if (!to_plain.empty()) plain_events |= POLLOUT;
    p[n++] = pollfd{plain_events != 0 ? pump_fd_ : -1, plain_events, 0};
    if (tls_eof && plain_eof && to_plain.empty()) {
      // Nothing left to move: wait only for the stop.
      p[1].fd = p[2].fd = -1;
    }
    if (::poll(p, n, -1) < 0 && errno != EINTR) return;
    if (p[0].revents != 0) return;
  }
}

}  // namespace sidemeter::testing
