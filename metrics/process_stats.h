#pragma once
// Process and cgroup figures from /proc and /sys/fs/cgroup (v2). Every reader takes its
// root directory so tests can point it at fixture files; a missing file leaves its fields
// at their "unknown" value instead of failing.
#include <cstdint>
#include <string>

namespace sidemeter::metrics {

struct ProcessFigures {
  bool valid = false;  // /proc/self/stat was read
  double cpu_user_seconds = 0;
  double cpu_system_seconds = 0;
  double cpu_seconds = 0;  // user + system
  uint64_t rss_bytes = 0;
  uint64_t virtual_bytes = 0;
  int64_t threads = -1;
  int64_t open_fds = -1;
  int64_t max_fds = -1;           // soft RLIMIT_NOFILE from /proc/self/limits
  double start_time_seconds = 0;  // since the Unix epoch; 0 when unknown
  // cgroup v2; -1 when unreadable, memory_max -1 also when "max".
  int64_t cgroup_cpu_usage_usec = -1;
  int64_t cgroup_memory_current = -1;
  int64_t cgroup_memory_max = -1;
  double cgroup_cpu_quota_cores = 0;  // cgroup_quota_cores(): 0 when unlimited/unknown
};

class ProcessStats {
 public:
  // root "" reads the live system. clk_tck / page_size 0 = ask sysconf.
  explicit ProcessStats(std::string root = "", long clk_tck = 0, long page_size = 0);

  // Cheap: only /proc/self/stat (used every tick for CPU %). False if unreadable.
  bool read_cpu_seconds(double& out) const;
  // Cheap too: resident set size from the same file (the memory release logs it).
  bool read_rss_bytes(uint64_t& out) const;
  // Everything, including directory scans; call at snapshot time, not per tick.
  ProcessFigures read() const;
  // cpu.max quota / period in cores (cgroup v2), else cpu.cfs_quota_us / cfs_period_us
  // under <root>/sys/fs/cgroup/cpu/ or cpu,cpuacct/ (v1); 0 if unlimited or unknown.
  double cgroup_quota_cores() const;

 private:
  std::string cgroup_file(const char* name) const;

  std::string root_;
  double clk_tck_;
  uint64_t page_size_;
};

}  // namespace sidemeter::metrics
