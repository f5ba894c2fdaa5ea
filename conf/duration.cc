#include "conf/duration.h"

#include <charconv>
#include <limits>

#include "conf/config.h"

namespace sidemeter::conf {
namespace {

struct Unit {
  const char* name;
  uint64_t ms;
};
constexpr Unit kUnits[] = {{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};

}  // namespace

// A bare number is refused (but 0, which means the same in every unit): "timeout: 30"
// reads as seconds to some and milliseconds to others.
uint64_t parse_duration_ms(const std::string& text) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  uint64_t value = 0;
  auto [unit_begin, ec] = std::from_chars(begin, end, value);
  if (!text.empty() && text[0] == '-') throw ConfigError("'" + text + "': must not be negative");
  if (ec == std::errc::result_out_of_range) throw ConfigError("'" + text + "': too large");
  if (ec != std::errc() || unit_begin == begin)
    throw ConfigError("'" + text + "': expected a duration like 250ms, 10s, 5m, 1h");
  std::string_view unit(unit_begin, static_cast<size_t>(end - unit_begin));
  if (unit.empty()) {
    if (value == 0) return 0;
    throw ConfigError("'" + text + "': missing unit (ms, s, m or h), e.g. " + text + "s");
  }
  for (const Unit& u : kUnits) {
    if (unit != u.name) continue;
    if (value > std::numeric_limits<uint64_t>::max() / u.ms)
      throw ConfigError("'" + text + "': too large");
    return value * u.ms;
  }
  throw ConfigError("'" + text + "': unknown unit '" + std::string(unit) + "' (ms, s, m or h)");
}

std::string format_duration_ms(uint64_t ms) {
  if (ms == 0) return "0s";
  for (const Unit& u : kUnits) {
    if (ms % u.ms == 0) return std::to_string(ms / u.ms) + u.name;
  }
  return std::to_string(ms) + "ms";  // unreachable: every number divides by 1
}

}  // namespace sidemeter::conf
