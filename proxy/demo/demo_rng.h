#pragma once
// Small seeded random source for the demo's latency, size and error draws. splitmix64:
// tiny state, good enough statistics, and a fixed seed makes route tests reproducible.
#include <cmath>
#include <cstdint>
#include <numbers>

namespace sidemeter::demo {

class DemoRng {
 public:
  explicit DemoRng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1).
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [lo, hi].
  uint32_t between(uint32_t lo, uint32_t hi) {
    return lo + uint32_t(next() % (uint64_t(hi) - lo + 1));
  }

  // Log-normal with the given median; sigma is the spread of the underlying normal.
  // Latencies of real services have this long right tail.
  double lognormal(double median, double sigma) {
    double u1 = uniform();
    double u2 = uniform();
    if (u1 < 1e-12) u1 = 1e-12;
    double normal = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    return median * std::exp(sigma * normal);
  }

  // Exponential with the given mean: gaps between requests of a Poisson-ish client.
  double exponential(double mean) {
    double u = uniform();
    if (u < 1e-12) u = 1e-12;
    return -mean * std::log(u);
  }

 private:
  uint64_t state_;
};

}  // namespace sidemeter::demo
