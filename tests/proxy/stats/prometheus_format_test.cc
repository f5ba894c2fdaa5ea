#include "proxy/stats/prometheus_format.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/proxy/stats/traffic.h"
#include "tests/support/exposition_check.h"

namespace sidemeter::stats {
namespace {

using metrics::Method;
using testing::SampleSpec;
using testing::TestRegistry;

std::string join_errors(const testing::ExpositionCheck& c) {
  std::string s;
  for (const auto& e : c.errors) s += e + "\n";
  return s;
}

// Six exchanges on two routes with known durations and one 503.
void record_mix(TestRegistry& r) {
  r.record({.path = "/users/1", .ttfb_ns = 2'000'000}, 2);
  r.record({.path = "/users/2", .ttfb_ns = 2'000'000});
  r.record({.method = Method::kPost,
            .path = "/orders",
            .status = 201,
            .ttfb_ns = 50'000'000,
            .connect_ns = 300'000,
            .request_body = 2000,
            .response_body = 5000},
           2);
  r.record({.path = "/users/3", .status = 503, .ttfb_ns = 1'000'000});
  r.tick();
}

TEST(PrometheusFormat, TextParsesAndHistogramsAreCumulative) {
  TestRegistry r(/*process_stats=*/true);
  record_mix(r);
  r.tick();  // a second tick so the process CPU figures have two samples
  std::string text;
  append_exposition(r.registry.snapshot(), {}, ExpositionFormat::kPrometheusText, text);
  const auto c = testing::check_exposition(text, false);
  ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;

  const std::vector<std::pair<std::string, std::string>> users200 = {
      {"http_route", "/users/{id}"},
      {"http_request_method", "GET"},
      {"http_response_status_code", "200"}};
  EXPECT_EQ(c.value("http_server_request_duration_seconds_count", users200), 3);
  // 2 ms + 30 us of fixed phases: above the 2 ms bucket, inside the 3.5 ms one.
  auto le = [&](const char* bound) {
    auto labels = users200;
    labels.emplace_back("le", bound);
    return c.value("http_server_request_duration_seconds_bucket", labels);
  };
  EXPECT_EQ(le("0.002"), 0);
  EXPECT_EQ(le("0.0035"), 3);
  EXPECT_EQ(le("+Inf"), 3);
  EXPECT_NEAR(*c.value("http_server_request_duration_seconds_sum", users200), 3 * 0.00203, 1e-9);
  EXPECT_EQ(c.value("http_server_request_duration_seconds_count",
                    {{"http_route", "/users/{id}"}, {"http_response_status_code", "503"}}),
            1);

  // HDR-derived histograms at fixed bounds: the two 300 us connects.
  EXPECT_EQ(c.value("sidemeter_upstream_connect_duration_seconds_count"), 2);
  EXPECT_EQ(c.value("sidemeter_upstream_connect_duration_seconds_bucket", {{"le", "0.00025"}}), 0);
  EXPECT_EQ(c.value("sidemeter_upstream_connect_duration_seconds_bucket", {{"le", "0.0005"}}), 2);
  EXPECT_EQ(c.value("http_server_request_body_size_bytes_bucket", {{"le", "1024"}}), 4);
  EXPECT_EQ(c.value("http_server_request_body_size_bytes_bucket", {{"le", "4096"}}), 6);
  EXPECT_EQ(c.value("http_server_request_body_size_bytes_sum"), 4000);

  EXPECT_EQ(c.types.at("sidemeter_upstream_errors_total"), "counter");
  EXPECT_EQ(c.value("sidemeter_upstream_errors_total", {{"error_type", "connect_refused"}}), 0);
  EXPECT_EQ(c.value("sidemeter_upstream_up"), 1);
  EXPECT_EQ(c.value("sidemeter_request_duration_window_seconds_count", {{"window", "1m"}}), 6);
  EXPECT_NEAR(*c.value("sidemeter_request_duration_window_seconds",
                       {{"window", "1m"}, {"quantile", "0.5"}}),
              0.00203, 0.00203 * 0.01);
  EXPECT_EQ(c.types.at("process_cpu_seconds_total"), "counter");
  EXPECT_GT(*c.value("process_resident_memory_bytes"), 0);
  EXPECT_GT(*c.value("process_start_time_seconds"), 1.5e9);
}

TEST(PrometheusFormat, OpenMetricsEndsWithEofAndNamesCounterFamiliesWithoutTotal) {
  TestRegistry r;
  record_mix(r);
  ExpositionExtras extras;
  extras.upstream_up = false;
  extras.stats_unauthorized = 4;
  std::string text;
  append_exposition(r.registry.snapshot(), extras, ExpositionFormat::kOpenMetrics, text);
  const auto c = testing::check_exposition(text, true);
  ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
  ASSERT_GE(text.size(), 6u);
  EXPECT_EQ(text.substr(text.size() - 6), "# EOF\n");
  EXPECT_EQ(c.types.at("sidemeter_upstream_errors"), "counter");
  EXPECT_EQ(c.types.count("sidemeter_upstream_errors_total"), 0u);
  EXPECT_EQ(c.value("sidemeter_stats_unauthorized_requests_total"), 4);
  EXPECT_EQ(c.value("sidemeter_upstream_up"), 0);
}

TEST(PrometheusFormat, EmptyRegistryIsValidWithNanWindowQuantiles) {
  TestRegistry r;
  r.tick();
  for (auto f : {ExpositionFormat::kPrometheusText, ExpositionFormat::kOpenMetrics}) {
    std::string text;
    append_exposition(r.registry.snapshot(), {}, f, text);
    const auto c = testing::check_exposition(text, f == ExpositionFormat::kOpenMetrics);
    ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
    EXPECT_EQ(c.count("http_server_request_duration_seconds_count"), 0u);
    EXPECT_TRUE(std::isnan(*c.value("sidemeter_request_duration_window_seconds",
                                    {{"window", "1m"}, {"quantile", "0.99"}})));
    EXPECT_EQ(c.value("http_client_request_duration_seconds_bucket", {{"le", "+Inf"}}), 0);
  }
}

TEST(PrometheusFormat, LabelValuesAreEscapedAndSanitized) {
  metrics::Snapshot snap;
  metrics::DurationSeries s;
  s.route = std::string("/a\"b\\c\nd\xFF", 9);
  s.method = Method::kOther;
  s.code = 0;
  s.buckets[0] = 2;
  s.count = 2;
  s.sum_seconds = 0.0001;
  snap.request_duration.push_back(s);
  snap.windows[size_t(metrics::Window::kTotal)].rejected.emplace_back("we\"ird", 3);
  std::string text;
  append_exposition(snap, {}, ExpositionFormat::kPrometheusText, text);
  EXPECT_NE(text.find("http_route=\"/a\\\"b\\\\c\\nd\xEF\xBF\xBD\""), std::string::npos) << text;
  const auto c = testing::check_exposition(text, false);
  ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
  EXPECT_EQ(c.value("http_server_request_duration_seconds_count",
                    {{"http_route", "/a\"b\\c\nd\xEF\xBF\xBD"},
                     {"http_request_method", "_OTHER"},
                     {"http_response_status_code", "other"}}),
            2);
  EXPECT_EQ(c.value("sidemeter_rejected_requests_total", {{"reason", "we\"ird"}}), 3);
}

TEST(PrometheusFormat, CumulativeAtBoundsNeverMissesAValueAtOrBelowABound) {
  metrics::Histogram h(metrics::kDurationLayout);
  h.record(50'000);          // 50 us
  h.record(100'000);         // exactly 100 us
  h.record(2'000'000);       // 2 ms
  h.record(61'000'000'000);  // 61 s: only +Inf
  const double bounds[] = {0.00005, 0.0001, 0.002, 60};
  uint64_t out[4];
  cumulative_at_bounds(h, bounds, 1e-9, out);
  EXPECT_EQ(out[0], 1u);
  EXPECT_EQ(out[1], 2u);
  EXPECT_EQ(out[2], 3u);
  EXPECT_EQ(out[3], 3u);
}

TEST(PrometheusFormat, NegotiatesOpenMetricsFromAccept) {
  EXPECT_EQ(negotiate_exposition("application/openmetrics-text;version=1.0.0,application/"
                                 "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
                                 "q=0.5,*/*;q=0.1"),
            ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(negotiate_exposition("text/plain"), ExpositionFormat::kPrometheusText);
  EXPECT_EQ(negotiate_exposition(""), ExpositionFormat::kPrometheusText);
  EXPECT_NE(exposition_content_type(ExpositionFormat::kOpenMetrics).find("openmetrics"),
            std::string_view::npos);
  EXPECT_NE(exposition_content_type(ExpositionFormat::kPrometheusText).find("version=0.0.4"),
            std::string_view::npos);
}

}  // namespace
}  // namespace sidemeter::stats
