#include "proxy/fd_limit.h"

#include <sys/resource.h>

#include <algorithm>

namespace sidemeter {

uint64_t fds_wanted(uint64_t max_connections) { return 2 * max_connections + 1024; }

uint64_t fds_reserved(uint64_t workers) { return 64 + 8 * workers; }

uint64_t connection_cap(uint64_t fd_limit, uint64_t workers) {
  const uint64_t reserved = fds_reserved(workers);
  return fd_limit > reserved + 2 ? (fd_limit - reserved) / 2 : 1;
}

uint64_t plan_soft_limit(uint64_t soft, uint64_t hard, uint64_t wanted) {
  return std::max(soft, std::min(hard, wanted));
}

FdLimit raise_fd_limit(uint64_t max_connections) {
  FdLimit r;
  r.wanted = fds_wanted(max_connections);
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return r;
  r.before = r.after = lim.rlim_cur;
  uint64_t soft = plan_soft_limit(lim.rlim_cur, lim.rlim_max, r.wanted);
  if (soft != lim.rlim_cur) {
    lim.rlim_cur = soft;
    if (setrlimit(RLIMIT_NOFILE, &lim) == 0) r.after = soft;
  }
  return r;
}

}  // namespace sidemeter
