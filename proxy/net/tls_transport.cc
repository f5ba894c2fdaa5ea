#include "proxy/net/tls_transport.h"

#include <openssl/err.h>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace sidemeter::net {
namespace {

constexpr uint8_t kHandshakeRecord = 0x16;  // TLS ContentType handshake
constexpr size_t kCoalesceMax = 16 * 1024;  // one full TLS record of plaintext

bool is_tchar(char c) {  // RFC 9110 token characters: what a method is made of
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

const std::string& plain_http_answer() {
  static const std::string answer = [] {
    const std::string_view body = "This port speaks TLS: send HTTPS (https://), not plain HTTP.\n";
    std::string a = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ";
    a.append(std::to_string(body.size()));
    a.append("\r\nConnection: close\r\n\r\n");
    a.append(body);
    return a;
  }();
  return answer;
}

}  // namespace

// ---- our BIO: OpenSSL pulls ciphertext from input_ and pushes records to sealed ----

BIO_METHOD* TlsTransport::bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sidemeter-uv");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

int TlsTransport::bio_write(BIO* b, const char* data, int len) {
  auto* self = static_cast<TlsTransport*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  TlsBuffers* buf = self->buffers_;
  size_t left = size_t(len);
  while (left > 0) {
    if (buf->sealed_len == ReadBuffer::kSize && self->flush_sealed() != 0) return -1;
    size_t n = std::min(left, ReadBuffer::kSize - buf->sealed_len);
    memcpy(buf->sealed.data + buf->sealed_len, data, n);
    buf->sealed_len += n;
    data += n;
    left -= n;
  }
  return self->write_error_ != 0 ? -1 : len;
}

int TlsTransport::bio_read(BIO* b, char* out, int len) {
  auto* self = static_cast<TlsTransport*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (self->input_.empty()) {
    BIO_set_retry_read(b);  // SSL_ERROR_WANT_READ: wait for the next libuv read
    return -1;
  }
  size_t n = std::min(size_t(len), self->input_.size());
  memcpy(out, self->input_.data(), n);
  self->input_.remove_prefix(n);
  return int(n);
}

long TlsTransport::bio_ctrl(BIO*, int cmd, long, void*) {
  // OpenSSL flushes after each handshake flight and treats 0 as failure; our flush is
  // flush_sealed(), run by whoever called into OpenSSL.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

// ---- construction ---------------------------------------------------------------------

TlsTransport::TlsTransport(TcpTransport* tcp, SslPtr ssl, Role role, TlsBuffers* buffers,
                           TransportHandler* handler, metrics::TlsCounters* counters)
    : tcp_(tcp),
      ssl_(std::move(ssl)),
      buffers_(buffers),
      handler_(handler),
      counters_(counters),
      role_(role),
      state_(role == Role::kServer ? State::kSniffing : State::kIdle) {
  tcp_->set_handler(this);
  BIO* bio = ssl_ ? BIO_new(bio_method()) : nullptr;
  if (bio == nullptr) {
    state_ = State::kFailed;  // out of memory: every operation reports it
    return;
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_.get(), bio, bio);  // one reference, owned by the SSL
}

TlsTransport::~TlsTransport() = default;

// ---- Transport ------------------------------------------------------------------------

int TlsTransport::connect(const SocketAddress& addr) {
  if (role_ != Role::kClient || state_ != State::kIdle) return UV_EINVAL;
  return tcp_->connect(addr);
}

int TlsTransport::start_reading() {
  if (closing_) return 0;
  want_read_ = true;
  if (state_ == State::kIdle) return 0;  // started when TCP connects
  return tcp_->start_reading();
}

void TlsTransport::stop_reading() {
  want_read_ = false;
  // The handshake reads whatever the owner wants; the wish applies once it is over.
  if (state_ == State::kSniffing || state_ == State::kHandshaking) return;
  tcp_->stop_reading();
}

void TlsTransport::apply_read_wish() {
  if (!want_read_) tcp_->stop_reading();
}

int TlsTransport::writev(const std::string_view* parts, size_t count) {
  assert(buffers_->sealed_len == 0);
  if (closing_) return UV_ECANCELED;
  switch (state_) {
    case State::kIdle:
    case State::kSniffing:
    case State::kHandshaking:
      for (size_t i = 0; i < count; ++i) held_.append(parts[i]);
      return 0;
    case State::kSecured:
      break;
    default:
      return UV_EPIPE;
  }
  if (write_error_ != 0) return write_error_;
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += parts[i].size();
  int rc = 0;
  if (count > 1 && total <= kCoalesceMax) {
    // A head and a small body in one record rather than one each (fewer bytes, one
    // encryption).
    char buf[kCoalesceMax];
    size_t at = 0;
    for (size_t i = 0; i < count; ++i) {
      memcpy(buf + at, parts[i].data(), parts[i].size());
      at += parts[i].size();
    }
    rc = seal(buf, total);
  } else {
    for (size_t i = 0; i < count && rc == 0; ++i) rc = seal(parts[i].data(), parts[i].size());
  }
  int flushed = flush_sealed();
  return rc != 0 ? rc : flushed;
}

int TlsTransport::seal(const char* data, size_t len) {
  if (len == 0) return 0;
  ERR_clear_error();
  size_t written = 0;
  // Our BIO never pushes back, so without partial writes SSL_write takes it all.
  if (SSL_write_ex(ssl_.get(), data, len, &written) == 1) return 0;
  ERR_clear_error();
  return write_error_ != 0 ? write_error_ : UV_EPROTO;
}

int TlsTransport::flush_sealed() {
  size_t n = buffers_->sealed_len;
  if (n == 0) return write_error_;
  buffers_->sealed_len = 0;
  if (write_error_ != 0) return write_error_;
  int rc = tcp_->write(std::string_view(buffers_->sealed.data, n));
  if (rc != 0) write_error_ = rc;
  return rc;
}

void TlsTransport::shutdown_write() {
  if (closing_) return;
  switch (state_) {
    case State::kSecured:
      ERR_clear_error();
      SSL_shutdown(ssl_.get());  // queues close_notify; we do not wait for the peer's
      ERR_clear_error();
      flush_sealed();
      tcp_->shutdown_write();
      return;
    case State::kIdle:
    case State::kHandshaking:
      if (!held_.empty() || role_ == Role::kClient) {  // held bytes, close_notify, FIN
        shutdown_after_handshake_ = true;
        return;
      }
      break;
    default:
      break;
  }
  tcp_->shutdown_write();
}

void TlsTransport::close(bool reset) {
  if (closing_) return;
  closing_ = true;
  want_read_ = false;
  input_ = {};
  // OpenSSL drops a session from the server cache when its SSL is freed without a
  // finished shutdown, and a keep-alive client usually closes first, without waiting for
  // our close_notify: a clean end of a secured connection is marked as shut down so its
  // session stays resumable. A reset (an error, a truncation) keeps OpenSSL's rule.
  if (!reset && state_ == State::kSecured)
    SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  tcp_->close(reset);
}

void TlsTransport::note_handshake_timeout() {
  if (closing_) return;
  if (state_ != State::kSniffing && state_ != State::kHandshaking) return;
  state_ = State::kFailed;
  held_ = std::string();
  if (counters_ != nullptr) counters_->record_failure(side(), metrics::TlsFailure::kHandshakeTimeout);
}

// ---- from the TcpTransport ------------------------------------------------------------

void TlsTransport::on_transport_connected(int status) {
  if (closing_) return;
  if (status != 0) {
    handler_->on_transport_connected(status);
    return;
  }
  state_ = State::kHandshaking;
  start_ns_ = uv_hrtime();
  handler_->on_transport_tcp_connected();
  if (closing_) return;
  int rc = tcp_->start_reading();
  if (rc != 0) {
    state_ = State::kFailed;
    handler_->on_transport_connected(rc);
    return;
  }
  feed({});  // the ClientHello
}

void TlsTransport::on_transport_read(std::string_view data) {
  if (closing_) return;
  switch (state_) {
    case State::kSniffing:
      if (!sniff(data)) return;
      break;
    case State::kHandshaking:
    case State::kSecured:
      break;
    default:
      return;  // discarded: plain HTTP answered, or a failed handshake lingering
  }
  feed(data);
}

// Decides what the first bytes are. True: they were TLS (or not HTTP, which OpenSSL
// then refuses with its own reason) and `data` is what remains to feed.
bool TlsTransport::sniff(std::string_view& data) {
  if (sniff_len_ == 0 && !data.empty() && uint8_t(data[0]) == kHandshakeRecord) {
    state_ = State::kHandshaking;
    start_ns_ = uv_hrtime();
    return true;
  }
  size_t take = std::min(sizeof sniff_ - sniff_len_, data.size());
  memcpy(sniff_ + sniff_len_, data.data(), take);
  sniff_len_ = uint8_t(sniff_len_ + take);
  data.remove_prefix(take);
  enum { kUndecided, kHttp, kOther } verdict = kUndecided;
  for (size_t i = 0; i < sniff_len_ && verdict == kUndecided; ++i) {
    if (sniff_[i] == ' ') {
      verdict = i > 0 ? kHttp : kOther;
    } else if (!is_tchar(sniff_[i])) {
      verdict = kOther;
    }
  }
  if (verdict == kUndecided && sniff_len_ < sizeof sniff_) return false;  // wait for more
  if (verdict == kHttp) {
    answer_plain_http();
    return false;
  }
  state_ = State::kHandshaking;
  start_ns_ = uv_hrtime();
  feed(std::string_view(sniff_, sniff_len_));
  return state_ == State::kHandshaking || state_ == State::kSecured;
}

void TlsTransport::answer_plain_http() {
  state_ = State::kPlainHttp;
  held_ = std::string();
  tcp_->write(plain_http_answer());
  if (counters_ != nullptr) counters_->record_failure(side(), metrics::TlsFailure::kPlainHttp);
  handler_->on_transport_error(kErrTlsPlainHttp);
}

void TlsTransport::feed(std::string_view ciphertext) {
  input_ = ciphertext;
  if (state_ == State::kHandshaking && !drive_handshake()) {
    input_ = {};
    return;
  }
  if (state_ == State::kSecured && !closing_ && !read_done_) read_records();
  input_ = {};
}

// True once secured with the owner still listening.
bool TlsTransport::drive_handshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_.get());
  int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), r);
  // Our next flight, or the alert telling the peer why we give up.
  int flushed = flush_sealed();
  if (r == 1) {
    if (flushed != 0) {
      fail(metrics::TlsFailure::kPeerClosed);
      return false;
    }
    handshake_done();
    return state_ == State::kSecured && !closing_;
  }
  if (e == SSL_ERROR_WANT_READ && flushed == 0) return false;
  if (write_error_ != 0) {
    ERR_clear_error();
    fail(metrics::TlsFailure::kPeerClosed);  // the socket refused our flight: reset
  } else {
    fail(classify_tls_failure(ssl_.get()));
  }
  return false;
}

void TlsTransport::handshake_done() {
  state_ = State::kSecured;
  SSL* s = ssl_.get();
  info_.version = SSL_get_version(s);
  const SSL_CIPHER* cipher = SSL_get_current_cipher(s);
  info_.cipher = cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "";
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(s, &alpn, &alpn_len);
  info_.alpn = std::string_view(reinterpret_cast<const char*>(alpn), alpn != nullptr ? alpn_len : 0);
  const char* sni = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
  info_.server_name = sni != nullptr ? sni : "";
  info_.resumed = SSL_session_reused(s) == 1;
  info_.handshake_ns = uv_hrtime() - start_ns_;
  if (counters_ != nullptr) {
    counters_->record_handshake(side(), metrics::parse_tls_version_seen(info_.version),
                                info_.resumed, info_.handshake_ns);
  }
  int rc = 0;
  if (!held_.empty()) {
    std::string held;
    held.swap(held_);  // the capacity goes with it
    rc = seal(held.data(), held.size());
    int flushed = flush_sealed();
    if (rc == 0) rc = flushed;
  }
  if (rc == 0 && shutdown_after_handshake_) shutdown_write();
  apply_read_wish();
  if (role_ == Role::kServer) {
    if (rc != 0) {
      handler_->on_transport_error(rc);
      return;
    }
    handler_->on_transport_secured(info_);
  } else {
    handler_->on_transport_connected(rc);
  }
}

void TlsTransport::fail(metrics::TlsFailure reason) {
  state_ = State::kFailed;
  input_ = {};
  held_ = std::string();
  if (counters_ != nullptr) counters_->record_failure(side(), reason);
  if (role_ == Role::kServer) {
    handler_->on_transport_error(kErrTlsHandshake);
  } else {
    handler_->on_transport_connected(kErrTlsHandshake);
  }
}

// Decrypts everything in input_ (the rest of this libuv read: it cannot be kept), in
// deliveries of up to one plaintext buffer, even if the owner stops reading meanwhile.
void TlsTransport::read_records() {
  char* const out = buffers_->plaintext.data;
  size_t filled = 0;
  for (;;) {
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(ssl_.get(), out + filled, ReadBuffer::kSize - filled, &n);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), r);
    // A KeyUpdate answer or an alert; never left for another connection's write.
    int flushed = flush_sealed();
    if (r == 1) {
      filled += n;
      if (filled < ReadBuffer::kSize) continue;
    }
    if (filled > 0) {
      data_read_ = true;
      handler_->on_transport_read(std::string_view(out, filled));
      filled = 0;
      if (closing_ || read_done_) return;
    }
    if (flushed != 0 && !write_error_told_) {
      // We can no longer send (this flush, or an earlier write, failed); what the peer
      // sent before may still be readable, so reading goes on unless the owner closes.
      write_error_told_ = true;
      handler_->on_transport_write_error(flushed);
      if (closing_ || read_done_) return;
    }
    if (r == 1) continue;
    if (e == SSL_ERROR_WANT_READ) return;
    read_done_ = true;
    tcp_->stop_reading();
    if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify: the peer's orderly end
      ERR_clear_error();
      handler_->on_transport_eof();
    } else {  // a bad record, or an alert after the handshake
      if (role_ == Role::kClient && !data_read_ && e == SSL_ERROR_SSL &&
          refused_after_handshake()) {
        return;
      }
      ERR_clear_error();
      handler_->on_transport_error(UV_EPROTO);
    }
    return;
  }
}

// TLS 1.3: a client's handshake is over once it has sent its certificate, so a server
// that refuses that certificate says so with an alert read after the handshake, before
// any response byte. That is still a failed handshake (its reason counted, reported as
// kErrTlsHandshake), not a reset by the application.
bool TlsTransport::refused_after_handshake() {
  using F = metrics::TlsFailure;
  const F reason = classify_tls_failure(ssl_.get());  // drains the error queue
  if (reason != F::kNoCertificate && reason != F::kBadCertificate && reason != F::kUnknownCa &&
      reason != F::kCertificateExpired)
    return false;
  if (counters_ != nullptr) counters_->record_failure(side(), reason);
  handler_->on_transport_error(kErrTlsHandshake);
  return true;
}

void TlsTransport::on_transport_eof() {
  if (closing_) return;
  switch (state_) {
    case State::kSniffing:
      // A TCP probe that sends nothing is no handshake attempt; one that sent a few bytes
      // and left is.
      if (sniff_len_ > 0) {
        fail(metrics::TlsFailure::kPeerClosed);
        return;
      }
      break;
    case State::kHandshaking:
      fail(metrics::TlsFailure::kPeerClosed);
      return;
    case State::kSecured:
      if (read_done_) return;
      read_done_ = true;
      break;
    default:
      break;
  }
  handler_->on_transport_eof();
}

void TlsTransport::on_transport_error(int uv_error) {
  if (closing_) return;
  if (state_ == State::kHandshaking || (state_ == State::kSniffing && sniff_len_ > 0)) {
    fail(metrics::TlsFailure::kPeerClosed);
    return;
  }
  handler_->on_transport_error(uv_error);
}

void TlsTransport::on_transport_write_error(int uv_error) {
  if (closing_) return;
  if (state_ != State::kSecured) {  // a handshake flight (or a lingering answer) failed
    on_transport_error(uv_error);
    return;
  }
  write_error_ = uv_error;  // nothing more goes out
  if (write_error_told_) return;
  write_error_told_ = true;
  handler_->on_transport_write_error(uv_error);
}

void TlsTransport::on_transport_drained() {
  if (closing_) return;
  // Handshake flights draining are not the owner's business.
  if (state_ == State::kIdle || state_ == State::kSniffing || state_ == State::kHandshaking) return;
  handler_->on_transport_drained();
}

void TlsTransport::on_transport_closed() { handler_->on_transport_closed(); }

}  // namespace sidemeter::net
