#include "proxy/upstream/upstream_target.h"

#include <cstring>

#include "proxy/log.h"

namespace sidemeter {

bool UpstreamTarget::refresh() {
  std::lock_guard serial(refresh_mu_);
  net::SocketAddress fresh;
  std::string error;
  if (net::resolve(host_, port_, fresh, error) != 0) {
    if (error != last_error_)
      log::warn("upstream_resolve_failed", {{"host", host_}, {"error", error}});
    last_error_ = std::move(error);
    net::SocketAddress known;
    return current(known);  // keep the last good address
  }
  last_error_.clear();
  update(fresh);
  return true;
}

bool UpstreamTarget::update(const net::SocketAddress& fresh) {
  {
    std::lock_guard lock(mu_);
    if (addr_.valid() && addr_.len == fresh.len &&
        memcmp(&addr_.storage, &fresh.storage, fresh.len) == 0)
      return false;
    addr_ = fresh;
    generation_.fetch_add(1, std::memory_order_relaxed);
  }
  // After the lock: a stderr that blocks (a full pipe, a stalled collector) stalls this
  // thread only, never a worker copying the address to connect.
  log::info("upstream_resolved", {{"host", host_}, {"address", fresh.ip()}, {"port", unsigned(port_)}});
  return true;
}

void UpstreamTarget::set_reachable(bool up) {
  const int state = up ? kUp : kDown;
  if (reachable_.load(std::memory_order_relaxed) == state) return;
  if (reachable_.exchange(state, std::memory_order_relaxed) == state) return;
  if (up) {
    log::info("upstream_reachable", {{"upstream", host_}, {"port", unsigned(port_)}});
  } else {
    log::warn("upstream_unreachable", {{"upstream", host_}, {"port", unsigned(port_)}});
  }
}

}  // namespace sidemeter
