#pragma once
// The exchange the registry tests record: answered locally (no upstream phases), its
// latency from the first request byte to the last response byte written.
#include <cstdint>
#include <string_view>

#include "metrics/exchange_sample.h"

namespace sidemeter::metrics::test_samples {

inline ExchangeSample sample(uint16_t status, uint64_t latency_ns, std::string_view path = "/a",
                             Method m = Method::kGet, uint64_t request_body = 0) {
  ExchangeSample s;
  s.t.request_first_byte = 10'000'000'000ull;  // 10 s
  s.t.request_headers_done = s.t.request_body_done = s.t.request_first_byte;
  s.t.response_last_byte_written = s.t.request_first_byte + latency_ns;
  s.method = m;
  s.path = path;
  s.status = status;
  s.local_response = true;
  s.request_body_bytes = request_body;
  return s;
}

}  // namespace sidemeter::metrics::test_samples
