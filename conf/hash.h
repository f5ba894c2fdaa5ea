#pragma once
#include <string>
#include <string_view>

namespace sidemeter::conf {

// The first 16 hex digits of SHA-256: enough to tell configs apart in logs and metrics.
std::string short_sha256(std::string_view data);

}  // namespace sidemeter::conf
