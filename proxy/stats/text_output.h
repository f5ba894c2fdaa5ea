#pragma once
// Number and string writers shared by the stats formatters. Each appends to a caller's
// string so a whole document is built in one buffer. Strings that came from the network
// (route templates, reject reasons) are sanitized: invalid UTF-8 becomes U+FFFD, because
// one bad byte would make the whole JSON or exposition document unparseable.
#include <cstdint>
#include <string>
#include <string_view>

namespace sidemeter::stats {

void append_uint(std::string& out, uint64_t v);
void append_int(std::string& out, int64_t v);
// Shortest text that reads back as exactly v ("0.25", "1e-05", "3"); "NaN", "+Inf", "-Inf"
// for the specials, as the Prometheus formats spell them.
void append_double_exact(std::string& out, double v);
// Plain decimal notation, shortest exact ("0.0001", "60", "1048576"): histogram "le" values,
// which Prometheus compares as strings across pods.
void append_double_fixed(std::string& out, double v);
// A JSON number with `digits` significant digits (JSON has no NaN/Inf: those print 0).
void append_json_double(std::string& out, double v, int digits = 6);

// "..." with JSON escapes.
void append_json_string(std::string& out, std::string_view s);
// Exposition-format label value (without quotes): \\, \" and \n escaped.
void append_label_value(std::string& out, std::string_view s);
// Exposition-format HELP text: \\ and \n escaped.
void append_help_text(std::string& out, std::string_view s);

// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 if invalid.
size_t utf8_sequence_length(std::string_view s);

}  // namespace sidemeter::stats
