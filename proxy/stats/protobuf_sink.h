#pragma once
// /metrics as Prometheus' protobuf exposition: length-delimited (varint length, then the
// message) io.prometheus.client.MetricFamily messages, one per family, as client_golang's
// expfmt writes them and Prometheus (>= 2.40, --enable-feature=native-histograms) asks for.
// Histograms carry the classic buckets and, when the series' full-resolution Histogram is
// given, the native ones (schema 6, metrics/native_histogram.h).
//
// The generated classes (metrics.pb.h, from Debian's client_model metrics.proto at build
// time) stay inside the .cc: nothing else in sidemeter sees protobuf types.
#include <memory>
#include <string>

#include "proxy/stats/exposition_sink.h"

namespace sidemeter::stats {

// Media type of the answer, exactly as Prometheus' expfmt.ProtoFmt spells it.
inline constexpr std::string_view kProtobufContentType =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
    "encoding=delimited";

// Appends to `out` as families complete; end() writes the last one.
std::unique_ptr<ExpositionSink> make_protobuf_sink(std::string& out);

}  // namespace sidemeter::stats
