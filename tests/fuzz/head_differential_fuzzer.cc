// libFuzzer target: a message head, read by the production parser (our RFC 9112 scanner
// alone) and by strict llhttp 8.1; when ours accepts a head, llhttp must accept it too
// and read the same tokens and framing facts (head_oracle.h, with its documented
// exceptions). The safety net the parser used to run on every head in production.
//
// Input: the two option bytes of the HTTP targets (fuzz_support.h; unused here, so the
// request and response seed corpora serve as they are), then the bytes. A message whose
// start line begins with "HTTP/" is read as a response, any other as a request.
#include <cstdint>

#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/head_oracle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sidemeter::fuzz;
  FuzzInput in;
  if (!take_options(data, size, in)) return -1;
  const std::string diff = compare_head(in.bytes);
  FUZZ_CHECK(diff.empty(), diff);
  return 0;
}
