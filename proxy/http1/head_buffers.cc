#include "proxy/http1/head_buffers.h"

#include <algorithm>

namespace sidemeter::http {

void HeadBufferPool::take_fresh(HeadBytes& bytes, std::vector<HeaderField>& fields,
                                size_t max_bytes, size_t max_fields) {
  bytes.reserve(std::min(max_bytes, kBytes));
  fields.reserve(std::min(max_fields, kFields));
}

void HeadBufferPool::drop(HeadBytes& bytes, std::vector<HeaderField>& fields) {
  bytes.release();
  std::vector<HeaderField>().swap(fields);
}

}  // namespace sidemeter::http
