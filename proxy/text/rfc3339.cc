#include "proxy/text/rfc3339.h"

#include <ctime>

#include "proxy/text/json_writer.h"

namespace sidemeter::text {
namespace {

void append_two(std::string& out, unsigned v) {
  out.push_back(char('0' + v / 10 % 10));
  out.push_back(char('0' + v % 10));
}

}  // namespace

void append_rfc3339_ms(std::string& out, uint64_t unix_ms) {
  const time_t secs = time_t(unix_ms / 1000);
  tm t;
  gmtime_r(&secs, &t);
  append_uint(out, uint64_t(t.tm_year + 1900));
  out.push_back('-');
  append_two(out, unsigned(t.tm_mon + 1));
  out.push_back('-');
  append_two(out, unsigned(t.tm_mday));
  out.push_back('T');
  append_two(out, unsigned(t.tm_hour));
  out.push_back(':');
  append_two(out, unsigned(t.tm_min));
  out.push_back(':');
  append_two(out, unsigned(t.tm_sec));
  out.push_back('.');
  const unsigned ms = unsigned(unix_ms % 1000);
  out.push_back(char('0' + ms / 100));
  append_two(out, ms % 100);
  out.push_back('Z');
}

uint64_t unix_now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

}  // namespace sidemeter::text
