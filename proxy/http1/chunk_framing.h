#pragma once
// Chunked transfer coding (RFC 9112 §7.1) for bodies we re-frame: "<hex size>\r\n",
// the data, "\r\n"; "0\r\n\r\n" ends the body (no trailers: we never forward any).
#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>

namespace sidemeter::http {

inline constexpr std::string_view kChunkEnd = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// "<hex>\r\n" for an `n`-byte chunk, written into `buf`; returns the view of it.
inline std::string_view chunk_header(char (&buf)[24], size_t n) {
  auto r = std::to_chars(buf, buf + 20, n, 16);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  return std::string_view(buf, size_t(r.ptr + 2 - buf));
}

// One whole chunk appended to `out`.
inline void append_chunk(std::string& out, std::string_view data) {
  char hex[24];
  out.append(chunk_header(hex, data.size()));
  out.append(data);
  out.append(kChunkEnd);
}

}  // namespace sidemeter::http
