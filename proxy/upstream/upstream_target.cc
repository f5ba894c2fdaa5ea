#include "proxy/upstream/upstream_target.h"

#include <cstring>

#include "proxy/log.h"

namespace sidemeter {

bool UpstreamTarget::refresh() {
  net::SocketAddress fresh;
  std::string error;
  if (net::resolve(host_, port_, fresh, error) != 0) {
    std::lock_guard lock(mu_);
    if (error != last_error_)
      log::warn("upstream_resolve_failed", {{"host", host_}, {"error", error}});
    last_error_ = error;
    return addr_.valid();  // keep the last good address
  }
  std::lock_guard lock(mu_);
  last_error_.clear();
  if (!addr_.valid() || addr_.len != fresh.len || memcmp(&addr_.storage, &fresh.storage, fresh.len) != 0) {
    log::info("upstream_resolved", {{"host", host_}, {"address", fresh.ip()}, {"port", unsigned(port_)}});
    addr_ = fresh;
  }
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
