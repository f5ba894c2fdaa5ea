#pragma once
// Process and cgroup figures from /proc and /sys/fs/cgroup (v2). Every reader takes its
// root directory so tests can point it at fixture files; a missing file leaves its fields
// at their "unknown" value instead of failing.
#include <atomic>
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

// Which figures ProcessStats::read fills; the others keep their "unknown" values. The
// stats port reads everything; alert rules read only what their figures need, every second.
struct ProcessParts {
  bool stat = true;      // /proc/self/stat: CPU, RSS, virtual size, threads (and `valid`)
  bool open_fds = true;  // lists /proc/self/fd: an entry per descriptor, so its cost grows
                         // with the connections (20,000 idle ones: ~20,000 getdents entries)
  bool quota = true;     // cgroup_cpu_quota_cores
  bool rest = true;      // start time (/proc/stat), max_fds, cgroup CPU usage and memory
  static constexpr ProcessParts none() { return {false, false, false, false}; }
};

class ProcessStats {
 public:
  // root "" reads the live system. clk_tck / page_size 0 = ask sysconf.
  explicit ProcessStats(std::string root = "", long clk_tck = 0, long page_size = 0);

  // Cheap: only /proc/self/stat (used every tick for CPU %). False if unreadable.
  bool read_cpu_seconds(double& out) const;
  // Cheap too: resident set size from the same file (the memory release logs it).
  bool read_rss_bytes(uint64_t& out) const;
  // Both from one read of /proc/self/stat (the registry's tick). False if unreadable.
  bool read_cpu_and_rss(double& cpu_seconds, uint64_t& rss_bytes) const;
  // The figures `parts` names; the full read includes the /proc/self/fd listing, so it is
  // meant for a reader's request, not for every tick.
  ProcessFigures read(const ProcessParts& parts = {}) const;
  // /proc/self/fd listings done so far (any thread): what tests of the idle cost count.
  uint64_t fd_listings() const { return fd_listings_.load(std::memory_order_relaxed); }
  // cpu.max quota / period in cores (cgroup v2), else cpu.cfs_quota_us / cfs_period_us
  // under <root>/sys/fs/cgroup/cpu/ or cpu,cpuacct/ (v1); 0 if unlimited or unknown.
  double cgroup_quota_cores() const;

 private:
  std::string cgroup_file(const char* name) const;

  std::string root_;
  double clk_tck_;
  uint64_t page_size_;
  mutable std::atomic<uint64_t> fd_listings_{0};
};

}  // namespace sidemeter::metrics
