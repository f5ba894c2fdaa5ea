// Routes that cannot be poisoned (issue 13), through the real binary on two workers: a
// scanner burst of hundreds of distinct paths answered 404, some of them repeated until
// they are admitted and fill a small route table, then real routes answered 200. The
// real routes get series of their own (the idle scanner routes are evicted, counted),
// with exactly their own requests (an evicted id reused starts from zero), the
// configured pattern's route is there from its first request whatever its status, and
// the stats invariants hold. Waits are stats frames (one per tick), never sleeps.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/proxy_fixture.h"
#include "tests/support/exposition_check.h"
#include "tests/support/json_value.h"
#include "tests/support/stats_invariants.h"

namespace sidemeter::testing {
namespace {

constexpr int kWorkers = 2;
constexpr int kMaxRoutes = 20;
constexpr int kOneOff = 400;         // distinct scanner paths, each seen once
constexpr int kRepeatedScan = 25;    // scanner templates repeated until admitted...
constexpr int kRepeats = 6;          // ...(hits 3: 6 sightings on 2 workers are enough)
constexpr int kPatternHits = 10;     // per phase, half answered 404
constexpr int kRealHits = 10;        // per real route
const std::vector<std::string> kReal = {"/api/orders/{id}", "/api/users/{id}", "/api/items",
                                        "/api/carts/{id}/lines", "/api/search"};

class RoutePoisoningTest : public ProxyTest {
 protected:
  // Several keep-alive connections, used in turn, so both workers see every kind of path.
  void send(const std::string& target) {
    if (clients_.empty()) {
      for (int i = 0; i < 8; ++i) clients_.push_back(std::make_unique<RawClient>(port()));
    }
    RawClient& c = *clients_[next_++ % clients_.size()];
    ASSERT_TRUE(c.connected());
    HttpMessage resp;
    ASSERT_TRUE(c.exchange(simple_get(target), resp).ok()) << target;
    ++sent_[resp.status];
  }
  uint64_t sent_total() const {
    uint64_t n = 0;
    for (const auto& [status, count] : sent_) n += count;
    return n;
  }
  // A stats frame of a tick after the one holding `requests` exchanges, so the route
  // table has seen everything sent.
  JsonValue settled(uint64_t requests) {
    std::optional<double> at_tick;
    std::optional<JsonValue> doc = wait_for_stats(proxy_->stats_port(), [&](const JsonValue& s) {
      const std::optional<double> r = json_number(s, "windows.total.requests");
      const std::optional<double> t = json_number(s, "ticks");
      if (!r || !t || uint64_t(*r) < requests) return false;
      if (!at_tick) at_tick = *t;
      return *t > *at_tick;
    });
    EXPECT_TRUE(doc.has_value()) << "stats never reached " << requests << " requests";
    // Stream frames are trimmed; /stats itself has the routes and the route table.
    std::optional<JsonValue> full = fetch_stats_json(proxy_->stats_port());
    EXPECT_TRUE(full.has_value());
    return full ? *full : JsonValue();
  }
  // Route template -> requests over the whole run (every method).
  static std::map<std::string, uint64_t> route_totals(const JsonValue& stats) {
    std::map<std::string, uint64_t> out;
    if (const JsonValue* routes = stats.get("routes"); routes != nullptr) {
      for (const JsonValue& r : routes->array) {
        const JsonValue* name = r.get("route");
        const std::optional<double> n = json_number(r, "windows.total.requests");
        if (name != nullptr && n) out[name->string] += uint64_t(*n);
      }
    }
    return out;
  }

  std::vector<std::unique_ptr<RawClient>> clients_;
  size_t next_ = 0;
  std::map<int, uint64_t> sent_;
};

// Phase 1 runs with eviction out of reach (min_idle 1h): however slowly a loaded machine
// sends it, no scanner route can go idle long enough to be evicted by another scanner
// route. A reload then lowers min_idle to 1s for phase 2.
std::string routes_yaml(const std::string& min_idle) {
  return "routes:\n"
         "  max: " + std::to_string(kMaxRoutes) + "\n"
         "  patterns: [\"/patterned/{x}\"]\n"
         "  admission:\n    hits: 3\n    window: 60s\n"
         "  eviction:\n    min_idle: " + min_idle + "\n";
}

TEST_F(RoutePoisoningTest, ScannerBurstThenRealRoutes) {
  start(
      [](UpstreamConn& c) {
        HttpMessage req;
        // One request per upstream connection: nothing stays pooled, so "at rest" is 0.
        if (!c.read_request(req)) return;
        const bool real = req.target.rfind("/api/", 0) == 0 || req.target == "/patterned/ok";
        c.write(real ? make_response(200, "OK", "ok", {{"Connection", "close"}})
                     : make_response(404, "Not Found", "no", {{"Connection", "close"}}));
      },
      routes_yaml("1h"), kWorkers);

  // Phase 1: the scanner. One-off paths, then repeated ones, and the pattern in between.
  for (int i = 0; i < kOneOff; ++i) send("/scan/probe-" + std::to_string(i) + ".php");
  for (int i = 0; i < kPatternHits; ++i) send(i % 2 ? "/patterned/ok" : "/patterned/gone");
  for (int i = 0; i < kRepeatedScan; ++i) {
    for (int r = 0; r < kRepeats; ++r) send("/hidden" + std::to_string(i) + "/config");
  }
  const JsonValue first = settled(sent_total());
  EXPECT_EQ(json_number(first, "route_table.automatic"), kMaxRoutes);
  EXPECT_EQ(json_number(first, "route_table.max_automatic"), kMaxRoutes);
  EXPECT_EQ(json_number(first, "route_table.patterns"), 1);
  EXPECT_EQ(json_number(first, "route_table.admissions"), kMaxRoutes);
  EXPECT_EQ(json_number(first, "route_table.evictions"), 0);
  {
    const std::map<std::string, uint64_t> routes = route_totals(first);
    ASSERT_TRUE(routes.count("/patterned/{x}"));
    EXPECT_EQ(routes.at("/patterned/{x}"), uint64_t(kPatternHits));  // from its first hit
    // None of the one-off paths got a route.
    for (const auto& [route, n] : routes) EXPECT_EQ(route.rfind("/scan/", 0), std::string::npos);
  }

  // Now idle routes may be evicted after 1s; the scanner routes go idle: the table's clock
  // is the stats tick, so wait for ticks.
  ASSERT_TRUE(
      proxy_->rewrite_config(make_config(upstream_->address(), routes_yaml("1s"), kWorkers)));
  ASSERT_TRUE(proxy_->send_signal(SIGHUP));
  ASSERT_TRUE(proxy_->wait_for_log("\"event\":\"config_reloaded\"", soon())) << proxy_->log_text();
  const double tick = json_number(first, "ticks").value_or(0);
  ASSERT_TRUE(wait_for_stats(proxy_->stats_port(), [&](const JsonValue& s) {
    return json_number(s, "ticks").value_or(0) >= tick + 3;
  }));

  // Phase 2: real routes answered 200, and the pattern again.
  for (int i = 0; i < kRealHits; ++i) {
    for (const std::string& tmpl : kReal) {
      std::string path = tmpl;
      for (size_t at; (at = path.find("{id}")) != std::string::npos;)
        path.replace(at, 4, std::to_string(1000 + i * 7));
      send(path);
    }
    send(i % 2 ? "/patterned/ok" : "/patterned/gone");
  }
  const uint64_t total = sent_total();
  const JsonValue second = settled(total);
  EXPECT_EQ(json_number(second, "route_table.automatic"), kMaxRoutes);
  EXPECT_EQ(json_number(second, "route_table.admissions"), kMaxRoutes + double(kReal.size()));
  EXPECT_EQ(json_number(second, "route_table.evictions"), double(kReal.size()));
  const std::map<std::string, uint64_t> routes = route_totals(second);
  for (const std::string& tmpl : kReal) {
    ASSERT_TRUE(routes.count(tmpl)) << tmpl;
    // Exactly its own: the evicted scanner route's counts stayed behind with it.
    EXPECT_EQ(routes.at(tmpl), uint64_t(kRealHits)) << tmpl;
  }
  EXPECT_EQ(routes.at("/patterned/{x}"), 2u * kPatternHits);
  uint64_t all = 0;
  for (const auto& [route, n] : routes) all += n;
  EXPECT_LE(all, total);  // evicted routes' series are gone, nothing counted twice

  const std::string metrics = fetch_metrics_text(proxy_->stats_port());
  for (const std::string& tmpl : kReal) {
    EXPECT_NE(metrics.find("route=\"" + tmpl + "\""), std::string::npos) << tmpl;
  }
  EXPECT_NE(metrics.find("route=\"/patterned/{x}\""), std::string::npos);
  EXPECT_NE(metrics.find("sidemeter_route_evictions_total " + std::to_string(kReal.size())),
            std::string::npos);
  EXPECT_NE(metrics.find("sidemeter_route_admissions_total " +
                         std::to_string(kMaxRoutes + kReal.size())),
            std::string::npos);
  EXPECT_NE(metrics.find("sidemeter_routes_active{kind=\"automatic\"} " +
                         std::to_string(kMaxRoutes)),
            std::string::npos);

  clients_.clear();
  StatsExpect want;
  want.requests = total;
  want.status_codes = sent_;
  want.errors = 0;
  const StatsReport report = check_stats_at_rest(proxy_->stats_port(), want);
  EXPECT_TRUE(report.ok()) << report.text();
}

}  // namespace
}  // namespace sidemeter::testing
