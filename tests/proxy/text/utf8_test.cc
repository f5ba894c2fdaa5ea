#include "proxy/text/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace sidemeter::text {
namespace {

TEST(Utf8, SequenceLengths) {
  EXPECT_EQ(utf8_sequence_length("a"), 1u);
  EXPECT_EQ(utf8_sequence_length("\xC3\xA9"), 2u);          // é
  EXPECT_EQ(utf8_sequence_length("\xE2\x82\xAC"), 3u);      // €
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x98\x80"), 4u);  // emoji
  EXPECT_EQ(utf8_sequence_length("\xF4\x8F\xBF\xBF"), 4u);  // U+10FFFF, the last one
  EXPECT_EQ(utf8_sequence_length(""), 0u);
}

TEST(Utf8, InvalidSequencesAreRejected) {
  EXPECT_EQ(utf8_sequence_length("\xC0\x80"), 0u);          // overlong NUL
  EXPECT_EQ(utf8_sequence_length("\xE0\x80\xAF"), 0u);      // overlong '/'
  EXPECT_EQ(utf8_sequence_length("\xED\xA0\x80"), 0u);      // surrogate
  EXPECT_EQ(utf8_sequence_length("\xF4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(utf8_sequence_length("\xC3"), 0u);              // truncated
  EXPECT_EQ(utf8_sequence_length("\xE2\x82"), 0u);          // truncated
  EXPECT_EQ(utf8_sequence_length("\x80"), 0u);              // lone continuation
  EXPECT_EQ(utf8_sequence_length("\xC3" "A"), 0u);          // continuation missing
  EXPECT_EQ(utf8_sequence_length("\xF8\x88\x80\x80\x80"), 0u);  // 5-byte form
  EXPECT_EQ(utf8_sequence_length("\xFF"), 0u);
}

std::string sanitized(std::string_view s) {
  std::string out;
  append_sanitized_utf8(out, s, [](std::string& o, char c) {
    if (c == '!') {
      o += "<!>";
    } else {
      o += c;
    }
  });
  return out;
}

TEST(Utf8, SanitizingReplacesEachBadByteAndEscapesOnlyAscii) {
  EXPECT_EQ(sanitized("a!b"), "a<!>b");
  EXPECT_EQ(sanitized("\xC3\xA9!"), "\xC3\xA9<!>");
  // One replacement per invalid byte: the truncated "\xE2\x82" is two bytes, two U+FFFD,
  // and the ASCII after it is not swallowed as a would-be continuation.
  EXPECT_EQ(sanitized("\xE2\x82" "!"), "\xEF\xBF\xBD\xEF\xBF\xBD<!>");
  EXPECT_EQ(sanitized("x\xFF"), "x\xEF\xBF\xBD");
  EXPECT_EQ(sanitized(""), "");
}

}  // namespace
}  // namespace sidemeter::text
