#pragma once
// io.prometheus.client's generated classes (metrics.pb.h, made by protoc from Debian's
// client_model metrics.proto at build time, proxy/stats/meson.build). Included through
// here as a system header: the generated code is not ours, and -Werror judges only ours
// (meson also passes its directory with -I, which would otherwise make it a user header).
#pragma GCC system_header
#include "metrics.pb.h"  // IWYU pragma: export
