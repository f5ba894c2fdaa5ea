#include "proxy/stats/stats_options.h"

#include <charconv>
#include <cstdlib>
#include <string_view>

namespace sidemeter::stats {
namespace {

bool parse_seconds(const char* name, const char* text, uint32_t& out, std::string& error) {
  const std::string_view s(text);
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 3600) {
    error = std::string(name) + ": expected whole seconds in 1..3600, got \"" + text + "\"";
    return false;
  }
  out = v;
  return true;
}

}  // namespace

bool apply_stats_environment(StatsOptions& out, std::string& error) {
  if (const char* token = std::getenv("SIDEMETER_STATS_TOKEN"); token && *token) {
    out.bearer_token = token;
  }
  if (const char* addr = std::getenv("SIDEMETER_STATSD"); addr && *addr) {
    try {  // conf reports malformed input by exception; this is startup, not the data path
      out.statsd = conf::parse_host_port(addr);
    } catch (const conf::ConfigError& e) {
      error = std::string("SIDEMETER_STATSD: ") + e.what();
      return false;
    }
    if (out.statsd.port == 0) {
      error = "SIDEMETER_STATSD: port 0";
      return false;
    }
  }
  if (const char* v = std::getenv("SIDEMETER_STATSD_INTERVAL"); v && *v) {
    if (!parse_seconds("SIDEMETER_STATSD_INTERVAL", v, out.statsd_interval_s, error)) return false;
  }
  if (const char* v = std::getenv("SIDEMETER_STATS_STREAM_INTERVAL"); v && *v) {
    if (!parse_seconds("SIDEMETER_STATS_STREAM_INTERVAL", v, out.stream_interval_s, error)) {
      return false;
    }
  }
  if (const char* v = std::getenv("SIDEMETER_STATSD_FLAVOR"); v && *v) {
    const std::string_view f(v);
    if (f == "dogstatsd") {
      out.statsd_dogstatsd_tags = true;
    } else if (f == "statsd") {
      out.statsd_dogstatsd_tags = false;
    } else {
      error =
          std::string("SIDEMETER_STATSD_FLAVOR: expected dogstatsd or statsd, got \"") + v + "\"";
      return false;
    }
  }
  if (const char* v = std::getenv("SIDEMETER_STATSD_PREFIX"); v) out.statsd_prefix = v;
  return true;
}

}  // namespace sidemeter::stats
