#include "proxy/http1/parse_error.h"

#include <array>
#include <cstddef>

namespace sidemeter::http {

namespace {
constexpr std::array<ParseErrorInfo, static_cast<std::size_t>(ParseError::kCount) + 1> kInfo = {{
    {0, "none"},
    {400, "malformed"},
    {400, "invalid_method"},
    {400, "invalid_target"},
    {400, "invalid_version"},
    {414, "request_line_too_long"},
    {431, "headers_too_large"},
    {431, "too_many_headers"},
    {400, "invalid_header_name"},
    {400, "invalid_header_value"},
    {400, "whitespace_before_colon"},
    {400, "obs_fold"},
    {400, "missing_host"},
    {400, "multiple_host"},
    {400, "invalid_host"},
    {400, "cl_and_te"},
    {400, "bad_content_length"},
    {501, "unknown_te"},
    {400, "te_not_chunked_last"},
    {400, "te_in_http10"},
    {400, "bad_chunk"},
    {413, "body_too_large"},
    {502, "invalid_status"},
    {400, "unexpected_data"},
    {405, "connect_not_allowed"},
    {400, "chunk_ext_too_long"},
    {400, "invalid_max_forwards"},
    {500, "unknown"},  // kCount: never produced
}};
// An entry forgotten in the table would leave kCount's slot zero-initialised.
static_assert(kInfo.back().reason != nullptr && kInfo.back().status == 500);
}  // namespace

ParseErrorInfo parse_error_info(ParseError e) {
  const auto i = static_cast<std::size_t>(e);
  return i < kInfo.size() ? kInfo[i] : kInfo.back();
}

}  // namespace sidemeter::http
