// ns per Shard::record, the cost every proxied exchange pays. One worker, then N workers
// each with its own shard (they must not slow each other down: no shared cache lines).
#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/clock.h"
#include "metrics/registry.h"

namespace sidemeter::metrics {
namespace {

ExchangeSample make_sample(uint64_t i) {
  static constexpr std::array<std::string_view, 4> kPaths = {
      "/api/users/12345", "/api/orders/987/items", "/health", "/static/app.js"};
  ExchangeSample s;
  const uint64_t t0 = 1'000'000'000ull + i * 1000;
  const uint64_t lat = 200'000 + (i * 7919) % 5'000'000;  // 0.2 .. 5.2 ms
  s.t.request_first_byte = t0;
  s.t.request_headers_done = t0 + 2000;
  s.t.request_body_done = t0 + 2000;
  s.t.upstream_connect_start = t0 + 3000;
  s.t.upstream_connect_done = t0 + 3000;
  s.t.upstream_request_sent = t0 + 4000;
  s.t.upstream_first_byte = t0 + lat - 20'000;
  s.t.upstream_response_done = t0 + lat - 5000;
  s.t.response_last_byte_written = t0 + lat;
  s.request_head_bytes = 120;
  s.response_head_bytes = 180;
  s.response_body_bytes = 100 + i % 5000;
  s.method = i % 5 ? Method::kGet : Method::kPost;
  s.path = kPaths[i % kPaths.size()];
  s.status = i % 50 ? 200 : 503;
  s.upstream_reused = true;
  s.upstream_attempts = 1;
  return s;
}

// Shared across the benchmark's threads; one shard per thread index.
struct Fixture {
  FakeClock clock;
  std::unique_ptr<Registry> registry;
  std::array<Shard*, 64> shards{};
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_ShardRecord(benchmark::State& state) {
  Fixture& f = fixture();
  if (state.thread_index() == 0) {
    RegistryOptions o;
    o.process_stats = false;
    f.registry = std::make_unique<Registry>(o, f.clock);
    for (int i = 0; i < state.threads(); ++i) f.shards[i] = &f.registry->add_shard();
  }
  // Samples prepared up front so the loop measures record() alone.
  std::array<ExchangeSample, 1024> samples;
  for (size_t i = 0; i < samples.size(); ++i) samples[i] = make_sample(i);
  size_t i = 0;
  for (auto _ : state) {
    f.shards[state.thread_index()]->record(samples[i++ & 1023]);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ShardRecord)->Threads(1)->Threads(2)->UseRealTime();

// A scanner: every exchange a path never seen before, answered 404 (route "other",
// templating on every record, the route table's miss path). Each thread its own paths.
void BM_ShardRecordScanner(benchmark::State& state) {
  Fixture& f = fixture();
  if (state.thread_index() == 0) {
    RegistryOptions o;
    o.process_stats = false;
    f.registry = std::make_unique<Registry>(o, f.clock);
    for (int i = 0; i < state.threads(); ++i) f.shards[i] = &f.registry->add_shard();
  }
  std::vector<std::string> paths(1 << 16);
  for (size_t i = 0; i < paths.size(); ++i) {
    paths[i] = "/scan/t" + std::to_string(state.thread_index()) + "/probe-" + std::to_string(i) +
               ".php";
  }
  std::vector<ExchangeSample> samples(paths.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    samples[i] = make_sample(i);
    samples[i].path = paths[i];
    samples[i].status = 404;
  }
  size_t i = 0;
  for (auto _ : state) {
    f.shards[state.thread_index()]->record(samples[i++ & (samples.size() - 1)]);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ShardRecordScanner)->Threads(1)->Threads(2)->UseRealTime();

void BM_RouteTemplate(benchmark::State& state) {
  RouteTable table;
  char buf[kMaxRouteLength];
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.templatize("/api/orders/987/items", buf, sizeof buf));
  }
}
BENCHMARK(BM_RouteTemplate);

void BM_Tick(benchmark::State& state) {
  FakeClock clock;
  RegistryOptions o;
  o.process_stats = false;
  Registry reg(o, clock);
  Shard& sh = reg.add_shard();
  Shard& sh2 = reg.add_shard();
  uint64_t n = 0;
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i, ++n) {
      sh.record(make_sample(n));
      sh2.record(make_sample(n + 1));
    }
    clock.advance_ns(1'000'000'000ull);
    reg.tick();
  }
}
BENCHMARK(BM_Tick)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sidemeter::metrics

BENCHMARK_MAIN();
