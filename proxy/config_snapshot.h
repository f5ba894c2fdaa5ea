#pragma once
// What one configuration load means at run time: the validated conf::Config plus the
// objects built from it. Immutable once published; the control loop publishes a new one
// on each successful reload, each worker adopts it through its command queue, and every
// connection keeps the one it started its current exchange with, so no exchange ever
// sees half of a reload.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "proxy/net/tls_context.h"
#include "proxy/upstream/upstream_target.h"

namespace sidemeter {

struct ConfigSnapshot {
  std::shared_ptr<const conf::Config> config;
  // Shared by consecutive snapshots while the upstream address is unchanged, so a reload
  // that does not move the upstream keeps its pooled connections and reachability.
  std::shared_ptr<UpstreamTarget> upstream;
  std::string upstream_authority;  // "host:port", the Host for HTTP/1.0 requests without one
  uint64_t generation = 0;         // 1 for the first load, +1 per applied reload
  // TLS built from this config; null when that side speaks plain TCP. Shared with the
  // previous snapshot while its TLS keys and files are unchanged, so a reload of
  // something else keeps the session cache and stored upstream sessions.
  std::shared_ptr<const net::TlsServerContext> downstream_tls;
  std::shared_ptr<const net::TlsClientContext> upstream_tls;
  // One for the process: tickets survive every reload (rotated by the control loop).
  // Null until a config enables downstream TLS.
  std::shared_ptr<net::TicketKeys> ticket_keys;
};
using ConfigSnapshotPtr = std::shared_ptr<const ConfigSnapshot>;

// The snapshot for `config`, reusing `previous`'s upstream target when the address is
// the same, and its TLS contexts when their config is the same and their files have not
// changed on disk (`rebuild_tls` forces new ones: the files changed). `previous` may be
// null (first load). Control thread only: throws net::TlsConfigError listing every
// problem with the certificates, keys or cipher policy.
ConfigSnapshotPtr make_snapshot(std::shared_ptr<const conf::Config> config,
                                const ConfigSnapshot* previous, bool rebuild_tls = false);

// Whether a TLS file of `s` changed on disk since its context was built (stats each).
bool tls_files_changed(const ConfigSnapshot& s);

// Every certificate `s` serves or presents, for the expiry gauge and alert.
std::vector<metrics::CertificateExpiry> loaded_certificates(const ConfigSnapshot& s);

}  // namespace sidemeter
