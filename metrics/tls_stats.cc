#include "metrics/tls_stats.h"

namespace sidemeter::metrics {

std::string_view tls_side_name(TlsSide s) {
  return s == TlsSide::kUpstream ? "upstream" : "downstream";
}

std::string_view tls_version_seen_name(TlsVersionSeen v) {
  switch (v) {
    case TlsVersionSeen::k1_2: return "TLSv1.2";
    case TlsVersionSeen::k1_3: return "TLSv1.3";
    default: return "other";
  }
}

TlsVersionSeen parse_tls_version_seen(std::string_view openssl_name) {
  if (openssl_name == "TLSv1.3") return TlsVersionSeen::k1_3;
  if (openssl_name == "TLSv1.2") return TlsVersionSeen::k1_2;
  return TlsVersionSeen::kOther;
}

std::string_view tls_failure_name(TlsFailure f) {
  switch (f) {
    case TlsFailure::kNoSharedCipher: return "no_shared_cipher";
    case TlsFailure::kProtocolVersion: return "protocol_version";
    case TlsFailure::kBadCertificate: return "bad_certificate";
    case TlsFailure::kCertificateExpired: return "certificate_expired";
    case TlsFailure::kUnknownCa: return "unknown_ca";
    case TlsFailure::kNoCertificate: return "no_certificate";
    case TlsFailure::kHandshakeTimeout: return "handshake_timeout";
    case TlsFailure::kPlainHttp: return "plain_http";
    case TlsFailure::kPeerClosed: return "peer_closed";
    default: return "other";
  }
}

TlsCounters::TlsCounters()
    : duration_{AtomicHistogram(kDurationLayout), AtomicHistogram(kDurationLayout)} {}

void TlsCounters::record_handshake(TlsSide side, TlsVersionSeen version, bool resumed,
                                   uint64_t duration_ns) {
  duration_[size_t(side)].record(duration_ns);
  handshakes_[size_t(side)][size_t(version)][resumed ? 1 : 0].add(1);
}

void TlsCounters::record_failure(TlsSide side, TlsFailure reason) {
  failures_[size_t(side)][size_t(reason)].add(1);
}

}  // namespace sidemeter::metrics
