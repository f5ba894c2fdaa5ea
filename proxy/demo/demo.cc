#include "proxy/demo/demo.h"

#include "proxy/demo/demo_runner.h"

namespace sidemeter::demo {

std::unique_ptr<Demo> start_demo() {
  auto demo = std::make_unique<DemoRunner>();
  if (!demo->start()) return nullptr;
  return demo;
}

}  // namespace sidemeter::demo
