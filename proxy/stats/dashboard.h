#pragma once
// The dashboard page, compiled into the binary from dashboard.html (see meson.build).
#include <string_view>

namespace sidemeter::stats {

std::string_view dashboard_html();

}  // namespace sidemeter::stats
