#pragma once
// The one place where the parser's method meets the metrics one: http1/ knows nothing of
// metrics/, and metrics/ nothing of the parser.
#include "metrics/exchange_sample.h"
#include "proxy/http1/message.h"

namespace sidemeter {

// The enumerators are kept in the same order so the mapping is a cast; these asserts
// break the build if either enum is reordered or extended without the other.
#define SIDEMETER_SAME_METHOD(name) \
  static_assert(static_cast<uint8_t>(http::Method::name) == \
                static_cast<uint8_t>(metrics::Method::name))
SIDEMETER_SAME_METHOD(kGet);
SIDEMETER_SAME_METHOD(kHead);
SIDEMETER_SAME_METHOD(kPost);
SIDEMETER_SAME_METHOD(kPut);
SIDEMETER_SAME_METHOD(kDelete);
SIDEMETER_SAME_METHOD(kConnect);
SIDEMETER_SAME_METHOD(kOptions);
SIDEMETER_SAME_METHOD(kTrace);
SIDEMETER_SAME_METHOD(kPatch);
SIDEMETER_SAME_METHOD(kOther);
#undef SIDEMETER_SAME_METHOD
static_assert(static_cast<uint8_t>(http::Method::kOther) + 1 ==
              static_cast<uint8_t>(metrics::Method::kCount));

constexpr metrics::Method to_metrics_method(http::Method m) {
  return static_cast<metrics::Method>(m);
}

}  // namespace sidemeter
