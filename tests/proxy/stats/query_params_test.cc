#include "proxy/stats/query_params.h"

#include <gtest/gtest.h>

namespace sidemeter::stats {
namespace {

TEST(QueryParams, FindsAndDecodes) {
  std::string v;
  EXPECT_EQ(query_param("/stats?window=1m&route=%2Fusers%2F%7Bid%7D", "route", v),
            QueryStatus::kFound);
  EXPECT_EQ(v, "/users/{id}");
  EXPECT_EQ(query_param("/stats?window=1m&route=x", "window", v), QueryStatus::kFound);
  EXPECT_EQ(v, "1m");
  EXPECT_EQ(query_param("/stats?q=a+b", "q", v), QueryStatus::kFound);
  EXPECT_EQ(v, "a b");
  EXPECT_EQ(query_param("/stats?flag", "flag", v), QueryStatus::kFound);
  EXPECT_EQ(v, "");
}

TEST(QueryParams, AbsentAndMalformed) {
  std::string v;
  EXPECT_EQ(query_param("/stats", "window", v), QueryStatus::kAbsent);
  EXPECT_EQ(query_param("/stats?windows=1m", "window", v), QueryStatus::kAbsent);
  EXPECT_EQ(query_param("/stats?x=1#window=1m", "window", v), QueryStatus::kAbsent);
  EXPECT_EQ(query_param("/stats?window=%zz", "window", v), QueryStatus::kMalformed);
  EXPECT_EQ(query_param("/stats?window=%2", "window", v), QueryStatus::kMalformed);
}

}  // namespace
}  // namespace sidemeter::stats
