#pragma once
// What one configuration load means at run time: the validated conf::Config plus the
// objects built from it. Immutable once published; the control loop publishes a new one
// on each successful reload, each worker adopts it through its command queue, and every
// connection keeps the one it started its current exchange with, so no exchange ever
// sees half of a reload.
#include <cstdint>
#include <memory>
#include <string>

#include "conf/config.h"
#include "proxy/upstream/upstream_target.h"

namespace sidemeter {

struct ConfigSnapshot {
  std::shared_ptr<const conf::Config> config;
  // Shared by consecutive snapshots while the upstream address is unchanged, so a reload
  // that does not move the upstream keeps its pooled connections and reachability.
  std::shared_ptr<UpstreamTarget> upstream;
  std::string upstream_authority;  // "host:port", the Host for HTTP/1.0 requests without one
  uint64_t generation = 0;         // 1 for the first load, +1 per applied reload
};
using ConfigSnapshotPtr = std::shared_ptr<const ConfigSnapshot>;

// The snapshot for `config`, reusing `previous`'s upstream target when the address is
// the same. `previous` may be null (first load).
ConfigSnapshotPtr make_snapshot(std::shared_ptr<const conf::Config> config,
                                const ConfigSnapshot* previous);

}  // namespace sidemeter
