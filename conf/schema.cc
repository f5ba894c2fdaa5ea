// Every key, its bounds and how it is read and written. The bounds keep each number in a
// range the proxy can use as is (no allocation sized by an unchecked number, no
// multiplication that wraps), wide enough not to get in the way.
#include "conf/schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <type_traits>
#include <utility>

#include "conf/did_you_mean.h"
#include "conf/duration.h"

namespace sidemeter::conf {
namespace {

constexpr uint64_t kSecond = 1'000;
constexpr uint64_t kMinute = 60 * kSecond;
constexpr uint64_t kHour = 60 * kMinute;
constexpr uint64_t kDay = 24 * kHour;
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uint64_t kTiB = 1024 * kGiB;

namespace al = metrics::alerts;

// A key's place in the Config as two plain function pointers (every accessor below is a
// captureless lambda). The field builders capture this rather than
// the accessor, so their lambdas and std::function wrappers are instantiated once per value
// type instead of once per key: that was most of this file's compile time (over a minute of
// CPU under ASan).
template <class V>
struct Access {
  V& (*get)(Config&);
  const V& (*cget)(const Config&);
  V& operator()(Config& c) const { return get(c); }
  const V& operator()(const Config& c) const { return cget(c); }
};

template <class At>
auto access(At) {
  // Captureless lambdas are default-constructible (C++20): At{} is the accessor itself.
  using V = std::remove_reference_t<decltype(At{}(std::declval<Config&>()))>;
  return Access<V>{[](Config& c) -> V& { return At{}(c); },
                   [](const Config& c) -> const V& { return At{}(c); }};
}

std::string missing(const std::string& path, const std::string& expected) {
  return path + ": missing value (expected " + expected + ")";
}

std::string parse_count(const std::string& path, const std::string& text, bool null,
                        uint64_t lo, uint64_t hi, uint64_t& out) {
  std::string range = std::to_string(lo) + "-" + std::to_string(hi);
  if (null) return missing(path, "a number " + range);
  const char* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, out);
  bool digits = !text.empty() && text[0] != '+' && stop == end;
  if (ec == std::errc::invalid_argument || (ec == std::errc() && !digits)) {
    if (!text.empty() && text[0] == '-') return path + " must be " + range + ", got " + text;
    return path + ": expected a number " + range + ", got '" + text + "'";
  }
  if (ec != std::errc() || out < lo || out > hi)
    return path + " must be " + range + ", got " + text;
  return {};
}

template <class V>
Field count_field(std::string path, uint64_t lo, uint64_t hi, Access<V> at) {
  Field f;
  f.path = path;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  f.set = [path, lo, hi, at](Config& c, const std::string& text, bool null) {
    uint64_t value = 0;
    std::string err = parse_count(path, text, null, lo, hi, value);
    if (err.empty()) at(c) = static_cast<std::remove_reference_t<decltype(at(c))>>(value);
    return err;
  };
  f.show = [at](const Config& c) { return std::to_string(at(c)); };
  return f;
}

template <class At>
Field count(std::string path, uint64_t lo, uint64_t hi, At at) {
  return count_field(std::move(path), lo, hi, access(at));
}

struct DurationRange {
  uint64_t lo_ms;
  uint64_t hi_ms;
  bool zero_ok = false;  // 0 has a meaning of its own below lo ("resolve once")
  bool whole_seconds = false;
};

std::string parse_duration(const std::string& path, const std::string& text, bool null,
                           const DurationRange& r, uint64_t& out) {
  std::string range = (r.zero_ok ? "0 or " : "") + format_duration_ms(r.lo_ms) + "-" +
                      format_duration_ms(r.hi_ms);
  if (null) return missing(path, "a duration " + range);
  try {
    out = parse_duration_ms(text);
  } catch (const ConfigError& e) {
    return path + ": " + e.what();
  }
  if (r.zero_ok && out == 0) return {};
  if (out < r.lo_ms || out > r.hi_ms) return path + " must be " + range + ", got " + text;
  if (r.whole_seconds && out % kSecond != 0)
    return path + " must be whole seconds, got " + text;
  return {};
}

template <class V>
Field duration_field(std::string path, DurationRange r, Access<V> at) {
  Field f;
  f.path = path;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  f.set = [path, r, at](Config& c, const std::string& text, bool null) {
    uint64_t ms = 0;
    std::string err = parse_duration(path, text, null, r, ms);
    if (err.empty()) at(c) = ms;
    return err;
  };
  f.show = [at](const Config& c) { return format_duration_ms(at(c)); };
  return f;
}

template <class At>
Field duration(std::string path, DurationRange r, At at) {
  return duration_field(std::move(path), r, access(at));
}

// For fields kept in whole seconds (the stats stream and statsd push periods).
template <class V>
Field seconds_field(std::string path, uint32_t lo_s, uint32_t hi_s, Access<V> at) {
  Field f;
  f.path = path;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  DurationRange r{lo_s * kSecond, hi_s * kSecond, false, true};
  f.set = [path, r, at](Config& c, const std::string& text, bool null) {
    uint64_t ms = 0;
    std::string err = parse_duration(path, text, null, r, ms);
    if (err.empty()) at(c) = static_cast<uint32_t>(ms / kSecond);
    return err;
  };
  f.show = [at](const Config& c) { return format_duration_ms(at(c) * kSecond); };
  return f;
}

template <class At>
Field seconds(std::string path, uint32_t lo_s, uint32_t hi_s, At at) {
  return seconds_field(std::move(path), lo_s, hi_s, access(at));
}

// Only the YAML 1.2 spellings: "no" or "off" meaning false surprises more than it helps.
template <class V>
Field boolean_field(std::string path, Access<V> at) {
  Field f;
  f.path = path;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  f.set = [path, at](Config& c, const std::string& text, bool null) -> std::string {
    if (null) return missing(path, "true or false");
    if (text == "true" || text == "True" || text == "TRUE") {
      at(c) = true;
    } else if (text == "false" || text == "False" || text == "FALSE") {
      at(c) = false;
    } else {
      return path + ": expected true or false, got '" + text + "'";
    }
    return {};
  };
  f.show = [at](const Config& c) -> std::string { return at(c) ? "true" : "false"; };
  return f;
}

template <class At>
Field boolean(std::string path, At at) {
  return boolean_field(std::move(path), access(at));
}

enum class PortRule {
  kAny,       // a listener: 0 asks the kernel for a free port
  kRequired,  // somewhere to connect to
  kOptional,  // "" turns the feature off; else somewhere to connect to
};

template <class V>
Field address_field(std::string path, PortRule rule, Access<V> at) {
  Field f;
  f.path = path;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  f.set = [path, rule, at](Config& c, const std::string& text, bool null) -> std::string {
    if (rule == PortRule::kOptional && (null || text.empty())) {
      at(c) = HostPort{};
      return {};
    }
    if (null || text.empty()) return missing(path, "HOST:PORT");
    HostPort hp;
    try {
      hp = parse_host_port(text);
    } catch (const ConfigError& e) {
      return path + ": " + e.what();
    }
    if (rule != PortRule::kAny && hp.port == 0)
      return path + ": port must be 1-65535, got " + text;
    at(c) = hp;
    return {};
  };
  f.show = [rule, at](const Config& c) {
    const HostPort& hp = at(c);
    if (rule == PortRule::kOptional && hp.port == 0) return yaml_quote("");
    return yaml_quote(hp.to_string());
  };
  return f;
}

template <class At>
Field address(std::string path, PortRule rule, At at) {
  return address_field(std::move(path), rule, access(at));
}

bool token_char(char c) { return c > ' ' && c < 0x7f; }

std::string check_token(const std::string& token) {
  for (char c : token) {
    if (!token_char(c))
      return "must be printable ASCII without spaces (it is compared with an Authorization "
             "header)";
  }
  if (token.size() > 4096) return "is longer than 4096 bytes";
  return {};
}

// received-by = pseudonym [ ":" port ], pseudonym = token (RFC 9110 §7.6.3): anything else
// would break the Via field every forwarded message carries.
std::string check_via_pseudonym(const std::string& value) {
  if (value.empty()) return "must not be empty (RFC 9110 requires a Via on forwarded messages)";
  if (value.size() > 100) return "is longer than 100 characters";
  const size_t colon = value.find(':');
  const std::string_view name = std::string_view(value).substr(0, colon);
  const auto tchar = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  };
  if (name.empty() || !std::all_of(name.begin(), name.end(), tchar))
    return "must be a token (letters, digits, !#$%&'*+-.^_`|~), optionally followed by :PORT";
  if (colon != std::string::npos) {
    const std::string_view port = std::string_view(value).substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return "must be a token, optionally followed by :PORT (1-5 digits)";
  }
  return {};
}

std::string check_prefix(const std::string& prefix) {
  if (prefix.size() > 100) return "is longer than 100 characters";
  for (char c : prefix) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    // Anything else would end the metric name in the statsd line (':', '|', '@', '#').
    if (!ok) return "may contain only letters, digits, '.', '_' and '-'";
  }
  return {};
}

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

std::string check_pattern(const std::string& p) {
  if (p.empty() || p[0] != '/') return "must start with '/'";
  if (p.size() > 1024) return "is longer than 1024 characters";
  size_t pos = 1;
  while (true) {
    size_t slash = p.find('/', pos);
    std::string seg = p.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    bool last = slash == std::string::npos;
    if (seg.empty() && !last) return "has an empty segment ('//')";
    if (seg.find_first_of("?# \t") != std::string::npos)
      return "may contain no query, fragment or blank";
    bool open = seg.find('{') != std::string::npos;
    bool close = seg.find('}') != std::string::npos;
    if (open || close) {
      if (seg.size() < 3 || seg.front() != '{' || seg.back() != '}' ||
          seg.find_first_of("{}", 1) != seg.size() - 1)
        return "has unbalanced braces or a {parameter} that is not a whole segment";
      std::string name = seg.substr(1, seg.size() - 2);
      if (name == "*") {
        if (!last) return "may have {*} only as its last segment";
      } else {
        bool valid = name_start(name[0]);
        for (char c : name) valid = valid && name_char(c);
        if (!valid) return "has an invalid parameter name '{" + name + "}'";
      }
    }
    if (last) return {};
    pos = slash + 1;
  }
}

// ---- numbers in the alert keys -------------------------------------------------------

// "12", "0.5": digits with an optional fraction; no sign, exponent, inf or nan.
bool parse_decimal(const std::string& text, double& out) {
  size_t dot = text.find('.');
  std::string_view whole(text.data(), dot == std::string::npos ? text.size() : dot);
  std::string_view frac = dot == std::string::npos ? std::string_view()
                                                   : std::string_view(text).substr(dot + 1);
  auto digits = [](std::string_view d) {
    return !d.empty() && d.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!digits(whole) || (dot != std::string::npos && !digits(frac))) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "99.9" (a valid decimal) → the double nearest 0.999: read with the exponent shifted, so
// 99.9% is 0.999, not 99.9 / 100 = 0.9990000000000001.
double percent_to_ratio(const std::string& decimal) {
  const std::string shifted = decimal + "e-2";
  double out = 0;
  std::from_chars(shifted.data(), shifted.data() + shifted.size(), out);
  return out;
}

// The fewest decimals that read back (divided by `divisor`) as exactly `value`, so that
// printing and loading again gives the same number and the same hash.
std::string format_decimal(double value, double divisor) {
  char buf[400];
  for (int decimals = 0;; ++decimals) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value * divisor,
                                   std::chars_format::fixed, decimals);
    if (ec != std::errc()) return "0";  // unreachable for the bounded values kept here
    std::string text(buf, end);
    double back = 0;
    if (decimals >= 17 || (parse_decimal(text, back) &&
                           (divisor == 100 ? percent_to_ratio(text) : back / divisor) == value))
      return text;
  }
}

std::string format_percent(double ratio) { return format_decimal(ratio, 100) + "%"; }

// A decimal's text times 100, by moving its point: "0.999" → "99.9", exactly as written.
std::string times_100(const std::string& decimal) {
  size_t dot = decimal.find('.');
  std::string whole = decimal.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : decimal.substr(dot + 1);
  frac.resize(std::max<size_t>(frac.size(), 2), '0');
  std::string out = whole + frac.substr(0, 2);
  size_t lead = out.find_first_not_of('0');
  out.erase(0, std::min(lead, out.size() - 1));
  if (frac.size() > 2) out += "." + frac.substr(2);
  return out;
}

// "1%", "99.9%" → 0.01, 0.999. A bare number is refused: is 1 one percent or all of it?
std::string parse_percent(const std::string& path, const std::string& text, bool null,
                          double& out) {
  if (null) return missing(path, "a percentage like 1% or 99.9%");
  double value = 0;
  if (text.empty() || text.back() != '%') {
    std::string hint;
    if (parse_decimal(text, value) && value <= 1)
      hint = " (" + text + " as a share is " + times_100(text) + "%)";
    return path + ": expected a percentage like 1% or 99.9%, got '" + text + "'" + hint;
  }
  std::string number = text.substr(0, text.size() - 1);
  if (!parse_decimal(number, value))
    return path + ": expected a percentage like 1% or 99.9%, got '" + text + "'";
  if (value > 100) return path + " must be 0%-100%, got " + text;
  out = percent_to_ratio(number);
  return {};
}

// "512", "512KiB", "100MiB", "2GiB": bytes.
std::string parse_size(const std::string& path, const std::string& text, bool null,
                       uint64_t hi, uint64_t& out) {
  std::string expected = "a size like 4096, 512KiB, 100MiB or 2GiB";
  if (null) return missing(path, expected);
  const char* begin = text.data();
  const char* end = begin + text.size();
  uint64_t value = 0;
  auto [unit_begin, ec] = std::from_chars(begin, end, value);
  if (!text.empty() && text[0] == '-') return path + ": must not be negative, got " + text;
  if (ec == std::errc::result_out_of_range) return path + ": too large, got " + text;
  if (ec != std::errc() || unit_begin == begin)
    return path + ": expected " + expected + ", got '" + text + "'";
  std::string_view unit(unit_begin, static_cast<size_t>(end - unit_begin));
  uint64_t scale = 0;
  if (unit.empty()) scale = 1;
  if (unit == "KiB") scale = kKiB;
  if (unit == "MiB") scale = kMiB;
  if (unit == "GiB") scale = kGiB;
  if (scale == 0)
    return path + ": unknown size unit '" + std::string(unit) + "' (KiB, MiB or GiB), got '" +
           text + "'";
  if (value > hi / scale)
    return path + " must be at most " + std::to_string(hi) + " bytes, got " + text;
  out = value * scale;
  return {};
}

// A duration kept in seconds, for a figure counted in days: "14d", "72h", "90m", "0".
// Days are accepted here only, not by parse_duration_ms (every other key tops out at 24h).
std::string parse_long_duration(const std::string& path, const std::string& text, bool null,
                                uint64_t max_days, double& out_s) {
  const std::string range = "0-" + std::to_string(max_days) + "d";
  if (null) return missing(path, "a duration like 14d or 72h, " + range);
  uint64_t ms = 0;
  if (text.size() > 1 && text.back() == 'd') {
    uint64_t days = 0;
    const std::string digits = text.substr(0, text.size() - 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), days);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits[0] == '+')
      return path + ": expected a duration like 14d or 72h, got '" + text + "'";
    if (days > max_days) return path + " must be " + range + ", got " + text;
    ms = days * kDay;
  } else {
    try {
      ms = parse_duration_ms(text);
    } catch (const ConfigError& e) {
      return path + ": " + e.what() + " (or days: 14d)";
    }
    if (ms > max_days * kDay) return path + " must be " + range + ", got " + text;
  }
  if (ms % kSecond != 0) return path + " must be whole seconds, got " + text;
  out_s = static_cast<double>(ms / kSecond);
  return {};
}

std::string format_long_duration(double seconds) {
  const auto s = static_cast<uint64_t>(seconds);
  if (s != 0 && s % (kDay / kSecond) == 0) return std::to_string(s / (kDay / kSecond)) + "d";
  return format_duration_ms(s * kSecond);
}

// A threshold in the unit its figure is measured in.
std::string parse_threshold(const std::string& path, const al::FigureRef& ref,
                            const std::string& text, bool null, double& out) {
  std::string figure = al::figure_ref_name(ref);
  if (al::is_seconds(ref.figure)) return parse_long_duration(path, text, null, 3650, out);
  if (al::is_duration(ref.figure)) {
    uint64_t ms = 0;
    std::string err = parse_duration(path, text, null, {0, kDay}, ms);
    out = static_cast<double>(ms);
    return err;
  }
  if (al::is_bytes(ref.figure)) {
    uint64_t bytes = 0;
    std::string err = parse_size(path, text, null, kTiB, bytes);
    out = static_cast<double>(bytes);
    return err;
  }
  if (al::is_ratio(ref.figure)) {
    return parse_percent(path, text, null, out);
  }
  if (ref.figure == al::Figure::kOpenFds) {
    uint64_t n = 0;
    std::string err = parse_count(path, text, null, 0, 1'000'000'000, n);
    out = static_cast<double>(n);
    return err;
  }
  double hi = ref.figure == al::Figure::kUpstreamUp ? 1 : 1e9;
  std::string range = ref.figure == al::Figure::kUpstreamUp ? "0-1" : "0-1000000000";
  if (null) return missing(path, "a number " + range);
  if (!parse_decimal(text, out))
    return path + ": expected a number " + range + " for " + figure + ", got '" + text + "'";
  if (out > hi) return path + " must be " + range + " for " + figure + ", got " + text;
  return {};
}

std::string show_threshold(const al::FigureRef& ref, double value) {
  if (al::is_seconds(ref.figure)) return format_long_duration(value);
  if (al::is_duration(ref.figure)) return format_duration_ms(static_cast<uint64_t>(value));
  if (al::is_bytes(ref.figure)) return std::to_string(static_cast<uint64_t>(value));
  if (al::is_ratio(ref.figure)) return format_percent(value);
  return format_decimal(value, 1);
}

// Rule and SLO names: alertname label values and metric label values, kept plain.
std::string check_name(const std::string& path, const std::string& name, bool null) {
  if (null || name.empty()) return missing(path, "a name of letters, digits, '_', ':' or '-'");
  if (name.size() > 200) return path + " is longer than 200 characters";
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':' || c == '-';
    if (!ok)
      return path + " '" + name + "' may contain only letters, digits, '_', ':' and '-'";
  }
  return {};
}

// Labels sidemeter sets itself on every alert it sends.
constexpr std::string_view kReservedLabels[] = {"alertname", "severity", "route", "method",
                                                "slo"};

// Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*, "__" reserved for internal use.
std::string check_label_name(const std::string& name) {
  bool valid = !name.empty() && name_start(name[0]);
  for (char c : name) valid = valid && name_char(c);
  if (!valid)
    return "alerts.labels: '" + name +
           "' is not a label name (letters, digits and '_', not starting with a digit)";
  if (name.compare(0, 2, "__") == 0)
    return "alerts.labels: '" + name + "': names starting with '__' are reserved";
  for (std::string_view r : kReservedLabels) {
    if (name == r) return "alerts.labels: '" + name + "' is set by sidemeter on every alert";
  }
  return {};
}

std::string check_route(const std::string& path, const std::string& text, bool null,
                        std::string& out) {
  if (null || text.empty()) {
    out.clear();  // the whole service
    return {};
  }
  if (std::string err = check_pattern(text); !err.empty())
    return path + ": route pattern '" + text + "' " + err;
  out = text;
  return {};
}

std::string check_method(const std::string& path, const std::string& text, bool null,
                         std::optional<metrics::Method>& out) {
  if (null || text.empty()) {
    out.reset();  // every method
    return {};
  }
  out = metrics::parse_method(text);
  if (out) return {};
  std::string names;
  for (size_t i = 0; i < size_t(metrics::Method::kOther); ++i)
    names.append(i == 0 ? "" : ", ").append(metrics::method_name(metrics::Method(i)));
  return path + ": expected one of " + names + ", got '" + text + "'";
}

std::optional<std::string> show_route(const std::string& route) {
  if (route.empty()) return std::nullopt;
  return yaml_quote(route);
}

std::optional<std::string> show_method(const std::optional<metrics::Method>& m) {
  if (!m) return std::nullopt;
  return std::string(metrics::method_name(*m));
}

std::string figure_names() {
  std::string out;
  for (size_t i = 0; i < size_t(al::Figure::kCount); ++i) {
    auto f = al::Figure(i);
    out += std::string(i == 0 ? "" : ", ") + std::string(al::figure_name(f));
    if (al::is_duration(f)) out += ".p99";
    if (al::is_bytes(f) && f != al::Figure::kRss) out += ".avg";
  }
  return out;
}

std::string scopable_names() {
  std::string out;
  for (size_t i = 0; i < size_t(al::Figure::kCount); ++i) {
    if (!al::route_scopable(al::Figure(i))) continue;
    out += std::string(out.empty() ? "" : ", ") + std::string(al::figure_name(al::Figure(i)));
    // Per-route windows keep body byte totals, not size distributions.
    if (al::is_bytes(al::Figure(i))) out += ".avg";
  }
  return out;
}

// An item key: `set` gets the whole list (the item is its back()), `show` one item.
template <class List, class Set, class Show>
Field item_key(std::string path, List list, Set set, Show show) {
  Field f;
  f.path = std::move(path);
  f.item = true;
  f.set = [list, set](Config& c, const std::string& text, bool null) -> std::string {
    return set(list(c), text, null);
  };
  f.show_item = [list, show](const Config& c, size_t i) -> std::optional<std::string> {
    return show(list(c)[i]);
  };
  return f;
}

template <class List>
Field items(std::string path, List list) {
  Field f;
  f.path = std::move(path);
  f.shape = Shape::kItems;
  f.copy = [list](Config& to, const Config& from) { list(to) = list(from); };
  f.add_item = [list](Config& c) { list(c).emplace_back(); };
  f.item_count = [list](const Config& c) { return list(c).size(); };
  return f;
}

template <class Items>
std::string unique_name(const std::string& path, const Items& items, const std::string& what) {
  for (size_t i = 0; i + 1 < items.size(); ++i) {
    if (items[i].name == items.back().name)
      return path + ": " + what + " '" + items.back().name + "' is defined twice";
  }
  return {};
}

std::string_view side_word(al::Comparison c, bool breaching) {
  // Which side of a threshold is which, for a rule alerting above or below it.
  return (c == al::Comparison::kAbove) == breaching ? "above" : "below";
}

void add_rules(std::vector<Field>& t) {
  const std::string p = "alerts.rules";
  auto list = [](auto& c) -> auto& { return c.alerts.rules; };
  using Rules = std::vector<al::RuleSpec>;
  t.push_back(items(p, list));
  t.back().check_item = [p](const Config& c) {
    std::vector<Problem> out;
    const al::RuleSpec& r = c.alerts.rules.back();
    // The name may itself be the mistake (reported on its own): then say "this rule".
    std::string rule = r.name.empty() ? std::string("this rule") : "rule '" + r.name + "'";
    if (!r.warning && !r.critical) {
      out.push_back({{p + ".warning", p + ".critical"}, rule + " has neither warning nor critical"});
      return out;
    }
    bool above = r.comparison == al::Comparison::kAbove;
    if (r.warning && r.critical &&
        (above ? r.critical->value < r.warning->value : r.critical->value > r.warning->value))
      out.push_back({{p + ".critical"},
                     p + ".critical (" + show_threshold(r.figure, r.critical->value) +
                         ") must not be " + (above ? "below" : "above") + " warning (" +
                         show_threshold(r.figure, r.warning->value) + ") for a rule alerting " +
                         (above ? "above" : "below") + " them"});
    auto resolve = [&](const std::optional<al::Threshold>& th, const std::string& key) {
      if (!th || !th->resolve) return;
      if (above ? *th->resolve <= th->value : *th->resolve >= th->value) return;
      out.push_back({{p + "." + key + "_resolve"},
                     p + "." + key + "_resolve (" + show_threshold(r.figure, *th->resolve) +
                         ") must not be " + std::string(side_word(r.comparison, true)) + " " +
                         key + " (" + show_threshold(r.figure, th->value) +
                         "): the alert resolves once the value is back " +
                         std::string(side_word(r.comparison, false)) + " it"});
    };
    resolve(r.warning, "warning");
    resolve(r.critical, "critical");
    if ((!r.route.empty() || r.method) && !al::route_scopable(r.figure))
      out.push_back({{p + (r.route.empty() ? ".method" : ".route")},
                     "figure '" + al::figure_ref_name(r.figure) +
                         "' cannot be scoped to a route or method (only " + scopable_names() +
                         " can)"});
    return out;
  };

  t.push_back(item_key(p + ".name", list,
      [p](Rules& rs, const std::string& text, bool null) -> std::string {
        if (auto err = check_name(p + ".name", text, null); !err.empty()) return err;
        rs.back().name = text;
        return unique_name(p + ".name", rs, "rule");
      },
      [](const al::RuleSpec& r) -> std::optional<std::string> { return yaml_quote(r.name); }));
  t.back().required = true;
  t.push_back(item_key(p + ".figure", list,
      [p](Rules& rs, const std::string& text, bool null) -> std::string {
        if (null) return missing(p + ".figure", "a figure like latency.p99 or error_rate");
        std::string err;
        auto ref = al::parse_figure(text, err);
        if (!ref) {
          std::string head = text.substr(0, text.find('.'));
          std::vector<std::string> names;
          for (size_t i = 0; i < size_t(al::Figure::kCount); ++i)
            names.emplace_back(al::figure_name(al::Figure(i)));
          bool known = false;
          for (const auto& n : names) known = known || n == head;
          if (!known) {
            if (auto best = did_you_mean(head, names))
              err += " (did you mean '" + *best + "'?)";
            else
              err += " (" + figure_names() + ", ...)";
          }
          return p + ".figure: " + err;
        }
        rs.back().figure = *ref;
        return {};
      },
      [](const al::RuleSpec& r) -> std::optional<std::string> {
        return al::figure_ref_name(r.figure);
      }));
  t.back().required = true;
  t.push_back(item_key(p + ".when", list,
      [p](Rules& rs, const std::string& text, bool) -> std::string {
        if (text == "above") {
          rs.back().comparison = al::Comparison::kAbove;
        } else if (text == "below") {
          rs.back().comparison = al::Comparison::kBelow;
        } else {
          return p + ".when: expected above or below, got '" + text + "'";
        }
        return {};
      },
      [](const al::RuleSpec& r) -> std::optional<std::string> {
        return r.comparison == al::Comparison::kAbove ? "above" : "below";
      }));
  for (const char* severity : {"warning", "critical"}) {
    std::string key = severity;
    auto at = [key](al::RuleSpec& r) -> std::optional<al::Threshold>& {
      return key == "warning" ? r.warning : r.critical;
    };
    auto at_const = [key](const al::RuleSpec& r) -> const std::optional<al::Threshold>& {
      return key == "warning" ? r.warning : r.critical;
    };
    t.push_back(item_key(p + "." + key, list,
        [p, key, at](Rules& rs, const std::string& text, bool null) -> std::string {
          double v = 0;
          std::string err = parse_threshold(p + "." + key, rs.back().figure, text, null, v);
          if (err.empty()) at(rs.back()) = al::Threshold{v, std::nullopt};
          return err;
        },
        [at_const](const al::RuleSpec& r) -> std::optional<std::string> {
          if (!at_const(r)) return std::nullopt;
          return show_threshold(r.figure, at_const(r)->value);
        }));
    t.back().needs = {"figure"};
    t.push_back(item_key(p + "." + key + "_resolve", list,
        [p, key, at](Rules& rs, const std::string& text, bool null) -> std::string {
          std::string path = p + "." + key + "_resolve";
          if (!at(rs.back())) return path + ": the rule has no " + key + " threshold to resolve";
          double v = 0;
          std::string err = parse_threshold(path, rs.back().figure, text, null, v);
          if (err.empty()) at(rs.back())->resolve = v;
          return err;
        },
        [at_const](const al::RuleSpec& r) -> std::optional<std::string> {
          if (!at_const(r) || !at_const(r)->resolve) return std::nullopt;
          return show_threshold(r.figure, *at_const(r)->resolve);
        }));
    t.back().needs = {"figure", key};
  }
  t.push_back(item_key(p + ".window", list,
      [p](Rules& rs, const std::string& text, bool) -> std::string {
        for (auto w : {al::RuleWindow::k10s, al::RuleWindow::k1m, al::RuleWindow::k5m}) {
          if (text == al::window_name(w)) {
            rs.back().window = w;
            return {};
          }
        }
        return p + ".window: expected 10s, 1m or 5m, got '" + text + "'";
      },
      [](const al::RuleSpec& r) -> std::optional<std::string> {
        return std::string(al::window_name(r.window));
      }));
  t.push_back(item_key(p + ".for", list,
      [p](Rules& rs, const std::string& text, bool null) {
        return parse_duration(p + ".for", text, null, {0, kDay}, rs.back().for_ms);
      },
      [](const al::RuleSpec& r) -> std::optional<std::string> {
        return format_duration_ms(r.for_ms);
      }));
  t.push_back(item_key(p + ".keep_firing_for", list,
      [p](Rules& rs, const std::string& text, bool null) {
        return parse_duration(p + ".keep_firing_for", text, null, {0, kDay},
                              rs.back().keep_firing_for_ms);
      },
      [](const al::RuleSpec& r) -> std::optional<std::string> {
        return format_duration_ms(r.keep_firing_for_ms);
      }));
  t.push_back(item_key(p + ".min_requests", list,
      [p](Rules& rs, const std::string& text, bool null) {
        return parse_count(p + ".min_requests", text, null, 0, 1'000'000'000,
                           rs.back().min_requests);
      },
      [](const al::RuleSpec& r) -> std::optional<std::string> {
        return std::to_string(r.min_requests);
      }));
  t.push_back(item_key(p + ".route", list,
      [p](Rules& rs, const std::string& text, bool null) {
        return check_route(p + ".route", text, null, rs.back().route);
      },
      [](const al::RuleSpec& r) { return show_route(r.route); }));
  t.push_back(item_key(p + ".method", list,
      [p](Rules& rs, const std::string& text, bool null) {
        return check_method(p + ".method", text, null, rs.back().method);
      },
      [](const al::RuleSpec& r) { return show_method(r.method); }));
}

void add_slos(std::vector<Field>& t) {
  const std::string p = "slos";
  auto list = [](auto& c) -> auto& { return c.slos; };
  using Slos = std::vector<al::SloSpec>;
  t.push_back(items(p, list));
  t.back().check_item = [p](const Config& c) {
    std::vector<Problem> out;
    const al::SloSpec& s = c.slos.back();
    if (s.kind == al::SloKind::kLatency && s.latency_threshold_ms == 0)
      out.push_back({{p + ".threshold", p + ".kind"},
                     "SLO '" + s.name + "' of kind latency needs a threshold"});
    return out;
  };
  t.push_back(item_key(p + ".name", list,
      [p](Slos& ss, const std::string& text, bool null) -> std::string {
        if (auto err = check_name(p + ".name", text, null); !err.empty()) return err;
        ss.back().name = text;
        return unique_name(p + ".name", ss, "SLO");
      },
      [](const al::SloSpec& s) -> std::optional<std::string> { return yaml_quote(s.name); }));
  t.back().required = true;
  t.push_back(item_key(p + ".kind", list,
      [p](Slos& ss, const std::string& text, bool) -> std::string {
        if (text == "availability") {
          ss.back().kind = al::SloKind::kAvailability;
        } else if (text == "latency") {
          ss.back().kind = al::SloKind::kLatency;
        } else {
          return p + ".kind: expected availability or latency, got '" + text + "'";
        }
        return {};
      },
      [](const al::SloSpec& s) -> std::optional<std::string> {
        return s.kind == al::SloKind::kLatency ? "latency" : "availability";
      }));
  t.push_back(item_key(p + ".objective", list,
      [p](Slos& ss, const std::string& text, bool null) -> std::string {
        double v = 0;
        std::string err = parse_percent(p + ".objective", text, null, v);
        if (!err.empty()) return err;
        if (v <= 0 || v >= 1)
          return p + ".objective must be strictly between 0% and 100%, got " + text;
        ss.back().objective = v;
        return {};
      },
      [](const al::SloSpec& s) -> std::optional<std::string> {
        return format_percent(s.objective);
      }));
  t.back().required = true;
  t.push_back(item_key(p + ".threshold", list,
      [p](Slos& ss, const std::string& text, bool null) -> std::string {
        if (ss.back().kind != al::SloKind::kLatency)
          return p + ".threshold applies only to kind: latency (an availability SLO counts "
                     "errors)";
        return parse_duration(p + ".threshold", text, null, {1, kDay},
                              ss.back().latency_threshold_ms);
      },
      [](const al::SloSpec& s) -> std::optional<std::string> {
        if (s.kind != al::SloKind::kLatency) return std::nullopt;
        return format_duration_ms(s.latency_threshold_ms);
      }));
  t.back().needs = {"kind"};
  t.push_back(item_key(p + ".route", list,
      [p](Slos& ss, const std::string& text, bool null) {
        return check_route(p + ".route", text, null, ss.back().route);
      },
      [](const al::SloSpec& s) { return show_route(s.route); }));
  t.push_back(item_key(p + ".method", list,
      [p](Slos& ss, const std::string& text, bool null) {
        return check_method(p + ".method", text, null, ss.back().method);
      },
      [](const al::SloSpec& s) { return show_method(s.method); }));
}

// The shortest text that reads back as the same double ("0.005", not 0.0050000000000000001).
std::string format_bound(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

template <class V>
Field url_list_field(std::string path, Access<V> at) {
  Field f;
  f.path = path;
  f.shape = Shape::kList;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  f.set = [path, at](Config& c, const std::string& text, bool null) -> std::string {
    if (null || text.empty()) return path + ": empty URL";
    HttpUrl url;
    try {
      url = parse_http_url(text);
    } catch (const ConfigError& e) {
      return path + ": " + e.what();
    }
    for (const HttpUrl& u : at(c)) {
      if (u == url) return path + ": '" + text + "' is listed twice";
    }
    at(c).push_back(url);
    return {};
  };
  f.show = [at](const Config& c) {
    std::string out = "[";
    for (size_t i = 0; i < at(c).size(); ++i) {
      if (i > 0) out += ", ";
      out += yaml_quote(at(c)[i].to_string());
    }
    return out + "]";
  };
  return f;
}

template <class At>
Field url_list(std::string path, At at) {
  return url_list_field(std::move(path), access(at));
}

// Histogram bucket bounds in seconds: positive, finite, at most an hour (the longest
// duration a histogram holds), strictly ascending, at most kMaxBounds of them (each is a
// series per label combination, see metrics/duration_bounds.h).
template <class V>
Field bounds_list_field(std::string path, Access<V> at) {
  constexpr size_t kMaxBounds = 64;
  Field f;
  f.path = path;
  f.shape = Shape::kList;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  f.reset = [at](Config& c) { at(c).clear(); };
  f.set = [path, at](Config& c, const std::string& text, bool null) -> std::string {
    if (null || text.empty()) return missing(path, "a bound in seconds, e.g. 0.25");
    double v = 0;
    const char* end = text.data() + text.size();
    auto [stop, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || stop != end || !std::isfinite(v))
      return path + ": expected a number of seconds, e.g. 0.25, got '" + text + "'";
    if (v <= 0 || v > 3600) return path + " bounds must be above 0 and at most 3600, got " + text;
    std::vector<double>& bounds = at(c);
    if (!bounds.empty() && v <= bounds.back())
      return path + " must ascend strictly: " + text + " after " + format_bound(bounds.back());
    if (bounds.size() == kMaxBounds)
      return path + ": at most " + std::to_string(kMaxBounds) + " bounds";
    bounds.push_back(v);
    return {};
  };
  f.show = [at](const Config& c) {
    std::string out = "[";
    for (size_t i = 0; i < at(c).size(); ++i) {
      if (i > 0) out += ", ";
      out += format_bound(at(c)[i]);
    }
    return out + "]";
  };
  return f;
}

template <class At>
Field bounds_list(std::string path, At at) {
  return bounds_list_field(std::move(path), access(at));
}

void add_alerts(std::vector<Field>& t) {
  t.push_back(boolean("alerts.default_rules", [](auto& c) -> auto& { return c.alerts.default_rules; }));
  add_rules(t);
  {
    Field labels;
    labels.path = "alerts.labels";
    labels.shape = Shape::kMap;
    labels.copy = [](Config& to, const Config& from) { to.alerts.labels = from.alerts.labels; };
    labels.set_entry = [](Config& c, const std::string& name, const std::string& text,
                          bool null) -> std::string {
      if (std::string err = check_label_name(name); !err.empty()) return err;
      if (null) return missing("alerts.labels." + name, "a label value");
      for (const auto& [n, unused] : c.alerts.labels) {
        if (n == name) return "alerts.labels: '" + name + "' is set twice";
      }
      c.alerts.labels.emplace_back(name, text);
      return {};
    };
    labels.show = [](const Config& c) {
      std::string out = "{";
      for (size_t i = 0; i < c.alerts.labels.size(); ++i) {
        if (i > 0) out += ", ";
        const auto& [name, value] = c.alerts.labels[i];
        out += yaml_quote(name) + ": " + yaml_quote(value);
      }
      return out + "}";
    };
    t.push_back(labels);
  }
  t.push_back(url_list("alerts.delivery.alertmanager_urls",
                       [](auto& c) -> auto& { return c.alerts.delivery.alertmanager_urls; }));
  t.push_back(url_list("alerts.delivery.webhook_urls",
                       [](auto& c) -> auto& { return c.alerts.delivery.webhook_urls; }));
  t.push_back(duration("alerts.delivery.resend_interval", {kSecond, kDay},
                       [](auto& c) -> auto& { return c.alerts.delivery.resend_interval_ms; }));
  t.push_back(duration("alerts.delivery.timeout", {100, 5 * kMinute},
                       [](auto& c) -> auto& { return c.alerts.delivery.timeout_ms; }));
  t.push_back(count("alerts.delivery.queue_max", 1, 1'000'000,
                    [](auto& c) -> auto& { return c.alerts.delivery.queue_max; }));
}

void add_access_log(std::vector<Field>& t) {
  {
    Field path;
    path.path = "access_log.path";
    path.copy = [](Config& to, const Config& from) { to.access_log.path = from.access_log.path; };
    path.set = [](Config& c, const std::string& text, bool null) -> std::string {
      // Made relative to the config file's directory by the loader, which knows it.
      c.access_log.path = null ? "" : text;
      return {};
    };
    path.show = [](const Config& c) { return yaml_quote(c.access_log.path); };
    t.push_back(path);
  }
  {
    Field rate;
    rate.path = "access_log.sample_rate";
    rate.copy = [](Config& to, const Config& from) {
      to.access_log.sample_rate = from.access_log.sample_rate;
    };
    rate.set = [](Config& c, const std::string& text, bool null) {
      return parse_percent("access_log.sample_rate", text, null, c.access_log.sample_rate);
    };
    rate.show = [](const Config& c) { return format_percent(c.access_log.sample_rate); };
    t.push_back(rate);
  }
  t.push_back(boolean("access_log.always_log_errors",
                      [](auto& c) -> auto& { return c.access_log.always_log_errors; }));
  t.push_back(duration("access_log.slow", {1, kDay, true},
                       [](auto& c) -> auto& { return c.access_log.slow_ms; }));
  t.push_back(boolean("access_log.include_query",
                      [](auto& c) -> auto& { return c.access_log.include_query; }));
  t.push_back(count("access_log.queue_max_bytes", 64 * kKiB, kGiB,
                    [](auto& c) -> auto& { return c.access_log.queue_max_bytes; }));
}

// ---- TLS -----------------------------------------------------------------------------

// A file named by a TLS key: "" = none. Made relative to the config file's directory and
// checked for readability by the loader, which knows that directory.
template <class V>
Field file_field(std::string path, Access<V> at) {
  Field f;
  f.path = path;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  f.set = [at](Config& c, const std::string& text, bool null) {
    at(c) = null ? "" : text;
    return std::string();
  };
  f.show = [at](const Config& c) { return yaml_quote(at(c)); };
  return f;
}

template <class At>
Field file(std::string path, At at) {
  return file_field(std::move(path), access(at));
}

std::string parse_tls_version(const std::string& path, const std::string& text, bool null,
                              TlsVersion& out) {
  if (!null && (text == "TLSv1.2" || text == "1.2")) {
    out = TlsVersion::k1_2;
  } else if (!null && (text == "TLSv1.3" || text == "1.3")) {
    out = TlsVersion::k1_3;
  } else if (!null && (text == "TLSv1" || text == "TLSv1.0" || text == "TLSv1.1" ||
                       text == "1.0" || text == "1.1")) {
    return path + ": TLS 1.0 and 1.1 are not offered (RFC 8996); expected TLSv1.2 or TLSv1.3, "
                  "got '" + text + "'";
  } else {
    return path + ": expected TLSv1.2 or TLSv1.3, got '" + (null ? "" : text) + "'";
  }
  return {};
}

template <class V>
Field tls_version_field(std::string path, Access<V> at) {
  Field f;
  f.path = path;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  f.set = [path, at](Config& c, const std::string& text, bool null) {
    return parse_tls_version(path, text, null, at(c));
  };
  f.show = [at](const Config& c) { return std::string(tls_version_name(at(c))); };
  return f;
}

template <class At>
Field tls_version(std::string path, At at) {
  return tls_version_field(std::move(path), access(at));
}

// An OpenSSL cipher list or TLS 1.3 suite list. OpenSSL itself judges the names when the
// transport loads them; here only what could never be one.
template <class V>
Field cipher_list_field(std::string path, Access<V> at) {
  Field f;
  f.path = path;
  f.copy = [at](Config& to, const Config& from) { at(to) = at(from); };
  f.set = [path, at](Config& c, const std::string& text, bool null) -> std::string {
    if (null || text.empty()) return missing(path, "a colon-separated list of names");
    if (text.size() > 4096) return path + " is longer than 4096 characters";
    for (char ch : text) {
      if (!token_char(ch)) return path + " must be printable ASCII without spaces";
    }
    at(c) = text;
    return {};
  };
  f.show = [at](const Config& c) { return yaml_quote(at(c)); };
  return f;
}

template <class At>
Field cipher_list(std::string path, At at) {
  return cipher_list_field(std::move(path), access(at));
}

// A DNS name or an IP address (no brackets, no port); "" = upstream.address's host.
std::string check_server_name(const std::string& name) {
  if (name.size() > 253) return "is longer than 253 characters";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '_';
    if (!ok) {
      std::string message =
          "must be a host name or an IP address (letters, digits, '.', '-', ':'), got '";
      return message.append(name).append("'");
    }
  }
  return {};
}

void add_downstream_tls(std::vector<Field>& t) {
  const std::string p = "tls.certificates";
  auto list = [](auto& c) -> auto& { return c.tls.certificates; };
  using Certs = std::vector<TlsCertificate>;
  t.push_back(items(p, list));
  t.back().check_item = [p](const Config& c) {
    std::vector<Problem> out;
    const Certs& cs = c.tls.certificates;
    for (size_t i = 0; i + 1 < cs.size(); ++i) {
      if (cs[i] == cs.back())
        out.push_back({{p + ".certificate_file"},
                       p + "[" + std::to_string(cs.size() - 1) +
                           "]: the same certificate_file and private_key_file as " + p + "[" +
                           std::to_string(i) + "]"});
    }
    return out;
  };
  for (const char* key : {"certificate_file", "private_key_file"}) {
    const bool cert = std::string_view(key) == "certificate_file";
    const std::string path = p + "." + key;
    t.push_back(item_key(path, list,
        [path, cert](Certs& cs, const std::string& text, bool null) -> std::string {
          if (null || text.empty())
            return missing(path, cert ? "a PEM file: the certificate, then its chain"
                                      : "a PEM file: the certificate's private key");
          (cert ? cs.back().certificate_file : cs.back().private_key_file) = text;
          return {};
        },
        [cert](const TlsCertificate& tc) -> std::optional<std::string> {
          return yaml_quote(cert ? tc.certificate_file : tc.private_key_file);
        }));
    t.back().required = true;
  }
  t.push_back(tls_version("tls.min_version", [](auto& c) -> auto& { return c.tls.min_version; }));
  t.push_back(cipher_list("tls.ciphers", [](auto& c) -> auto& { return c.tls.ciphers; }));
  t.push_back(cipher_list("tls.ciphersuites", [](auto& c) -> auto& { return c.tls.ciphersuites; }));
  {
    Field mtls;
    mtls.path = "tls.client_certificate";
    mtls.copy = [](Config& to, const Config& from) {
      to.tls.client_certificate = from.tls.client_certificate;
    };
    mtls.set = [](Config& c, const std::string& text, bool) -> std::string {
      if (text == "none") {
        c.tls.client_certificate = ClientCertificate::kNone;
      } else if (text == "optional") {
        c.tls.client_certificate = ClientCertificate::kOptional;
      } else if (text == "required") {
        c.tls.client_certificate = ClientCertificate::kRequired;
      } else {
        return "tls.client_certificate: expected none, optional or required, got '" + text + "'";
      }
      return {};
    };
    mtls.show = [](const Config& c) -> std::string {
      switch (c.tls.client_certificate) {
        case ClientCertificate::kOptional: return "optional";
        case ClientCertificate::kRequired: return "required";
        default: return "none";
      }
    };
    t.push_back(mtls);
  }
  t.push_back(file("tls.client_ca_file", [](auto& c) -> auto& { return c.tls.client_ca_file; }));
  t.push_back(boolean("tls.session_tickets", [](auto& c) -> auto& { return c.tls.session_tickets; }));
  t.push_back(duration("tls.session_ticket_rotation", {kMinute, kDay},
                       [](auto& c) -> auto& { return c.tls.session_ticket_rotation_ms; }));
  t.push_back(count("tls.session_cache_size", 0, 10'000'000,
                    [](auto& c) -> auto& { return c.tls.session_cache_size; }));
  t.push_back(duration("tls.handshake_timeout", {100, kHour},
                       [](auto& c) -> auto& { return c.tls.handshake_timeout_ms; }));
}

void add_upstream_tls(std::vector<Field>& t) {
  t.push_back(boolean("upstream.tls.enabled", [](auto& c) -> auto& { return c.upstream.tls.enabled; }));
  t.push_back(file("upstream.tls.ca_file", [](auto& c) -> auto& { return c.upstream.tls.ca_file; }));
  {
    Field name;
    name.path = "upstream.tls.server_name";
    name.copy = [](Config& to, const Config& from) {
      to.upstream.tls.server_name = from.upstream.tls.server_name;
    };
    name.set = [](Config& c, const std::string& text, bool null) -> std::string {
      std::string value = null ? "" : text;
      if (std::string err = check_server_name(value); !err.empty())
        return "upstream.tls.server_name " + err;
      c.upstream.tls.server_name = value;
      return {};
    };
    name.show = [](const Config& c) { return yaml_quote(c.upstream.tls.server_name); };
    t.push_back(name);
  }
  t.push_back(boolean("upstream.tls.verify", [](auto& c) -> auto& { return c.upstream.tls.verify; }));
  t.push_back(file("upstream.tls.certificate_file", [](auto& c) -> auto& {
    return c.upstream.tls.client_certificate.certificate_file;
  }));
  t.push_back(file("upstream.tls.private_key_file", [](auto& c) -> auto& {
    return c.upstream.tls.client_certificate.private_key_file;
  }));
  t.push_back(tls_version("upstream.tls.min_version",
                          [](auto& c) -> auto& { return c.upstream.tls.min_version; }));
  t.push_back(boolean("upstream.tls.session_resumption",
                      [](auto& c) -> auto& { return c.upstream.tls.session_resumption; }));
}

std::vector<Field> build() {
  std::vector<Field> t;
  const DurationRange timeout{1, kDay};
  t.push_back(address("listen", PortRule::kAny, [](auto& c) -> auto& { return c.listen; }));
  t.back().restart_only = true;
  t.push_back(count("workers", 0, 256, [](auto& c) -> auto& { return c.workers; }));
  t.back().restart_only = true;
  add_downstream_tls(t);
  {
    Field pp;
    pp.path = "proxy_protocol";
    pp.copy = [](Config& to, const Config& from) { to.proxy_protocol = from.proxy_protocol; };
    pp.set = [](Config& c, const std::string& text, bool) -> std::string {
      for (ProxyProtocol p : {ProxyProtocol::kOff, ProxyProtocol::kV1, ProxyProtocol::kV2,
                              ProxyProtocol::kAny}) {
        if (text == proxy_protocol_name(p)) {
          c.proxy_protocol = p;
          return {};
        }
      }
      return "proxy_protocol: expected off, v1, v2 or any, got '" + text + "'";
    };
    pp.show = [](const Config& c) { return std::string(proxy_protocol_name(c.proxy_protocol)); };
    t.push_back(pp);
  }
  {
    Field trusted;
    trusted.path = "trusted_proxies";
    trusted.shape = Shape::kList;
    trusted.copy = [](Config& to, const Config& from) { to.trusted_proxies = from.trusted_proxies; };
    trusted.reset = [](Config& c) { c.trusted_proxies.clear(); };
    trusted.set = [](Config& c, const std::string& text, bool null) -> std::string {
      if (null || text.empty())
        return missing("trusted_proxies", "a CIDR such as 10.0.0.0/8 or ::1/128");
      Cidr cidr;
      if (std::string err = parse_cidr(text, cidr); !err.empty())
        return "trusted_proxies: '" + text + "' " + err;
      for (const Cidr& other : c.trusted_proxies) {
        if (other == cidr) return "trusted_proxies: '" + text + "' is listed twice";
      }
      // Each client's address is checked against every entry: keep the list reasonable.
      if (c.trusted_proxies.size() == 1000) return "trusted_proxies: at most 1000 entries";
      c.trusted_proxies.push_back(cidr);
      return {};
    };
    trusted.show = [](const Config& c) {
      std::string out = "[";
      for (size_t i = 0; i < c.trusted_proxies.size(); ++i) {
        if (i > 0) out += ", ";
        out += yaml_quote(c.trusted_proxies[i].to_string());
      }
      return out + "]";
    };
    t.push_back(trusted);
  }

  t.push_back(address("upstream.address", PortRule::kRequired,
                      [](auto& c) -> auto& { return c.upstream.address; }));
  t.push_back(count("upstream.max_idle_per_worker", 0, 100'000,
                    [](auto& c) -> auto& { return c.upstream.max_idle_per_worker; }));
  t.push_back(duration("upstream.resolve_interval", {kSecond, kDay, true},
                       [](auto& c) -> auto& { return c.upstream.resolve_interval_ms; }));
  t.push_back(duration("upstream.probe_interval", {100, kHour},
                       [](auto& c) -> auto& { return c.upstream.probe_interval_ms; }));
  t.push_back(boolean("upstream.retry_on_stale_connection",
                      [](auto& c) -> auto& { return c.upstream.retry_on_stale_connection; }));
  add_upstream_tls(t);

  t.push_back(duration("timeouts.request_header", timeout,
                       [](auto& c) -> auto& { return c.timeouts.request_header_ms; }));
  t.push_back(duration("timeouts.upstream_connect", timeout,
                       [](auto& c) -> auto& { return c.timeouts.upstream_connect_ms; }));
  t.push_back(duration("timeouts.upstream_response", timeout,
                       [](auto& c) -> auto& { return c.timeouts.upstream_response_ms; }));
  t.push_back(duration("timeouts.downstream_idle", timeout,
                       [](auto& c) -> auto& { return c.timeouts.downstream_idle_ms; }));
  t.push_back(duration("timeouts.upstream_idle", timeout,
                       [](auto& c) -> auto& { return c.timeouts.upstream_idle_ms; }));
  t.push_back(duration("timeouts.tunnel_idle", timeout,
                       [](auto& c) -> auto& { return c.timeouts.tunnel_idle_ms; }));
  // 0: stop accepting at once (no load balancer to tell, e.g. in tests).
  t.push_back(duration("timeouts.drain_delay", {0, kHour},
                       [](auto& c) -> auto& { return c.timeouts.drain_delay_ms; }));
  t.push_back(duration("timeouts.drain_timeout", timeout,
                       [](auto& c) -> auto& { return c.timeouts.drain_timeout_ms; }));

  t.push_back(count("limits.max_request_line_bytes", 256, kMiB,
                    [](auto& c) -> auto& { return c.limits.max_request_line_bytes; }));
  t.push_back(count("limits.max_header_bytes", kKiB, kMiB,
                    [](auto& c) -> auto& { return c.limits.max_header_bytes; }));
  t.push_back(count("limits.max_headers", 1, 10'000,
                    [](auto& c) -> auto& { return c.limits.max_headers; }));
  t.push_back(count("limits.max_request_body_bytes", 0, uint64_t{1} << 40,
                    [](auto& c) -> auto& { return c.limits.max_request_body_bytes; }));
  t.push_back(count("limits.max_connections", 1, 1'000'000,
                    [](auto& c) -> auto& { return c.limits.max_connections; }));

  t.push_back(address("stats.address", PortRule::kAny,
                      [](auto& c) -> auto& { return c.stats.address; }));
  t.back().restart_only = true;
  {
    Field token;
    token.path = "stats.token";
    token.set = [](Config& c, const std::string& text, bool null) -> std::string {
      std::string value = null ? "" : text;
      if (std::string err = check_token(value); !err.empty()) return "stats.token " + err;
      c.stats.token = value;
      return {};
    };
    token.show = [](const Config& c) { return yaml_quote(c.stats.token); };
    // From a file, the printed file names it again in token_file: "" keeps it loadable.
    token.show_redacted = [](const Config& c) {
      return yaml_quote(c.stats.token.empty() || !c.stats.token_file.empty() ? ""
                                                                              : "<redacted>");
    };
    t.push_back(token);
  }
  {
    Field file;
    file.path = "stats.token_file";
    file.set = [](Config& c, const std::string& text, bool null) {
      c.stats.token_file = null ? "" : text;  // read by the loader, which knows the file's dir
      return std::string();
    };
    file.show = [](const Config& c) { return yaml_quote(c.stats.token_file); };
    t.push_back(file);
  }
  t.push_back(seconds("stats.stream_interval", 1, 60,
                      [](auto& c) -> auto& { return c.stats.stream_interval_s; }));
  t.push_back(count("stats.max_connections", 1, 100'000,
                    [](auto& c) -> auto& { return c.stats.max_connections; }));
  t.push_back(duration("stats.idle_timeout", {kSecond, kDay},
                       [](auto& c) -> auto& { return c.stats.idle_timeout_ms; }));
  t.push_back(address("stats.statsd.address", PortRule::kOptional,
                      [](auto& c) -> auto& { return c.stats.statsd.address; }));
  t.push_back(seconds("stats.statsd.interval", 1, 3600,
                      [](auto& c) -> auto& { return c.stats.statsd.interval_s; }));
  {
    Field flavor;
    flavor.path = "stats.statsd.flavor";
    flavor.set = [](Config& c, const std::string& text, bool) -> std::string {
      if (text == "dogstatsd") {
        c.stats.statsd.dogstatsd_tags = true;
      } else if (text == "statsd") {
        c.stats.statsd.dogstatsd_tags = false;
      } else {
        return "stats.statsd.flavor: expected dogstatsd or statsd, got '" + text + "'";
      }
      return {};
    };
    flavor.show = [](const Config& c) -> std::string {
      return c.stats.statsd.dogstatsd_tags ? "dogstatsd" : "statsd";
    };
    t.push_back(flavor);
  }
  {
    Field prefix;
    prefix.path = "stats.statsd.prefix";
    prefix.set = [](Config& c, const std::string& text, bool null) -> std::string {
      std::string value = null ? "" : text;
      if (std::string err = check_prefix(value); !err.empty())
        return "stats.statsd.prefix " + err;
      c.stats.statsd.prefix = value;
      return {};
    };
    prefix.show = [](const Config& c) { return yaml_quote(c.stats.statsd.prefix); };
    t.push_back(prefix);
  }

  t.push_back(bounds_list("stats.histogram_buckets.request_duration", [](auto& c) -> auto& {
    return c.stats.histogram_buckets.request_duration;
  }));
  t.push_back(bounds_list("stats.histogram_buckets.route_request_duration",
                          [](auto& c) -> auto& {
                            return c.stats.histogram_buckets.route_request_duration;
                          }));
  {
    Field patterns;
    patterns.path = "routes.patterns";
    patterns.shape = Shape::kList;
    patterns.set = [](Config& c, const std::string& text, bool null) -> std::string {
      if (null) return "routes.patterns: empty pattern";
      if (std::string err = check_pattern(text); !err.empty())
        return "route pattern '" + text + "' " + err;
      for (const std::string& p : c.routes.patterns) {
        if (p == text) return "route pattern '" + text + "' is listed twice";
      }
      c.routes.patterns.push_back(text);
      return {};
    };
    patterns.show = [](const Config& c) {
      std::string out = "[";
      for (size_t i = 0; i < c.routes.patterns.size(); ++i) {
        if (i > 0) out += ", ";
        out += yaml_quote(c.routes.patterns[i]);
      }
      return out + "]";
    };
    t.push_back(patterns);
  }
  t.push_back(count("routes.max", 1, 10'000, [](auto& c) -> auto& { return c.routes.max; }));
  // The route table is sized once: ids index every worker's per-route figures.
  t.back().restart_only = true;
  // 2 at least: a worker keeps a template's first sighting to itself (RouteCache).
  t.push_back(count("routes.admission.hits", 2, 1'000,
                    [](auto& c) -> auto& { return c.routes.admission_hits; }));
  t.push_back(seconds("routes.admission.window", 1, 3600,
                      [](auto& c) -> auto& { return c.routes.admission_window_s; }));
  t.push_back(seconds("routes.eviction.min_idle", 1, 86'400,
                      [](auto& c) -> auto& { return c.routes.eviction_min_idle_s; }));
  add_alerts(t);
  add_slos(t);
  add_access_log(t);
  {
    Field via;
    via.path = "via_pseudonym";
    via.copy = [](Config& to, const Config& from) { to.via_pseudonym = from.via_pseudonym; };
    via.set = [](Config& c, const std::string& text, bool null) -> std::string {
      std::string value = null ? "" : text;
      if (std::string err = check_via_pseudonym(value); !err.empty())
        return "via_pseudonym " + err;
      c.via_pseudonym = value;
      return {};
    };
    via.show = [](const Config& c) { return yaml_quote(c.via_pseudonym); };
    t.push_back(via);
  }
  t.push_back(boolean("measure", [](auto& c) -> auto& { return c.measure; }));
  // Switching it under exchanges in flight would record half-timed samples.
  t.back().restart_only = true;
  return t;
}

bool same_endpoint(const HostPort& a, const HostPort& b) { return a.port != 0 && a == b; }

}  // namespace

std::string_view proxy_protocol_name(ProxyProtocol p) {
  switch (p) {
    case ProxyProtocol::kV1: return "v1";
    case ProxyProtocol::kV2: return "v2";
    case ProxyProtocol::kAny: return "any";
    default: return "off";
  }
}

std::string_view tls_version_name(TlsVersion v) {
  return v == TlsVersion::k1_3 ? "TLSv1.3" : "TLSv1.2";
}

const std::vector<Field>& schema() {
  static const std::vector<Field> table = build();
  return table;
}

std::vector<Problem> check_combinations(const Config& c) {
  std::vector<Problem> out;
  const Timeouts& t = c.timeouts;
  if (t.drain_timeout_ms < t.drain_delay_ms)
    out.push_back({{"timeouts.drain_timeout", "timeouts.drain_delay"},
                   "timeouts.drain_timeout (" + format_duration_ms(t.drain_timeout_ms) +
                       ") must not be shorter than timeouts.drain_delay (" +
                       format_duration_ms(t.drain_delay_ms) + ")"});
  // No check of max_request_line_bytes against max_header_bytes: the head limit bounds
  // the start line too, and lowering one alone must not make the other's default wrong.
  if (same_endpoint(c.stats.address, c.listen))
    out.push_back({{"stats.address", "listen"},
                   "stats.address and listen are both " + c.listen.to_string()});
  if (!c.demo && same_endpoint(c.upstream.address, c.listen))
    out.push_back({{"upstream.address", "listen"},
                   "upstream.address is listen (" + c.listen.to_string() +
                       "): requests would loop through sidemeter"});
  const DownstreamTls& tls = c.tls;
  if (tls.client_certificate != ClientCertificate::kNone && tls.client_ca_file.empty()) {
    std::string message = "tls.client_certificate is ";
    message += tls.client_certificate == ClientCertificate::kRequired ? "required" : "optional";
    message += " but tls.client_ca_file is not set (the CAs client certificates are verified "
               "against)";
    out.push_back({{"tls.client_ca_file", "tls.client_certificate"}, message});
  }
  if (tls.client_certificate == ClientCertificate::kNone && !tls.client_ca_file.empty())
    out.push_back({{"tls.client_ca_file", "tls.client_certificate"},
                   "tls.client_ca_file is set but tls.client_certificate is none (set it to "
                   "optional or required to ask clients for a certificate)"});
  if (tls.client_certificate != ClientCertificate::kNone && !tls.enabled())
    out.push_back({{"tls.client_certificate", "tls.certificates"},
                   "tls.client_certificate needs tls.certificates (without them the listener "
                   "is plain HTTP)"});
  const TlsCertificate& up = c.upstream.tls.client_certificate;
  if (up.certificate_file.empty() != up.private_key_file.empty()) {
    const bool no_cert = up.certificate_file.empty();
    std::string message =
        "upstream.tls.certificate_file and upstream.tls.private_key_file go together (a "
        "client certificate and its key): ";
    message += no_cert ? "certificate_file" : "private_key_file";
    message += " is not set";
    out.push_back({{no_cert ? "upstream.tls.private_key_file" : "upstream.tls.certificate_file"},
                   message});
  }
  if (c.routes.patterns.size() > c.routes.max)
    out.push_back({{"routes.patterns", "routes.max"},
                   std::to_string(c.routes.patterns.size()) +
                       " route patterns but routes.max is " + std::to_string(c.routes.max)});
  return out;
}

std::string yaml_quote(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    auto c = static_cast<unsigned char>(ch);
    if (c == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      // The loader interpolates before it parses YAML: a literal "${" is written "$${"
      // so the printed config loads back to the same value.
      out.append("$$");
    } else if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out.append(buf);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace sidemeter::conf
