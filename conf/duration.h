#pragma once
// The inverse of parse_duration_ms, for --print-config and the hash.
#include <cstdint>
#include <string>

namespace sidemeter::conf {

// In the largest unit that divides it exactly ("90s", not "1.5m"), so parsing the
// result gives the same number.
std::string format_duration_ms(uint64_t ms);

}  // namespace sidemeter::conf
