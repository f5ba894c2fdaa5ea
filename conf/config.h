#pragma once
// The whole runtime configuration as plain data. Built from defaults, then an optional
// YAML file (--config), then command-line flags. Only conf/*.cc sees yaml-cpp.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sidemeter::conf {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const;  // "host:port", "[v6]:port"
};

struct Limits {
  uint32_t max_request_line_bytes = 8 * 1024;
  uint32_t max_header_bytes = 64 * 1024;     // whole header section
  uint32_t max_headers = 100;                // header lines
  uint64_t max_request_body_bytes = 0;       // 0 = unlimited (413 above)
  uint32_t max_connections = 20000;          // downstream, whole process (503 above)
};

struct Timeouts {  // milliseconds
  uint64_t request_header_ms = 10'000;
  uint64_t upstream_connect_ms = 5'000;
  uint64_t upstream_response_ms = 60'000;
  uint64_t downstream_idle_ms = 60'000;
  // Shorter than common backends' keep-alive (Node 5 s, Go 90 s, nginx 75 s) so we
  // close pooled connections before the backend does.
  uint64_t upstream_idle_ms = 4'000;
  uint64_t tunnel_idle_ms = 300'000;
  uint64_t drain_delay_ms = 1'000;
  uint64_t drain_timeout_ms = 30'000;
};

struct UpstreamPool {
  uint32_t max_idle_per_worker = 128;
  uint64_t resolve_interval_ms = 10'000;
};

struct Config {
  HostPort listen{"0.0.0.0", 8080};
  HostPort upstream{"127.0.0.1", 8000};
  bool upstream_given = false;  // false: run the built-in demo upstream + traffic
  HostPort stats{"127.0.0.1", 9901};
  uint32_t workers = 0;         // 0 = CPU count
  std::string config_path;
  Limits limits;
  Timeouts timeouts;
  UpstreamPool pool;
  uint32_t route_cap = 100;
  bool measure = true;          // off only for benchmarking the cost of measuring
};

// Control-plane errors carry where they came from ("file.yaml:12:5: ...").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

HostPort parse_host_port(const std::string& text);  // throws ConfigError
uint64_t parse_duration_ms(const std::string& text); // "250ms", "10s", "1m"; throws

// Applies the YAML file at `path` on top of `cfg`. Throws ConfigError with line:column.
void load_yaml_file(const std::string& path, Config& cfg);

enum class CliAction { kRun, kHelp, kVersion };
// Parses argv (loading --config first, flags override it). Throws ConfigError.
CliAction parse_command_line(int argc, const char* const* argv, Config& cfg);
std::string usage_text();

}  // namespace sidemeter::conf
