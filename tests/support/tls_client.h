#pragma once
// An in-process TLS client for black-box tests, built on OpenSSL's C API (independent
// of proxy/net). The handshake runs in the constructor; then a pump thread moves bytes
// between the TLS connection and one end of a socketpair, whose other end is a plain
// Socket: every helper that reads HTTP from a Socket (read_response, body sinks,
// write_until_stalled) works unchanged over TLS.
#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "tests/support/http_message.h"
#include "tests/support/socket.h"

namespace sidemeter::testing {

// A session to resume (SSL_SESSION, reference counted).
class TlsSession {
 public:
  TlsSession() = default;
  explicit TlsSession(SSL_SESSION* s) : s_(s) {}  // takes the reference
  ~TlsSession();
  TlsSession(const TlsSession& o);
  TlsSession& operator=(const TlsSession& o);
  SSL_SESSION* get() const { return s_; }
  bool valid() const { return s_ != nullptr; }

 private:
  SSL_SESSION* s_ = nullptr;
};

struct TlsClientOptions {
  std::string server_name;  // SNI and the name verified; "" = no SNI, no name check
  std::string ca_file;      // "" = no verification
  std::string certificate_file;  // client certificate (mTLS); "" = none
  std::string private_key_file;
  TlsSession session;  // resume this one if valid
};

class TlsClient {
 public:
  TlsClient(uint16_t port, const TlsClientOptions& options,
            Deadline deadline = deadline_in(std::chrono::seconds(10)));
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  // The plaintext side. EOF here = the server closed (close_notify or FIN).
  Socket& socket() { return plain_; }
  ReadResult exchange(std::string_view request, HttpMessage& out, const ReadOptions& opts = {});

  const std::string& peer_subject() const { return subject_; }  // e.g. "CN=a.test"
  const std::string& peer_serial_hex() const { return serial_; }
  const std::string& version() const { return version_; }  // "TLSv1.3"
  bool resumed() const { return resumed_; }
  // The newest session the server gave (TLS 1.3 tickets arrive after the handshake, so
  // call after an exchange).
  TlsSession session() const;
  bool pump_failed() const { return pump_error_.load(); }

 private:
  void pump();
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int tcp_fd_ = -1;
  int pump_fd_ = -1;  // our end of the socketpair
  int stop_pipe_[2] = {-1, -1};
  Socket plain_;
  std::thread thread_;
  bool ok_ = false;
  bool resumed_ = false;
  std::string error_;
  std::string subject_, serial_, version_;
  mutable std::mutex session_mu_;
  TlsSession session_;
  std::atomic<bool> pump_error_{false};
};

}  // namespace sidemeter::testing
