#include <gtest/gtest.h>

#include "conf/config.h"
#include "tests/conf/load_text.h"

using namespace sidemeter::conf;
using namespace sidemeter::conf::testing;

TEST(Interpolation, VariableAndDefault) {
  auto r = load_text("upstream:\n  address: ${HOST}:${PORT:-9000}\nstats:\n  token: \"${T}\"\n",
                     fake_env({{"HOST", "backend"}, {"T", "s3cret"}}));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->upstream.address, (HostPort{"backend", 9000}));
  EXPECT_EQ(r.config->stats.token, "s3cret");
}

TEST(Interpolation, SetButEmptyTakesTheDefaultLikeTheShell) {
  auto r = load_text("routes:\n  max: ${MAX:-7}\n", fake_env({{"MAX", ""}}));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->routes.max, 7u);
}

// Unlike the shell: an empty value without a default is an error, so a Secret that lost
// its key cannot turn `token: "${STATS_TOKEN}"` into an open stats port.
TEST(Interpolation, SetButEmptyWithoutDefaultIsAnError) {
  EXPECT_EQ(error_of("stats:\n  token: \"${STATS_TOKEN}\"\n", fake_env({{"STATS_TOKEN", ""}})),
            "F:2:11: environment variable STATS_TOKEN is empty (use ${STATS_TOKEN:-} where "
            "empty is meant)");
  auto r = load_text("stats:\n  token: \"${STATS_TOKEN:-}\"\n", fake_env({{"STATS_TOKEN", ""}}));
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->stats.token, "");
}

TEST(Interpolation, MissingVariableIsAnErrorAtItsPosition) {
  EXPECT_EQ(error_of("workers: 1\nstats:\n  token: \"${STATS_TOKEN}\"\n"),
            "F:3:11: environment variable STATS_TOKEN is not set "
            "(use ${STATS_TOKEN:-default})");
}

TEST(Interpolation, EveryMissingVariableIsReported) {
  auto r = load_text("upstream:\n  address: ${A}:${B}\n");
  ASSERT_EQ(r.errors.size(), 2u) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.errors[0], "F:2:12: environment variable A is not set (use ${A:-default})");
  EXPECT_EQ(r.errors[1], "F:2:17: environment variable B is not set (use ${B:-default})");
}

TEST(Interpolation, ErrorsOnOtherLinesStillCount) {
  auto r = load_text("stats:\n  token: ${A}\nworkers: 999\n");
  ASSERT_EQ(r.errors.size(), 2u) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.errors[0], "F:2:10: environment variable A is not set (use ${A:-default})");
  EXPECT_EQ(r.errors[1], "F:3:10: workers must be 0-256, got 999");
}

TEST(Interpolation, DollarDollarIsALiteral) {
  auto r = load_text("stats:\n  token: \"$${NOT_A_VAR}\"\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->stats.token, "${NOT_A_VAR}");
}

TEST(Interpolation, CommentsAreLeftAlone) {
  auto r = load_text("# token: ${UNSET}\nworkers: 2  # or ${ALSO_UNSET}\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->workers, 2u);
}

TEST(Interpolation, HashInsideQuotesIsNotAComment) {
  // token_file takes any text; the error shows what the quoted value became.
  auto r = load_text("stats:\n  token_file: \"/nonexistent/a #${T}\"\n", fake_env({{"T", "b"}}));
  ASSERT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(r.errors);
  EXPECT_EQ(r.errors[0],
            "F:2:15: stats.token_file: cannot read '/nonexistent/a #b': No such file or directory");
}

TEST(Interpolation, MalformedReferences) {
  EXPECT_EQ(error_of("workers: ${1X}\n"),
            "F:1:10: invalid reference ${1X}: expected ${NAME} or ${NAME:-default} "
            "(write $${ for a literal ${)");
  EXPECT_EQ(error_of("workers: 2\nmeasure: ${X\n"),
            "F:2:10: unterminated ${ (write $${ for a literal ${)");
}

TEST(Interpolation, ALineBreakInAValueIsRefused) {
  EXPECT_EQ(error_of("stats:\n  token: ${T}\n", fake_env({{"T", "a\nb"}})),
            "F:2:10: environment variable T contains a line break, which would shift every "
            "later line number");
}
