#include "proxy/text/rfc3339.h"

#include <ctime>

#include <cstdio>

namespace sidemeter::text {

void append_rfc3339_ms(std::string& out, uint64_t unix_ms) {
  const time_t seconds = time_t(unix_ms / 1000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
                              utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                              utc.tm_min, utc.tm_sec, unsigned(unix_ms % 1000));
  if (n > 0) out.append(buf, size_t(n));
}

uint64_t unix_now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

}  // namespace sidemeter::text
