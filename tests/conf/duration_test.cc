#include <gtest/gtest.h>

#include "conf/config.h"

using namespace sidemeter::conf;

TEST(Duration, Units) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250u);
  EXPECT_EQ(parse_duration_ms("10s"), 10'000u);
  EXPECT_EQ(parse_duration_ms("2m"), 120'000u);
  EXPECT_EQ(parse_duration_ms("1h"), 3'600'000u);
  EXPECT_EQ(parse_duration_ms("0"), 0u);
}

TEST(Duration, BareNumbersOtherThanZeroNeedAUnit) {
  try {
    parse_duration_ms("30");
    FAIL() << "accepted a bare 30";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "'30': missing unit (ms, s, m or h), e.g. 30s");
  }
}

TEST(Duration, Errors) {
  for (const char* bad : {"10 s", "fast", "3d", "", "-1s", "1.5s", "+1s", "s", "10S"})
    EXPECT_THROW(parse_duration_ms(bad), ConfigError) << bad;
}

TEST(Duration, OverflowIsAnErrorNotAWrap) {
  // 5124095576030432 h * 3'600'000 wraps to a small number in uint64.
  EXPECT_THROW(parse_duration_ms("5124095576030432h"), ConfigError);
  EXPECT_THROW(parse_duration_ms("99999999999999999999ms"), ConfigError);
  EXPECT_EQ(parse_duration_ms("18446744073709551615ms"), 18446744073709551615u);
  EXPECT_THROW(parse_duration_ms("18446744073709552s"), ConfigError);
}
