#include "metrics/process_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace sidemeter::metrics {
namespace {

// Plain read(2): the control thread reads /proc/self/stat and the cgroup quota every
// second, and an ifstream costs ~20,000 instructions of locale set-up per file.
bool read_file(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  char buf[4096];
  bool ok = true;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, size_t(n));
    } else if (n == 0 || errno != EINTR) {
      ok = n == 0;
      break;
    }
  }
  ::close(fd);
  return ok;
}

bool read_int(const std::string& path, int64_t& out) {
  std::string s;
  if (!read_file(path, s)) return false;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str()) return false;
  out = v;
  return true;
}

// Fields of /proc/<pid>/stat after "(comm)", which may itself hold spaces and parens.
// tokens[0] is field 3 (state).
bool stat_tokens(const std::string& stat, std::vector<std::string_view>& tokens) {
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::string_view rest(stat);
  rest.remove_prefix(close + 1);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = rest.find_first_of(" \n");
    tokens.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  return tokens.size() >= 22;
}

uint64_t to_u64(std::string_view s) { return std::strtoull(std::string(s).c_str(), nullptr, 10); }

// Field index (after comm) of /proc/self/stat: field N of proc(5) is tokens[N - 3].
constexpr size_t kUtime = 14 - 3, kStime = 15 - 3, kThreads = 20 - 3, kStartTime = 22 - 3,
                 kVsize = 23 - 3, kRss = 24 - 3;

}  // namespace

ProcessStats::ProcessStats(std::string root, long clk_tck, long page_size)
    : root_(std::move(root)),
      clk_tck_(double(clk_tck > 0 ? clk_tck : sysconf(_SC_CLK_TCK))),
      page_size_(uint64_t(page_size > 0 ? page_size : sysconf(_SC_PAGESIZE))) {}

bool ProcessStats::read_cpu_seconds(double& out) const {
  std::string stat;
  std::vector<std::string_view> t;
  if (!read_file(root_ + "/proc/self/stat", stat) || !stat_tokens(stat, t)) return false;
  out = double(to_u64(t[kUtime]) + to_u64(t[kStime])) / clk_tck_;
  return true;
}

bool ProcessStats::read_rss_bytes(uint64_t& out) const {
  std::string stat;
  std::vector<std::string_view> t;
  if (!read_file(root_ + "/proc/self/stat", stat) || !stat_tokens(stat, t)) return false;
  out = to_u64(t[kRss]) * page_size_;
  return true;
}

bool ProcessStats::read_cpu_and_rss(double& cpu_seconds, uint64_t& rss_bytes) const {
  std::string stat;
  std::vector<std::string_view> t;
  if (!read_file(root_ + "/proc/self/stat", stat) || !stat_tokens(stat, t)) return false;
  cpu_seconds = double(to_u64(t[kUtime]) + to_u64(t[kStime])) / clk_tck_;
  rss_bytes = to_u64(t[kRss]) * page_size_;
  return true;
}

std::string ProcessStats::cgroup_file(const char* name) const {
  // "0::/path" names our cgroup; inside a container it is usually just "/".
  std::string self;
  if (read_file(root_ + "/proc/self/cgroup", self)) {
    const size_t p = self.find("0::");
    if (p != std::string::npos) {
      const size_t end = self.find('\n', p);
      std::string rel = self.substr(p + 3, end == std::string::npos ? end : end - p - 3);
      if (rel != "/") {
        std::string path = root_ + "/sys/fs/cgroup" + rel + "/" + name;
        if (access(path.c_str(), R_OK) == 0) return path;
      }
    }
  }
  return root_ + "/sys/fs/cgroup/" + name;
}

double ProcessStats::cgroup_quota_cores() const {
  std::string s;
  if (!read_file(cgroup_file("cpu.max"), s)) {
    // cgroup v1 (no cpu.max): the cfs files of the cpu controller, mounted alone or with
    // cpuacct (as proxy/control/cpu_quota.cc reads them); quota -1 = none.
    for (const char* dir : {"/sys/fs/cgroup/cpu/", "/sys/fs/cgroup/cpu,cpuacct/"}) {
      int64_t quota = 0, period = 0;
      if (!read_int(root_ + dir + "cpu.cfs_quota_us", quota) ||
          !read_int(root_ + dir + "cpu.cfs_period_us", period)) {
        continue;
      }
      return quota > 0 && period > 0 ? double(quota) / double(period) : 0;
    }
    return 0;
  }
  char quota[32] = {};
  long long period = 0;
  if (std::sscanf(s.c_str(), "%31s %lld", quota, &period) != 2 || period <= 0) return 0;
  if (std::strcmp(quota, "max") == 0) return 0;
  return std::strtod(quota, nullptr) / double(period);
}

ProcessFigures ProcessStats::read(const ProcessParts& parts) const {
  ProcessFigures f;
  std::string stat;
  std::vector<std::string_view> t;
  if (parts.stat && read_file(root_ + "/proc/self/stat", stat) && stat_tokens(stat, t)) {
    f.valid = true;
    f.cpu_user_seconds = double(to_u64(t[kUtime])) / clk_tck_;
    f.cpu_system_seconds = double(to_u64(t[kStime])) / clk_tck_;
    f.cpu_seconds = f.cpu_user_seconds + f.cpu_system_seconds;
    f.threads = int64_t(to_u64(t[kThreads]));
    f.virtual_bytes = to_u64(t[kVsize]);
    f.rss_bytes = to_u64(t[kRss]) * page_size_;
    std::string sys;
    if (parts.rest && read_file(root_ + "/proc/stat", sys)) {
      const size_t p = sys.find("btime ");
      if (p != std::string::npos) {
        const double btime = double(std::strtoull(sys.c_str() + p + 6, nullptr, 10));
        f.start_time_seconds = btime + double(to_u64(t[kStartTime])) / clk_tck_;
      }
    }
  }

  if (DIR* dir = parts.open_fds ? opendir((root_ + "/proc/self/fd").c_str()) : nullptr) {
    fd_listings_.fetch_add(1, std::memory_order_relaxed);
    int64_t n = 0;
    while (dirent* e = readdir(dir)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
    }
    closedir(dir);
    f.open_fds = n;
  }

  if (parts.quota || parts.rest) f.cgroup_cpu_quota_cores = cgroup_quota_cores();
  if (!parts.rest) return f;
  std::string limits;
  if (read_file(root_ + "/proc/self/limits", limits)) {
    const size_t p = limits.find("Max open files");
    if (p != std::string::npos) {
      const char* s = limits.c_str() + p + std::strlen("Max open files");
      char* end = nullptr;
      const long long v = std::strtoll(s, &end, 10);
      if (end != s) f.max_fds = v;
    }
  }

  std::string cpu_stat;
  if (read_file(cgroup_file("cpu.stat"), cpu_stat)) {
    const size_t p = cpu_stat.find("usage_usec ");
    if (p != std::string::npos) {
      f.cgroup_cpu_usage_usec = std::strtoll(cpu_stat.c_str() + p + 11, nullptr, 10);
    }
  }
  read_int(cgroup_file("memory.current"), f.cgroup_memory_current);
  read_int(cgroup_file("memory.max"), f.cgroup_memory_max);  // "max" does not parse: -1
  return f;
}

}  // namespace sidemeter::metrics
