#include "proxy/config_snapshot.h"

namespace sidemeter {

ConfigSnapshotPtr make_snapshot(std::shared_ptr<const conf::Config> config,
                                const ConfigSnapshot* previous, bool rebuild_tls) {
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
  // Made when downstream TLS first needs them, not before: their random bytes start
  // OpenSSL's providers (openssl.cnf, algorithm tables: about 2 MiB resident), which a
  // process without downstream TLS never needs. Kept once made, through every reload.
  s->ticket_keys = previous != nullptr ? previous->ticket_keys : nullptr;
  const conf::DownstreamTls& down = config->tls;
  if (down.enabled() && s->ticket_keys == nullptr) s->ticket_keys = std::make_shared<net::TicketKeys>();

  // Both sides are built before either error is thrown, so one load reports them all.
  std::vector<std::string> problems;
  if (down.enabled()) {
    const bool same = previous != nullptr && previous->downstream_tls &&
                      previous->config->tls == down && !rebuild_tls &&
                      !previous->downstream_tls->files_changed();
    if (same) {
      s->downstream_tls = previous->downstream_tls;
    } else {
      try {
        s->downstream_tls = net::TlsServerContext::create(down, s->ticket_keys);
      } catch (const net::TlsConfigError& e) {
        problems.insert(problems.end(), e.problems().begin(), e.problems().end());
      }
    }
  }
  const conf::UpstreamTls& up = config->upstream.tls;
  if (up.enabled) {
    const bool same = previous != nullptr && previous->upstream_tls &&
                      previous->config->upstream.tls == up &&
                      previous->config->upstream.address.host == address.host && !rebuild_tls &&
                      !previous->upstream_tls->files_changed();
    if (same) {
      s->upstream_tls = previous->upstream_tls;
    } else {
      try {
        s->upstream_tls = net::TlsClientContext::create(up, address.host);
      } catch (const net::TlsConfigError& e) {
        problems.insert(problems.end(), e.problems().begin(), e.problems().end());
      }
    }
  }
  if (!problems.empty()) throw net::TlsConfigError(std::move(problems));
  s->config = std::move(config);
  return s;
}

bool tls_files_changed(const ConfigSnapshot& s) {
  return (s.downstream_tls && s.downstream_tls->files_changed()) ||
         (s.upstream_tls && s.upstream_tls->files_changed());
}

std::vector<metrics::CertificateExpiry> loaded_certificates(const ConfigSnapshot& s) {
  std::vector<metrics::CertificateExpiry> all;
  if (s.downstream_tls) all = s.downstream_tls->certificates();
  if (s.upstream_tls)
    all.insert(all.end(), s.upstream_tls->certificates().begin(), s.upstream_tls->certificates().end());
  return all;
}

}  // namespace sidemeter
