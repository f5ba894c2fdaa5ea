#pragma once
#include "metrics/exchange_sample.h"

namespace sidemeter::metrics {

// The one narrow interface through which the proxy reports: once per exchange, at its
// end, from the worker thread that owns the exchange. Implementations must be
// wait-free for that single writer.
class Recorder {
 public:
  virtual ~Recorder() = default;
  virtual void record(const ExchangeSample& sample) = 0;
};

}  // namespace sidemeter::metrics
