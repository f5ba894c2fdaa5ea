#pragma once
// The Date field (RFC 9110 §6.6.1) in its only generated form, IMF-fixdate (§5.6.7):
// "Sun, 06 Nov 1994 08:49:37 GMT", always 29 bytes, UTC. A proxy with a clock adds it to
// a forwarded response that has none and to every response it makes itself.
//
// One DateCache per thread (each worker is one thread): the text is formatted again only
// when the wall-clock second changes, so a request costs a coarse clock read and a
// compare, and nothing is allocated.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sidemeter::http {

inline constexpr size_t kImfFixdateSize = 29;

// `unix_seconds` (seconds since 1970-01-01T00:00:00Z, years 1970-9999) as IMF-fixdate.
void format_imf_fixdate(int64_t unix_seconds, char (&out)[kImfFixdateSize]);

class DateCache {
 public:
  // The IMF-fixdate of `unix_seconds`; valid until the next call with another second.
  std::string_view at(int64_t unix_seconds) {
    if (unix_seconds != second_) {
      format_imf_fixdate(unix_seconds, text_);
      second_ = unix_seconds;
      ++formats_;
    }
    return {text_, kImfFixdateSize};
  }
  uint64_t formats() const { return formats_; }  // how often it formatted (tests)

 private:
  int64_t second_ = INT64_MIN;
  char text_[kImfFixdateSize] = {};
  uint64_t formats_ = 0;
};

// Now, from this thread's cache (CLOCK_REALTIME_COARSE: a vDSO read, no system call).
// Valid until this thread's next call in another second.
std::string_view http_date_now();

}  // namespace sidemeter::http
