#pragma once
// One upstream's current address. The control thread re-resolves the host name
// periodically (Kubernetes service names move); workers copy the address when they open
// a connection, which is rare next to requests thanks to the pool.
//
// The mutex guards the address only, for a copy: nothing that can block (resolving,
// logging to a stderr that may be a full pipe) ever runs under it, so a worker's connect
// never waits for the control thread's I/O.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "proxy/net/socket_address.h"

namespace sidemeter {

class UpstreamTarget {
 public:
  UpstreamTarget(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {}
  // Blocking resolve, then update(); call from the control thread. Returns true if an
  // address is known (a failed resolve keeps the last good one, and is logged once per
  // distinct error).
  bool refresh();
  // Adopts `fresh` (a resolved address); a change bumps address_generation() and is
  // logged (upstream_resolved) after the lock is released. Returns true if it changed.
  bool update(const net::SocketAddress& fresh);
  // The address, and optionally the generation it belongs to. False while unresolved.
  bool current(net::SocketAddress& out, uint32_t* generation = nullptr) const {
    std::lock_guard lock(mu_);
    out = addr_;
    if (generation != nullptr) *generation = generation_.load(std::memory_order_relaxed);
    return out.valid();
  }
  // +1 each time the resolved address changes. A pooled connection made for an older
  // generation points at an address the name no longer has: it is retired, not reused.
  // One relaxed load: cheap enough for every pool take.
  uint32_t address_generation() const { return generation_.load(std::memory_order_relaxed); }
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
  mutable std::mutex mu_;  // addr_ (and generation_ changes with it)
  net::SocketAddress addr_;
  std::atomic<uint32_t> generation_{0};
  // Serialises refresh() (the periodic one and a reload's may overlap on one target).
  // Only resolving threads take it, never a worker: logging under it is fine.
  std::mutex refresh_mu_;
  std::string last_error_;  // guarded by refresh_mu_
  // Unknown until the first connect, so that the first outcome is logged either way.
  static constexpr int kUnknown = -1, kDown = 0, kUp = 1;
  std::atomic<int> reachable_{kUnknown};
};

}  // namespace sidemeter
