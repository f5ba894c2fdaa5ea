#include "proxy/config_snapshot.h"

namespace sidemeter {

ConfigSnapshotPtr make_snapshot(std::shared_ptr<const conf::Config> config,
                                const ConfigSnapshot* previous) {
  auto s = std::make_shared<ConfigSnapshot>();
  const conf::HostPort& address = config->upstream.address;
  if (previous != nullptr && previous->upstream->host() == address.host &&
      previous->upstream->port() == address.port) {
    s->upstream = previous->upstream;
  } else {
    s->upstream = std::make_shared<UpstreamTarget>(address.host, address.port);
  }
  s->upstream_authority = address.to_string();
  s->generation = previous != nullptr ? previous->generation + 1 : 1;
  s->config = std::move(config);
  return s;
}

}  // namespace sidemeter
