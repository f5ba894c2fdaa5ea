#include "proxy/alerts/alert_json.h"

#include <cmath>

#include "proxy/text/json_writer.h"
#include "proxy/text/rfc3339.h"

namespace sidemeter::alerts {
namespace {

void key(std::string& out, std::string_view k) {
  out += ',';
  text::append_json_string(out, k);
  out += ':';
}

std::string_view unit_of(const std::string& figure) {
  std::string ignored;
  auto ref = metrics::alerts::parse_figure(figure, ignored);
  if (!ref) return "";
  if (metrics::alerts::is_duration(ref->figure)) return "ms";
  if (metrics::alerts::is_bytes(ref->figure)) return "bytes";
  if (metrics::alerts::is_ratio(ref->figure)) return "ratio";
  if (metrics::alerts::is_seconds(ref->figure)) return "s";
  return "";
}

// `name` as RFC 3339 and `name`_unix_ms as a number, both null when unix_ms is 0.
void times(std::string& out, std::string_view name, uint64_t unix_ms) {
  key(out, name);
  if (unix_ms == 0) {
    out += "null";
  } else {
    out += '"';
    text::append_rfc3339_ms(out, unix_ms);
    out += '"';
  }
  std::string ms_key(name);
  ms_key += "_unix_ms";
  key(out, ms_key);
  if (unix_ms == 0) {
    out += "null";
  } else {
    text::append_uint(out, unix_ms);
  }
}

}  // namespace

std::string_view comparison_name(metrics::alerts::Comparison c) {
  return c == metrics::alerts::Comparison::kBelow ? "below" : "above";
}

void append_alert_members(std::string& out, const metrics::alerts::AlertState& a) {
  key(out, "value");
  if (std::isnan(a.value)) {
    out += "null";
  } else {
    text::append_json_double(out, a.value);
  }
  key(out, "threshold");
  text::append_json_double(out, a.threshold);
  key(out, "comparison");
  text::append_json_string(out, comparison_name(a.comparison));
  key(out, "figure");
  text::append_json_string(out, a.figure);
  key(out, "unit");
  text::append_json_string(out, unit_of(a.figure));
  key(out, "window");
  text::append_json_string(out, a.window);
  times(out, "since", a.since_unix_ms);
  times(out, "active_since", a.active_since_unix_ms);
}

}  // namespace sidemeter::alerts
