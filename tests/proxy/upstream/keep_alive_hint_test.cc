// The Keep-Alive timeout hint: what is read from the field, and how long a pooled
// connection may then stay (the hint less max(1 s, 10 %)).
#include "proxy/upstream/keep_alive_hint.h"

#include <gtest/gtest.h>

namespace sidemeter::upstream {
namespace {

TEST(KeepAliveHintTest, ReadsTheTimeoutParameter) {
  EXPECT_EQ(keep_alive_timeout_s("timeout=5, max=1000"), 5u);
  EXPECT_EQ(keep_alive_timeout_s("max=100, Timeout=7"), 7u);
  EXPECT_EQ(keep_alive_timeout_s("TIMEOUT=60"), 60u);
  EXPECT_EQ(keep_alive_timeout_s("timeout=\"4\""), 4u);
  EXPECT_EQ(keep_alive_timeout_s(" timeout=0 "), 0u);
  EXPECT_EQ(keep_alive_timeout_s("timeout=99999999"), kMaxKeepAliveHintS);
}

TEST(KeepAliveHintTest, IgnoresWhatIsNotATimeout) {
  EXPECT_EQ(keep_alive_timeout_s(""), std::nullopt);
  EXPECT_EQ(keep_alive_timeout_s("max=5"), std::nullopt);
  EXPECT_EQ(keep_alive_timeout_s("timeout"), std::nullopt);
  EXPECT_EQ(keep_alive_timeout_s("timeout="), std::nullopt);
  EXPECT_EQ(keep_alive_timeout_s("timeout=5s"), std::nullopt);
  EXPECT_EQ(keep_alive_timeout_s("timeout=-1"), std::nullopt);
  EXPECT_EQ(keep_alive_timeout_s("timeouts=5"), std::nullopt);
  EXPECT_EQ(keep_alive_timeout_s("timeout=1234567890123"), std::nullopt);
}

TEST(KeepAliveHintTest, FindsTheFieldInAResponseHead) {
  http::MessageHead head;
  head.fields = {{"Content-Length", "2"}, {"keep-alive", "max=3"}, {"Keep-Alive", "timeout=9"}};
  EXPECT_EQ(keep_alive_timeout_s(head), 9u);
  head.fields = {{"Connection", "keep-alive"}, {"Keep-Alivf", "timeout=9"}};
  EXPECT_EQ(keep_alive_timeout_s(head), std::nullopt);
}

TEST(KeepAliveHintTest, PooledLimitIsTheHintLessOneSecondOrTenPercent) {
  EXPECT_EQ(pooled_idle_limit_ms(0), 0u);
  EXPECT_EQ(pooled_idle_limit_ms(1), 0u);  // nothing left: not pooled
  EXPECT_EQ(pooled_idle_limit_ms(2), 1'000u);
  EXPECT_EQ(pooled_idle_limit_ms(5), 4'000u);  // Node.js's default hint
  EXPECT_EQ(pooled_idle_limit_ms(10), 9'000u);
  EXPECT_EQ(pooled_idle_limit_ms(75), 67'500u);  // 10 % once that exceeds 1 s
  EXPECT_EQ(pooled_idle_limit_ms(kMaxKeepAliveHintS), 77'760'000u);
}

}  // namespace
}  // namespace sidemeter::upstream
