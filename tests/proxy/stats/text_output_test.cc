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

TEST(TextOutput, LabelValuesAndHelpEscapes) {
  std::string label;
  append_label_value(label, "a\"b\\c\nd");
  EXPECT_EQ(label, "a\\\"b\\\\c\\nd");
  // Invalid UTF-8 in a label (a route template from a client's path) is replaced too.
  std::string bad;
  append_label_value(bad, "r\xC3\xA9\xFF");
  EXPECT_EQ(bad, "r\xC3\xA9\xEF\xBF\xBD");
  std::string help;
  append_help_text(help, "say \"hi\"\\\n");
  EXPECT_EQ(help, "say \"hi\"\\\\\\n");
}

}  // namespace
}  // namespace sidemeter::stats
