#pragma once
// TLS handshakes, counted per worker outside exchanges: a handshake belongs to a
// connection, which may carry many exchanges or none. The TLS transport is the one
// writer on its worker; the registry sums the workers when a snapshot is taken.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/counters.h"
#include "metrics/histogram.h"

namespace sidemeter::metrics {

enum class TlsSide : uint8_t { kDownstream, kUpstream, kCount };
std::string_view tls_side_name(TlsSide s);  // "downstream", "upstream"

// The protocol version a handshake settled on.
enum class TlsVersionSeen : uint8_t { k1_2, k1_3, kOther, kCount };
std::string_view tls_version_seen_name(TlsVersionSeen v);  // "TLSv1.2", "TLSv1.3", "other"
// OpenSSL's SSL_get_version() spelling → the enum ("TLSv1.2" → k1_2, else kOther).
TlsVersionSeen parse_tls_version_seen(std::string_view openssl_name);

// Why a handshake failed, from the side that counts it. "The peer's certificate" is the
// client's under mTLS (downstream) and the application's (upstream).
enum class TlsFailure : uint8_t {
  kNoSharedCipher,      // no cipher suite, group or signature algorithm both accept
  kProtocolVersion,     // the peer offered only versions we refuse (TLS 1.0/1.1, or < min)
  kBadCertificate,      // the peer's certificate is malformed, badly signed or for another name
  kCertificateExpired,  // the peer's certificate is expired or not yet valid
  kUnknownCa,           // the peer's chain does not lead to a trusted CA
  kNoCertificate,       // mTLS required and the client sent no certificate
  kHandshakeTimeout,    // not finished within the handshake (downstream) or connect (upstream) timeout
  kPlainHttp,           // plain HTTP sent to a TLS port (answered with a plain-text 400)
  kPeerClosed,          // the peer closed or reset the connection mid-handshake
  kOther,               // any other alert or error
  kCount
};
std::string_view tls_failure_name(TlsFailure f);  // "no_shared_cipher", ... "other"

inline constexpr size_t kTlsSides = size_t(TlsSide::kCount);
inline constexpr size_t kTlsVersions = size_t(TlsVersionSeen::kCount);
inline constexpr size_t kTlsFailures = size_t(TlsFailure::kCount);

// One worker's TLS figures. Writer: that worker's thread only (relaxed, no lock prefix).
class TlsCounters {
 public:
  TlsCounters();
  void record_handshake(TlsSide side, TlsVersionSeen version, bool resumed, uint64_t duration_ns);
  void record_failure(TlsSide side, TlsFailure reason);
  // Read access (any thread) for tests; the registry reads the fields directly.
  uint64_t handshakes(TlsSide side, TlsVersionSeen version, bool resumed) const {
    return handshakes_[size_t(side)][size_t(version)][resumed ? 1 : 0].get();
  }
  uint64_t failures(TlsSide side, TlsFailure reason) const {
    return failures_[size_t(side)][size_t(reason)].get();
  }

 private:
  friend class Registry;
  std::array<AtomicHistogram, kTlsSides> duration_;  // kDurationLayout, ns
  // [side][version][resumed]
  std::array<std::array<std::array<Count, 2>, kTlsVersions>, kTlsSides> handshakes_;
  std::array<std::array<Count, kTlsFailures>, kTlsSides> failures_;
};

// A loaded certificate's expiry, set by the control plane at each (re)load.
struct CertificateExpiry {
  std::string name;         // the first DNS subjectAltName, else the subject CN, else the file
  std::string file;         // where it was loaded from
  TlsSide side = TlsSide::kDownstream;  // downstream: served; upstream: our client certificate
  int64_t not_after_unix_s = 0;
};

// Summed over workers, cumulative since start (what the snapshot carries).
struct TlsStats {
  std::array<Histogram, kTlsSides> duration{Histogram(kDurationLayout), Histogram(kDurationLayout)};
  std::array<std::array<std::array<uint64_t, 2>, kTlsVersions>, kTlsSides> handshakes{};
  std::array<std::array<uint64_t, kTlsFailures>, kTlsSides> failures{};
  std::vector<CertificateExpiry> certificates;
};

}  // namespace sidemeter::metrics
