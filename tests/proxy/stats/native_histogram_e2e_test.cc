// Native histograms end to end: the real binary (2 workers) in front of an upstream with
// known delays, scraped by two real Prometheus servers (Debian 2.42), one with
// --enable-feature=native-histograms (it asks for the protobuf format and stores native
// histograms), one without (text format, classic buckets). Fleet quantiles computed by
// Prometheus from the native histogram agree with /stats; the classic scraper still gets
// working buckets. The Accept header each Prometheus really sends is captured by a second
// scrape job pointed at a test server, and run through our negotiation.
// Skips when Prometheus is not installed (Debian package: prometheus).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "proxy/stats/prometheus_format.h"
#include "proxy/stats/prometheus_pb.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/support/json_value.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/util/delimited_message_util.h>

namespace sidemeter::testing {
namespace {

namespace pb = io::prometheus::client;

std::string find_tool(const char* name) {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    const std::string candidate = std::string(dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

HttpMessage get(uint16_t port, const std::string& target, const std::string& headers = "") {
  RawClient c(port);
  HttpMessage m;
  c.exchange(simple_get(target, headers), m);
  return m;
}

std::string url_encode(const std::string& q) {
  std::string out;
  for (char c : q) {
    if (isalnum(static_cast<unsigned char>(c))) {
      out += c;
    } else {
      char hex[4];
      snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
      out += hex;
    }
  }
  return out;
}

// A Prometheus server on loopback with its data in a temporary directory, scraping
// `targets` every second (job "sidemeter") and `capture` (job "capture"). Stopped (SIGTERM,
// then waited for) and its directory removed on destruction.
class Prometheus {
 public:
  Prometheus(const std::string& binary, uint16_t sidemeter_stats, uint16_t capture, bool native) {
    char tmpl[] = "/tmp/sidemeter-native-e2e-XXXXXX";
    if (const char* d = mkdtemp(tmpl)) dir_ = d;
    web_port_ = refused_port();  // a free kernel-chosen port for its web API
    std::ofstream(dir_ + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        << "scrape_configs:\n"
        << "  - job_name: sidemeter\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << sidemeter_stats << "']\n"
        << "  - job_name: capture\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << capture << "']\n";
    pid_ = fork();
    if (pid_ == 0) {
      const std::string web = "--web.listen-address=127.0.0.1:" + std::to_string(web_port_);
      const std::string cfg = "--config.file=" + dir_ + "/prometheus.yml";
      const std::string data = "--storage.tsdb.path=" + dir_ + "/data";
      const std::string log = dir_ + "/prometheus.log";
      if (!freopen(log.c_str(), "w", stderr)) _exit(126);
      if (native) {
        execl(binary.c_str(), binary.c_str(), cfg.c_str(), data.c_str(), web.c_str(),
              "--enable-feature=native-histograms", static_cast<char*>(nullptr));
      } else {
        execl(binary.c_str(), binary.c_str(), cfg.c_str(), data.c_str(), web.c_str(),
              static_cast<char*>(nullptr));
      }
      _exit(127);
    }
  }
  ~Prometheus() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) {
      const std::string cmd = "rm -rf '" + dir_ + "'";
      if (std::system(cmd.c_str()) != 0) std::cerr << "could not remove " << dir_ << "\n";
    }
  }
  bool started() const { return pid_ > 0 && !dir_.empty(); }
  std::string log() const {
    std::ifstream in(dir_ + "/prometheus.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // The instant vector of `q` as (labels JSON, value) pairs; empty on any error.
  std::vector<std::pair<const JsonValue*, double>> query(const std::string& q) {
    last_ = parse_json(get(web_port_, "/api/v1/query?query=" + url_encode(q)).body);
    std::vector<std::pair<const JsonValue*, double>> out;
    const JsonValue* result = last_ ? last_->at("data.result") : nullptr;
    if (result == nullptr || !result->is_array()) return out;
    for (const JsonValue& r : result->array) {
      const JsonValue* v = r.get("value");
      if (v == nullptr || v->array.size() != 2) continue;
      out.emplace_back(r.get("metric"), std::strtod(v->array[1].string.c_str(), nullptr));
    }
    return out;
  }
  // The single value of `q`, or NaN.
  double scalar(const std::string& q) {
    const auto r = query(q);
    return r.size() == 1 ? r[0].second : std::nan("");
  }
  std::string targets() { return get(web_port_, "/api/v1/targets").body; }

 private:
  std::string dir_;
  uint16_t web_port_ = 0;
  pid_t pid_ = -1;
  std::optional<JsonValue> last_;
};

// Polls `done` (an external process's state) until it holds or `limit` passes.
template <typename F>
bool eventually(F done, std::chrono::seconds limit) {
  const Deadline deadline = deadline_in(limit);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling external processes
  }
  return done();
}

// Exchange `seq`'s injected upstream delay: 98 % at 10 ms, 2 % at 40 ms, interleaved (37 is
// coprime with 100), so p99 (rank 99 of 100) sits in the middle of the 40 ms class, not at
// its edge, and every second of load has the same mix.
int delay_ms(uint64_t seq) { return (seq * 37) % 100 < 98 ? 10 : 40; }

constexpr int kClients = 8;
constexpr auto kLoadTime = std::chrono::seconds(12);

class NativeHistogramEndToEnd : public ProxyTest {
 protected:
  void SetUp() override {
    if (!std::getenv("SIDEMETER_BIN")) GTEST_SKIP() << "SIDEMETER_BIN not set";
    prometheus_ = find_tool("prometheus");
    if (prometheus_.empty()) GTEST_SKIP() << "prometheus not installed (Debian package: prometheus)";
  }
  std::string prometheus_;
};

// The delay comes in the path (/d10/..., /d40/...), so it is known per request even when the
// proxy's pool moves requests between connections.
void delayed_upstream(UpstreamConn& c) {
  HttpMessage req;
  ReadOptions idle;  // the pool keeps connections idle across the whole test
  idle.deadline = deadline_in(std::chrono::seconds(120));
  while (c.read_request(req, idle)) {
    const int ms = req.target.rfind("/d40/", 0) == 0 ? 40 : 10;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // the injected delay
    if (!c.write(make_response(200, "OK", "ok", {{"Content-Type", "text/plain"}}))) return;
  }
}

// Series a scrape of these families costs Prometheus, counted as it ingests them: a native
// histogram is one series; a classic one has a series per bucket plus +Inf, _sum, _count.
size_t series_in(const std::string& protobuf_body, size_t* native_histograms) {
  size_t series = 0;
  *native_histograms = 0;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(protobuf_body.data()), int(protobuf_body.size()));
  while (in.CurrentPosition() < int(protobuf_body.size())) {
    pb::MetricFamily f;
    if (!google::protobuf::util::ParseDelimitedFromCodedStream(&f, &in, nullptr)) {
      ADD_FAILURE() << "undecodable scrape";
      return 0;
    }
    for (const pb::Metric& m : f.metric()) {
      if (f.type() == pb::HISTOGRAM && m.histogram().zero_threshold() > 0) {
        ++series;
        ++*native_histograms;
      } else if (f.type() == pb::HISTOGRAM) {
        series += size_t(m.histogram().bucket_size()) + 3;
      } else if (f.type() == pb::SUMMARY) {
        series += size_t(m.summary().quantile_size()) + 2;
      } else {
        ++series;
      }
    }
  }
  return series;
}

TEST_F(NativeHistogramEndToEnd, PrometheusQuantilesFromNativeHistogramsAgreeWithStats) {
  start(delayed_upstream, "", /*workers=*/2);
  const uint16_t stats = proxy_->stats_port();
  // Where each Prometheus' Accept header is captured: its "capture" job scrapes this.
  TestUpstream capture_native(TestUpstream::fixed("x 1\n"));
  TestUpstream capture_classic(TestUpstream::fixed("x 1\n"));
  Prometheus native(prometheus_, stats, capture_native.port(), /*native=*/true);
  Prometheus classic(prometheus_, stats, capture_classic.port(), /*native=*/false);
  ASSERT_TRUE(native.started() && classic.started());

  // Both scrape the proxy before the load, so the first in-range sample of each series
  // holds at most one scrape interval of it.
  ASSERT_TRUE(eventually([&] { return native.scalar("up{job=\"sidemeter\"}") == 1; },
                         std::chrono::seconds(60)))
      << native.targets() << native.log();
  ASSERT_TRUE(eventually([&] { return classic.scalar("up{job=\"sidemeter\"}") == 1; },
                         std::chrono::seconds(60)))
      << classic.targets() << classic.log();

  // The real Accept headers, and what /metrics makes of them.
  ASSERT_TRUE(capture_native.wait_requests(1, soon()));
  ASSERT_TRUE(capture_classic.wait_requests(1, soon()));
  const std::string accept_native = capture_native.seen_requests()[0].header("accept").value_or("");
  const std::string accept_classic =
      capture_classic.seen_requests()[0].header("accept").value_or("");
  std::cout << "Prometheus 2.42 Accept, native histograms on: " << accept_native << "\n"
            << "Prometheus 2.42 Accept, default: " << accept_classic << std::endl;
  EXPECT_EQ(stats::negotiate_exposition(accept_native), stats::ExpositionFormat::kProtobuf);
  EXPECT_EQ(stats::negotiate_exposition(accept_classic), stats::ExpositionFormat::kOpenMetrics);
  // ... and the answer the stats port gives the native one.
  const HttpMessage proto = get(stats, "/metrics", "Accept: " + accept_native + "\r\n");
  ASSERT_EQ(proto.status, 200);
  EXPECT_EQ(proto.header("content-type").value_or(""),
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
            "encoding=delimited");

  // Load: kClients keep-alive clients for kLoadTime, each request's delay by its number.
  const auto load_start = Clock::now();
  std::atomic<uint64_t> seq{0}, ok{0}, failed{0};
  {
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back([&] {
        std::unique_ptr<RawClient> c;
        while (Clock::now() - load_start < kLoadTime) {
          const uint64_t n = seq.fetch_add(1);
          if (!c) c = std::make_unique<RawClient>(port());
          const std::string target =
              "/d" + std::to_string(delay_ms(n)) + "/items/" + std::to_string(n % 3);
          HttpMessage m;
          if (c->exchange(simple_get(target), m).ok() && m.status == 200) {
            ok.fetch_add(1);
          } else {
            failed.fetch_add(1);
            c.reset();
          }
        }
      });
    }
    for (std::thread& t : clients) t.join();
  }
  ASSERT_EQ(failed.load(), 0u);
  ASSERT_GT(ok.load(), 200u);
  const uint64_t total = ok.load();

  // /stats has them all (settled), and both Prometheus servers have scraped them all: the
  // cumulative counts they hold equal what was sent.
  std::optional<JsonValue> s;
  ASSERT_TRUE(eventually(
      [&] {
        s = parse_json(get(stats, "/stats").body);
        const JsonValue* r = s ? s->at("windows.1m.latency_ms.count") : nullptr;
        return r != nullptr && uint64_t(r->number) == total;
      },
      std::chrono::seconds(15)));
  const std::string native_count = "sum(histogram_count(http_server_request_duration_seconds))";
  const std::string classic_count = "sum(http_server_request_duration_seconds_count)";
  const bool native_has_it = eventually(
      [&] { return native.scalar(native_count) == double(total); }, std::chrono::seconds(15));
  ASSERT_TRUE(eventually([&] { return classic.scalar(classic_count) == double(total); },
                         std::chrono::seconds(15)))
      << classic.scalar(classic_count) << " != " << total;
  // All of the load lies in both 1-minute windows now.
  ASSERT_LT(Clock::now() - load_start, std::chrono::seconds(50)) << "too slow to compare windows";

  s = parse_json(get(stats, "/stats").body);
  ASSERT_TRUE(s);
  const double stats_p99 = s->at("windows.1m.latency_ms.p99")->number / 1e3;
  const double stats_ttfb_p99 = s->at("windows.1m.upstream_ttfb_ms.p99")->number / 1e3;
  // p99 lies in the 40 ms class (the injected delay plus the proxy's own time).
  EXPECT_GT(stats_p99, 0.040);
  EXPECT_LT(stats_p99, 0.080);

  // The classic scraper: the per-route family's short default bounds put p99 between the
  // bounds around 40 ms (25 ms, 100 ms], the service-wide family's fine ones (25 ms, 50 ms].
  const double classic_p99 = classic.scalar(
      "histogram_quantile(0.99, sum by (le) (rate(sidemeter_request_duration_seconds_bucket[1m])))");
  EXPECT_GT(classic_p99, 0.025);
  EXPECT_LE(classic_p99, 0.050);
  const double classic_route_p99 = classic.scalar(
      "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[1m])))");
  EXPECT_GT(classic_route_p99, 0.025);
  EXPECT_LE(classic_route_p99, 0.100);

  // Native histograms of the registry-wide families are there regardless of the per-series
  // ones: upstream time to first byte from Prometheus vs /stats.
  const double native_ttfb_p99 =
      native.scalar("histogram_quantile(0.99, sum(rate(sidemeter_upstream_ttfb_seconds[1m])))");
  std::printf("p99: /stats %.6f s, Prometheus classic %.6f s; ttfb p99: /stats %.6f s, "
              "Prometheus native %.6f s (%+.3f %%)\n",
              stats_p99, classic_p99, stats_ttfb_p99, native_ttfb_p99,
              100 * (native_ttfb_p99 / stats_ttfb_p99 - 1));
  EXPECT_NEAR(native_ttfb_p99, stats_ttfb_p99, 0.01 * stats_ttfb_p99);

  // What a native-histogram scrape costs Prometheus (scrape_samples_scraped), and what our
  // decoder counts in a scrape taken now.
  const double native_samples = native.scalar("scrape_samples_scraped{job=\"sidemeter\"}");
  const double classic_samples = classic.scalar("scrape_samples_scraped{job=\"sidemeter\"}");
  size_t native_histograms = 0;
  const size_t decoded = series_in(
      get(stats, "/metrics", "Accept: " + accept_native + "\r\n").body, &native_histograms);
  std::printf("series per scrape: native Prometheus %.0f, classic Prometheus %.0f; decoder "
              "%zu (%zu native histograms)\n",
              native_samples, classic_samples, decoded, native_histograms);
  RecordProperty("native_scrape_samples", int(native_samples));
  RecordProperty("classic_scrape_samples", int(classic_samples));
  EXPECT_LT(native_samples, classic_samples);

  if (!native_has_it) {
    GTEST_SKIP() << "http_server_request_duration_seconds carries no native buckets yet "
                    "(DurationSeries::histogram is filled at i13-core M1); native count query "
                    "gave "
                 << native.scalar(native_count);
  }
  const double native_p99 = native.scalar(
      "histogram_quantile(0.99, sum(rate(http_server_request_duration_seconds[1m])))");
  std::printf("request p99: /stats %.6f s, Prometheus native %.6f s (%+.3f %%)\n", stats_p99,
              native_p99, 100 * (native_p99 / stats_p99 - 1));
  EXPECT_NEAR(native_p99, stats_p99, 0.01 * stats_p99);
}

}  // namespace
}  // namespace sidemeter::testing
