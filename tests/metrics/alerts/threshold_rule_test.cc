#include "metrics/alerts/threshold_rule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace sidemeter::metrics::alerts {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kMs = 1'000'000ull;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A fake clock: monotonic ns and wall ms move together; tests name instants in seconds.
struct Clock {
  uint64_t t0_ns = 7 * kSec;
  uint64_t t0_unix_ms = 1'700'000'000'000ull;
  uint64_t ns(double s) const { return t0_ns + uint64_t(s * 1e9); }
  uint64_t unix_ms(double s) const { return t0_unix_ms + uint64_t(s * 1e3); }
};

RuleSpec latency_rule() {
  RuleSpec r;
  r.name = "LatencyAvgHigh";
  r.figure = FigureRef{Figure::kLatency, Stat::kAvg, UpstreamError::kNone};
  r.warning = Threshold{500, std::nullopt};
  r.critical = Threshold{1000, std::nullopt};
  r.for_ms = 30'000;
  return r;
}

class Rule : public ::testing::Test {
 protected:
  Clock clock_;
  std::vector<Transition> out_;

  // Evaluates at second s; returns this step's transitions only.
  std::vector<Transition> at(ThresholdRule& rule, double s, double value) {
    out_.clear();
    rule.evaluate(value, clock_.ns(s), clock_.unix_ms(s), out_);
    return out_;
  }
  static std::vector<AlertState> alerts(const ThresholdRule& r) {
    std::vector<AlertState> a;
    r.append_alerts(a);
    return a;
  }
};

TEST_F(Rule, PendingThenFiringOnlyOnceForHasElapsed) {
  ThresholdRule rule(latency_rule());
  auto t = at(rule, 0, 1200);  // both severities breach
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].alert.severity, Severity::kWarning);
  EXPECT_EQ(t[1].alert.severity, Severity::kCritical);
  for (const Transition& x : t) {
    EXPECT_EQ(x.from, State::kOk);
    EXPECT_EQ(x.alert.state, State::kPending);
    EXPECT_EQ(x.alert.since_unix_ms, clock_.unix_ms(0));
    EXPECT_EQ(x.alert.active_since_unix_ms, clock_.unix_ms(0));
    EXPECT_DOUBLE_EQ(x.alert.value, 1200);
  }
  EXPECT_TRUE(at(rule, 10, 1200).empty());
  // 1 ms short of `for`: still pending.
  out_.clear();
  rule.evaluate(1200, clock_.ns(30) - kMs, clock_.unix_ms(30) - 1, out_);
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(alerts(rule)[1].state, State::kPending);

  t = at(rule, 30, 1200);
  ASSERT_EQ(t.size(), 2u);
  for (const Transition& x : t) {
    EXPECT_EQ(x.from, State::kPending);
    EXPECT_EQ(x.alert.state, State::kFiring);
    EXPECT_EQ(x.alert.since_unix_ms, clock_.unix_ms(30));
    EXPECT_EQ(x.alert.active_since_unix_ms, clock_.unix_ms(0));  // startsAt unchanged
  }
  EXPECT_TRUE(at(rule, 31, 1200).empty());
}

TEST_F(Rule, OnlyTheSeverityBreachedMoves) {
  ThresholdRule rule(latency_rule());
  auto t = at(rule, 0, 700);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.severity, Severity::kWarning);
  EXPECT_EQ(alerts(rule)[1].state, State::kOk);
  EXPECT_DOUBLE_EQ(alerts(rule)[1].value, 700);
  EXPECT_DOUBLE_EQ(alerts(rule)[1].threshold, 1000);
}

TEST_F(Rule, PendingDipBelowStartsForAgain) {
  ThresholdRule rule(latency_rule());
  at(rule, 0, 600);
  auto t = at(rule, 20, 400);  // not breaching while pending: back to ok
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].from, State::kPending);
  EXPECT_EQ(t[0].alert.state, State::kOk);
  EXPECT_EQ(t[0].alert.active_since_unix_ms, 0u);
  at(rule, 25, 600);                   // pending again from 25 s
  EXPECT_TRUE(at(rule, 50, 600).empty());  // 25 s pending: not yet
  t = at(rule, 55, 600);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kFiring);
  EXPECT_EQ(t[0].alert.active_since_unix_ms, clock_.unix_ms(25));
}

TEST_F(Rule, ForZeroFiresOnTheSameEvaluation) {
  RuleSpec spec = latency_rule();
  spec.for_ms = 0;
  spec.critical.reset();
  ThresholdRule rule(spec);
  auto t = at(rule, 0, 600);
  ASSERT_EQ(t.size(), 1u);  // one transition, ok → firing
  EXPECT_EQ(t[0].from, State::kOk);
  EXPECT_EQ(t[0].alert.state, State::kFiring);
  EXPECT_EQ(t[0].alert.active_since_unix_ms, clock_.unix_ms(0));
}

TEST_F(Rule, ResolveThresholdGivesHysteresis) {
  RuleSpec spec = latency_rule();
  spec.warning.reset();
  spec.critical = Threshold{1000, 800};
  spec.for_ms = 0;
  ThresholdRule rule(spec);
  ASSERT_EQ(at(rule, 0, 1100).size(), 1u);
  EXPECT_TRUE(at(rule, 1, 950).empty());   // under the threshold, over the resolve line
  EXPECT_TRUE(at(rule, 2, 1050).empty());
  EXPECT_TRUE(at(rule, 3, 800.5).empty());
  auto t = at(rule, 4, 800);  // not past 800: resolves
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].from, State::kFiring);
  EXPECT_EQ(t[0].alert.state, State::kOk);
  EXPECT_EQ(t[0].alert.since_unix_ms, clock_.unix_ms(4));
  EXPECT_TRUE(at(rule, 5, 950).empty());  // 950 does not fire again: needs > 1000
}

TEST_F(Rule, KeepFiringForCountsFromTheFirstCalmEvaluation) {
  RuleSpec spec = latency_rule();
  spec.warning.reset();
  spec.for_ms = 0;
  spec.keep_firing_for_ms = 60'000;
  ThresholdRule rule(spec);
  at(rule, 0, 1500);
  EXPECT_TRUE(at(rule, 10, 200).empty());  // calm from 10 s
  EXPECT_TRUE(at(rule, 40, 200).empty());
  EXPECT_TRUE(at(rule, 50, 1500).empty());  // breaching again: cancels
  EXPECT_TRUE(at(rule, 60, 200).empty());   // calm from 60 s
  EXPECT_TRUE(at(rule, 119, 200).empty());
  auto t = at(rule, 120, 200);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kOk);
  EXPECT_EQ(t[0].alert.since_unix_ms, clock_.unix_ms(120));
}

TEST_F(Rule, NotEvaluatedCountsAsNotBreaching) {
  RuleSpec spec = latency_rule();
  spec.for_ms = 0;
  spec.warning.reset();
  ThresholdRule rule(spec);
  at(rule, 0, 5000);
  auto t = at(rule, 1, kNaN);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.state, State::kOk);
  EXPECT_TRUE(std::isnan(t[0].alert.value));
}

TEST_F(Rule, BelowComparison) {
  RuleSpec spec;
  spec.name = "TrafficStopped";
  spec.figure = FigureRef{Figure::kRps, Stat::kNone, UpstreamError::kNone};
  spec.comparison = Comparison::kBelow;
  spec.critical = Threshold{1, 5};
  spec.for_ms = 10'000;
  ThresholdRule rule(spec);
  EXPECT_TRUE(at(rule, 0, 1).empty());  // 1 is not below 1
  EXPECT_EQ(at(rule, 1, 0.5).size(), 1u);
  EXPECT_EQ(at(rule, 11, 0).at(0).alert.state, State::kFiring);
  EXPECT_TRUE(at(rule, 12, 3).empty());  // below the resolve line 5: still firing
  EXPECT_EQ(at(rule, 13, 6).at(0).alert.state, State::kOk);
}

TEST_F(Rule, RespecKeepsStateAndDropsARemovedSeverity) {
  RuleSpec spec = latency_rule();
  spec.for_ms = 0;
  ThresholdRule rule(spec);
  at(rule, 0, 1200);
  EXPECT_TRUE(rule.same_identity(spec));
  RuleSpec changed = spec;
  changed.warning = Threshold{600, std::nullopt};
  changed.critical.reset();
  changed.min_requests = 50;
  EXPECT_TRUE(rule.same_identity(changed));
  std::vector<AlertState> retired;
  rule.respec(changed, retired);
  ASSERT_EQ(retired.size(), 1u);
  EXPECT_EQ(retired[0].severity, Severity::kCritical);
  auto a = alerts(rule);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].state, State::kFiring);
  EXPECT_DOUBLE_EQ(a[0].threshold, 600);
  EXPECT_EQ(a[0].since_unix_ms, clock_.unix_ms(0));
  RuleSpec other = spec;
  other.window = RuleWindow::k5m;
  EXPECT_FALSE(rule.same_identity(other));
  other = spec;
  other.route = "/a";
  EXPECT_FALSE(rule.same_identity(other));
}

}  // namespace
}  // namespace sidemeter::metrics::alerts
