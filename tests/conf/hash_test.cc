#include "conf/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace sidemeter::conf {
namespace {

// FIPS 180-2 test vectors: the config hash stays SHA-256 whatever library computes it, so
// config_hash values are stable across builds.
TEST(ShortSha256, FirstSixteenHexDigitsOfSha256) {
  EXPECT_EQ(short_sha256("abc"), "ba7816bf8f01cfea");
  EXPECT_EQ(short_sha256(""), "e3b0c44298fc1c14");
  EXPECT_EQ(short_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8");
  EXPECT_EQ(short_sha256(std::string(1000000, 'a')), "cdc76e5c9914fb92");
}

}  // namespace
}  // namespace sidemeter::conf
