// Accept negotiation (RFC 9110 §12.5.1) as /metrics does it: a table of headers, among them
// the ones Prometheus 2.42 really sends (captured from its scrapes, with and without
// --enable-feature=native-histograms), and the format each must get.
#include "proxy/stats/content_negotiation.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/stats/prometheus_format.h"

namespace sidemeter::stats {
namespace {

using F = ExpositionFormat;

const char* name(F f) {
  switch (f) {
    case F::kPrometheusText:
      return "text";
    case F::kOpenMetrics:
      return "openmetrics";
    case F::kProtobuf:
      return "protobuf";
  }
  return "?";
}

struct Case {
  const char* accept;
  F expected;
};

// Prometheus 2.42.0 (Debian 2.42.0+ds-5+deb12u1), the Accept of its scrape requests.
constexpr const char* kPrometheusNative =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
    "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
constexpr const char* kPrometheusClassic =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

TEST(ContentNegotiation, ExpositionFormatByAccept) {
  const Case cases[] = {
      // No header, or anything: the plain text format.
      {"", F::kPrometheusText},
      {"*/*", F::kPrometheusText},
      {"text/*", F::kPrometheusText},
      {"text/plain", F::kPrometheusText},
      {"application/json", F::kPrometheusText},  // nothing acceptable: the default
      // Real scrapers.
      {kPrometheusNative, F::kProtobuf},
      {kPrometheusClassic, F::kOpenMetrics},
      // The two: q-values decide, and q=0 means "not acceptable".
      {"application/openmetrics-text;q=0.1, text/plain;q=0.9", F::kPrometheusText},
      {"application/openmetrics-text;q=0", F::kPrometheusText},
      {"application/openmetrics-text;q=0.000, */*", F::kPrometheusText},
      {"application/openmetrics-text", F::kOpenMetrics},
      {"application/openmetrics-text; version=1.0.0; charset=utf-8", F::kOpenMetrics},
      // A version we do not speak does not match the offer; */* still does.
      {"application/openmetrics-text;version=0.0.1, */*;q=0.1", F::kPrometheusText},
      {"application/openmetrics-text;version=0.0.1", F::kPrometheusText},
      // The more specific range wins over a wildcard for the same type (§12.5.1 example).
      {"text/*;q=0.3, text/plain;q=0.7, application/openmetrics-text;q=0.5", F::kPrometheusText},
      {"text/*;q=0.9, text/plain;version=0.0.4;q=0.2, application/openmetrics-text;q=0.5",
       F::kOpenMetrics},
      {"*/*;q=0.5, text/plain;q=0", F::kOpenMetrics},  // text refused; OM first of the rest
      // Ties: the more specific range, then header order.
      {"text/plain, application/openmetrics-text;version=1.0.0", F::kOpenMetrics},
      {"application/openmetrics-text, text/plain", F::kOpenMetrics},
      {"text/plain, application/openmetrics-text", F::kPrometheusText},
      // Protobuf needs the MetricFamily delimited encoding, when parameters are given.
      {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
       F::kPrometheusText},
      {"application/vnd.google.protobuf;proto=other.Message;encoding=delimited",
       F::kPrometheusText},
      {"application/vnd.google.protobuf; proto=\"io.prometheus.client.MetricFamily\"; "
       "encoding=delimited; q=0.9, text/plain;q=0.8",
       F::kProtobuf},
      {"APPLICATION/VND.GOOGLE.PROTOBUF;PROTO=io.prometheus.client.MetricFamily;"
       "ENCODING=DELIMITED",
       F::kProtobuf},
      // Malformed elements are skipped, not fatal.
      {"garbage, application/openmetrics-text;q=0.5", F::kOpenMetrics},
      {"application/openmetrics-text;q=2, text/plain;q=0.1", F::kPrometheusText},
      {"application/openmetrics-text;q=0.5x", F::kPrometheusText},
      {"*/plain, application/openmetrics-text;q=0.2", F::kOpenMetrics},
      {",,, application/openmetrics-text ,", F::kOpenMetrics},
      // A quoted value may hold the separators.
      {"application/openmetrics-text;x=\"a,b;c\";q=0.4, text/plain;q=0.3", F::kPrometheusText},
  };
  for (const Case& c : cases) {
    EXPECT_STREQ(name(negotiate_exposition(c.accept)), name(c.expected)) << "Accept: " << c.accept;
  }
}

TEST(ContentNegotiation, GenericOffersAndNoneAcceptable) {
  static constexpr MediaParameter kJsonParams[] = {{"charset", "utf-8"}};
  static constexpr MediaTypeOffer kOffers[] = {{"application", "json", kJsonParams},
                                               {"text", "html", {}}};
  EXPECT_EQ(negotiate_media_type("", kOffers), 0u);
  EXPECT_EQ(negotiate_media_type("text/html", kOffers), 1u);
  EXPECT_EQ(negotiate_media_type("text/html;q=0.5, application/*;q=0.6", kOffers), 0u);
  EXPECT_EQ(negotiate_media_type("application/json;charset=UTF-8;q=0.1, text/html;q=0.05",
                                 kOffers),
            0u);
  EXPECT_EQ(negotiate_media_type("application/json;charset=latin1", kOffers), std::nullopt);
  EXPECT_EQ(negotiate_media_type("image/png", kOffers), std::nullopt);
  EXPECT_EQ(negotiate_media_type("*/*;q=0", kOffers), std::nullopt);
  EXPECT_EQ(negotiate_media_type("text/html, */*;q=0", kOffers), 1u);
  EXPECT_EQ(negotiate_media_type("text/html", {}), std::nullopt);
}

}  // namespace
}  // namespace sidemeter::stats
