#pragma once
// The upstream's current address. The control thread re-resolves the host name
// periodically (Kubernetes service names move); workers copy the address when they open
// a connection, which is rare next to requests thanks to the pool.
#include <mutex>
#include <string>

#include "proxy/net/socket_address.h"

namespace sidemeter {

class UpstreamTarget {
 public:
  UpstreamTarget(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {}
  // Blocking resolve; call from the control thread. Returns true if an address is known.
  bool refresh();
  bool current(net::SocketAddress& out) const {
    std::lock_guard lock(mu_);
    out = addr_;
    return out.valid();
  }
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }

 private:
  std::string host_;
  uint16_t port_;
  mutable std::mutex mu_;
  net::SocketAddress addr_;
  std::string last_error_;
};

}  // namespace sidemeter
