#pragma once
// Raises the process's open-file limit to what max_connections needs. Containers and
// systemd start programs with a soft limit of 1024, which would cap the proxy near 500
// proxied connections long before max_connections; the hard limit is usually far higher
// and ours to take (HAProxy and nginx's worker_rlimit_nofile do the same).
#include <cstdint>

namespace sidemeter {

// Descriptors wanted for `max_connections` downstream connections: each may hold one
// upstream connection too, plus room for listeners, the stats port and pooled idle
// upstream connections.
uint64_t fds_wanted(uint64_t max_connections);

// The soft limit to set: `wanted` if the hard limit allows it, else the hard limit; never
// lower than the current soft limit.
uint64_t plan_soft_limit(uint64_t soft, uint64_t hard, uint64_t wanted);

struct FdLimit {
  uint64_t before = 0;
  uint64_t after = 0;
  uint64_t wanted = 0;
  bool enough() const { return after >= wanted; }
};

// Applies the plan with setrlimit(RLIMIT_NOFILE). `after` is what is in force.
FdLimit raise_fd_limit(uint64_t max_connections);

}  // namespace sidemeter
