#pragma once
// The access log's worker side: a metrics::Recorder that passes every sample on to the
// worker's metrics shard and, for the exchanges the sampling rules pick, formats one
// JSON line and queues it for the writer thread (writer.h). It lives on its worker's
// thread; the worker records through it only while the access log is on, so with the
// log off nothing here runs.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "metrics/derive.h"
#include "metrics/recorder.h"
#include "metrics/route_template.h"
#include "proxy/access_log/line_buffer.h"

namespace sidemeter::access_log {

// Longer paths and queries are cut (and end in "..."), so a line stays a few KiB at most.
inline constexpr size_t kMaxLoggedPath = 2048;

// One line, '\n' included, appended to `out`. `unix_ms`: wall-clock time of the line.
struct LineContext {
  int worker = 0;
  uint64_t unix_ms = 0;
  std::string_view route;
  bool include_query = false;
};
void format_line(const metrics::ExchangeSample& s, const metrics::Derived& d,
                 const LineContext& ctx, std::string& out);

// Which exchanges are written: errors (metrics::is_error) when always_log_errors,
// exchanges at least slow_ms long when slow_ms > 0, and a sample_rate share of the rest.
class Sampler {
 public:
  explicit Sampler(uint64_t seed);
  void configure(double sample_rate, bool always_log_errors, uint64_t slow_ms);
  bool pick(const metrics::ExchangeSample& s, const metrics::Derived& d);

 private:
  uint64_t next();  // xorshift64*
  uint64_t state_;
  uint64_t threshold_ = 0;  // next() < threshold_ picks; UINT64_MAX with rate 1
  bool all_ = true;
  bool errors_ = true;
  uint64_t slow_ns_ = 0;
};

class AccessLogRecorder final : public metrics::Recorder {
 public:
  AccessLogRecorder(int worker, metrics::Recorder& metrics, LineBuffer& buffer,
                    metrics::RouteTable& routes);
  // Worker thread, from each configuration it adopts.
  void configure(const conf::AccessLog& cfg);
  void record(const metrics::ExchangeSample& s) override;

 private:
  std::string_view route_name(std::string_view path);

  const int worker_;
  metrics::Recorder& metrics_;
  LineBuffer& buffer_;
  metrics::RouteTable& routes_;
  // Its own cache, asked only for lines that are written (the shard's is private); the
  // names of the ids it returns are fixed for the table's lifetime, so they are kept.
  metrics::RouteCache route_cache_;
  struct RouteName {
    uint32_t generation = 0;
    std::string name;
  };
  std::vector<RouteName> route_names_;  // by route id; refetched when the id is reused
  Sampler sampler_;
  bool include_query_ = false;
  std::string line_;
};

}  // namespace sidemeter::access_log
