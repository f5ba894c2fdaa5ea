#include "metrics/process_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "metrics/clock.h"
#include "metrics/registry.h"

namespace sidemeter::metrics {
namespace {

namespace fs = std::filesystem;

// A fake / with just the files the readers look at.
class FixtureRoot {
 public:
  FixtureRoot() {
    std::string tmpl = (fs::temp_directory_path() / "sidemeter-proc-XXXXXX").string();
    root_ = mkdtemp(tmpl.data());
    fs::create_directories(root_ / "proc/self/fd");
    fs::create_directories(root_ / "sys/fs/cgroup/svc.slice");
  }
  ~FixtureRoot() { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    std::ofstream(root_ / rel) << text;
  }
  // utime/stime in clock ticks; comm with spaces and parens, as the kernel allows.
  void write_stat(uint64_t utime, uint64_t stime) {
    write("proc/self/stat", "4242 (side (meter) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 " +
                                std::to_string(utime) + " " + std::to_string(stime) +
                                " 0 0 20 0 7 0 5000 123456789 300 18446744073709551615\n");
  }
  std::string path() const { return root_.string(); }

 private:
  fs::path root_;
};

TEST(ProcessStats, ParsesFixtureFiles) {
  FixtureRoot f;
  f.write_stat(250, 150);
  f.write("proc/stat", "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n");
  f.write("proc/self/limits",
          "Limit                     Soft Limit           Hard Limit           Units\n"
          "Max open files            1024                 4096                 files\n");
  for (const char* fd : {"0", "1", "2", "7"}) f.write(std::string("proc/self/fd/") + fd, "");
  f.write("proc/self/cgroup", "0::/svc.slice\n");
  f.write("sys/fs/cgroup/svc.slice/cpu.stat", "usage_usec 987654\nuser_usec 1\n");
  f.write("sys/fs/cgroup/svc.slice/memory.current", "5242880\n");
  f.write("sys/fs/cgroup/svc.slice/memory.max", "max\n");
  f.write("sys/fs/cgroup/svc.slice/cpu.max", "150000 100000\n");

  const ProcessStats ps(f.path(), 100, 4096);
  const ProcessFigures p = ps.read();
  ASSERT_TRUE(p.valid);
  EXPECT_DOUBLE_EQ(p.cpu_user_seconds, 2.5);
  EXPECT_DOUBLE_EQ(p.cpu_system_seconds, 1.5);
  EXPECT_DOUBLE_EQ(p.cpu_seconds, 4.0);
  EXPECT_EQ(p.threads, 7);
  EXPECT_EQ(p.virtual_bytes, 123456789u);
  EXPECT_EQ(p.rss_bytes, 300u * 4096);
  EXPECT_DOUBLE_EQ(p.start_time_seconds, 1700000000.0 + 50.0);
  EXPECT_EQ(p.open_fds, 4);
  EXPECT_EQ(p.max_fds, 1024);
  EXPECT_EQ(p.cgroup_cpu_usage_usec, 987654);
  EXPECT_EQ(p.cgroup_memory_current, 5242880);
  EXPECT_EQ(p.cgroup_memory_max, -1);
  EXPECT_DOUBLE_EQ(p.cgroup_cpu_quota_cores, 1.5);
  double cpu = 0;
  ASSERT_TRUE(ps.read_cpu_seconds(cpu));
  EXPECT_DOUBLE_EQ(cpu, 4.0);
  uint64_t rss = 0;
  ASSERT_TRUE(ps.read_rss_bytes(rss));
  EXPECT_EQ(rss, 300u * 4096);
}

TEST(ProcessStats, MissingFilesAreUnknownNotFatal) {
  FixtureRoot f;
  const ProcessFigures p = ProcessStats(f.path() + "/nowhere", 100, 4096).read();
  EXPECT_FALSE(p.valid);
  EXPECT_EQ(p.open_fds, -1);
  EXPECT_EQ(p.cgroup_memory_current, -1);
  EXPECT_EQ(p.cgroup_cpu_quota_cores, 0.0);
  double cpu = 0;
  EXPECT_FALSE(ProcessStats(f.path() + "/nowhere").read_cpu_seconds(cpu));
  uint64_t rss = 0;
  EXPECT_FALSE(ProcessStats(f.path() + "/nowhere").read_rss_bytes(rss));
}

TEST(ProcessStats, UnlimitedQuotaAndRootCgroup) {
  FixtureRoot f;
  f.write("proc/self/cgroup", "0::/\n");
  f.write("sys/fs/cgroup/cpu.max", "max 100000\n");
  f.write("sys/fs/cgroup/memory.max", "1073741824\n");
  const ProcessFigures p = ProcessStats(f.path(), 100, 4096).read();
  EXPECT_EQ(p.cgroup_cpu_quota_cores, 0.0);
  EXPECT_EQ(p.cgroup_memory_max, 1073741824);
}

TEST(ProcessStats, CgroupV1QuotaWhenThereIsNoCpuMax) {
  FixtureRoot f;
  fs::create_directories(f.path() + "/sys/fs/cgroup/cpu,cpuacct");
  f.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "250000\n");
  f.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_DOUBLE_EQ(ProcessStats(f.path(), 100, 4096).cgroup_quota_cores(), 2.5);
  f.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");  // no quota
  EXPECT_EQ(ProcessStats(f.path(), 100, 4096).cgroup_quota_cores(), 0.0);
  // cgroup v2's cpu.max wins where both are visible.
  f.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "250000\n");
  f.write("proc/self/cgroup", "0::/\n");
  f.write("sys/fs/cgroup/cpu.max", "50000 100000\n");
  EXPECT_DOUBLE_EQ(ProcessStats(f.path(), 100, 4096).cgroup_quota_cores(), 0.5);
}

TEST(ProcessStats, LiveProcessIsReadable) {
  const ProcessFigures p = ProcessStats().read();
  ASSERT_TRUE(p.valid);
  EXPECT_GT(p.rss_bytes, 0u);
  EXPECT_GE(p.threads, 1);
  EXPECT_GE(p.open_fds, 3);
  EXPECT_GT(p.start_time_seconds, 1e9);
}

TEST(ProcessStats, RegistryComputesCpuPercentPerWindow) {
  FixtureRoot f;
  f.write("proc/self/cgroup", "0::/\n");
  f.write("sys/fs/cgroup/cpu.max", "200000 100000\n");  // 2 cores
  const long tck = sysconf(_SC_CLK_TCK);
  f.write_stat(0, 0);
  FakeClock clock(1'000'000'000ull);
  RegistryOptions o;
  o.proc_root = f.path();
  Registry reg(o, clock);
  // 1 s of CPU per wall second for 10 s, then 0.5 s/s for 10 s.
  uint64_t ticks_used = 0;
  for (int i = 0; i < 20; ++i) {
    ticks_used += uint64_t(i < 10 ? tck : tck / 2);
    f.write_stat(ticks_used, 0);
    clock.advance_ns(1'000'000'000ull);
    reg.tick();
  }
  const Snapshot s = reg.snapshot();
  EXPECT_NEAR(s.window(Window::k1s).cpu_percent, 50.0, 1e-6);
  EXPECT_NEAR(s.window(Window::k10s).cpu_percent, 50.0, 1e-6);
  EXPECT_NEAR(s.window(Window::k1m).cpu_percent, 75.0, 1e-6);  // over the 20 s it covers
  EXPECT_NEAR(s.window(Window::kTotal).cpu_percent, 75.0, 1e-6);
  EXPECT_NEAR(s.window(Window::k10s).cpu_percent_of_quota, 25.0, 1e-6);
  EXPECT_DOUBLE_EQ(s.process.cgroup_cpu_quota_cores, 2.0);
}

}  // namespace
}  // namespace sidemeter::metrics
