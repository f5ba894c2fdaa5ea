// The protobuf exposition decoded with the classes generated from Prometheus'
// metrics.proto (as Prometheus reads it): the same families, types, label sets and values
// as the text format, and native buckets that carry the histograms' counts.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "proxy/stats/prometheus_pb.h"
#include "metrics/native_histogram.h"
#include "proxy/stats/prometheus_format.h"
#include "proxy/stats/protobuf_sink.h"
#include "tests/proxy/stats/traffic.h"
#include "tests/support/exposition_check.h"

namespace sidemeter::stats {
namespace {

namespace pb = io::prometheus::client;
using metrics::Method;
using testing::TestRegistry;

std::vector<pb::MetricFamily> decode(const std::string& bytes) {
  std::vector<pb::MetricFamily> out;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            int(bytes.size()));
  while (in.CurrentPosition() < int(bytes.size())) {
    pb::MetricFamily f;
    bool clean_eof = false;
    if (!google::protobuf::util::ParseDelimitedFromCodedStream(&f, &in, &clean_eof)) {
      ADD_FAILURE() << "undecodable message at byte " << in.CurrentPosition();
      break;
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  char b[40];
  snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// One text-format sample as a comparable line: name{sorted labels} value; "le" and
// "quantile" compared as numbers (the text spells 0.0001, the message holds a double).
std::string line(const std::string& name, std::map<std::string, std::string> labels,
                 double value) {
  for (const char* numeric : {"le", "quantile"}) {
    auto it = labels.find(numeric);
    if (it != labels.end() && it->second != "+Inf") it->second = num(std::stod(it->second));
  }
  std::string s = name + "{";
  for (const auto& [k, v] : labels) s += k + "=" + v + ",";
  return s + "} " + num(value);
}

// The families as text-format lines, the way Prometheus' protobuf parser expands them
// (classic buckets, _sum, _count; quantiles).
std::multiset<std::string> lines_of(const std::vector<pb::MetricFamily>& families) {
  std::multiset<std::string> out;
  for (const pb::MetricFamily& f : families) {
    for (const pb::Metric& m : f.metric()) {
      std::map<std::string, std::string> labels;
      for (const pb::LabelPair& l : m.label()) labels[l.name()] = l.value();
      switch (f.type()) {
        case pb::COUNTER:
          out.insert(line(f.name(), labels, m.counter().value()));
          break;
        case pb::GAUGE:
          out.insert(line(f.name(), labels, m.gauge().value()));
          break;
        case pb::SUMMARY:
          for (const pb::Quantile& q : m.summary().quantile()) {
            auto l = labels;
            l["quantile"] = num(q.quantile());
            out.insert(line(f.name(), l, q.value()));
          }
          out.insert(line(f.name() + "_sum", labels, m.summary().sample_sum()));
          out.insert(line(f.name() + "_count", labels, double(m.summary().sample_count())));
          break;
        case pb::HISTOGRAM: {
          const pb::Histogram& h = m.histogram();
          for (const pb::Bucket& b : h.bucket()) {
            auto l = labels;
            l["le"] = num(b.upper_bound());
            out.insert(line(f.name() + "_bucket", l, double(b.cumulative_count())));
          }
          auto inf = labels;
          inf["le"] = "+Inf";
          out.insert(line(f.name() + "_bucket", inf, double(h.sample_count())));
          out.insert(line(f.name() + "_sum", labels, h.sample_sum()));
          out.insert(line(f.name() + "_count", labels, double(h.sample_count())));
          break;
        }
        default:
          ADD_FAILURE() << "unexpected type for " << f.name();
      }
    }
  }
  return out;
}

std::multiset<std::string> lines_of(const testing::ExpositionCheck& c) {
  std::multiset<std::string> out;
  for (const testing::ExpositionSample& s : c.samples) {
    std::map<std::string, std::string> labels(s.labels.begin(), s.labels.end());
    out.insert(line(s.name, labels, s.value));
  }
  return out;
}

// Native buckets by index, from spans and deltas.
std::map<int32_t, int64_t> native_buckets(const pb::Histogram& h) {
  std::map<int32_t, int64_t> out;
  int32_t index = 0;
  int64_t count = 0;
  int d = 0;
  for (int s = 0; s < h.positive_span_size(); ++s) {
    index += h.positive_span(s).offset();
    for (uint32_t k = 0; k < h.positive_span(s).length(); ++k, ++index) {
      EXPECT_LT(d, h.positive_delta_size());
      if (d >= h.positive_delta_size()) return out;
      count += h.positive_delta(d++);
      out[index] = count;
    }
  }
  EXPECT_EQ(d, h.positive_delta_size()) << "deltas beyond the spans";
  return out;
}

// The schema-6 bucket holding v: (2^((i-1)/64), 2^(i/64)].
int32_t native_index(double v) { return int32_t(std::ceil(std::log2(v) * 64)); }

const pb::MetricFamily* find(const std::vector<pb::MetricFamily>& fs, const std::string& name) {
  for (const pb::MetricFamily& f : fs) {
    if (f.name() == name) return &f;
  }
  return nullptr;
}

// A snapshot with every kind of family: the exchange mix, TLS, access log, deliveries.
struct Fixture {
  Fixture() : r(/*process_stats=*/true) {
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
    r.shard.tls().record_handshake(metrics::TlsSide::kDownstream, metrics::TlsVersionSeen::k1_3,
                                   false, 2'000'000);
    r.tick();
    r.tick();
    extras.access_log = ExpositionExtras::AccessLog{7, 1, 0};
    deliveries.push_back({"http://am.example/", 3, 1, 0});
    extras.deliveries = deliveries;
    extras.config_hash = "abc123";
    metrics::alerts::SloState slo;
    slo.spec.name = "checkout";
    slo.events_total = 1200;
    slo.good_events_total = 1140;
    status.slos.push_back(slo);
    extras.alerts = &status;
  }
  TestRegistry r;
  metrics::alerts::Status status;
  ExpositionExtras extras;
  std::vector<ExpositionExtras::Delivery> deliveries;
};

TEST(ProtobufExposition, SameFamiliesTypesLabelsAndValuesAsTheTextFormat) {
  Fixture fx;
  metrics::Snapshot snap = fx.r.registry.snapshot();
  snap.process.cgroup_cpu_quota_cores = 1.5;
  std::string text, bytes;
  append_exposition(snap, fx.extras, ExpositionFormat::kPrometheusText, text);
  append_exposition(snap, fx.extras, ExpositionFormat::kProtobuf, bytes);
  const testing::ExpositionCheck c = testing::check_exposition(text, false);
  ASSERT_TRUE(c.errors.empty()) << text;
  const std::vector<pb::MetricFamily> families = decode(bytes);
  ASSERT_FALSE(families.empty());

  // Every family of the text format that has a sample, with its type (the text format's
  // counter family names carry _total, as the protobuf ones do); no other family.
  std::set<std::string> text_families_with_samples;
  for (const auto& [family, type] : c.types) {
    for (const testing::ExpositionSample& s : c.samples) {
      if (s.name == family || s.name.rfind(family + "_", 0) == 0) {
        text_families_with_samples.insert(family);
        break;
      }
    }
  }
  std::set<std::string> proto_families;
  for (const pb::MetricFamily& f : families) {
    EXPECT_TRUE(proto_families.insert(f.name()).second) << "family twice: " << f.name();
    EXPECT_GT(f.metric_size(), 0) << f.name();
    EXPECT_FALSE(f.help().empty()) << f.name();
    ASSERT_TRUE(c.types.count(f.name())) << f.name() << " is not in the text format";
    const std::string& t = c.types.at(f.name());
    const pb::MetricType expected = t == "counter"   ? pb::COUNTER
                                    : t == "gauge"   ? pb::GAUGE
                                    : t == "summary" ? pb::SUMMARY
                                                     : pb::HISTOGRAM;
    EXPECT_EQ(f.type(), expected) << f.name();
  }
  EXPECT_EQ(proto_families, text_families_with_samples);
  // Kinds all present (so the comparison below covers each).
  for (const char* name : {"http_server_request_duration_seconds", "sidemeter_upstream_errors_total",
                           "sidemeter_request_duration_window_seconds", "sidemeter_upstream_up",
                           "sidemeter_tls_handshake_duration_seconds",
                           "sidemeter_access_log_lines_total", "sidemeter_alert_deliveries_total",
                           "process_resident_memory_bytes", "sidemeter_slo_events_total",
                           "sidemeter_slo_good_events_total", "sidemeter_cpu_quota_cores"}) {
    EXPECT_TRUE(proto_families.count(name)) << name;
  }

  // Sample for sample, the same lines (labels, values, classic buckets).
  const std::multiset<std::string> from_text = lines_of(c), from_proto = lines_of(families);
  std::vector<std::string> only_text, only_proto;
  std::set_difference(from_text.begin(), from_text.end(), from_proto.begin(), from_proto.end(),
                      std::back_inserter(only_text));
  std::set_difference(from_proto.begin(), from_proto.end(), from_text.begin(), from_text.end(),
                      std::back_inserter(only_proto));
  EXPECT_TRUE(only_text.empty() && only_proto.empty())
      << "only in text: " << ::testing::PrintToString(only_text)
      << "\nonly in protobuf: " << ::testing::PrintToString(only_proto);
  EXPECT_GT(from_text.size(), 200u);
}

TEST(ProtobufExposition, ContentTypeIsPrometheusProtoFmt) {
  EXPECT_EQ(exposition_content_type(ExpositionFormat::kProtobuf),
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
            "encoding=delimited");
}

// Checks one decoded native histogram against the Histogram it came from: count, sum,
// zero bucket and the bucket counts of to_native (the shared definition), and that
// spans and deltas decode to non-negative counts.
void expect_native_of(const pb::Histogram& h, const metrics::Histogram& src, double unit) {
  const metrics::NativeHistogram n = metrics::to_native(src, unit);
  EXPECT_EQ(h.schema(), 6);
  EXPECT_GT(h.zero_threshold(), 0);  // marks it native for Prometheus even when empty
  EXPECT_LT(h.zero_threshold(), 1e-9);
  EXPECT_EQ(h.zero_count(), n.zero_count);
  EXPECT_EQ(h.sample_count(), src.count());
  EXPECT_DOUBLE_EQ(h.sample_sum(), double(src.sum()) * unit);
  const std::map<int32_t, int64_t> buckets = native_buckets(h);
  uint64_t total = h.zero_count();
  for (const auto& [index, count] : buckets) {
    EXPECT_GE(count, 0) << index;
    total += uint64_t(count);
  }
  EXPECT_EQ(total, h.sample_count());
  std::map<int32_t, int64_t> expected;
  int32_t index = 0;
  size_t d = 0;
  int64_t running = 0;
  for (const metrics::NativeBucketSpan& s : n.spans) {
    index += s.offset;
    for (uint32_t k = 0; k < s.length; ++k, ++index) expected[index] = running += n.deltas[d++];
  }
  EXPECT_EQ(buckets, expected);
}

TEST(ProtobufExposition, NativeBucketsCarryTheHistogramsCountsAndZeroBucket) {
  Fixture fx;
  const metrics::Snapshot snap = fx.r.registry.snapshot();
  std::string bytes;
  append_exposition(snap, fx.extras, ExpositionFormat::kProtobuf, bytes);
  const std::vector<pb::MetricFamily> families = decode(bytes);

  // Two connects of 300 us: one native bucket holding both, exactly the schema-6 bucket
  // of 300 us (the layout is the native one, to_native a copy).
  const pb::MetricFamily* connect = find(families, "sidemeter_upstream_connect_duration_seconds");
  ASSERT_NE(connect, nullptr);
  ASSERT_EQ(connect->metric_size(), 1);
  const pb::Histogram& ch = connect->metric(0).histogram();
  expect_native_of(ch, snap.duration_histograms[size_t(metrics::DurationMetric::kUpstreamConnect)],
                   1e-9);
  const auto cb = native_buckets(ch);
  ASSERT_EQ(cb.size(), 1u);
  EXPECT_EQ(cb.begin()->first, native_index(300e-6));
  EXPECT_EQ(cb.begin()->second, 2);
  EXPECT_EQ(ch.zero_count(), 0u);

  // Request bodies: four GETs without one go to the zero bucket, two of 2000 B above it.
  const pb::MetricFamily* body = find(families, "http_server_request_body_size_bytes");
  ASSERT_NE(body, nullptr);
  const pb::Histogram& bh = body->metric(0).histogram();
  expect_native_of(bh, snap.size_histograms[size_t(metrics::SizeMetric::kRequestBody)], 1);
  EXPECT_EQ(bh.zero_count(), 4u);
  const auto bb = native_buckets(bh);
  ASSERT_EQ(bb.size(), 1u);
  EXPECT_EQ(bb.begin()->first, native_index(2000));
  EXPECT_EQ(bb.begin()->second, 2);

  // Every other registry histogram, and TLS.
  for (const auto& [name, metric, unit] :
       std::vector<std::tuple<const char*, const metrics::Histogram*, double>>{
           {"http_client_request_duration_seconds",
            &snap.duration_histograms[size_t(metrics::DurationMetric::kUpstreamTotal)], 1e-9},
           {"sidemeter_upstream_ttfb_seconds",
            &snap.duration_histograms[size_t(metrics::DurationMetric::kUpstreamTtfb)], 1e-9},
           {"sidemeter_proxy_overhead_seconds",
            &snap.duration_histograms[size_t(metrics::DurationMetric::kProxyOverhead)], 1e-9},
           {"http_server_response_body_size_bytes",
            &snap.size_histograms[size_t(metrics::SizeMetric::kResponseBody)], 1.0},
           {"sidemeter_tls_handshake_duration_seconds",
            &snap.tls.duration[size_t(metrics::TlsSide::kDownstream)], 1e-9}}) {
    SCOPED_TRACE(name);
    const pb::MetricFamily* f = find(families, name);
    ASSERT_NE(f, nullptr);
    expect_native_of(f->metric(0).histogram(), *metric, unit);
  }

  // An empty histogram is still native (zero threshold set, no buckets): the upstream TLS
  // side has no handshakes but is not shown; the proxy always has an overhead histogram.
  metrics::Histogram empty;
  std::string one;
  const std::unique_ptr<ExpositionSink> sink = make_protobuf_sink(one);
  sink->family("x_seconds", MetricType::kHistogram, "help");
  const double bounds[] = {0.1};
  sink->histogram("x_seconds", {}, empty, 1e-9, bounds);
  sink->end();
  const auto decoded = decode(one);
  ASSERT_EQ(decoded.size(), 1u);
  const pb::Histogram& eh = decoded[0].metric(0).histogram();
  EXPECT_EQ(eh.schema(), 6);
  EXPECT_GT(eh.zero_threshold(), 0);
  EXPECT_EQ(eh.positive_span_size(), 0);
  EXPECT_EQ(eh.sample_count(), 0u);
}

TEST(ProtobufExposition, RequestDurationSeriesCarryNativeBuckets) {
  Fixture fx;
  const metrics::Snapshot snap = fx.r.registry.snapshot();
  ASSERT_FALSE(snap.request_duration.empty());
  if (snap.request_duration[0].histogram.count() == 0) {
    GTEST_SKIP() << "DurationSeries::histogram is not filled by the registry yet (i13-core M1)";
  }
  std::string bytes;
  append_exposition(snap, fx.extras, ExpositionFormat::kProtobuf, bytes);
  const pb::MetricFamily* f = nullptr;
  const auto families = decode(bytes);
  f = find(families, "http_server_request_duration_seconds");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(size_t(f->metric_size()), snap.request_duration.size());
  for (int i = 0; i < f->metric_size(); ++i) {
    SCOPED_TRACE(i);
    expect_native_of(f->metric(i).histogram(), snap.request_duration[size_t(i)].histogram, 1e-9);
  }
}

}  // namespace
}  // namespace sidemeter::stats
