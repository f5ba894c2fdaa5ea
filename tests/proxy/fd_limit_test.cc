#include "proxy/fd_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace sidemeter {
namespace {

TEST(FdLimitTest, WantsTwoDescriptorsAConnectionPlusHeadroom) {
  EXPECT_EQ(fds_wanted(20000), 41024u);
  EXPECT_EQ(fds_wanted(0), 1024u);
}

TEST(FdLimitTest, RaisesSoftToWantedWhenHardAllows) {
  EXPECT_EQ(plan_soft_limit(1024, 1048576, 41024), 41024u);
}

TEST(FdLimitTest, StopsAtTheHardLimit) { EXPECT_EQ(plan_soft_limit(1024, 20000, 41024), 20000u); }

TEST(FdLimitTest, NeverLowersAnAlreadyHigherSoftLimit) {
  EXPECT_EQ(plan_soft_limit(65536, 1048576, 41024), 65536u);
}

TEST(FdLimitTest, ConnectionCapKeepsTheReserveAndTwoDescriptorsAConnection) {
  EXPECT_EQ(fds_reserved(2), 80u);
  EXPECT_EQ(connection_cap(1024, 2), (1024u - 80u) / 2);
  EXPECT_EQ(connection_cap(128, 2), 24u);
  // Enough for max_connections: the cap is above it and changes nothing.
  EXPECT_GE(connection_cap(fds_wanted(20000), 4), 20000u);
  // Below the reserve there is still one connection, never zero or a wrap-around.
  EXPECT_EQ(connection_cap(50, 2), 1u);
  EXPECT_EQ(connection_cap(0, 256), 1u);
}

TEST(FdLimitTest, AppliedLimitIsInForceAndWithinHard) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  FdLimit r = raise_fd_limit(100);
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(r.before, before.rlim_cur);
  EXPECT_EQ(r.after, now.rlim_cur);
  EXPECT_GE(now.rlim_cur, before.rlim_cur);
  EXPECT_LE(now.rlim_cur, now.rlim_max);
  // 100 connections want 1224 descriptors: met unless the hard limit is below that.
  EXPECT_EQ(r.enough(), now.rlim_max >= fds_wanted(100) || before.rlim_cur >= fds_wanted(100));
}

}  // namespace
}  // namespace sidemeter
