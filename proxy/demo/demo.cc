#include "proxy/demo/demo.h"

namespace sidemeter::demo {
std::unique_ptr<Demo> start_demo() { return nullptr; }
}  // namespace sidemeter::demo
