#include "conf/hash.h"

#include <nettle/sha2.h>

namespace sidemeter::conf {

// Nettle, not OpenSSL's EVP: the first EVP digest starts OpenSSL's provider machinery
// (openssl.cnf, the default provider's algorithm tables), which made about 2 MiB of
// libcrypto resident in every process, TLS or not, just to hash the config at startup.
// Nettle's SHA-256 is plain code over a caller-owned context: no global state, no failure.
std::string short_sha256(std::string_view data) {
  sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, data.size(), reinterpret_cast<const uint8_t*>(data.data()));
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, sizeof digest, digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 8; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace sidemeter::conf
