#pragma once
// The seam between connection logic and the bytes on the wire. Connection code speaks
// plaintext through Transport; TcpTransport does it on a uv_tcp_t, and a TLS transport
// can wrap one later without the HTTP code noticing.
//
// Lifetime rule: close() is always asynchronous. The handler stays valid until
// on_transport_closed(), which is the only place its owner may free itself; no other
// callback arrives after close() was called.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/net/socket_address.h"

namespace sidemeter::net {

// Error codes beyond libuv's (all UV_E* are > -4100): what a TLS transport reports.
inline constexpr int kErrTlsHandshake = -20001;  // the handshake failed (reason counted)
// Plain HTTP on a TLS port: the transport already queued a plain-text 400; the owner
// should linger (shutdown_write, discard input) so the client reads it.
inline constexpr int kErrTlsPlainHttp = -20002;

// What a TLS handshake settled on. Views valid for the transport's life.
struct TlsInfo {
  std::string_view version;      // "TLSv1.3" (OpenSSL's SSL_get_version)
  std::string_view cipher;       // "TLS_AES_128_GCM_SHA256"
  std::string_view alpn;         // "http/1.1", or "" when none was negotiated
  std::string_view server_name;  // the SNI name the client sent, "" if none
  bool resumed = false;
  uint64_t handshake_ns = 0;     // first handshake byte to finished
};

class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // Client side: the transport is ready to carry bytes (TCP connected and, for TLS, the
  // handshake done), or it failed: status 0, a UV_E* code or kErrTlsHandshake. Bytes
  // written before that are held and sent once it is ready.
  virtual void on_transport_connected(int status) = 0;
  // Client side, TLS only: the TCP connect completed and the handshake starts now (the
  // boundary between the connect and TLS phases of the exchange timeline).
  virtual void on_transport_tcp_connected() {}
  // Server side, TLS only: the handshake is done; plaintext reads follow.
  virtual void on_transport_secured(const TlsInfo&) {}
  // Plaintext bytes; a view into a buffer reused after the call returns. After
  // stop_reading() the transport may still deliver the rest of the read in progress (at
  // most one read buffer: TLS decrypts a whole batch), then nothing until start_reading().
  virtual void on_transport_read(std::string_view data) = 0;
  virtual void on_transport_eof() = 0;
  virtual void on_transport_error(int uv_error) = 0;  // UV_E* or kErrTls*
  // A queued write failed (EPIPE, ECONNRESET...) while the read side may still hold
  // what the peer sent before it went (an HTTP client's early response: RFC 9112 §9.5).
  // Reading goes on unless the owner closes. By default, like any error.
  virtual void on_transport_write_error(int uv_error) { on_transport_error(uv_error); }
  virtual void on_transport_drained() = 0;  // every queued byte has been written
  virtual void on_transport_closed() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int connect(const SocketAddress& addr) = 0;  // completes via on_transport_connected
  virtual int start_reading() = 0;
  virtual void stop_reading() = 0;
  virtual bool reading() const = 0;
  // Writes now if the socket takes it, queues the rest (copied). Never calls the handler
  // synchronously. Returns 0 or a UV_E* code (the connection is then broken).
  virtual int write(std::string_view data) = 0;
  // The same for several pieces in one syscall (a head and a body straight from the read
  // buffer, without first copying them together).
  virtual int writev(const std::string_view* parts, size_t count) = 0;
  virtual size_t queued_bytes() const = 0;
  virtual void shutdown_write() = 0;  // FIN after queued bytes
  // reset=true sends RST (SO_LINGER 0) instead of FIN.
  virtual void close(bool reset = false) = 0;
  virtual bool closing() const = 0;
  virtual SocketAddress peer_address() const = 0;
  // The TLS session once the handshake is done; null for plain TCP (and before).
  virtual const TlsInfo* tls() const { return nullptr; }
  // Whether this transport encrypts (X-Forwarded-Proto: https), known from creation.
  virtual bool secure() const { return false; }
  // The owner's handshake deadline passed: count it as a handshake timeout (TLS only).
  virtual void note_handshake_timeout() {}
};

}  // namespace sidemeter::net
