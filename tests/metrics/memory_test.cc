// Memory that follows use (issue 13): bytes per active (route, method) with three status
// codes on two workers, counted by replacing operator new/delete in this test binary (every
// heap byte the shards and the registry hold, malloc's own rounding included).
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "tests/metrics/local_sample.h"
#include "metrics/clock.h"
#include "metrics/registry.h"

namespace {
std::atomic<int64_t> g_live_bytes{0};
}  // namespace

void* operator new(size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (p == nullptr) throw std::bad_alloc();
  g_live_bytes.fetch_add(int64_t(malloc_usable_size(p)), std::memory_order_relaxed);
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  g_live_bytes.fetch_sub(int64_t(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, size_t) noexcept { operator delete(p); }
void operator delete[](void* p, size_t) noexcept { operator delete(p); }

namespace sidemeter::metrics {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

using test_samples::sample;

// Every (route, method, code) sees latencies over two octaves (1 .. 4 ms): 128 distinct
// buckets per series, on both workers.
void load(Shard& a, Shard& b, int routes) {
  constexpr Method kMethodsUsed[] = {Method::kGet, Method::kPost, Method::kPut, Method::kDelete};
  constexpr uint16_t kCodes[] = {200, 404, 500};
  for (int r = 0; r < routes; ++r) {
    const std::string path = "/svc" + std::to_string(r) + "/items/12345";
    for (Method m : kMethodsUsed) {
      for (uint16_t code : kCodes) {
        for (int j = 0; j < 128; ++j) {
          const auto ns = uint64_t(1e6 * std::exp2((j + 0.5) / 64));
          (j % 2 ? a : b).record(sample(code, ns, path, m));
          (j % 2 ? b : a).record(sample(code, ns, path, m));
        }
      }
    }
  }
}

TEST(MemoryFollowsUse, BytesPerActiveRouteMethod) {
  constexpr int kRoutes = 25;
  constexpr int kRouteMethods = kRoutes * 4;
  FakeClock clock(kSec);
  RegistryOptions o;
  o.process_stats = false;
  Registry reg(o, clock);
  Shard& a = reg.add_shard();
  Shard& b = reg.add_shard();
  // Idle footprint: one route warmed up, a tick and a snapshot (scratch buffers sized).
  load(a, b, 1);
  clock.advance_ns(kSec);
  reg.tick();
  { const Snapshot warm = reg.snapshot(); }
  const int64_t idle = g_live_bytes.load();

  load(a, b, kRoutes + 1);  // route 0 again (no new memory) and kRoutes new ones
  const int64_t shards = g_live_bytes.load() - idle;
  clock.advance_ns(kSec);
  reg.tick();  // the registry's aggregates and windows for every new key, one slot of deltas
  const int64_t grown = g_live_bytes.load() - idle;
  const double per_route_method = double(grown) / kRouteMethods;
  std::printf("[ memory   ] %.0f bytes per active route x method (3 series, 2 workers, "
              "2 octaves), one second of window deltas included\n",
              per_route_method);
  std::printf("[ memory   ] of which the two shards %.0f, the registry %.0f\n",
              double(shards) / kRouteMethods, double(grown - shards) / kRouteMethods);
  EXPECT_LE(per_route_method, 16 * 1024.0);
  // Nothing is sized by the route cap: a registry with a cap 10x larger costs a pointer
  // per (route, method) slot more, no more per active key.
  const Snapshot s = reg.snapshot();
  EXPECT_EQ(s.routes.size(), size_t(kRouteMethods + 4));
  EXPECT_EQ(s.request_duration.size(), size_t(3 * (kRouteMethods + 4)));
}

}  // namespace
}  // namespace sidemeter::metrics
