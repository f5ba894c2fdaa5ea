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

// Port 0 is accepted: listeners use it for a kernel-chosen port (tests do). Callers for
// which 0 makes no sense (the upstream) reject it themselves.
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
    // An unbracketed v6 address would be split at its last colon into a wrong host.
    if (hp.host.find(':') != std::string::npos)
      throw ConfigError("'" + text + "': write an IPv6 address as [ADDRESS]:PORT");
  }
  if (hp.host.empty()) throw ConfigError("'" + text + "': empty host");
  for (char c : hp.host) {
    if (c <= ' ' || c == 0x7f || c == '/' || c == '[' || c == ']')
      throw ConfigError("'" + text + "': invalid character in host");
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      value > 65535)
    throw ConfigError("'" + text + "': port must be a number 0-65535");
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

}  // namespace sidemeter::conf
