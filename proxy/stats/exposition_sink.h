#pragma once
// Where the /metrics families go: one definition of the families (prometheus_format.cc)
// written through this interface into the text formats (Prometheus 0.0.4, OpenMetrics 1.0)
// or into length-delimited io.prometheus.client.MetricFamily messages (protobuf_sink.h).
//
// Call order: family(), then that family's samples, then the next family(); end() last.
// Names are given the way the text format spells them: a counter family without "_total"
// (each sink adds it where its format wants it), summary samples as the text format's
// quantile / "_sum" / "_count" lines of one label set in a row.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "metrics/histogram.h"

namespace sidemeter::stats {

struct Label {
  std::string_view name;
  std::string_view value;
};

enum class MetricType { kCounter, kGauge, kHistogram, kSummary };

// One histogram series. bounds/cumulative are the classic buckets (upper bounds in the
// exposed unit, ascending; cumulative[i] = observations <= bounds[i]; +Inf is `count`).
// `full`, when set, is the same series at full resolution in its own unit (`unit` scales it
// to the exposed one, 1e-9 for ns -> s): the protobuf sink derives the native (schema 6)
// buckets from it (metrics::to_native); the text formats ignore it.
struct HistogramPoint {
  std::span<const double> bounds;
  std::span<const uint64_t> cumulative;
  double sum = 0;
  uint64_t count = 0;
  const metrics::Histogram* full = nullptr;
  double unit = 1;
};

class ExpositionSink {
 public:
  virtual ~ExpositionSink() = default;

  virtual void family(std::string_view name, MetricType type, std::string_view help) = 0;
  // A text-format sample line: `name` + `suffix` ("", "_total", "_sum", "_count") with
  // `labels` and, for summaries, the extra {quantile="..."} label.
  virtual void sample(std::string_view name, std::string_view suffix,
                      std::span<const Label> labels, double value, Label extra) = 0;
  virtual void histogram(std::string_view name, std::span<const Label> labels,
                         const HistogramPoint& point) = 0;
  virtual void end() = 0;

  void sample(std::string_view name, std::string_view suffix, std::span<const Label> labels,
              double value) {
    sample(name, suffix, labels, value, Label{});
  }
  void counter(std::string_view name, std::span<const Label> labels, double v) {
    sample(name, "_total", labels, v, Label{});
  }
  // A histogram of the registry: classic buckets at `bounds` (cumulative_at_bounds) and,
  // where the sink has them, native buckets from the same Histogram.
  void histogram(std::string_view name, std::span<const Label> labels, const metrics::Histogram& h,
                 double unit, std::span<const double> bounds);

 private:
  std::vector<uint64_t> cumulative_;
};

}  // namespace sidemeter::stats
