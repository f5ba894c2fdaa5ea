#pragma once
// Which transport a connection speaks through, decided in one place from the TLS
// context of its side in the configuration snapshot: none → the connection's own
// TcpTransport; a context → a TlsTransport wrapping it. Connections then talk only to
// the returned Transport*, so the HTTP code never branches on TLS.
#include <memory>

#include "metrics/tls_stats.h"
#include "proxy/net/tcp_transport.h"
#include "proxy/net/tls_context.h"
#include "proxy/net/tls_transport.h"

namespace sidemeter::net {

// What a connection holds: the transport to use, and the TLS layer it owns (if any).
// `transport` is null when the TLS layer could not be made (OpenSSL out of memory): the
// connection must close.
struct TransportChoice {
  std::unique_ptr<TlsTransport> tls;
  Transport* transport = nullptr;
};

// Where the TLS layer of a worker's connections gets its scratch buffers and counts its
// handshakes. `buffers` is called only when a TLS transport is made, so a worker that
// never speaks TLS never allocates them.
struct TlsEnvironment {
  TlsBuffers* (*buffers)(void* owner) = nullptr;
  void* owner = nullptr;
  metrics::TlsCounters* counters = nullptr;  // may be null
};

// Accepted connections (server role). `tcp` must outlive the result.
TransportChoice make_downstream_transport(TcpTransport& tcp, const TlsServerContext* tls,
                                          const TlsEnvironment& env, TransportHandler* handler);
// Connections to the upstream (client role).
TransportChoice make_upstream_transport(TcpTransport& tcp, const TlsClientContext* tls,
                                        const TlsEnvironment& env, TransportHandler* handler);

}  // namespace sidemeter::net
