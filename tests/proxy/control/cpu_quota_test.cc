#include "proxy/control/cpu_quota.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

namespace sidemeter::control {
namespace {

namespace fs = std::filesystem;

// A fake root holding only the cgroup files a test writes.
class CpuQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "cpu_quota_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void write(const std::string& rel, const std::string& text) {
    const fs::path p = fs::path(root_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  uint32_t quota() const { return cpus_from_cgroup_quota(root_); }

  std::string root_;
};

TEST_F(CpuQuotaTest, V2NoQuota) {
  write("sys/fs/cgroup/cpu.max", "max 100000\n");
  EXPECT_EQ(quota(), 0u);
}

TEST_F(CpuQuotaTest, V2QuotaRoundsUp) {
  write("sys/fs/cgroup/cpu.max", "150000 100000\n");
  EXPECT_EQ(quota(), 2u);
  write("sys/fs/cgroup/cpu.max", "200000 100000\n");
  EXPECT_EQ(quota(), 2u);  // exact multiples are not rounded past
  write("sys/fs/cgroup/cpu.max", "400001 100000\n");
  EXPECT_EQ(quota(), 5u);
  write("sys/fs/cgroup/cpu.max", "1000 50000");  // no newline; a fiftieth of a CPU
  EXPECT_EQ(quota(), 1u);
}

TEST_F(CpuQuotaTest, V2UnreadableContentMeansNoQuota) {
  for (const char* text : {"", "\n", "abc 100000\n", "150000\n", "150000 0\n", "-5 100000\n",
                           "150000 100000 7\n", "15e4 100000\n"}) {
    write("sys/fs/cgroup/cpu.max", text);
    EXPECT_EQ(quota(), 0u) << '"' << text << '"';
  }
}

TEST_F(CpuQuotaTest, V2WinsOverV1) {
  write("sys/fs/cgroup/cpu.max", "max 100000\n");
  write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "300000\n");
  write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(quota(), 0u);
}

TEST_F(CpuQuotaTest, V1Quota) {
  write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "250000\n");
  write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(quota(), 3u);
}

TEST_F(CpuQuotaTest, V1NoQuota) {
  write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n");
  write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(quota(), 0u);
}

TEST_F(CpuQuotaTest, V1CoMountedWithCpuacct) {
  write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n");
  write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(quota(), 1u);
}

TEST_F(CpuQuotaTest, V1NeedsBothFiles) {
  write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "250000\n");
  EXPECT_EQ(quota(), 0u);
}

TEST_F(CpuQuotaTest, NoCgroupFilesMeansNoQuota) { EXPECT_EQ(quota(), 0u); }

TEST_F(CpuQuotaTest, HugeQuotaDoesNotWrap) {
  write("sys/fs/cgroup/cpu.max", "9223372036854775807 1\n");
  EXPECT_EQ(quota(), 4294967295u);
  EXPECT_EQ(default_worker_count(root_), std::min<uint32_t>(cpus_in_affinity_mask(), 256));
}

TEST_F(CpuQuotaTest, DefaultWorkersFollowTheQuotaWithinTheAffinityMask) {
  const uint32_t affinity = cpus_in_affinity_mask();
  ASSERT_GE(affinity, 1u);
  EXPECT_EQ(default_worker_count(root_), std::min<uint32_t>(affinity, 256));  // no quota
  write("sys/fs/cgroup/cpu.max", "50000 100000\n");
  EXPECT_EQ(default_worker_count(root_), 1u);
  write("sys/fs/cgroup/cpu.max", "150000 100000\n");
  EXPECT_EQ(default_worker_count(root_), std::min<uint32_t>(affinity, 2));
}

TEST(CpuAffinity, CountsOnlyTheCpusTheThreadMayUse) {
  const uint32_t all = cpus_in_affinity_mask();
  ASSERT_GE(all, 1u);
  EXPECT_LE(all, std::max(1u, std::thread::hardware_concurrency()));
  // sched_setaffinity(0, ...) pins only the calling thread, so pin a thread of our own to
  // the first CPU this process may use and count from inside it.
  cpu_set_t mine;
  CPU_ZERO(&mine);
  ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
  int first = 0;
  while (!CPU_ISSET(first, &mine)) ++first;
  uint32_t pinned = 0, pinned_workers = 0;
  std::thread t([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) return;
    pinned = cpus_in_affinity_mask();
    pinned_workers = default_worker_count("/nonexistent-root");
  });
  t.join();
  EXPECT_EQ(pinned, 1u);
  EXPECT_EQ(pinned_workers, 1u);
}

}  // namespace
}  // namespace sidemeter::control
