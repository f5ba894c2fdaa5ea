#include "proxy/text/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace sidemeter::text {
namespace {

std::string json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string json_num(double v, int digits = 6) {
  std::string s;
  append_json_double(s, v, digits);
  return s;
}

TEST(JsonWriter, QuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(json(""), "\"\"");
  EXPECT_EQ(json("plain"), "\"plain\"");
  EXPECT_EQ(json("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(json("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(json("\\\""), "\"\\\\\\\"\"");
  EXPECT_EQ(json("/"), "\"/\"");  // a solidus needs no escape
}

TEST(JsonWriter, EveryControlCharacterIsEscaped) {
  EXPECT_EQ(json("\n\r\t"), "\"\\n\\r\\t\"");
  EXPECT_EQ(json(std::string_view("\0", 1)), "\"\\u0000\"");
  EXPECT_EQ(json("\x01"), "\"\\u0001\"");
  EXPECT_EQ(json("\x1b[31m"), "\"\\u001b[31m\"");  // a terminal escape from a client
  EXPECT_EQ(json("\x1f"), "\"\\u001f\"");
  EXPECT_EQ(json("\x7f"), "\"\\u007f\"");
  // No raw byte below 0x20 survives, whichever it is.
  for (int c = 0; c < 0x20; ++c) {
    const std::string out = json(std::string(1, char(c)));
    for (char o : out) EXPECT_GE(int(static_cast<unsigned char>(o)), 0x20) << "byte " << c;
  }
}

TEST(JsonWriter, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(json("caf\xC3\xA9"), "\"caf\xC3\xA9\"");  // valid UTF-8 is kept as it is
  EXPECT_EQ(json("\xF0\x9F\x98\x80"), "\"\xF0\x9F\x98\x80\"");
  EXPECT_EQ(json("a\xFF" "b"), "\"a\xEF\xBF\xBD" "b\"");
  EXPECT_EQ(json("\xC0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong NUL: two bytes
  EXPECT_EQ(json("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
  EXPECT_EQ(json("end\xC3"), "\"end\xEF\xBF\xBD\"");  // truncated at the end
  // A quote right after a truncated sequence is still escaped, not eaten.
  EXPECT_EQ(json("\xC3\""), "\"\xEF\xBF\xBD\\\"\"");
}

TEST(JsonWriter, MixedEscapes) {
  EXPECT_EQ(json(std::string_view("a\"b\\c\nd\x01\xC3\xA9\xFF", 11)),
            "\"a\\\"b\\\\c\\nd\\u0001\xC3\xA9\xEF\xBF\xBD\"");
}

TEST(JsonWriter, Integers) {
  std::string s;
  append_uint(s, 0);
  s += ',';
  append_uint(s, std::numeric_limits<uint64_t>::max());
  s += ',';
  append_int(s, -42);
  s += ',';
  append_int(s, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(s, "0,18446744073709551615,-42,-9223372036854775808");
}

TEST(JsonWriter, NumbersAreNeverNanOrInf) {
  EXPECT_EQ(json_num(std::numeric_limits<double>::quiet_NaN()), "0");
  EXPECT_EQ(json_num(INFINITY), "0");
  EXPECT_EQ(json_num(-INFINITY), "0");
  EXPECT_EQ(json_num(12), "12");
  EXPECT_EQ(json_num(-3), "-3");
  EXPECT_EQ(json_num(1234567), "1234567");  // integral: all digits, no exponent
  EXPECT_EQ(json_num(0.1234567), "0.123457");
  EXPECT_EQ(json_num(0.1234567, 9), "0.1234567");
  EXPECT_EQ(json_num(1e20), "1e+20");  // past 2^53 the integer form would not be exact
}

}  // namespace
}  // namespace sidemeter::text
