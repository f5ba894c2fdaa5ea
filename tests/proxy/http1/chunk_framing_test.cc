#include "proxy/http1/chunk_framing.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace sidemeter::http {
namespace {

TEST(ChunkFraming, HeaderIsLowercaseHexAndCrlf) {
  char buf[24];
  EXPECT_EQ(chunk_header(buf, 0), "0\r\n");
  EXPECT_EQ(chunk_header(buf, 10), "a\r\n");
  EXPECT_EQ(chunk_header(buf, 0x10000), "10000\r\n");
  EXPECT_EQ(chunk_header(buf, SIZE_MAX), "ffffffffffffffff\r\n");
}

TEST(ChunkFraming, AppendChunkFramesOnePiece) {
  std::string out = "x";
  append_chunk(out, "hello");
  EXPECT_EQ(out, "x5\r\nhello\r\n");
  out.append(kLastChunk);
  EXPECT_EQ(out, "x5\r\nhello\r\n0\r\n\r\n");
}

}  // namespace
}  // namespace sidemeter::http
