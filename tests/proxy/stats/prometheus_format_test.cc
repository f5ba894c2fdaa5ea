#include "proxy/stats/prometheus_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>

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
  // The per-route family carries the short default set (metrics/duration_bounds.h).
  EXPECT_EQ(le("0.002"), std::nullopt);
  EXPECT_EQ(le("0.005"), 3);
  EXPECT_EQ(le("+Inf"), 3);
  // The service-wide one the fine set: the 1 ms 503 under 2 ms, the 2 ms 200s above it.
  EXPECT_EQ(c.value("sidemeter_request_duration_seconds_bucket", {{"le", "0.002"}}), 1);
  EXPECT_EQ(c.value("sidemeter_request_duration_seconds_bucket", {{"le", "0.0035"}}), 4);
  EXPECT_EQ(c.value("sidemeter_request_duration_seconds_count"), 6);
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
  // Window summaries: quantiles over the window, _count/_sum since start (the window's own
  // would fall as it slides): the same as the service-wide histogram's, in every window.
  EXPECT_EQ(c.types.at("sidemeter_request_duration_window_seconds"), "summary");
  EXPECT_EQ(c.count("sidemeter_request_duration_window_seconds_count"), 3u);
  EXPECT_EQ(c.value("sidemeter_request_duration_window_seconds_count", {{"window", "10s"}}),
            c.value("sidemeter_request_duration_seconds_count"));
  EXPECT_EQ(c.value("sidemeter_request_duration_window_seconds_sum", {{"window", "5m"}}),
            c.value("sidemeter_request_duration_seconds_sum"));
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
  s.code_other = true;
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

// Every exchange is in http_server_request_duration_seconds, cut-short ones too, and
// error_type (OTel error.type) is on exactly the ones that did not complete normally.
TEST(PrometheusFormat, EveryExchangeIsInTheDurationHistogramWithItsErrorType) {
  using metrics::DownstreamError;
  using metrics::UpstreamError;
  TestRegistry r;
  r.record({.path = "/f", .ttfb_ns = 2'000'000}, 2);                           // whole 200s
  r.record({.path = "/f", .downstream_error = DownstreamError::kClientAbortResponse,
            .cut_short = true}, 3);                                            // client left
  r.record({.path = "/f", .upstream_error = UpstreamError::kClosedEarly,
            .cut_short = true});                                               // cut mid-body
  r.record({.path = "/f", .status = 503});                                     // a whole 503
  r.record({.path = "/f", .status = 502, .upstream_error = UpstreamError::kConnectRefused});
  r.record({.path = "/f", .status = 0,
            .downstream_error = DownstreamError::kClientAbortRequest});        // none sent
  r.tick();
  const metrics::Snapshot snap = r.registry.snapshot();
  for (auto f : {ExpositionFormat::kPrometheusText, ExpositionFormat::kOpenMetrics}) {
    std::string text;
    append_exposition(snap, {}, f, text);
    const auto c = testing::check_exposition(text, f == ExpositionFormat::kOpenMetrics);
    ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
    std::map<std::pair<std::string, std::string>, double> counts;  // (code, error_type)
    double total = 0;
    for (const testing::ExpositionSample& x : c.samples) {
      if (x.name != "http_server_request_duration_seconds_count") continue;
      EXPECT_TRUE(counts.emplace(std::pair(x.label("http_response_status_code"),
                                           x.label("error_type")), x.value).second);
      total += x.value;
    }
    using Key = std::pair<std::string, std::string>;
    EXPECT_EQ(counts, (std::map<Key, double>{{{"200", ""}, 2},
                                             {{"200", "client_abort_response"}, 3},
                                             {{"200", "closed_early"}, 1},
                                             {{"503", "503"}, 1},
                                             {{"502", "connect_refused"}, 1},
                                             {{"", "client_abort_request"}, 1}}))
        << text;
    // The same exchanges as /stats counts them: all of them, the 2xx ones, the errors.
    const metrics::WindowStats& w = snap.window(metrics::Window::kTotal);
    EXPECT_EQ(total, double(w.requests));
    const double twos = counts[Key("200", "")] + counts[Key("200", "client_abort_response")] +
                        counts[Key("200", "closed_early")];
    EXPECT_EQ(twos, double(w.totals.status_classes[1]));
    EXPECT_EQ(w.errors, 3u);  // closed_early, 503, 502
    const auto* no_code = c.find("http_server_request_duration_seconds_count",
                                 {{"error_type", "client_abort_request"}});
    ASSERT_NE(no_code, nullptr);
    for (const auto& [name, value] : no_code->labels) EXPECT_NE(name, "http_response_status_code");
  }
}

// Series count: per-route series cost (route bounds + 3) each, the service-wide family
// (fine bounds + 3) once; the two agree on the bounds they share.
TEST(PrometheusFormat, PerRouteFamilyHasFewBoundsServiceWideFamilyTheFineSet) {
  TestRegistry r;
  record_mix(r);
  std::string text;
  append_exposition(r.registry.snapshot(), {}, ExpositionFormat::kPrometheusText, text);
  const auto c = testing::check_exposition(text, false);
  ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
  const size_t route_series = c.count("http_server_request_duration_seconds_count");
  EXPECT_EQ(route_series, 3u);  // (/users/{id}, GET, 200), (.., 503), (/orders, POST, 201)
  EXPECT_EQ(c.count("http_server_request_duration_seconds_bucket"),
            route_series * (metrics::kRouteRequestDurationBounds.size() + 1));
  EXPECT_EQ(c.count("sidemeter_request_duration_seconds_bucket"),
            metrics::kRequestDurationBounds.size() + 1);
  EXPECT_EQ(c.sum("http_server_request_duration_seconds_count"),
            c.value("sidemeter_request_duration_seconds_count"));
  EXPECT_NEAR(c.sum("http_server_request_duration_seconds_sum"),
              *c.value("sidemeter_request_duration_seconds_sum"), 1e-9);
  for (double b : metrics::kRouteRequestDurationBounds) {
    ASSERT_NE(std::find(metrics::kRequestDurationBounds.begin(),
                        metrics::kRequestDurationBounds.end(), b),
              metrics::kRequestDurationBounds.end());
    std::string le;
    for (const testing::ExpositionSample& x : c.samples) {
      if (x.name != "sidemeter_request_duration_seconds_bucket") continue;
      if (std::abs(std::stod(x.label("le")) - b) < 1e-12) le = x.label("le");
    }
    ASSERT_FALSE(le.empty()) << b;
    EXPECT_EQ(c.sum("http_server_request_duration_seconds_bucket", {{"le", le}}),
              c.value("sidemeter_request_duration_seconds_bucket", {{"le", le}}))
        << le;
  }
}

// stats.histogram_buckets reaches both families; a series' counts at a bound come from its
// full-resolution histogram when the registry filled it, else from its fixed buckets.
TEST(PrometheusFormat, ConfiguredBoundsAreTheLeSeries) {
  metrics::Snapshot snap;
  metrics::DurationSeries filled;
  filled.route = "/a";
  filled.method = Method::kGet;
  filled.code = 200;
  // Each well clear of the bounds below (buckets are 1.09 % wide).
  for (uint64_t ns : {900'000ull, 2'800'000ull, 40'000'000ull}) filled.histogram.record(ns);
  filled.count = 3;
  filled.sum_seconds = 0.0437;
  metrics::DurationSeries fixed = filled;  // same figures, histogram left empty
  fixed.route = "/b";
  fixed.histogram = metrics::Histogram(metrics::kDurationLayout);
  fixed.buckets = {};
  fixed.buckets[3] = 1;   // (0.0005, 0.001]
  fixed.buckets[5] = 1;   // (0.002, 0.0035]
  fixed.buckets[11] = 1;  // (0.025, 0.05]
  snap.request_duration = {filled, fixed};
  snap.duration_histograms.assign(metrics::kDurationMetrics,
                                  metrics::Histogram(metrics::kDurationLayout));
  snap.duration_histograms[size_t(metrics::DurationMetric::kLatency)] = filled.histogram;
  const double route_bounds[] = {0.001, 0.003, 0.05};
  const double wide_bounds[] = {0.002};
  ExpositionExtras extras;
  extras.route_request_duration_bounds = route_bounds;
  extras.request_duration_bounds = wide_bounds;
  std::string text;
  append_exposition(snap, extras, ExpositionFormat::kPrometheusText, text);
  const auto c = testing::check_exposition(text, false);
  ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
  auto le = [&](const char* route, const char* bound) {
    return c.value("http_server_request_duration_seconds_bucket",
                   {{"http_route", route}, {"le", bound}});
  };
  EXPECT_EQ(le("/a", "0.001"), 1);
  EXPECT_EQ(le("/a", "0.003"), 2);  // any bound: the full histogram has it
  EXPECT_EQ(le("/a", "0.05"), 3);
  EXPECT_EQ(le("/b", "0.001"), 1);
  EXPECT_EQ(le("/b", "0.003"), 1);  // 0.003 splits (0.002, 0.0035]: only what is surely below
  EXPECT_EQ(le("/b", "0.05"), 3);
  EXPECT_EQ(c.count("http_server_request_duration_seconds_bucket"), 2u * 4u);
  EXPECT_EQ(c.value("sidemeter_request_duration_seconds_bucket", {{"le", "0.002"}}), 1);
  EXPECT_EQ(c.count("sidemeter_request_duration_seconds_bucket"), 2u);
}

// No bound at all: only +Inf, _sum and _count (three series per label combination).
TEST(PrometheusFormat, EmptyBoundsLeaveOnlyInf) {
  TestRegistry r;
  record_mix(r);
  ExpositionExtras extras;
  extras.route_request_duration_bounds = {};
  std::string text;
  append_exposition(r.registry.snapshot(), extras, ExpositionFormat::kOpenMetrics, text);
  const auto c = testing::check_exposition(text, true);
  ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
  EXPECT_EQ(c.count("http_server_request_duration_seconds_bucket"), 3u);
  EXPECT_EQ(c.value("http_server_request_duration_seconds_bucket",
                    {{"http_route", "/orders"}, {"le", "+Inf"}}),
            2);
}

// Names say what they are: no family of another type has samples ending like a counter's
// or a histogram's, and nothing but summaries carry quantile.
TEST(PrometheusFormat, OnlyCountersHistogramsAndSummariesHaveCounterSuffixes) {
  TestRegistry r(/*process_stats=*/true);
  record_mix(r);
  r.tick();
  for (auto f : {ExpositionFormat::kPrometheusText, ExpositionFormat::kOpenMetrics}) {
    std::string text;
    append_exposition(r.registry.snapshot(), {}, f, text);
    const auto c = testing::check_exposition(text, f == ExpositionFormat::kOpenMetrics);
    ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
    for (const auto& [family, type] : c.types) {
      if (type != "gauge") continue;
      for (const char* suffix : {"_total", "_count", "_sum", "_bucket", "_created"}) {
        const std::string_view sv(suffix);
        EXPECT_FALSE(family.size() > sv.size() &&
                     family.compare(family.size() - sv.size(), sv.size(), sv) == 0)
            << family;
      }
    }
    for (const testing::ExpositionSample& x : c.samples) {
      if (x.label("quantile").empty()) continue;
      EXPECT_EQ(c.types.at(x.name), "summary") << x.name;
    }
  }
}

TEST(PrometheusFormat, CumulativeAtBoundsNeverCountsAValueAboveABound) {
  metrics::Histogram h(metrics::kDurationLayout);
  h.record(49'000);          // 49 us: more than a bucket width below 50 us
  h.record(50'001);          // just above 50 us: never under le=0.00005
  h.record(1'953'125);       // exactly 2^-9 s, a bucket boundary
  h.record(2'000'000);       // exactly 2 ms: not a boundary, its bucket straddles 2 ms
  h.record(61'000'000'000);  // 61 s: only +Inf
  const double bounds[] = {0.00005, 0.001953125, 0.002, 0.00203, 60};
  uint64_t out[5];
  cumulative_at_bounds(h, bounds, 1e-9, out);
  EXPECT_EQ(out[0], 1u);
  EXPECT_EQ(out[1], 3u);  // a value exactly at a bucket boundary counts under it
  EXPECT_EQ(out[2], 3u);  // 2 ms's bucket ends above 2 ms: counted above (within 1.09 %)
  EXPECT_EQ(out[3], 4u);
  EXPECT_EQ(out[4], 4u);
}

// The index shortcut in cumulative_at_bounds gives what the bucket-by-bucket rule gives, at
// bounds on and just either side of bucket edges, below the layout and above it.
TEST(PrometheusFormat, CumulativeAtBoundsMatchesTheBucketByBucketRule) {
  const metrics::HistogramLayout& layout = metrics::kDurationLayout;
  metrics::Histogram h(layout);
  for (uint32_t i = 0; i < layout.num_buckets; i += 7) h.record(layout.upper(i), i % 5 + 1);
  std::vector<double> bounds = {1e-7, 9.99e-7};
  for (uint32_t i = 1; i < layout.num_buckets; i += 97) {
    const double edge = double(layout.upper(i)) * 1e-9;
    bounds.insert(bounds.end(), {std::nextafter(edge, 0.0), edge, std::nextafter(edge, 1e9)});
  }
  bounds.insert(bounds.end(), {3599.0, 3600.0, 1e6});
  std::sort(bounds.begin(), bounds.end());
  for (double unit : {1e-9, 1e-6}) {
    std::vector<uint64_t> fast(bounds.size()), slow(bounds.size());
    cumulative_at_bounds(h, bounds, unit, fast);
    uint64_t running = 0;
    uint32_t i = 0;
    for (size_t b = 0; b < bounds.size(); ++b) {
      const auto limit = uint64_t(std::llround(bounds[b] / unit));
      while (i < layout.num_buckets && layout.upper(i) <= limit) running += h.bucket(i++);
      slow[b] = running;
    }
    EXPECT_EQ(fast, slow) << unit;
  }
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

TEST(PrometheusFormat, NoTlsFamiliesWithoutTls) {
  TestRegistry r;
  record_mix(r);
  std::string text;
  append_exposition(r.registry.snapshot(), {}, ExpositionFormat::kPrometheusText, text);
  const auto c = testing::check_exposition(text, false);
  ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
  EXPECT_EQ(text.find("sidemeter_tls_"), std::string::npos) << text;
  // The upstream TLS phase summary is there like the other phases (empty: NaN).
  EXPECT_TRUE(std::isnan(*c.value("sidemeter_upstream_tls_handshake_window_seconds",
                                  {{"window", "1m"}, {"quantile", "0.5"}})));
  // The new upstream error kind is listed with the others.
  EXPECT_EQ(c.value("sidemeter_upstream_errors_total", {{"error_type", "tls_handshake_failed"}}), 0);
}

TEST(PrometheusFormat, TlsFamilies) {
  TestRegistry r;
  metrics::TlsCounters& tls = r.shard.tls();
  using metrics::TlsSide;
  using metrics::TlsVersionSeen;
  tls.record_handshake(TlsSide::kDownstream, TlsVersionSeen::k1_3, false, 2'000'000);
  tls.record_handshake(TlsSide::kDownstream, TlsVersionSeen::k1_3, true, 200'000);
  tls.record_handshake(TlsSide::kDownstream, TlsVersionSeen::k1_2, false, 3'000'000);
  tls.record_failure(TlsSide::kDownstream, metrics::TlsFailure::kNoSharedCipher);
  r.registry.set_certificates(
      {{"api.example.com", "/tls/api.crt", TlsSide::kDownstream, 1'767'225'600}});
  r.record({.path = "/a", .connect_ns = 100'000, .tls_ns = 3'000'000}, 2);
  r.record({.path = "/a",
            .status = 502,
            .connect_ns = 100'000,
            .upstream_error = metrics::UpstreamError::kTlsHandshakeFailed});
  r.tick();
  ExpositionExtras extras;
  extras.tls_configured[size_t(TlsSide::kDownstream)] = true;
  for (auto f : {ExpositionFormat::kPrometheusText, ExpositionFormat::kOpenMetrics}) {
    const bool om = f == ExpositionFormat::kOpenMetrics;
    std::string text;
    append_exposition(r.registry.snapshot(), extras, f, text);
    const auto c = testing::check_exposition(text, om);
    ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
    EXPECT_EQ(c.types.at("sidemeter_tls_handshake_duration_seconds"), "histogram");
    EXPECT_EQ(c.types.at(om ? "sidemeter_tls_handshakes" : "sidemeter_tls_handshakes_total"),
              "counter");
    EXPECT_EQ(c.types.at(om ? "sidemeter_tls_handshake_failures"
                            : "sidemeter_tls_handshake_failures_total"),
              "counter");
    EXPECT_EQ(c.types.at("sidemeter_tls_certificate_expiry_timestamp_seconds"), "gauge");
  }
  std::string text;
  append_exposition(r.registry.snapshot(), extras, ExpositionFormat::kPrometheusText, text);
  const auto c = testing::check_exposition(text, false);
  ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
  const std::vector<std::pair<std::string, std::string>> down = {{"side", "downstream"}};
  EXPECT_EQ(c.value("sidemeter_tls_handshake_duration_seconds_count", down), 3);
  EXPECT_NEAR(*c.value("sidemeter_tls_handshake_duration_seconds_sum", down), 0.0052, 1e-12);
  EXPECT_EQ(c.value("sidemeter_tls_handshake_duration_seconds_bucket",
                    {{"side", "downstream"}, {"le", "0.00025"}}),
            1);
  EXPECT_EQ(c.value("sidemeter_tls_handshake_duration_seconds_bucket",
                    {{"side", "downstream"}, {"le", "0.0035"}}),
            3);
  EXPECT_EQ(c.value("sidemeter_tls_handshakes_total",
                    {{"side", "downstream"}, {"version", "TLSv1.3"}, {"resumed", "true"}}),
            1);
  EXPECT_EQ(c.value("sidemeter_tls_handshakes_total",
                    {{"side", "downstream"}, {"version", "TLSv1.2"}, {"resumed", "false"}}),
            1);
  // Every version and reason of a shown side is there, at 0 when nothing happened.
  EXPECT_EQ(c.value("sidemeter_tls_handshakes_total",
                    {{"side", "downstream"}, {"version", "other"}, {"resumed", "true"}}),
            0);
  EXPECT_EQ(c.count("sidemeter_tls_handshakes_total"), metrics::kTlsVersions * 2);
  EXPECT_EQ(c.count("sidemeter_tls_handshake_failures_total"), metrics::kTlsFailures);
  EXPECT_EQ(c.value("sidemeter_tls_handshake_failures_total",
                    {{"side", "downstream"}, {"reason", "no_shared_cipher"}}),
            1);
  EXPECT_EQ(c.value("sidemeter_tls_handshake_failures_total",
                    {{"side", "downstream"}, {"reason", "handshake_timeout"}}),
            0);
  // Upstream TLS is not configured and counted nothing: no upstream series.
  EXPECT_EQ(c.find("sidemeter_tls_handshakes_total", {{"side", "upstream"}}), nullptr);
  EXPECT_EQ(c.value("sidemeter_tls_certificate_expiry_timestamp_seconds",
                    {{"name", "api.example.com"}, {"side", "downstream"}, {"file", "/tls/api.crt"}}),
            1'767'225'600);
  // The exchanges' phase and error kind.
  EXPECT_NEAR(*c.value("sidemeter_upstream_tls_handshake_window_seconds",
                       {{"window", "1m"}, {"quantile", "0.5"}}),
              0.003, 0.003 * 0.01);
  EXPECT_EQ(c.value("sidemeter_upstream_errors_total", {{"error_type", "tls_handshake_failed"}}), 1);

  // An upstream handshake counted while upstream TLS is not (or no longer) configured
  // still shows: counters never vanish with a reload.
  tls.record_failure(TlsSide::kUpstream, metrics::TlsFailure::kUnknownCa);
  text.clear();
  append_exposition(r.registry.snapshot(), extras, ExpositionFormat::kPrometheusText, text);
  const auto later = testing::check_exposition(text, false);
  ASSERT_TRUE(later.errors.empty()) << join_errors(later) << text;
  EXPECT_EQ(later.value("sidemeter_tls_handshake_failures_total",
                        {{"side", "upstream"}, {"reason", "unknown_ca"}}),
            1);
  EXPECT_EQ(later.value("sidemeter_tls_handshake_duration_seconds_count", {{"side", "upstream"}}),
            0);
}

// The SLO counters per SLO name in both text formats (counter families, "_total" samples);
// the CPU quota gauge only when there is a quota.
TEST(PrometheusFormat, SloEventCountersAndCpuQuota) {
  TestRegistry r;
  record_mix(r);
  metrics::alerts::Status status;
  for (const char* name : {"checkout", "api-latency"}) {
    metrics::alerts::SloState slo;
    slo.spec.name = name;
    slo.events_total = 1200;
    slo.good_events_total = 1140;
    status.slos.push_back(slo);
  }
  status.slos[1].good_events_total = 7;
  ExpositionExtras extras;
  extras.alerts = &status;
  metrics::Snapshot snap = r.registry.snapshot();
  snap.process.cgroup_cpu_quota_cores = 0;  // unlimited
  for (const bool om : {false, true}) {
    std::string text;
    append_exposition(snap, extras,
                      om ? ExpositionFormat::kOpenMetrics : ExpositionFormat::kPrometheusText, text);
    const auto c = testing::check_exposition(text, om);
    ASSERT_TRUE(c.errors.empty()) << join_errors(c) << text;
    const std::string events = om ? "sidemeter_slo_events" : "sidemeter_slo_events_total";
    EXPECT_EQ(c.types.at(events), "counter");
    EXPECT_EQ(c.value("sidemeter_slo_events_total", {{"slo", "checkout"}}), 1200);
    EXPECT_EQ(c.value("sidemeter_slo_good_events_total", {{"slo", "checkout"}}), 1140);
    EXPECT_EQ(c.value("sidemeter_slo_good_events_total", {{"slo", "api-latency"}}), 7);
    EXPECT_EQ(c.types.count("sidemeter_cpu_quota_cores"), 0u);
    EXPECT_FALSE(c.value("sidemeter_cpu_quota_cores"));
  }
  snap.process.cgroup_cpu_quota_cores = 1.5;  // cpu.max "150000 100000"
  std::string text;
  append_exposition(snap, extras, ExpositionFormat::kPrometheusText, text);
  const auto c = testing::check_exposition(text, false);
  ASSERT_TRUE(c.errors.empty()) << join_errors(c);
  EXPECT_EQ(c.types.at("sidemeter_cpu_quota_cores"), "gauge");
  EXPECT_EQ(c.value("sidemeter_cpu_quota_cores"), 1.5);
}

}  // namespace
}  // namespace sidemeter::stats
