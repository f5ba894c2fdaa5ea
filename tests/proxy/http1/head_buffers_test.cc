// The request heads' buffer pool: what a parser takes and gives back, how much the pool
// keeps, and a parser on a pool reading what a parser with its own buffers reads.
#include "proxy/http1/head_buffers.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/http1/parser.h"
#include "tests/proxy/http1/recording_sink.h"

namespace sidemeter::http {
namespace {

using testing::RecordingSink;

TEST(HeadBytesTest, AppendGrowsAndMovesLeaveTheSourceEmpty) {
  HeadBytes b;
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
  b.append("abc", 3);
  const std::string big(5000, 'x');
  b.append(big.data(), big.size());
  ASSERT_EQ(b.size(), 5003u);
  EXPECT_GE(b.capacity(), 5003u);
  EXPECT_EQ(std::string(b.data(), 4), "abcx");
  EXPECT_EQ(b.data()[5002], 'x');
  HeadBytes c(std::move(b));
  EXPECT_EQ(b.size(), 0u);  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(c.size(), 5003u);
  c.clear();
  EXPECT_TRUE(c.empty());
  EXPECT_GE(c.capacity(), 5003u);  // clear keeps the memory
  c.release();
  EXPECT_EQ(c.capacity(), 0u);
}

TEST(HeadBufferPoolTest, GivenBackMemoryIsTakenAgainMostRecentFirst) {
  HeadBufferPool pool(2);
  HeadBytes a, b;
  std::vector<HeaderField> fa, fb;
  pool.take(a, fa, 64 * 1024, 100);
  EXPECT_EQ(a.capacity(), HeadBufferPool::kBytes);
  EXPECT_EQ(fa.capacity(), HeadBufferPool::kFields);
  pool.take(b, fb, 512, 10);  // limits below the defaults: reserved at the limits
  EXPECT_EQ(b.capacity(), 512u);
  EXPECT_EQ(fb.capacity(), 10u);
  a.append("GET / HTTP/1.1\r\n", 16);
  fa.push_back({});
  const char* const a_memory = a.data();
  pool.give(b, fb);
  pool.give(a, fa);
  EXPECT_EQ(pool.pooled(), 2u);
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_EQ(fa.capacity(), 0u);
  HeadBytes c;
  std::vector<HeaderField> fc;
  pool.take(c, fc, 64 * 1024, 100);
  EXPECT_EQ(c.data(), a_memory);  // the last one given back
  EXPECT_TRUE(c.empty());
  EXPECT_TRUE(fc.empty());
  EXPECT_EQ(pool.pooled(), 1u);
}

TEST(HeadBufferPoolTest, KeepsAtMostItsLimitAndNoGrownHeads) {
  HeadBufferPool pool(1);
  HeadBytes a, b, grown;
  std::vector<HeaderField> fa, fb, fg;
  pool.take(a, fa, 64 * 1024, 100);
  pool.take(b, fb, 64 * 1024, 100);
  pool.take(grown, fg, 64 * 1024, 100);
  grown.reserve(HeadBufferPool::kMaxPooledBytes + 1);
  pool.give(grown, fg);  // too big to keep: freed
  EXPECT_EQ(pool.pooled(), 0u);
  EXPECT_EQ(grown.capacity(), 0u);
  pool.give(a, fa);
  pool.give(b, fb);  // the pool is full: freed
  EXPECT_EQ(pool.pooled(), 1u);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(fb.capacity(), 0u);
}

// Two keep-alive connections of one worker: each parser holds buffers from a request's
// first byte to its reset, none in between, and reads what a parser with its own reads.
TEST(HeadBufferPoolTest, ParsersShareThePoolBetweenMessages) {
  const std::string small = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string large = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nX-Big: " +
                            std::string(3000, 'v') + "\r\n\r\nok";
  HeadBufferPool pool;
  RecordingSink s1, s2, own_sink;
  Parser p1(MessageKind::kRequest, {}, s1, &pool);
  Parser p2(MessageKind::kRequest, {}, s2, &pool);
  Parser own(MessageKind::kRequest, {}, own_sink);
  EXPECT_EQ(p1.head_bytes_held(), 0u);  // idle from the start
  EXPECT_GT(own.head_bytes_held(), 0u);
  for (int round = 0; round < 3; ++round) {
    for (const std::string* m : {&small, &large}) {
      // p1's message arrives in two pieces with p2's whole message in between.
      const size_t half = m->size() / 2;
      ASSERT_EQ(p1.feed(std::string_view(*m).substr(0, half)).status, FeedStatus::kOk);
      EXPECT_GT(p1.head_bytes_held(), 0u);
      ASSERT_EQ(p2.feed(*m).status, FeedStatus::kPaused);
      ASSERT_EQ(p1.feed(std::string_view(*m).substr(half)).status, FeedStatus::kPaused);
      ASSERT_EQ(own.feed(*m).status, FeedStatus::kPaused);
      p1.reset();
      p2.reset();
      own.reset();
      EXPECT_EQ(p1.head_bytes_held(), 0u);
      EXPECT_EQ(p2.head_bytes_held(), 0u);
      EXPECT_LE(pool.pooled(), 2u);
    }
  }
  ASSERT_EQ(own_sink.messages.size(), 6u);
  EXPECT_EQ(s1.messages, own_sink.messages);
  EXPECT_EQ(s2.messages, own_sink.messages);
  EXPECT_EQ(s1.messages[1].head.fields[2].second.size(), 3000u);
  EXPECT_EQ(s1.messages[1].body, "ok");
}

}  // namespace
}  // namespace sidemeter::http
