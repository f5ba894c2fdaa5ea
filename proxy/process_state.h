#pragma once
// Process-wide live figures that every worker updates and the control loop reads. Only
// atomics: configuration is not here (it travels as immutable snapshots, see
// config_snapshot.h), and nothing here is a lock.
#include <atomic>
#include <cstdint>

#include "metrics/clock.h"

namespace sidemeter {

struct ProcessState {
  const metrics::Clock* clock = nullptr;
  std::atomic<int64_t> downstream_connections{0};  // process-wide, for max_connections
  // The highest downstream_connections since the control loop last took it: a spike
  // shorter than its tick would otherwise go unseen (and its memory never returned).
  std::atomic<int64_t> downstream_connections_peak{0};
  // What the descriptor limit allows (fd_limit.h connection_cap), set before the workers
  // start; max_connections applies up to it.
  std::atomic<int64_t> connection_cap_by_fds{INT64_MAX};
};

}  // namespace sidemeter
