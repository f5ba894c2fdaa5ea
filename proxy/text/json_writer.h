#pragma once
// JSON values appended to a caller's string, so a whole document or log line is built in
// one buffer. Used by the logger and the stats formatters alike: one escaper, so a log
// line and a stats document can never disagree on what valid output is.
#include <cstdint>
#include <string>
#include <string_view>

namespace sidemeter::text {

void append_uint(std::string& out, uint64_t v);
void append_int(std::string& out, int64_t v);
// A JSON number with `digits` significant digits; integral values without an exponent.
// JSON has no NaN/Inf: those print 0 rather than make the document unparseable.
void append_json_double(std::string& out, double v, int digits = 6);
// "..." with JSON escapes; invalid UTF-8 becomes U+FFFD.
void append_json_string(std::string& out, std::string_view s);

}  // namespace sidemeter::text
