// SLO burn rates, budget and the multi-window burn alerts, against hand computations.
// Definitions (engine.h): minute m = now_ns / 60 s; a burn window of N minutes sums the
// current minute's slot and the N full minutes before it (N + 1 slots); the budget horizon
// is the same 361 slots as the 6h window.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "metrics/alerts/engine.h"
#include "metrics/alerts/slo_tracker.h"

namespace sidemeter::metrics::alerts {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;
constexpr uint64_t kMin = 60 * kSec;
constexpr uint64_t kMinute0 = 1000;  // tests start at the beginning of minute 1000
constexpr uint64_t kUnix0 = 1'700'000'000'000ull;

SloSpec availability(double objective = 0.999) {
  SloSpec s;
  s.name = "api-availability";
  s.kind = SloKind::kAvailability;
  s.objective = objective;
  return s;
}

// Drives an engine with cumulative counts the test adds to, one evaluation per call.
struct SloDriver {
  Engine engine;
  EventCounts counts;
  std::vector<Transition> last;

  explicit SloDriver(std::vector<SloSpec> slos) : engine({}, std::move(slos)) {}

  // Evaluates at `offset_ns` after the start of minute kMinute0.
  std::vector<Transition>& at(uint64_t offset_ns) {
    Inputs in;
    in.slo_counts = [&](const SloSpec&) { return counts; };
    last = engine.evaluate(in, kMinute0 * kMin + offset_ns, kUnix0 + offset_ns / 1'000'000);
    return last;
  }
  void add(uint64_t total, uint64_t bad) {
    counts.total += total;
    counts.good += total - bad;
  }
  const SloState& slo() const { return engine.status().slos.at(0); }
  const AlertState& warning() const { return engine.status().alerts.at(0); }
  const AlertState& critical() const { return engine.status().alerts.at(1); }
};

TEST(SloTracker, SlotsFromCumulativeCounts) {
  SloTracker t;
  const uint64_t m0 = kMinute0 * kMin;
  t.observe({100, 90}, m0 + 10 * kSec);  // baseline only
  EXPECT_EQ(t.sum(5, m0 + 10 * kSec).total, 0u);
  EXPECT_DOUBLE_EQ(t.horizon_seconds(m0 + 10 * kSec), 0);
  t.observe({160, 140}, m0 + 50 * kSec);  // +60 total, +50 good → minute 1000
  t.observe({200, 170}, m0 + 70 * kSec);  // +40 total, +30 good → minute 1001
  SloTracker::Sums s = t.sum(0, m0 + 70 * kSec);  // current minute only
  EXPECT_EQ(s.total, 40u);
  EXPECT_EQ(s.good, 30u);
  s = t.sum(1, m0 + 70 * kSec);
  EXPECT_EQ(s.total, 100u);
  EXPECT_EQ(s.bad(), 20u);
  EXPECT_DOUBLE_EQ(t.horizon_seconds(m0 + 70 * kSec), 60);
  // A decrease resets the baseline; nothing negative is counted.
  t.observe({10, 5}, m0 + 80 * kSec);
  t.observe({20, 15}, m0 + 90 * kSec);  // +10 total, +10 good
  s = t.sum(1, m0 + 90 * kSec);
  EXPECT_EQ(s.total, 110u);
  EXPECT_EQ(s.bad(), 20u);
  // (20 bad / 110) / (1 - 0.9)
  EXPECT_DOUBLE_EQ(SloTracker::burn_rate(s, 0.9), (20.0 / 110.0) / (1 - 0.9));
  // Slots age out: 361 minutes later minute 1000 is gone, 1001 is the oldest kept.
  const uint64_t later = m0 + 361 * kMin + 5 * kSec;
  EXPECT_EQ(t.sum(kSloHorizonMinutes, later).total, 10u + 40u);
  EXPECT_EQ(t.sum(kSloHorizonMinutes, later + kMin).total, 0u);
}

TEST(Slo, SteadyTenPercentErrorsBurnAtOneHundred) {
  // 1000 requests a minute, 10 % errors, objective 99.9 %: error ratio 0.1, budget 0.001,
  // burn = 0.1 / 0.001 = 100 over every window however the minute is cut. Evaluated every
  // second (1000 / 60 is not whole: the counts come in 16-17 per second).
  SloDriver d({availability()});
  d.at(0);
  uint64_t sent = 0;
  for (uint64_t s = 1; s <= 600; ++s) {
    const uint64_t should = s * 1000 / 60;  // cumulative requests by second s
    const uint64_t n = should - sent;
    // Errors: every tenth request.
    const uint64_t bad = should / 10 - sent / 10;
    sent = should;
    d.add(n, bad);
    d.at(s * kSec);
  }
  // 10 minutes: 10000 requests, 1000 errors, all inside every window.
  const SloState& st = d.slo();
  EXPECT_EQ(st.total, 10000u);
  EXPECT_EQ(st.good, 9000u);
  for (size_t w = 0; w < kBurnWindows.size(); ++w) {
    EXPECT_NEAR(st.burn_rates[w], 100.0, 0.5) << kBurnWindows[w];
  }
  EXPECT_NEAR(st.burn_rates[3], 100.0, 1e-9);  // 6h and 1h hold all 10 minutes exactly
  EXPECT_NEAR(st.burn_rates[2], 100.0, 1e-9);
  // Budget: 1 - 1000 / (0.001 * 10000) = 1 - 100 = -99.
  EXPECT_NEAR(st.error_budget_remaining, -99.0, 1e-9);
  EXPECT_DOUBLE_EQ(st.horizon_seconds, 600);
  // Both burn alerts fire (100 > 14.4 over 1h and 5m; > 6 over 6h and 30m).
  EXPECT_EQ(d.warning().state, State::kFiring);
  EXPECT_EQ(d.critical().state, State::kFiring);
  EXPECT_EQ(d.engine.status().slo_memory_bytes, sizeof(SloTracker));
  EXPECT_GE(sizeof(SloTracker), (kSloHorizonMinutes + 1) * 3 * sizeof(uint64_t));
}

TEST(Slo, InjectedErrorsFireTheFastBurnAlertWithinItsWindows) {
  // One evaluation per minute, 30 s into it, so each minute's slot holds exactly that
  // minute's 1000 requests. Minute 1000 is the baseline; 1001..1060 are clean; from 1061
  // on, 100 of each 1000 fail (10 %). Objective 99.9 %: budget share 0.001.
  SloDriver d({availability()});
  d.at(30 * kSec);
  const auto minute = [&](uint64_t m, uint64_t bad) -> std::vector<Transition>& {
    d.add(1000, bad);
    return d.at((m - kMinute0) * kMin + 30 * kSec);
  };
  for (uint64_t m = 1001; m <= 1060; ++m) EXPECT_TRUE(minute(m, 0).empty());
  EXPECT_DOUBLE_EQ(d.slo().error_budget_remaining, 1.0);

  // Minutes 1061..1063 fail at 10 %. At minute 1063 (k = 3 error minutes, 300 bad):
  //   5m  = slots 1058..1063:  300 / 6000  / 0.001 = 50
  //   30m = slots 1033..1063:  300 / 31000 / 0.001 = 9.677...
  //   1h  = slots 1003..1063:  300 / 61000 / 0.001 = 4.918...
  //   6h  = slots 1001..1063 (all there is): 300 / 63000 / 0.001 = 4.762...
  for (uint64_t m = 1061; m <= 1063; ++m) EXPECT_TRUE(minute(m, 100).empty()) << m;
  EXPECT_NEAR(d.slo().burn_rates[0], 50.0, 1e-9);
  EXPECT_NEAR(d.slo().burn_rates[1], 300.0 / 31000 / 0.001, 1e-9);
  EXPECT_NEAR(d.slo().burn_rates[2], 300.0 / 61000 / 0.001, 1e-9);
  EXPECT_NEAR(d.slo().burn_rates[3], 300.0 / 63000 / 0.001, 1e-9);
  EXPECT_NEAR(d.slo().error_budget_remaining, 1 - 300.0 / 63000 / 0.001, 1e-9);
  EXPECT_EQ(d.slo().total, 63000u);
  EXPECT_EQ(d.slo().good, 62700u);

  // Warning (6h and 30m > 6): 6h burn after k error minutes = 100k / (60 + k); > 6 first
  // at k = 4 (400 / 64 = 6.25; 30m: 400 / 31 = 12.9).
  auto& t = minute(1064, 100);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].alert.severity, Severity::kWarning);
  EXPECT_EQ(t[0].alert.state, State::kFiring);
  EXPECT_EQ(t[0].alert.alertname, "ErrorBudgetBurn");
  EXPECT_EQ(t[0].alert.window, "6h+30m");
  EXPECT_DOUBLE_EQ(t[0].alert.threshold, 6);
  EXPECT_NEAR(t[0].alert.value, 400.0 / 31000 / 0.001, 1e-9);  // the 30m burn
  ASSERT_EQ(t[0].alert.labels.size(), 1u);
  EXPECT_EQ(t[0].alert.labels[0], (std::pair<std::string, std::string>{"slo", "api-availability"}));

  // Critical (1h and 5m > 14.4): 1h holds 61 full minutes once past minute 1060:
  // 100k / 61000 / 0.001 > 14.4 ⇔ k > 8.78: first at k = 9 (minute 1069, 14.75); the 5m
  // window is at 100 by then.
  for (uint64_t m = 1065; m <= 1068; ++m) EXPECT_TRUE(minute(m, 100).empty()) << m;
  EXPECT_NEAR(d.slo().burn_rates[2], 800.0 / 61000 / 0.001, 1e-9);  // 13.1: not yet
  auto& c = minute(1069, 100);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].alert.severity, Severity::kCritical);
  EXPECT_EQ(c[0].alert.state, State::kFiring);
  EXPECT_EQ(c[0].alert.window, "1h+5m");
  EXPECT_DOUBLE_EQ(c[0].alert.threshold, 14.4);
  EXPECT_NEAR(c[0].alert.value, 100.0, 1e-9);  // the 5m burn
  EXPECT_NEAR(d.slo().burn_rates[2], 900.0 / 61000 / 0.001, 1e-9);

  // Errors stop after minute 1070 (10 error minutes). The 5m window (6 slots) still holds
  // minute 1070 through minute 1075 (100 / 6000 / 0.001 = 16.7 > 14.4) and drops it at
  // 1076: critical resolves there.
  EXPECT_TRUE(minute(1070, 100).empty());
  for (uint64_t m = 1071; m <= 1075; ++m) EXPECT_TRUE(minute(m, 0).empty()) << m;
  EXPECT_NEAR(d.slo().burn_rates[0], 100.0 / 6000 / 0.001, 1e-9);
  auto& r = minute(1076, 0);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].alert.severity, Severity::kCritical);
  EXPECT_EQ(r[0].from, State::kFiring);
  EXPECT_EQ(r[0].alert.state, State::kOk);
  EXPECT_EQ(d.warning().state, State::kFiring);  // 30m still burns 1000 / 31000 / 0.001
}

TEST(Slo, OneErrorRightAfterStartPagesNobody) {
  // 50 good and 1 bad in the first seconds against 99.9 %: a burn of about 20 over every
  // window, but the 1h and 6h windows hold fewer than 1 / 0.001 = 1000 events, so
  // neither pair is judged. At 1000 events the same share would fire.
  SloDriver d({availability()});
  d.at(1 * kSec);
  d.add(51, 1);
  EXPECT_TRUE(d.at(4 * kSec).empty());
  EXPECT_NEAR(d.slo().burn_rates[0], (1.0 / 51) / 0.001, 1e-9);
  EXPECT_EQ(d.critical().state, State::kOk);
  EXPECT_EQ(d.warning().state, State::kOk);
  d.add(949, 18);  // 1000 events, 19 bad: 1.9 %, burn 19
  auto& changes = d.at(8 * kSec);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(d.critical().state, State::kFiring);
  EXPECT_EQ(d.warning().state, State::kFiring);
}

TEST(Slo, LowBurnFiresNothing) {
  // 0.2 % errors against 99.9 %: burn 2 everywhere, under 6 and 14.4, for 7 hours.
  SloDriver d({availability()});
  d.at(30 * kSec);
  for (uint64_t m = 1; m <= 420; ++m) {
    d.add(1000, 2);
    EXPECT_TRUE(d.at(m * kMin + 30 * kSec).empty()) << m;
  }
  for (double b : d.slo().burn_rates) EXPECT_NEAR(b, 2.0, 1e-9);
  // The horizon keeps 361 slots: 361000 requests, 722 bad → 1 - 722 / 361 = -1.
  EXPECT_EQ(d.slo().total, 361000u);
  EXPECT_NEAR(d.slo().error_budget_remaining, -1.0, 1e-9);
  EXPECT_DOUBLE_EQ(d.slo().horizon_seconds, 360 * 60 + 30);
  EXPECT_EQ(d.critical().state, State::kOk);
  EXPECT_EQ(d.warning().state, State::kOk);
}

TEST(Slo, ReconfigureKeepsSlotsAndAppliesTheNewObjective) {
  SloDriver d({availability(0.999)});
  d.at(0);
  d.add(1000, 10);  // 1 %
  d.at(30 * kSec);
  EXPECT_NEAR(d.slo().burn_rates[0], 10.0, 1e-9);
  SloSpec looser = availability(0.99);
  SloSpec other = availability();
  other.name = "other";
  d.engine.reconfigure({}, {looser, other});
  d.at(40 * kSec);  // no new events: same slots, new objective
  EXPECT_NEAR(d.slo().burn_rates[0], 1.0, 1e-9);
  EXPECT_EQ(d.slo().total, 1000u);
  EXPECT_EQ(d.engine.status().slos.at(1).total, 0u);  // new: baseline only
  EXPECT_EQ(d.engine.status().slo_memory_bytes, 2 * sizeof(SloTracker));

  // A changed kind is a different SLO: slots start over.
  SloSpec latency = looser;
  latency.kind = SloKind::kLatency;
  latency.latency_threshold_ms = 300;
  d.engine.reconfigure({}, {latency});
  d.at(50 * kSec);
  EXPECT_EQ(d.slo().total, 0u);
}

TEST(Slo, RemovedSloResolvesItsBurnAlerts) {
  SloDriver d({availability()});
  d.at(0);
  d.add(1000, 500);
  auto& t = d.at(30 * kSec);
  ASSERT_EQ(t.size(), 2u);  // warning then critical, at once (for 0)
  EXPECT_EQ(t[0].alert.severity, Severity::kWarning);
  EXPECT_EQ(t[1].alert.severity, Severity::kCritical);
  d.engine.reconfigure({}, {});
  auto& r = d.at(31 * kSec);
  ASSERT_EQ(r.size(), 2u);
  for (const Transition& x : r) {
    EXPECT_EQ(x.from, State::kFiring);
    EXPECT_EQ(x.alert.state, State::kOk);
  }
  EXPECT_TRUE(d.engine.status().alerts.empty());
}

TEST(Slo, EventCountersCountWhatTheSlotsCount) {
  // The counters take the same deltas as the slots: the first reading is a baseline (the
  // 500 events before it are not counted), a reading that went down re-baselines and
  // adds nothing, and they never fall.
  SloDriver d({availability()});
  d.add(500, 5);
  d.at(0);
  EXPECT_EQ(d.slo().events_total, 0u);
  d.add(1000, 10);
  d.at(10 * kSec);
  EXPECT_EQ(d.slo().events_total, 1000u);
  EXPECT_EQ(d.slo().good_events_total, 990u);
  EXPECT_EQ(d.slo().events_total, d.slo().total);
  EXPECT_EQ(d.slo().good_events_total, d.slo().good);
  // The registry's reading went down (e.g. a scoped route's aggregate started over).
  d.counts = EventCounts{100, 100};
  d.at(20 * kSec);
  EXPECT_EQ(d.slo().events_total, 1000u);
  EXPECT_EQ(d.slo().good_events_total, 990u);
  d.add(200, 50);
  d.at(30 * kSec);
  EXPECT_EQ(d.slo().events_total, 1200u);
  EXPECT_EQ(d.slo().good_events_total, 1140u);
  // Burn rate from the counters' increase = the slots' burn rate: 60 bad of 1200.
  EXPECT_NEAR(d.slo().burn_rates[0], (60.0 / 1200.0) / 0.001, 1e-9);
  // Past the 6 h horizon the slots forget; the counters do not.
  d.add(100, 0);
  d.at(7 * 60 * kMin);
  EXPECT_EQ(d.slo().total, 100u);
  EXPECT_EQ(d.slo().events_total, 1300u);
  EXPECT_EQ(d.slo().good_events_total, 1240u);
}

TEST(Slo, EventCountersNeverFallAcrossReloads) {
  // Each definition reads its own cumulative counts (as the registry would: a latency SLO
  // judges the same requests with another rule, a scoped one fewer requests).
  SloSpec avail = availability();
  SloSpec latency = avail;
  latency.kind = SloKind::kLatency;
  latency.latency_threshold_ms = 300;
  Engine e({}, {avail});
  EventCounts avail_counts{0, 0}, latency_counts{0, 0};
  uint64_t now = kMinute0 * kMin;
  const auto eval = [&] {
    Inputs in;
    in.slo_counts = [&](const SloSpec& s) {
      return s.kind == SloKind::kLatency ? latency_counts : avail_counts;
    };
    now += 10 * kSec;
    e.evaluate(in, now, kUnix0);
    return e.status().slos;
  };
  eval();
  avail_counts = {1000, 990};
  latency_counts = {1000, 900};
  std::vector<SloState> s = eval();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].events_total, 1000u);
  EXPECT_EQ(s[0].good_events_total, 990u);

  // Same name, new kind: the slots start over, the counters continue; the new
  // definition's first reading (1000 / 900, lower good) is a baseline, adding nothing.
  e.reconfigure({}, {latency});
  s = eval();
  EXPECT_EQ(s[0].total, 0u);
  EXPECT_EQ(s[0].events_total, 1000u);
  EXPECT_EQ(s[0].good_events_total, 990u);
  latency_counts = {1100, 950};
  s = eval();
  EXPECT_EQ(s[0].events_total, 1100u);
  EXPECT_EQ(s[0].good_events_total, 1040u);

  // Removed: gone from the status; brought back later, it continues where it stopped.
  e.reconfigure({}, {});
  EXPECT_TRUE(eval().empty());
  latency_counts = {5000, 4000};  // whatever happened meanwhile is not counted
  e.reconfigure({}, {latency});
  s = eval();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].events_total, 1100u);
  EXPECT_EQ(s[0].good_events_total, 1040u);
  latency_counts = {5010, 4010};
  s = eval();
  EXPECT_EQ(s[0].events_total, 1110u);
  EXPECT_EQ(s[0].good_events_total, 1050u);

  // Renamed: a new series from 0; the old name's counts are kept aside.
  SloSpec renamed = latency;
  renamed.name = "renamed";
  e.reconfigure({}, {renamed});
  s = eval();
  EXPECT_EQ(s[0].spec.name, "renamed");
  EXPECT_EQ(s[0].events_total, 0u);
  e.reconfigure({}, {latency});
  s = eval();
  EXPECT_EQ(s[0].events_total, 1110u);
}

TEST(Slo, ScopedSloLabels) {
  SloSpec s = availability();
  s.route = "/orders/{id}";
  s.method = Method::kGet;
  Engine e({}, {s});
  const std::vector<AlertState>& a = e.status().alerts;
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(a[1].labels.size(), 3u);
  EXPECT_EQ(a[1].labels[0].first, "route");
  EXPECT_EQ(a[1].labels[1], (std::pair<std::string, std::string>{"method", "GET"}));
  EXPECT_EQ(a[1].labels[2].first, "slo");
}

}  // namespace
}  // namespace sidemeter::metrics::alerts
