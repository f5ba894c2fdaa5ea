// Every key, its bounds and how it is read and written. The bounds keep each number in a
// range the proxy can use as is (no allocation sized by an unchecked number, no
// multiplication that wraps), wide enough not to get in the way.
#include "conf/schema.h"

#include <charconv>
#include <cstdio>
#include <type_traits>

#include "conf/duration.h"

namespace sidemeter::conf {
namespace {

constexpr uint64_t kSecond = 1'000;
constexpr uint64_t kMinute = 60 * kSecond;
constexpr uint64_t kHour = 60 * kMinute;
constexpr uint64_t kDay = 24 * kHour;
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

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

template <class At>
Field count(std::string path, uint64_t lo, uint64_t hi, At at) {
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

template <class At>
Field duration(std::string path, DurationRange r, At at) {
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

// For fields kept in whole seconds (the stats stream and statsd push periods).
template <class At>
Field seconds(std::string path, uint32_t lo_s, uint32_t hi_s, At at) {
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

// Only the YAML 1.2 spellings: "no" or "off" meaning false surprises more than it helps.
template <class At>
Field boolean(std::string path, At at) {
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

enum class PortRule {
  kAny,       // a listener: 0 asks the kernel for a free port
  kRequired,  // somewhere to connect to
  kOptional,  // "" turns the feature off; else somewhere to connect to
};

template <class At>
Field address(std::string path, PortRule rule, At at) {
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

std::vector<Field> build() {
  std::vector<Field> t;
  const DurationRange timeout{1, kDay};
  t.push_back(address("listen", PortRule::kAny, [](auto& c) -> auto& { return c.listen; }));
  t.back().restart_only = true;
  t.push_back(count("workers", 0, 256, [](auto& c) -> auto& { return c.workers; }));
  t.back().restart_only = true;

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

  {
    Field patterns;
    patterns.path = "routes.patterns";
    patterns.list = true;
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
  t.push_back(boolean("measure", [](auto& c) -> auto& { return c.measure; }));
  // Switching it under exchanges in flight would record half-timed samples.
  t.back().restart_only = true;
  return t;
}

bool same_endpoint(const HostPort& a, const HostPort& b) { return a.port != 0 && a == b; }

}  // namespace

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
  if (c.routes.patterns.size() > c.routes.max)
    out.push_back({{"routes.patterns", "routes.max"},
                   std::to_string(c.routes.patterns.size()) +
                       " route patterns but routes.max is " + std::to_string(c.routes.max)});
  return out;
}

std::string yaml_quote(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
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
