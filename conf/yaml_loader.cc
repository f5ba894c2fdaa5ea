// The only file that sees yaml-cpp. Unknown keys are errors (a typo must not silently
// fall back to a default), and every error names file:line:column.
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>

#include "conf/config.h"

namespace sidemeter::conf {
namespace {

std::string where(const std::string& path, const YAML::Node& node) {
  auto m = node.Mark();
  return path + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
}

template <typename T>
T scalar_as(const std::string& path, const YAML::Node& node, const char* what) {
  if (!node.IsScalar()) throw ConfigError(where(path, node) + what + " must be a scalar");
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw ConfigError(where(path, node) + what + ": invalid value '" + node.Scalar() + "'");
  }
}

using Setter = std::function<void(const YAML::Node&)>;

void apply_map(const std::string& path, const YAML::Node& map, const char* section,
               const std::map<std::string, Setter>& setters) {
  if (!map.IsMap()) throw ConfigError(where(path, map) + section + " must be a mapping");
  for (const auto& kv : map) {
    auto key = kv.first.Scalar();
    auto it = setters.find(key);
    if (it == setters.end())
      throw ConfigError(where(path, kv.first) + "unknown key '" + key + "' in " + section);
    try {
      it->second(kv.second);
    } catch (const ConfigError& e) {
      std::string msg = e.what();
      if (msg.rfind(path, 0) == 0) throw;
      throw ConfigError(where(path, kv.second) + key + ": " + msg);
    }
  }
}

}  // namespace

void load_yaml_file(const std::string& path, Config& cfg) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError(path + ": cannot read file");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (root.IsNull()) return;
  auto str = [&](const YAML::Node& n, const char* what) {
    return scalar_as<std::string>(path, n, what);
  };
  auto u32 = [&](const YAML::Node& n, const char* what) {
    return scalar_as<uint32_t>(path, n, what);
  };
  auto u64 = [&](const YAML::Node& n, const char* what) {
    return scalar_as<uint64_t>(path, n, what);
  };
  auto dur = [&](const YAML::Node& n, const char* what) {
    return parse_duration_ms(str(n, what));
  };

  apply_map(path, root, "top level", {
    {"listen", [&](const YAML::Node& n) { cfg.listen = parse_host_port(str(n, "listen")); }},
    {"upstream", [&](const YAML::Node& n) {
       cfg.upstream = parse_host_port(str(n, "upstream"));
       cfg.upstream_given = true;
     }},
    {"stats", [&](const YAML::Node& n) { cfg.stats = parse_host_port(str(n, "stats")); }},
    {"workers", [&](const YAML::Node& n) { cfg.workers = u32(n, "workers"); }},
    {"route_cap", [&](const YAML::Node& n) { cfg.route_cap = u32(n, "route_cap"); }},
    {"measure", [&](const YAML::Node& n) { cfg.measure = scalar_as<bool>(path, n, "measure"); }},
    {"limits", [&](const YAML::Node& n) {
       auto& l = cfg.limits;
       apply_map(path, n, "limits", {
         {"max_request_line_bytes", [&](const YAML::Node& v) { l.max_request_line_bytes = u32(v, "max_request_line_bytes"); }},
         {"max_header_bytes", [&](const YAML::Node& v) { l.max_header_bytes = u32(v, "max_header_bytes"); }},
         {"max_headers", [&](const YAML::Node& v) { l.max_headers = u32(v, "max_headers"); }},
         {"max_request_body_bytes", [&](const YAML::Node& v) { l.max_request_body_bytes = u64(v, "max_request_body_bytes"); }},
         {"max_connections", [&](const YAML::Node& v) { l.max_connections = u32(v, "max_connections"); }},
       });
     }},
    {"timeouts", [&](const YAML::Node& n) {
       auto& t = cfg.timeouts;
       apply_map(path, n, "timeouts", {
         {"request_header", [&](const YAML::Node& v) { t.request_header_ms = dur(v, "request_header"); }},
         {"upstream_connect", [&](const YAML::Node& v) { t.upstream_connect_ms = dur(v, "upstream_connect"); }},
         {"upstream_response", [&](const YAML::Node& v) { t.upstream_response_ms = dur(v, "upstream_response"); }},
         {"downstream_idle", [&](const YAML::Node& v) { t.downstream_idle_ms = dur(v, "downstream_idle"); }},
         {"upstream_idle", [&](const YAML::Node& v) { t.upstream_idle_ms = dur(v, "upstream_idle"); }},
         {"tunnel_idle", [&](const YAML::Node& v) { t.tunnel_idle_ms = dur(v, "tunnel_idle"); }},
         {"drain_delay", [&](const YAML::Node& v) { t.drain_delay_ms = dur(v, "drain_delay"); }},
         {"drain_timeout", [&](const YAML::Node& v) { t.drain_timeout_ms = dur(v, "drain_timeout"); }},
       });
     }},
    {"upstream_pool", [&](const YAML::Node& n) {
       auto& p = cfg.pool;
       apply_map(path, n, "upstream_pool", {
         {"max_idle_per_worker", [&](const YAML::Node& v) { p.max_idle_per_worker = u32(v, "max_idle_per_worker"); }},
         {"resolve_interval", [&](const YAML::Node& v) { p.resolve_interval_ms = dur(v, "resolve_interval"); }},
       });
     }},
  });
}

}  // namespace sidemeter::conf
