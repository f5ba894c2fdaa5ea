#pragma once
// One upstream's current address. The control thread re-resolves the host name
// periodically (Kubernetes service names move); workers copy the address when they open
// a connection, which is rare next to requests thanks to the pool.
#include <atomic>
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
  // Whether the last TCP connect to it (a worker's or the probe's) succeeded; readiness.
  // False until one has: a pod is not ready before its application accepts connections.
  bool reachable() const { return reachable_.load(std::memory_order_relaxed) == kUp; }
  // Any thread. A change is logged (upstream_reachable / upstream_unreachable) once, by
  // whoever made it; an unchanged state writes nothing, so workers share a clean line.
  void set_reachable(bool up);
  uint16_t port() const { return port_; }

 private:
  std::string host_;
  uint16_t port_;
  mutable std::mutex mu_;
  net::SocketAddress addr_;
  std::string last_error_;
  // Unknown until the first connect, so that the first outcome is logged either way.
  static constexpr int kUnknown = -1, kDown = 0, kUp = 1;
  std::atomic<int> reachable_{kUnknown};
};

}  // namespace sidemeter
