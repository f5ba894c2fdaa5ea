#include "proxy/stats/text_output.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sidemeter::stats {
namespace {

std::string exact(double v) {
  std::string s;
  append_double_exact(s, v);
  return s;
}
std::string fixed(double v) {
  std::string s;
  append_double_fixed(s, v);
  return s;
}
std::string json_num(double v) {
  std::string s;
  append_json_double(s, v);
  return s;
}

TEST(TextOutput, ExactDoublesRoundTripAndSpellSpecialsLikePrometheus) {
  EXPECT_EQ(exact(3), "3");
  EXPECT_EQ(exact(0), "0");
  EXPECT_EQ(exact(-2), "-2");
  EXPECT_EQ(exact(0.25), "0.25");
  EXPECT_EQ(exact(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(exact(INFINITY), "+Inf");
  EXPECT_EQ(exact(-INFINITY), "-Inf");
  const double tricky = 0.1 + 0.2;
  EXPECT_EQ(std::stod(exact(tricky)), tricky);
  EXPECT_EQ(exact(1e20), "1e+20");  // past 2^53 integers lose the exact-integer form
}

TEST(TextOutput, FixedNotationForBucketBoundaries) {
  EXPECT_EQ(fixed(0.0001), "0.0001");
  EXPECT_EQ(fixed(0.000005), "0.000005");
  EXPECT_EQ(fixed(60), "60");
  EXPECT_EQ(fixed(1073741824), "1073741824");
  EXPECT_EQ(fixed(0.0035), "0.0035");
}

TEST(TextOutput, JsonNumbersAreNeverNanOrInf) {
  EXPECT_EQ(json_num(std::numeric_limits<double>::quiet_NaN()), "0");
  EXPECT_EQ(json_num(INFINITY), "0");
  EXPECT_EQ(json_num(12), "12");
  EXPECT_EQ(json_num(0.1234567), "0.123457");
}

TEST(TextOutput, Utf8Validation) {
  EXPECT_EQ(utf8_sequence_length("a"), 1u);
  EXPECT_EQ(utf8_sequence_length("\xC3\xA9"), 2u);          // é
  EXPECT_EQ(utf8_sequence_length("\xE2\x82\xAC"), 3u);      // €
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x98\x80"), 4u);  // emoji
  EXPECT_EQ(utf8_sequence_length("\xC0\x80"), 0u);          // overlong NUL
  EXPECT_EQ(utf8_sequence_length("\xED\xA0\x80"), 0u);      // surrogate
  EXPECT_EQ(utf8_sequence_length("\xF4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(utf8_sequence_length("\xC3"), 0u);              // truncated
  EXPECT_EQ(utf8_sequence_length("\x80"), 0u);              // lone continuation
}

TEST(TextOutput, JsonStringsEscapeAndReplaceInvalidUtf8) {
  std::string s;
  append_json_string(s, std::string_view("a\"b\\c\nd\x01\xC3\xA9\xFF", 11));
  EXPECT_EQ(s, "\"a\\\"b\\\\c\\nd\\u0001\xC3\xA9\xEF\xBF\xBD\"");
}

TEST(TextOutput, LabelValuesAndHelpEscapes) {
  std::string label;
  append_label_value(label, "a\"b\\c\nd");
  EXPECT_EQ(label, "a\\\"b\\\\c\\nd");
  std::string help;
  append_help_text(help, "say \"hi\"\\\n");
  EXPECT_EQ(help, "say \"hi\"\\\\\\n");
}

}  // namespace
}  // namespace sidemeter::stats
