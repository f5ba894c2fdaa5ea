#include <charconv>

#include "conf/config.h"

namespace sidemeter::conf {

std::string HostPort::to_string() const {
  // Built by append: GCC 12 warns falsely (-Wrestrict) on "[" + host chains.
  std::string out;
  bool v6 = host.find(':') != std::string::npos;
  if (v6) out.push_back('[');
  out.append(host);
  if (v6) out.push_back(']');
  out.push_back(':');
  out.append(std::to_string(port));
  return out;
}

HostPort parse_host_port(const std::string& text) {
  HostPort hp;
  std::string port_text;
  if (!text.empty() && text[0] == '[') {  // [v6]:port
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw ConfigError("'" + text + "': expected [IPv6]:PORT");
    hp.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) throw ConfigError("'" + text + "': expected HOST:PORT");
    hp.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) throw ConfigError("'" + text + "': empty host");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || value > 65535 ||
      port_text.empty())
    throw ConfigError("'" + text + "': port must be a number 0-65535");
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

uint64_t parse_duration_ms(const std::string& text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data())
    throw ConfigError("'" + text + "': expected a duration like 250ms, 10s, 5m");
  std::string unit(end, text.data() + text.size());
  if (unit == "ms") return value;
  if (unit == "s" || unit.empty()) return value * 1000;
  if (unit == "m") return value * 60'000;
  if (unit == "h") return value * 3'600'000;
  throw ConfigError("'" + text + "': unknown duration unit '" + unit + "' (ms, s, m, h)");
}

}  // namespace sidemeter::conf
