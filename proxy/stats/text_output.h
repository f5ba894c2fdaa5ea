#pragma once
// Writers for the Prometheus/OpenMetrics exposition text. JSON strings and numbers, which
// the logger needs too, live below both in proxy/text/json_writer.h. Strings that came from
// the network (route templates) are sanitized: invalid UTF-8 becomes U+FFFD, because one bad
// byte would make the whole exposition document unparseable.
#include <string>
#include <string_view>

namespace sidemeter::stats {

// Shortest text that reads back as exactly v ("0.25", "1e-05", "3"); "NaN", "+Inf", "-Inf"
// for the specials, as the Prometheus formats spell them.
void append_double_exact(std::string& out, double v);
// Plain decimal notation, shortest exact ("0.0001", "60", "1048576"): histogram "le" values,
// which Prometheus compares as strings across pods.
void append_double_fixed(std::string& out, double v);

// Exposition-format label value (without quotes): \\, \" and \n escaped.
void append_label_value(std::string& out, std::string_view s);
// Exposition-format HELP text: \\ and \n escaped.
void append_help_text(std::string& out, std::string_view s);

}  // namespace sidemeter::stats
