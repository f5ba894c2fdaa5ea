#pragma once
// The seam between connection logic and the bytes on the wire. Connection code speaks
// plaintext through Transport; TcpTransport does it on a uv_tcp_t, and a TLS transport
// can wrap one later without the HTTP code noticing.
//
// Lifetime rule: close() is always asynchronous. The handler stays valid until
// on_transport_closed(), which is the only place its owner may free itself; no other
// callback arrives after close() was called.
#include <cstddef>
#include <string_view>

#include "proxy/net/socket_address.h"

namespace sidemeter::net {

class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  virtual void on_transport_connected(int status) = 0;  // status 0 or a UV_E* code
  // Plaintext bytes; a view into a buffer reused after the call returns.
  virtual void on_transport_read(std::string_view data) = 0;
  virtual void on_transport_eof() = 0;
  virtual void on_transport_error(int uv_error) = 0;
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
};

}  // namespace sidemeter::net
