#pragma once
// TLS over a TcpTransport, through OpenSSL with a BIO of our own instead of a socket
// BIO: ciphertext libuv read into the per-worker ReadBuffer is handed to OpenSSL
// straight from there, plaintext is decrypted into a second per-worker buffer, and
// records OpenSSL produces are gathered in a third and given to the TcpTransport in one
// write (which sends what the socket takes and copies only the rest). No buffer is
// held per connection between calls: an idle connection keeps only OpenSSL's SSL object
// (SSL_MODE_RELEASE_BUFFERS returns its record buffers). Measured by
// tests/proxy/net/tls_memory_test (OpenSSL 3.0, ECDSA P-256, TLS 1.3, OpenSSL's heap
// only): an idle server connection holds ~13 KB (45 KB without the mode), an idle
// client one ~21 KB (it keeps the server's certificate with its session); a 16 KiB
// record passing through adds ~16.4 KB for the time of the call. Ours on top: 224 bytes
// of TlsTransport and the TcpTransport (464) a plain connection has anyway.
//
// Ownership: the connection owns both. It embeds the TcpTransport (the socket's owner,
// as for plain HTTP) and, on a TLS port or upstream, a heap TlsTransport built on it,
// then speaks only to `Transport*` (the TlsTransport when there is one). While the
// TlsTransport exists it is the TcpTransport's handler and forwards everything
// (on_transport_closed included) to the connection's handler. The connection frees
// both after on_transport_closed, the TlsTransport first or together; nothing of the
// TLS side is referenced by a pending libuv request (queued writes are copies).
//
// Threads: one loop thread, like TcpTransport. Handler calls are never made from inside
// write()/writev()/shutdown_write()/close(); they come from libuv callbacks only.
#include <openssl/ssl.h>

#include <cstdint>
#include <string>

#include "metrics/tls_stats.h"
#include "proxy/net/tcp_transport.h"
#include "proxy/net/tls_context.h"

namespace sidemeter::net {

// Per-worker scratch shared by every TLS transport on one loop, 256 KiB. Both are used
// only within one call into a transport and are empty again when it returns, which is
// why one per loop is enough.
struct TlsBuffers {
  ReadBuffer plaintext;  // decrypted bytes handed to on_transport_read
  // Records produced by one operation, sent in one write (a 128 KiB response body is
  // 8 records: one syscall, not 8).
  ReadBuffer sealed;
  size_t sealed_len = 0;
};

class TlsTransport final : public Transport, private TransportHandler {
 public:
  enum class Role : uint8_t { kServer, kClient };

  // `tcp` must outlive this; it gets this as its handler. `ssl` comes from
  // TlsServerContext::new_ssl() (kServer) or TlsClientContext::new_ssl() (kClient).
  // `counters` (may be null) are the worker's. Server: the owner calls start_reading()
  // after accepting into tcp->stream(); the handshake runs as bytes arrive and ends in
  // on_transport_secured, or on_transport_error(kErrTlsHandshake | kErrTlsPlainHttp).
  // Client: the owner calls connect(); on_transport_tcp_connected, then
  // on_transport_connected(0 | UV_E* | kErrTlsHandshake).
  TlsTransport(TcpTransport* tcp, SslPtr ssl, Role role, TlsBuffers* buffers,
               TransportHandler* handler, metrics::TlsCounters* counters);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  void set_handler(TransportHandler* h) { handler_ = h; }
  SSL* native_handle() const { return ssl_.get(); }

  // Transport
  int connect(const SocketAddress& addr) override;
  // Before the handshake is done the socket is read regardless (the handshake needs
  // it); reading() is the owner's wish, applied once the handshake is over.
  int start_reading() override;
  void stop_reading() override;
  bool reading() const override { return want_read_; }
  // Before the handshake is done the plaintext is held, counted in queued_bytes(), and
  // sealed and sent once it is (before on_transport_connected / on_transport_secured). After a failure: UV_EPIPE. A TLS error while
  // sealing: UV_EPROTO.
  int write(std::string_view data) override { return writev(&data, 1); }
  int writev(const std::string_view* parts, size_t count) override;
  size_t queued_bytes() const override { return tcp_->queued_bytes() + held_.size(); }
  // close_notify, then FIN once every queued byte is written. During the handshake, with
  // bytes held (or as a client), after the handshake and those bytes.
  void shutdown_write() override;
  void close(bool reset) override;
  bool closing() const override { return closing_; }
  SocketAddress peer_address() const override { return tcp_->peer_address(); }
  const TlsInfo* tls() const override { return state_ == State::kSecured ? &info_ : nullptr; }
  bool secure() const override { return true; }
  // Counts handshake_timeout if the handshake is still in progress (the owner closes).
  void note_handshake_timeout() override;

 private:
  enum class State : uint8_t {
    kIdle,         // client before TCP connect
    kSniffing,     // server: nothing decided about the first bytes yet
    kHandshaking,
    kSecured,
    kPlainHttp,    // answered with a plain-text 400; input discarded
    kFailed,       // handshake failed (counted); input discarded
  };

  // From the TcpTransport.
  void on_transport_connected(int status) override;
  void on_transport_read(std::string_view data) override;
  void on_transport_eof() override;
  void on_transport_error(int uv_error) override;
  void on_transport_write_error(int uv_error) override;
  void on_transport_drained() override;
  void on_transport_closed() override;

  bool sniff(std::string_view& data);
  void answer_plain_http();
  void feed(std::string_view ciphertext);
  bool drive_handshake();
  void handshake_done();
  void fail(metrics::TlsFailure reason);
  void read_records();
  bool refused_after_handshake();
  int seal(const char* data, size_t len);
  int flush_sealed();
  void apply_read_wish();
  metrics::TlsSide side() const {
    return role_ == Role::kServer ? metrics::TlsSide::kDownstream : metrics::TlsSide::kUpstream;
  }

  static BIO_METHOD* bio_method();
  static int bio_write(BIO* b, const char* data, int len);
  static int bio_read(BIO* b, char* out, int len);
  static long bio_ctrl(BIO* b, int cmd, long num, void* ptr);

  TcpTransport* tcp_;
  SslPtr ssl_;
  TlsBuffers* buffers_;
  TransportHandler* handler_;
  metrics::TlsCounters* counters_;
  std::string_view input_;    // ciphertext OpenSSL has yet to pull (within one read)
  std::string held_;          // plaintext written before the handshake finished
  TlsInfo info_;
  uint64_t start_ns_ = 0;
  int write_error_ = 0;       // the TcpTransport refused sealed bytes
  bool write_error_told_ = false;  // the owner heard of write_error_ from a callback
  Role role_;
  State state_;
  bool want_read_ = false;
  bool closing_ = false;
  bool read_done_ = false;    // close_notify, EOF or a bad record: nothing more to read
  bool data_read_ = false;    // some plaintext arrived since the handshake
  bool shutdown_after_handshake_ = false;
  uint8_t sniff_len_ = 0;
  char sniff_[16];            // the first bytes of a server connection, until they tell
};

}  // namespace sidemeter::net
