#include "proxy/stats/protobuf_sink.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>

#include <cassert>
#include <cstdlib>
#include <string>

#include "proxy/stats/prometheus_pb.h"
#include "metrics/native_histogram.h"

namespace sidemeter::stats {
namespace {

namespace pb = io::prometheus::client;

// client_golang's default zero threshold (DefNativeHistogramZeroThreshold). A zero_threshold
// above 0 is what marks a histogram without observations as native to Prometheus 2.42
// (its isNativeHistogram: non-empty spans, zero_count or zero_threshold > 0), so a series
// does not flip between classic and native as its first observation arrives. Our
// histograms hold integer ns / bytes: no observation lies in (0, 2^-128].
constexpr double kMinZeroThreshold = 0x1p-128;

bool same_labels(const pb::Metric& m, std::span<const Label> labels) {
  if (size_t(m.label_size()) != labels.size()) return false;
  for (size_t i = 0; i < labels.size(); ++i) {
    const pb::LabelPair& p = m.label(int(i));
    if (p.name() != labels[i].name || p.value() != labels[i].value) return false;
  }
  return true;
}

class ProtobufSink final : public ExpositionSink {
 public:
  explicit ProtobufSink(std::string& out) : out_(out) {}

  void family(std::string_view name, MetricType type, std::string_view help) override {
    flush();
    type_ = type;
    family_.set_name(std::string(name));
    // The protobuf family of a counter is named as its sample: with "_total".
    if (type == MetricType::kCounter) family_.mutable_name()->append("_total");
    family_.set_help(std::string(help));
    switch (type) {
      case MetricType::kCounter:
        family_.set_type(pb::COUNTER);
        break;
      case MetricType::kGauge:
        family_.set_type(pb::GAUGE);
        break;
      case MetricType::kHistogram:
        family_.set_type(pb::HISTOGRAM);
        break;
      case MetricType::kSummary:
        family_.set_type(pb::SUMMARY);
        break;
    }
    open_ = true;
  }

  void sample(std::string_view, std::string_view suffix, std::span<const Label> labels,
              double value, Label extra) override {
    switch (type_) {
      case MetricType::kCounter:
        assert(suffix == "_total");
        add_metric(labels)->mutable_counter()->set_value(value);
        return;
      case MetricType::kGauge:
        assert(suffix.empty());
        add_metric(labels)->mutable_gauge()->set_value(value);
        return;
      case MetricType::kSummary: {
        // The text format's lines of one summary come in a row: quantiles, _sum, _count.
        pb::Metric* m = family_.metric_size() > 0 &&
                                same_labels(family_.metric(family_.metric_size() - 1), labels)
                            ? family_.mutable_metric(family_.metric_size() - 1)
                            : add_metric(labels);
        pb::Summary* s = m->mutable_summary();
        if (suffix == "_sum") {
          s->set_sample_sum(value);
        } else if (suffix == "_count") {
          s->set_sample_count(uint64_t(value));
        } else {
          assert(extra.name == "quantile");
          pb::Quantile* q = s->add_quantile();
          q->set_quantile(std::strtod(std::string(extra.value).c_str(), nullptr));
          q->set_value(value);
        }
        return;
      }
      case MetricType::kHistogram:
        assert(false && "histogram samples go through histogram()");
        return;
    }
  }

  void histogram(std::string_view, std::span<const Label> labels,
                 const HistogramPoint& point) override {
    pb::Histogram* h = add_metric(labels)->mutable_histogram();
    h->set_sample_count(point.count);
    h->set_sample_sum(point.sum);
    h->mutable_bucket()->Reserve(int(point.bounds.size()));
    for (size_t i = 0; i < point.bounds.size(); ++i) {
      pb::Bucket* b = h->add_bucket();
      b->set_cumulative_count(point.cumulative[i]);
      b->set_upper_bound(point.bounds[i]);
    }
    // Native buckets only from a Histogram that holds this very series: a full-resolution
    // view that disagrees with the classic count (not yet filled) would contradict it.
    if (point.full == nullptr || point.full->count() != point.count) return;
    const metrics::NativeHistogram n = metrics::to_native(*point.full, point.unit);
    h->set_schema(n.schema);
    h->set_zero_threshold(n.zero_threshold > kMinZeroThreshold ? n.zero_threshold
                                                                : kMinZeroThreshold);
    h->set_zero_count(n.zero_count);
    for (const metrics::NativeBucketSpan& s : n.spans) {
      pb::BucketSpan* span = h->add_positive_span();
      span->set_offset(s.offset);
      span->set_length(s.length);
    }
    for (int64_t d : n.deltas) h->add_positive_delta(d);
  }

  void end() override { flush(); }

 private:
  pb::Metric* add_metric(std::span<const Label> labels) {
    pb::Metric* m = family_.add_metric();
    for (const Label& l : labels) {
      pb::LabelPair* p = m->add_label();
      p->set_name(std::string(l.name));
      p->set_value(std::string(l.value));
    }
    return m;
  }

  void flush() {
    if (!open_) return;
    open_ = false;
    // No series, no family: Prometheus' parser and client_golang's Gather skip empty ones.
    if (family_.metric_size() == 0) {
      family_.Clear();
      return;
    }
    {
      google::protobuf::io::StringOutputStream stream(&out_);
      google::protobuf::io::CodedOutputStream coded(&stream);
      google::protobuf::util::SerializeDelimitedToCodedStream(family_, &coded);
    }
    family_.Clear();
  }

  std::string& out_;
  pb::MetricFamily family_;
  MetricType type_ = MetricType::kGauge;
  bool open_ = false;
};

}  // namespace

std::unique_ptr<ExpositionSink> make_protobuf_sink(std::string& out) {
  return std::make_unique<ProtobufSink>(out);
}

}  // namespace sidemeter::stats
