#include "proxy/http1/http_date.h"

#include <time.h>

namespace sidemeter::http {

namespace {

void two_digits(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

void format_imf_fixdate(int64_t unix_seconds, char (&out)[kImfFixdateSize]) {
  static constexpr char kDays[] = "ThuFriSatSunMonTueWed";  // 1970-01-01 was a Thursday
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (unix_seconds < 0) unix_seconds = 0;
  const int64_t days = unix_seconds / 86400;
  const auto secs = static_cast<unsigned>(unix_seconds % 86400);
  // Civil date from a day count (H. Hinnant's days_from_civil, inverted): no gmtime_r,
  // which takes glibc's time-zone lock.
  const int64_t z = days + 719468;
  const int64_t era = z / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;  // 1-12
  const auto year = static_cast<unsigned>(static_cast<int64_t>(yoe) + era * 400 + (month <= 2));

  char* p = out;
  const char* wd = kDays + 3 * (days % 7);
  p[0] = wd[0];
  p[1] = wd[1];
  p[2] = wd[2];
  p[3] = ',';
  p[4] = ' ';
  two_digits(p + 5, day);
  p[7] = ' ';
  const char* mo = kMonths + 3 * (month - 1);
  p[8] = mo[0];
  p[9] = mo[1];
  p[10] = mo[2];
  p[11] = ' ';
  two_digits(p + 12, year / 100 % 100);
  two_digits(p + 14, year % 100);
  p[16] = ' ';
  two_digits(p + 17, secs / 3600);
  p[19] = ':';
  two_digits(p + 20, secs / 60 % 60);
  p[22] = ':';
  two_digits(p + 23, secs % 60);
  p[25] = ' ';
  p[26] = 'G';
  p[27] = 'M';
  p[28] = 'T';
}

std::string_view http_date_now() {
  thread_local DateCache cache;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return cache.at(ts.tv_sec);
}

}  // namespace sidemeter::http
