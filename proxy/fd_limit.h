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

// Descriptors kept back from client connections for the process itself: each worker's
// event loop (an epoll, eventfds, signal pipes, its listener and libuv's spare for
// EMFILE: about 6), the stats port's connections, files read on reload, name resolution
// and alert delivery.
uint64_t fds_reserved(uint64_t workers);

// Downstream connections `fd_limit` descriptors can serve once the reserve is kept, each
// with its upstream connection: the effective ceiling when the limit could not be raised
// to fds_wanted(). At least 1. Over it a client gets a 503 (counted as refused) instead
// of an accept failing with EMFILE, which would drop it without an answer, and would
// leave the stats port no descriptor to answer with.
uint64_t connection_cap(uint64_t fd_limit, uint64_t workers);

struct FdLimit {
  uint64_t before = 0;
  uint64_t after = 0;
  uint64_t wanted = 0;
  bool enough() const { return after >= wanted; }
};

// Applies the plan with setrlimit(RLIMIT_NOFILE). `after` is what is in force.
FdLimit raise_fd_limit(uint64_t max_connections);

}  // namespace sidemeter
