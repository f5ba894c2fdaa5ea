// µs per alert evaluation, the control thread's cost each tick: the default rules, some
// route-scoped rules (each merges that route's window) and SLOs, against a registry that
// has seen 100 routes. Run by hand (`build/tests/metrics/alert_eval_bench`).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "metrics/alerts/engine.h"
#include "metrics/clock.h"
#include "metrics/registry.h"

namespace sidemeter::metrics {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

struct World {
  FakeClock clock;
  std::unique_ptr<Registry> registry;
  Shard* shard = nullptr;
  std::string path;

  World() {
    RegistryOptions o;
    o.process_stats = false;
    o.max_routes = 200;
    registry = std::make_unique<Registry>(o, clock);
    shard = &registry->add_shard();
    for (int second = 0; second < 60; ++second) {
      for (int i = 0; i < 1000; ++i) {
        ExchangeSample s;
        const uint64_t t0 = clock.now_ns();
        s.t.request_first_byte = t0;
        s.t.request_headers_done = t0 + 1000;
        s.t.request_body_done = t0 + 1000;
        s.t.response_last_byte_written = t0 + 1'000'000 + uint64_t(i) * 5000;
        s.method = i % 4 ? Method::kGet : Method::kPost;
        path = "/svc" + std::to_string(i % 100) + "/items";
        s.path = path;
        s.status = i % 97 ? 200 : 503;
        shard->record(s);
      }
      clock.advance_ns(kSec);
      registry->tick();
    }
  }
};

std::vector<alerts::RuleSpec> rules(int scoped) {
  std::vector<alerts::RuleSpec> out = alerts::effective_rules(true, {});
  for (int i = 0; i < scoped; ++i) {
    alerts::RuleSpec r;
    r.name = "Route" + std::to_string(i);
    r.figure.figure = alerts::Figure::kLatency;
    r.figure.stat = alerts::Stat::kP99;
    r.critical = alerts::Threshold{50, std::nullopt};
    r.route = "/svc" + std::to_string(i) + "/items";
    out.push_back(r);
  }
  return out;
}

std::vector<alerts::SloSpec> slos(int n) {
  std::vector<alerts::SloSpec> out;
  for (int i = 0; i < n; ++i) {
    alerts::SloSpec s;
    s.name = "slo" + std::to_string(i);
    s.kind = i % 2 ? alerts::SloKind::kLatency : alerts::SloKind::kAvailability;
    s.latency_threshold_ms = 3;
    out.push_back(s);
  }
  return out;
}

void BM_Evaluate(benchmark::State& state) {
  static World world;
  const Snapshot snap = world.registry->snapshot();
  alerts::Engine engine(rules(int(state.range(0))), slos(int(state.range(1))));
  alerts::Inputs in;
  in.snapshot = &snap;
  in.scoped = [&](std::string_view route, std::optional<Method> m, Window w) {
    return world.registry->scoped_window(route, m, w);
  };
  in.slo_counts = [&](const alerts::SloSpec& s) { return world.registry->slo_events(s); };
  uint64_t now = 100 * kSec;
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.evaluate(in, now, now / 1'000'000));
    now += kSec;
  }
}
// (route-scoped rules, SLOs): the defaults alone; typical; heavy.
BENCHMARK(BM_Evaluate)->Args({0, 0})->Args({5, 2})->Args({50, 10})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sidemeter::metrics

BENCHMARK_MAIN();
