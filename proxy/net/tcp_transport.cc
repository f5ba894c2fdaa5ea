#include "proxy/net/tcp_transport.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace sidemeter::net {

// A queued write owns its bytes until libuv's callback: the buffer must outlive the
// request, whatever happens to the connection meanwhile.
struct TcpTransport::WriteReq {
  uv_write_t req;
  TcpTransport* self;
  size_t size;
  char data[1];  // allocated to size
};

TcpTransport::TcpTransport(uv_loop_t* loop, ReadBuffer* read_buffer, TransportHandler* handler)
    : read_buffer_(read_buffer), handler_(handler) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
}

void TcpTransport::set_nodelay() { uv_tcp_nodelay(&tcp_, 1); }

int TcpTransport::connect(const SocketAddress& addr) {
  connect_req_.data = this;
  const int rc = uv_tcp_connect(&connect_req_, &tcp_, addr.get(), on_connect);
  connecting_ = rc == 0;
  return rc;
}

void TcpTransport::on_connect(uv_connect_t* req, int status) {
  auto* self = static_cast<TcpTransport*>(req->data);
  self->connecting_ = false;
  if (self->closing_) return;  // UV_ECANCELED after close(): the owner no longer listens
  self->handler_->on_transport_connected(status);
}

int TcpTransport::start_reading() {
  if (reading_ || closing_) return 0;
  int rc = uv_read_start(stream(), on_alloc, on_read);
  if (rc == 0) reading_ = true;
  return rc;
}

void TcpTransport::stop_reading() {
  if (!reading_) return;
  uv_read_stop(stream());
  reading_ = false;
}

void TcpTransport::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<TcpTransport*>(h->data);
  buf->base = self->read_buffer_->data;
  buf->len = ReadBuffer::kSize;
}

void TcpTransport::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* self = static_cast<TcpTransport*>(s->data);
  if (self->closing_) return;
  if (n > 0) {
    self->handler_->on_transport_read(std::string_view(buf->base, size_t(n)));
  } else if (n == UV_EOF) {
    self->stop_reading();
    self->handler_->on_transport_eof();
  } else if (n < 0) {
    self->stop_reading();
    self->handler_->on_transport_error(int(n));
  }
}

int TcpTransport::writev(const std::string_view* parts, size_t count) {
  if (closing_) return UV_ECANCELED;
  constexpr size_t kMaxParts = 8;
  if (count > kMaxParts) return UV_EINVAL;
  size_t total = 0;
  uv_buf_t bufs[kMaxParts];
  unsigned nbufs = 0;
  for (size_t i = 0; i < count; ++i) {
    if (parts[i].empty()) continue;
    bufs[nbufs].base = const_cast<char*>(parts[i].data());
    bufs[nbufs].len = parts[i].size();
    ++nbufs;
    total += parts[i].size();
  }
  if (total == 0) return 0;
  size_t written = 0;
  // Straight to the socket when nothing is queued ahead: no request, no copy, no
  // callback for the common case.
  if (queued_ == 0) {
    int n = try_write(bufs, nbufs);
    if (n >= 0 && size_t(n) == total) return 0;
    if (n >= 0) {
      written = size_t(n);
    } else if (n != UV_EAGAIN) {
      return n;
    }
  }
  size_t rest = total - written;
  auto* wr = static_cast<WriteReq*>(malloc(sizeof(WriteReq) + rest));
  if (wr == nullptr) return UV_ENOMEM;
  wr->self = this;
  wr->size = rest;
  // Copy what the socket did not take: the caller's buffers are only borrowed.
  char* dst = wr->data;
  size_t skip = written;
  for (unsigned i = 0; i < nbufs; ++i) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    memcpy(dst, bufs[i].base + skip, len - skip);
    dst += len - skip;
    skip = 0;
  }
  wr->req.data = wr;
  uv_buf_t b = uv_buf_init(wr->data, unsigned(rest));
  int rc = uv_write(&wr->req, stream(), &b, 1, on_write);
  if (rc != 0) {
    free(wr);
    return rc;
  }
  queued_ += rest;
  return 0;
}

// uv_try_write without its toll. For a connected TCP stream with nothing queued, libuv
// (1.44, src/unix/stream.c uv__try_write) does exactly this: write(2), or writev(2) for
// several buffers, on the fd, EINTR retried, EAGAIN/EWOULDBLOCK/ENOBUFS reported as
// UV_EAGAIN, other errors as -errno; and it keeps no state about the write. Doing it here
// skips its checks (we know the answers) and, through syscall(2), glibc's cancellation-
// point bookkeeping around write/writev (no thread of ours is ever pthread_cancel'ed):
// ~100 instructions per write, two writes per proxied request. SIGPIPE is ignored
// process-wide (main.cc), as it must already be for libuv's own writes.
// Anything unusual (connecting, libuv holding queued bytes, a shutdown asked) goes to
// uv_try_write as before.
int TcpTransport::try_write(const uv_buf_t* bufs, unsigned nbufs) {
  static_assert(sizeof(uv_buf_t) == sizeof(iovec) &&
                offsetof(uv_buf_t, base) == offsetof(iovec, iov_base) &&
                offsetof(uv_buf_t, len) == offsetof(iovec, iov_len));
  if (fd_ < 0 || shutdown_requested_ || connecting_ || tcp_.write_queue_size != 0) {
    if (fd_ < 0 && !connecting_) {
      uv_os_fd_t fd = -1;
      if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) == 0) fd_ = fd;
    }
    return uv_try_write(stream(), bufs, nbufs);
  }
  long n;
  do {
    n = nbufs == 1 ? syscall(SYS_write, fd_, bufs[0].base, bufs[0].len)
                   : syscall(SYS_writev, fd_, reinterpret_cast<const iovec*>(bufs), nbufs);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return UV_EAGAIN;
  return -errno;  // UV__ERR on Linux
}

void TcpTransport::on_write(uv_write_t* req, int status) {
  auto* wr = static_cast<WriteReq*>(req->data);
  TcpTransport* self = wr->self;
  self->queued_ -= wr->size;
  free(wr);
  if (self->closing_) return;
  if (status != 0) {
    self->handler_->on_transport_write_error(status);
    return;
  }
  if (self->queued_ == 0) {
    if (self->shutdown_requested_ && !self->shutdown_pending_) self->shutdown_write();
    self->handler_->on_transport_drained();
  }
}

void TcpTransport::shutdown_write() {
  if (closing_ || shutdown_pending_) return;
  shutdown_requested_ = true;
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, stream(), on_shutdown) == 0) shutdown_pending_ = true;
}

void TcpTransport::on_shutdown(uv_shutdown_t*, int) {}

void TcpTransport::close(bool reset) {
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  // RST where the peer must not mistake a truncation for a complete message. libuv
  // refuses it while a shutdown is pending; a plain close is then the best we can do.
  if (reset && uv_tcp_close_reset(&tcp_, on_close) == 0) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_close);
}

void TcpTransport::on_close(uv_handle_t* h) {
  auto* self = static_cast<TcpTransport*>(h->data);
  self->handler_->on_transport_closed();
}

SocketAddress TcpTransport::peer_address() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace sidemeter::net
