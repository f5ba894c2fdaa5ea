#pragma once
// How many workers `workers: 0` means. In a container the CPUs the kernel reports are the
// node's, while the CFS quota is what the pod may actually use: one worker per node CPU
// under a 2-CPU limit would be throttled every period and add latency, not throughput.
#include <cstdint>
#include <string>

namespace sidemeter::control {

// CPUs the CFS quota allows, rounded up (1.5 CPUs -> 2), at least 1; 0 when there is no
// quota or it cannot be read. cgroup v2 (<root>/sys/fs/cgroup/cpu.max, "max 100000" =
// none) first, then v1 (cpu.cfs_quota_us / cpu.cfs_period_us under
// <root>/sys/fs/cgroup/cpu/ or cpu,cpuacct/; -1 = none). `root` is "" outside tests.
// Reads the cgroup the process sees at /sys/fs/cgroup (its own in a container with a
// cgroup namespace); limits set on ancestor cgroups are not looked for.
uint32_t cpus_from_cgroup_quota(const std::string& root);

// CPUs the calling thread may run on (sched_getaffinity), e.g. a cpuset; 0 on failure.
uint32_t cpus_in_affinity_mask();

// The quota if there is one, else the affinity count; never more than the affinity count
// (a quota above the CPUs one may run on cannot be used), at least 1, at most 256.
uint32_t default_worker_count(const std::string& root = "");

}  // namespace sidemeter::control
