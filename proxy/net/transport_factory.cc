#include "proxy/net/transport_factory.h"

namespace sidemeter::net {
namespace {

TransportChoice wrap(TcpTransport& tcp, SslPtr ssl, TlsTransport::Role role,
                     const TlsEnvironment& env, TransportHandler* handler) {
  TransportChoice c;
  if (!ssl) return c;
  c.tls = std::make_unique<TlsTransport>(&tcp, std::move(ssl), role, env.buffers(env.owner),
                                         handler, env.counters);
  c.transport = c.tls.get();
  return c;
}

}  // namespace

TransportChoice make_downstream_transport(TcpTransport& tcp, const TlsServerContext* tls,
                                          const TlsEnvironment& env, TransportHandler* handler) {
  if (tls == nullptr) return TransportChoice{nullptr, &tcp};
  return wrap(tcp, tls->new_ssl(), TlsTransport::Role::kServer, env, handler);
}

TransportChoice make_upstream_transport(TcpTransport& tcp, const TlsClientContext* tls,
                                        const TlsEnvironment& env, TransportHandler* handler) {
  if (tls == nullptr) return TransportChoice{nullptr, &tcp};
  return wrap(tcp, tls->new_ssl(), TlsTransport::Role::kClient, env, handler);
}

}  // namespace sidemeter::net
