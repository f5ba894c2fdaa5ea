// stats.histogram_buckets: the classic bounds of the request duration histograms.
#include <gtest/gtest.h>

#include <vector>

#include "conf/config.h"
#include "conf/schema.h"
#include "tests/conf/load_text.h"

using namespace sidemeter::conf;
using namespace sidemeter::conf::testing;

namespace {

TEST(HistogramBuckets, DefaultsAreTheFineSetServiceWideAndSixBoundsPerRoute) {
  auto r = load_text("workers: 1\n");
  ASSERT_NE(r.config, nullptr) << (r.errors.empty() ? "" : r.errors[0]);
  const HistogramBuckets& b = r.config->stats.histogram_buckets;
  EXPECT_EQ(b.request_duration.size(), 24u);
  EXPECT_EQ(b.request_duration.front(), 0.0001);
  EXPECT_EQ(b.request_duration.back(), 60.0);
  EXPECT_EQ(b.route_request_duration, (std::vector<double>{0.005, 0.025, 0.1, 0.25, 1, 5}));
}

TEST(HistogramBuckets, AListReplacesTheDefaultAndAnEmptyOneMeansOnlyInf) {
  auto r = load_text(
      "stats:\n"
      "  histogram_buckets:\n"
      "    request_duration: [0.001, 0.01, 0.1, 1]\n"
      "    route_request_duration: []\n");
  ASSERT_NE(r.config, nullptr) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.config->stats.histogram_buckets.request_duration,
            (std::vector<double>{0.001, 0.01, 0.1, 1}));
  EXPECT_TRUE(r.config->stats.histogram_buckets.route_request_duration.empty());
}

TEST(HistogramBuckets, BadBoundsPointAtTheEntry) {
  EXPECT_EQ(error_of("stats:\n  histogram_buckets:\n    route_request_duration: [0.1, 0.05]\n"),
            "F:3:35: stats.histogram_buckets.route_request_duration must ascend strictly: 0.05 after 0.1");
  EXPECT_EQ(error_of("stats:\n  histogram_buckets:\n    request_duration: [0.1, 0.1]\n"),
            "F:3:29: stats.histogram_buckets.request_duration must ascend strictly: 0.1 after 0.1");
  EXPECT_EQ(error_of("stats:\n  histogram_buckets:\n    request_duration:\n      - 0\n"),
            "F:4:9: stats.histogram_buckets.request_duration bounds must be above 0 and at most "
            "3600, got 0");
  EXPECT_EQ(error_of("stats:\n  histogram_buckets:\n    request_duration: [-1]\n"),
            "F:3:24: stats.histogram_buckets.request_duration bounds must be above 0 and at "
            "most 3600, got -1");
  EXPECT_EQ(error_of("stats:\n  histogram_buckets:\n    request_duration: [7200]\n"),
            "F:3:24: stats.histogram_buckets.request_duration bounds must be above 0 and at "
            "most 3600, got 7200");
  EXPECT_EQ(error_of("stats:\n  histogram_buckets:\n    request_duration: [1s]\n"),
            "F:3:24: stats.histogram_buckets.request_duration: expected a number of seconds, "
            "e.g. 0.25, got '1s'");
  EXPECT_EQ(error_of("stats:\n  histogram_buckets:\n    request_duration: [.nan]\n"),
            "F:3:24: stats.histogram_buckets.request_duration: expected a number of seconds, "
            "e.g. 0.25, got '.nan'");
  EXPECT_EQ(error_of("stats:\n  histogram_buckets:\n    request_duration: 0.1\n"),
            "F:3:23: stats.histogram_buckets.request_duration must be a list, got the scalar "
            "'0.1'");
}

TEST(HistogramBuckets, TooManyBoundsAreRefused) {
  std::string list = "[";
  for (int i = 1; i <= 65; ++i) {
    if (i > 1) list += ", ";
    list += std::to_string(i);
  }
  list += "]";
  std::string yaml = "stats:\n  histogram_buckets:\n    request_duration: ";
  yaml += list;
  yaml += "\n";
  const std::string err = error_of(yaml);
  EXPECT_NE(err.find("stats.histogram_buckets.request_duration: at most 64 bounds"),
            std::string::npos)
      << err;
}

// Counts at any bound come from full-resolution histograms at scrape time, so the bounds
// are not restart-only; and they are part of the configuration's hash.
TEST(HistogramBuckets, ReloadSafeAndHashed) {
  auto a = load_text("workers: 1\n");
  auto b = load_text("workers: 1\nstats:\n  histogram_buckets:\n    route_request_duration: [0.5]\n");
  ASSERT_NE(a.config, nullptr);
  ASSERT_NE(b.config, nullptr);
  EXPECT_TRUE(restart_only_changes(*a.config, *b.config).empty());
  EXPECT_NE(a.config->hash, b.config->hash);
  const std::string dump = dump_config(*b.config, /*redact=*/true);
  EXPECT_NE(dump.find("route_request_duration: [0.5]"), std::string::npos) << dump;
  EXPECT_NE(dump.find("request_duration: [0.0001, 0.00025, 0.0005, 0.001,"), std::string::npos)
      << dump;
}

}  // namespace
