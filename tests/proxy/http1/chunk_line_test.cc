// The chunk-size line scanner (RFC 9112 §7.1.1) alone: what the grammar allows, what it
// refuses, the size and extension limits, and lines split at every byte.
#include <gtest/gtest.h>
#include <llhttp.h>

#include <string>

#include "proxy/http1/chunk_line.h"

namespace sidemeter::http {
namespace {

using Status = ChunkLineScanner::Status;

struct Outcome {
  Status status;
  size_t consumed;
  uint64_t size;
};

Outcome scan(const std::string& line) {
  ChunkLineScanner s;
  const auto r = s.feed(line.data(), line.size());
  return {r.status, r.consumed, s.size()};
}

// The same line fed one byte at a time must end the same way.
Outcome scan_bytewise(const std::string& line) {
  ChunkLineScanner s;
  for (size_t i = 0; i < line.size(); ++i) {
    const auto r = s.feed(line.data() + i, 1);
    if (r.status != Status::kMore) return {r.status, i + r.consumed, s.size()};
  }
  return {Status::kMore, line.size(), s.size()};
}

TEST(ChunkLineTest, AcceptsWhatTheGrammarAllows) {
  struct Row {
    const char* line;
    uint64_t size;
  } rows[] = {
      {"5\r\n", 5},
      {"0\r\n", 0},
      {"000A\r\n", 10},
      {"fF\r\n", 255},
      {"5;a\r\n", 5},
      {"5;a=1\r\n", 5},
      {"5;a=1;b=2\r\n", 5},            // several extensions
      {"5;a;b;c=d\r\n", 5},
      {"5 ;a=1\r\n", 5},               // BWS before ';'
      {"5; a=1\r\n", 5},               // BWS after ';'
      {"5;a =1\r\n", 5},               // BWS before '='
      {"5;a= 1\r\n", 5},               // BWS after '='
      {"5 \t; \ta \t= \t1 \t;b\r\n", 5},
      {"5;a=\"\"\r\n", 5},             // an empty quoted string is a value
      {"5;a=\"x y;z=w\"\r\n", 5},
      {"5;a=\"q\\\"uote\\\\\"\r\n", 5},  // quoted-pairs
      {"5;a=\"\xc3\xa9\"\r\n", 5},     // obs-text
      {"5;a=\"x\" ;b=y\r\n", 5},
      {"5;a=b ;c\r\n", 5},
      {"7fffffffffffffff\r\n", 0x7fffffffffffffffULL},
      {"0000000000000000000000000001\r\n", 1},  // leading zeros cost bytes, not range
  };
  for (const Row& row : rows) {
    const std::string line = row.line;
    for (const Outcome& o : {scan(line), scan_bytewise(line)}) {
      EXPECT_EQ(o.status, Status::kDone) << line;
      EXPECT_EQ(o.consumed, line.size()) << line;
      EXPECT_EQ(o.size, row.size) << line;
    }
  }
}

TEST(ChunkLineTest, StopsAfterTheLineEnd) {
  const auto o = scan("5;a=b\r\nhello\r\n");
  EXPECT_EQ(o.status, Status::kDone);
  EXPECT_EQ(o.consumed, 7u);
  ChunkLineScanner s;
  EXPECT_EQ(s.feed("1", 1).status, Status::kMore);
  EXPECT_EQ(s.feed("0", 1).status, Status::kMore);
  EXPECT_EQ(s.feed("\r", 1).status, Status::kMore);
  EXPECT_EQ(s.feed("\n", 1).status, Status::kDone);
  EXPECT_EQ(s.size(), 16u);
  s.reset();
  EXPECT_EQ(s.feed("3\r\n", 3).status, Status::kDone);
  EXPECT_EQ(s.size(), 3u);
}

TEST(ChunkLineTest, RefusesWhatTheGrammarDoesNot) {
  for (const char* line : {
           "\r\n",              // no size
           "g\r\n",             // not hex
           "-5\r\n",
           "+5\r\n",
           "0x5\r\n",
           " 5\r\n",            // whitespace before the size
           "5 \r\n",            // whitespace not followed by ';'
           "5 5\r\n",
           "5\n",               // bare LF
           "5\rx",              // bare CR
           "5;\r\n",            // empty name
           "5;;a\r\n",
           "5;=1\r\n",
           "5;a=\r\n",          // empty value
           "5;a= \r\n",
           "5;a b\r\n",         // two names
           "5;a=b c\r\n",       // two values
           "5;a=1 \r\n",        // trailing whitespace is BWS only before ';'
           "5;a \r\n",
           "5;a=\"x\r\n",       // CR in a quoted string
           "5;a=\"x\ny\"\r\n",  // LF in a quoted string
           "5;a=\"x\\\r\"\r\n", // an escaped CR
           "5;a=\"x\"y\r\n",    // bytes after the closing quote
           "5;a=\"x\x01\"\r\n", // a CTL in a quoted string
           "5;a\x01\r\n",       // a CTL in a name
           "5;a=b\x7f\r\n",
           "5;a=(b)\r\n",       // not a token
           "5;a=b\n",
           "5;a\r\r\n",
       }) {
    const std::string l = line;
    EXPECT_EQ(scan(l).status, Status::kInvalid) << l;
    EXPECT_EQ(scan_bytewise(l).status, Status::kInvalid) << l;
  }
}

TEST(ChunkLineTest, SizeAboveInt64IsRefused) {
  EXPECT_EQ(scan("8000000000000000\r\n").status, Status::kInvalid);
  EXPECT_EQ(scan("ffffffffffffffff\r\n").status, Status::kInvalid);
  EXPECT_EQ(scan("1ffffffffffffffff\r\n").status, Status::kInvalid);
  // Refused at the digit that overflows, not at the line end.
  EXPECT_EQ(scan("80000000000000000000000000\r\n").consumed, 16u);
}

TEST(ChunkLineTest, ExtensionBytesAreLimitedPerLine) {
  const uint32_t max = ChunkLineScanner::kMaxExtensionBytes;
  // ";a=" + value: exactly the limit passes, one more byte does not.
  const std::string at = "5;a=" + std::string(max - 3, 'x') + "\r\n";
  EXPECT_EQ(scan(at).status, Status::kDone);
  const std::string over = "5;a=" + std::string(max - 2, 'x') + "\r\n";
  EXPECT_EQ(scan(over).status, Status::kExtensionsTooLong);
  EXPECT_EQ(scan_bytewise(over).status, Status::kExtensionsTooLong);
  EXPECT_EQ(scan(over).consumed, 1 + max + 1);  // stops at the first byte over
  // The limit is per line: reset starts the count again.
  ChunkLineScanner s;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s.feed(at.data(), at.size()).status, Status::kDone);
    s.reset();
  }
  // Whitespace counts too: it is part of chunk-ext.
  const std::string spaces = "5" + std::string(max, ' ') + ";a\r\n";
  EXPECT_EQ(scan(spaces).status, Status::kExtensionsTooLong);
}

// Why the scanner exists: strict llhttp 8.1, run alone, refuses chunk lines the grammar
// allows. If Debian's llhttp stops refusing them, this fails, and the comment at the top
// of parser.cc (llhttp is fed the size alone) deserves another look.
int run_llhttp_alone(const std::string& body) {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  llhttp_t p;
  llhttp_init(&p, HTTP_REQUEST, &settings);
  const std::string raw =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
  return llhttp_execute(&p, raw.data(), raw.size());
}

TEST(ChunkLineTest, StrictLlhttp81AloneRefusesWhatTheGrammarAllows) {
  EXPECT_EQ(run_llhttp_alone("5;a=1\r\nhello\r\n0\r\n\r\n"), HPE_OK);
  for (const char* body : {"5;a=1;b=2\r\nhello\r\n0\r\n\r\n", "5 ;a=1\r\nhello\r\n0\r\n\r\n",
                           "5; a=1\r\nhello\r\n0\r\n\r\n", "5;a=\"x\\\"y\"\r\nhello\r\n0\r\n\r\n"}) {
    EXPECT_NE(run_llhttp_alone(body), HPE_OK) << body;
    ChunkLineScanner s;
    const std::string line = std::string(body).substr(0, std::string(body).find('\n') + 1);
    EXPECT_EQ(s.feed(line.data(), line.size()).status, ChunkLineScanner::Status::kDone) << body;
  }
}

}  // namespace
}  // namespace sidemeter::http
