#include "proxy/control/cpu_quota.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

namespace sidemeter::control {
namespace {

constexpr uint32_t kMaxWorkers = 256;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Splits on whitespace (the files end with a newline; cpu.max has two fields).
std::vector<std::string_view> fields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

template <typename T>
std::optional<T> parse(std::string_view s) {
  T v{};
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// ceil(quota / period), at least 1; 0 for no usable quota.
uint32_t cpus_for(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return 0;
  const uint64_t q = uint64_t(quota), p = uint64_t(period);
  const uint64_t cpus = q / p + (q % p != 0 ? 1 : 0);
  return uint32_t(std::clamp<uint64_t>(cpus, 1, std::numeric_limits<uint32_t>::max()));
}

// cgroup v2: "max <period>" or "<quota> <period>". nullopt when the file is absent, so
// that v1 is tried; 0 when it says there is no quota (or cannot be understood).
std::optional<uint32_t> from_v2(const std::string& root) {
  const auto text = read_file(root + "/sys/fs/cgroup/cpu.max");
  if (!text) return std::nullopt;
  const auto f = fields(*text);
  if (f.size() != 2 || f[0] == "max") return 0;
  const auto quota = parse<int64_t>(f[0]);
  const auto period = parse<int64_t>(f[1]);
  if (!quota || !period) return 0;
  return cpus_for(*quota, *period);
}

uint32_t from_v1(const std::string& root) {
  // Distributions mount the v1 cpu controller alone or co-mounted with cpuacct.
  for (const char* dir : {"/sys/fs/cgroup/cpu/", "/sys/fs/cgroup/cpu,cpuacct/"}) {
    const auto quota_text = read_file(root + dir + "cpu.cfs_quota_us");
    const auto period_text = read_file(root + dir + "cpu.cfs_period_us");
    if (!quota_text || !period_text) continue;
    const auto q = fields(*quota_text);
    const auto p = fields(*period_text);
    if (q.size() != 1 || p.size() != 1) return 0;
    const auto quota = parse<int64_t>(q[0]);  // -1: no quota
    const auto period = parse<int64_t>(p[0]);
    if (!quota || !period) return 0;
    return cpus_for(*quota, *period);
  }
  return 0;
}

}  // namespace

uint32_t cpus_from_cgroup_quota(const std::string& root) {
  if (const auto v2 = from_v2(root)) return *v2;
  return from_v1(root);
}

uint32_t cpus_in_affinity_mask() {
  // A fixed cpu_set_t covers 1024 CPUs and sched_getaffinity fails with EINVAL on larger
  // machines, so grow the set until the kernel's mask fits.
  for (int n = 1024; n <= (1 << 20); n *= 2) {
    cpu_set_t* set = CPU_ALLOC(n);
    if (set == nullptr) return 0;
    const size_t size = CPU_ALLOC_SIZE(n);
    CPU_ZERO_S(size, set);
    const int rc = sched_getaffinity(0, size, set);
    const int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    const int err = errno;
    CPU_FREE(set);
    if (rc == 0) return uint32_t(count);
    if (err != EINVAL) return 0;
  }
  return 0;
}

uint32_t default_worker_count(const std::string& root) {
  uint32_t cpus = cpus_in_affinity_mask();
  if (cpus == 0) cpus = std::thread::hardware_concurrency();  // 0 too if unknown
  const uint32_t quota = cpus_from_cgroup_quota(root);
  if (quota != 0) cpus = cpus == 0 ? quota : std::min(cpus, quota);
  return std::clamp<uint32_t>(cpus, 1, kMaxWorkers);
}

}  // namespace sidemeter::control
