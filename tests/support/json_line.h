#pragma once
// Just enough JSON to read the proxy's flat one-object-per-line logs: top-level
// "key": value lookups. Not a general parser (no nesting, escapes only skipped).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidemeter::testing {

// Raw text of the value for `key` (strings unquoted, escapes left as is).
std::optional<std::string> json_field(std::string_view line, std::string_view key);
std::optional<int64_t> json_int(std::string_view line, std::string_view key);
// True if the line has "key":"value".
bool json_has(std::string_view line, std::string_view key, std::string_view value);

}  // namespace sidemeter::testing
