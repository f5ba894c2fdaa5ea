// Accuracy of what the proxy measures, checked against what the test injected: exact
// counts and byte totals, latency percentiles within the histogram's resolution of the
// delays the upstream was told to add, blame (downstream vs upstream) for each kind of
// failure, and a /metrics exposition consistent with /stats.
#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/proxy_fixture.h"
#include "tests/support/json_value.h"

namespace sidemeter::testing {
namespace {

// ------------------------------------------------------------------ reading the stats port

std::optional<JsonValue> fetch_stats(uint16_t stats_port) {
  RawClient c(stats_port);
  if (!c.connected()) return std::nullopt;
  HttpMessage m;
  if (!c.exchange(simple_get("/stats"), m).ok() || m.status != 200) return std::nullopt;
  return parse_json(m.body);
}

std::string fetch_metrics(uint16_t stats_port) {
  RawClient c(stats_port);
  HttpMessage m;
  if (!c.exchange(simple_get("/metrics"), m).ok() || m.status != 200) return {};
  return m.body;
}

double num(const JsonValue& doc, std::string_view path) {
  const JsonValue* j = doc.at(path);
  EXPECT_TRUE(j != nullptr && j->is_number()) << "missing number " << path;
  return j != nullptr ? j->number : -1;
}

uint64_t count(const JsonValue& doc, std::string_view path) { return uint64_t(num(doc, path)); }

// Sum of every number directly inside the object at `path` (e.g. all upstream error kinds).
uint64_t sum_of(const JsonValue& doc, std::string_view path) {
  const JsonValue* j = doc.at(path);
  EXPECT_TRUE(j != nullptr && j->is_object()) << "missing object " << path;
  uint64_t total = 0;
  if (j != nullptr) {
    for (const auto& [k, v] : j->object) total += uint64_t(v.number);
  }
  return total;
}

// The first published snapshot that holds at least `requests` exchanges in the "total"
// window AND was produced by a later tick than the one where they first showed up, so
// anything recorded alongside them (a double count, a late error) is in it too.
// Aggregates move once per second; polling an external process is the only way to wait.
std::optional<JsonValue> settled_stats(uint16_t stats_port, uint64_t requests,
                                       std::chrono::seconds limit = std::chrono::seconds(15)) {
  const Deadline deadline = deadline_in(limit);
  double seen_at_tick = -1;
  uint64_t last = 0;
  while (Clock::now() < deadline) {
    std::optional<JsonValue> doc = fetch_stats(stats_port);
    if (doc) {
      const JsonValue* r = doc->at("windows.total.requests");
      const JsonValue* t = doc->get("ticks");
      if (r != nullptr && t != nullptr) {
        last = uint64_t(r->number);
        if (seen_at_tick < 0 && last >= requests) seen_at_tick = t->number;
        if (seen_at_tick >= 0 && t->number > seen_at_tick) return doc;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "stats never settled at " << requests << " requests (last saw " << last << ")";
  return std::nullopt;
}

// ------------------------------------------------------------------ the delay-mix traffic

// Exchange `seq` of kExchanges is fully determined by its number: method, request body and
// its framing, injected delay, status, response body and its framing. The delay classes
// are assigned through a permutation so they interleave in time, and sized so that each
// checked percentile rank sits in the middle of one class, never at a class edge: the
// sample at that rank then has about as many same-delay samples above it as below, so a
// few exchanges delayed by scheduling noise cannot move it.
//   ranks   1..364 (91 %)    20 ms  -> p50 = rank 200 (200th of 364)
//   ranks 365..393 (7.25 %)  50 ms  -> p95 = rank 380 (16th of 29)
//   ranks 394..400 (1.75 %) 200 ms  -> p99 = rank 396 (3rd of 7)
constexpr int kExchanges = 400;
constexpr int kClients = 16;

int delay_ms(int seq) {
  const int r = (seq * 37) % kExchanges;  // 37 is coprime with 400: a permutation
  if (r < 364) return 20;
  if (r < 393) return 50;
  return 200;
}

int status_of(int seq) {
  switch (seq % 20) {
    case 16:
    case 17:
      return 404;
    case 18:
      return 201;
    case 19:
      return 503;
    default:
      return 200;
  }
}

const char* reason_of(int status) {
  switch (status) {
    case 201:
      return "Created";
    case 404:
      return "Not Found";
    case 503:
      return "Service Unavailable";
    default:
      return "OK";
  }
}

std::string payload(size_t n, int seq) {
  std::string s(n, 'a');
  for (size_t i = 0; i < n; ++i) s[i] = char('a' + (i + size_t(seq)) % 26);
  return s;
}

// Two chunks (when there are bytes) plus the last chunk: the framing counts as wire bytes.
std::string chunked(std::string_view body) {
  std::string out;
  char hex[20];
  const size_t half = body.size() / 2;
  for (std::string_view part : {body.substr(0, half), body.substr(half)}) {
    if (part.empty()) continue;
    snprintf(hex, sizeof hex, "%zx\r\n", part.size());
    out += hex;
    out.append(part);
    out += "\r\n";
  }
  out += "0\r\n\r\n";
  return out;
}

struct Exchange {
  std::string request;  // the whole request as the client writes it
  uint64_t request_body_wire = 0;
  size_t request_body_len = 0;  // decoded
  std::string response;         // the whole response as the upstream writes it
  uint64_t response_body_wire = 0;
  size_t response_body_len = 0;
  int status = 0;
  int delay = 0;
};

Exchange exchange_for(int seq) {
  Exchange x;
  const std::string target = "/m/" + std::to_string(seq);
  const size_t req_len = size_t((seq * 131) % 3000);
  std::string head, body_wire;
  switch (seq % 4) {
    case 0:
      head = "GET " + target + " HTTP/1.1\r\nHost: test.local\r\n\r\n";
      break;
    case 1:
      x.request_body_len = req_len;
      body_wire = payload(req_len, seq);
      head = "POST " + target +
             " HTTP/1.1\r\nHost: test.local\r\nContent-Length: " + std::to_string(req_len) +
             "\r\n\r\n";
      break;
    case 2:
      x.request_body_len = req_len;
      body_wire = chunked(payload(req_len, seq));
      head =
          "POST " + target + " HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n";
      break;
    default:
      x.request_body_len = req_len / 2;
      body_wire = payload(req_len / 2, seq);
      head = "PUT " + target +
             " HTTP/1.1\r\nHost: test.local\r\nContent-Length: " + std::to_string(req_len / 2) +
             "\r\n\r\n";
      break;
  }
  x.request = head + body_wire;
  x.request_body_wire = body_wire.size();

  x.status = status_of(seq);
  x.delay = delay_ms(seq);
  x.response_body_len = size_t((seq * 7919) % 5000) + (seq % 50 == 7 ? 40000 : 0);
  const std::string body = payload(x.response_body_len, seq + 1);
  std::string resp = "HTTP/1.1 " + std::to_string(x.status) + " " + reason_of(x.status) + "\r\n";
  if (seq % 3 == 0) {
    const std::string wire = chunked(body);
    resp += "Transfer-Encoding: chunked\r\n\r\n" + wire;
    x.response_body_wire = wire.size();
  } else {
    resp += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    x.response_body_wire = body.size();
  }
  x.response = std::move(resp);
  return x;
}

// Sleeps until `until` on the monotonic clock (steady_clock on Linux): the injected delay.
void sleep_until(Clock::time_point until) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch());
  timespec ts{time_t(ns.count() / 1'000'000'000), long(ns.count() % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// What the upstream saw per exchange: how long it really held each response (request
// fully read -> response fully written), which includes its own oversleep.
struct UpstreamLog {
  std::mutex mu;
  std::vector<double> held_ms = std::vector<double>(kExchanges, -1);
  std::vector<int> times_seen = std::vector<int>(kExchanges, 0);
  std::string problems;
};

// The log is shared with the handler threads, which outlive a test body that fails early.
UpstreamHandler delay_mix_upstream(std::shared_ptr<UpstreamLog> shared_log) {
  return [shared_log](UpstreamConn& c) {
    UpstreamLog& log = *shared_log;
    HttpMessage req;
    ReadOptions opts;
    // Idle pooled connections wait here for the whole run.
    opts.deadline = deadline_in(std::chrono::seconds(30));
    while (c.read_request(req, opts)) {
      const Clock::time_point received = Clock::now();
      int seq = -1;
      if (req.target.rfind("/m/", 0) == 0) seq = std::atoi(req.target.c_str() + 3);
      if (seq < 0 || seq >= kExchanges) {
        std::lock_guard<std::mutex> lock(log.mu);
        log.problems += "unexpected target " + req.target + "\n";
        return;
      }
      const Exchange x = exchange_for(seq);
      sleep_until(received + std::chrono::milliseconds(x.delay));
      if (!c.write(x.response)) return;
      const double held =
          std::chrono::duration<double, std::milli>(Clock::now() - received).count();
      std::lock_guard<std::mutex> lock(log.mu);
      log.held_ms[size_t(seq)] = held;
      log.times_seen[size_t(seq)]++;
      if (req.body.size() != x.request_body_len) {
        log.problems += "request " + std::to_string(seq) + " body " +
                        std::to_string(req.body.size()) +
                        " != " + std::to_string(x.request_body_len) + "\n";
      }
    }
  };
}

// kClients keep-alive clients take sequence numbers from a shared counter until all
// kExchanges are done; each checks the status and body it got back and notes its own
// time to first byte (request written -> first response byte read), which contains the
// proxy's TTFB of that exchange whatever the scheduler does.
std::string run_clients(uint16_t port, std::vector<double>& client_ttfb_ms) {
  client_ttfb_ms.assign(kExchanges, -1);
  std::atomic<int> next{0};
  std::mutex mu;
  std::string problems;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      std::optional<RawClient> c;
      for (int seq = next++; seq < kExchanges; seq = next++) {
        const Exchange x = exchange_for(seq);
        if (!c || !c->connected()) c.emplace(port);
        HttpMessage resp;
        const Clock::time_point sent = Clock::now();
        ReadResult r;
        if (!c->send(x.request)) {
          r.status = IoStatus::kError;
          r.error = "send failed";
        } else if (IoStatus st = c->socket().fill(deadline_in(std::chrono::seconds(10)));
                   st != IoStatus::kOk) {
          r.status = st;
        } else {
          const double ttfb =
              std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
          r = c->read_response(resp);
          std::lock_guard<std::mutex> lock(mu);
          client_ttfb_ms[size_t(seq)] = ttfb;
        }
        std::string err;
        if (!r.ok()) {
          err = "seq " + std::to_string(seq) + ": " + to_string(r.status) + " " + r.error;
          c.reset();
        } else if (resp.status != x.status || resp.body.size() != x.response_body_len) {
          err = "seq " + std::to_string(seq) + ": got " + std::to_string(resp.status) + " with " +
                std::to_string(resp.body.size()) + " bytes";
        }
        if (!err.empty()) {
          std::lock_guard<std::mutex> lock(mu);
          problems += err + "\n";
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  return problems;
}

// Value of rank ceil(q * n) in ascending order: the definition the proxy documents.
double rank_value(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t rank = std::max<size_t>(1, size_t(std::ceil(q * double(v.size()))));
  return v[rank - 1];
}

struct Expected {
  uint64_t request_body_wire = 0, response_body_wire = 0, response_body_max = 0;
  uint64_t request_body_max = 0;
  std::map<int, uint64_t> statuses;
  std::vector<double> injected_ms;
};

Expected expected_totals() {
  Expected e;
  for (int seq = 0; seq < kExchanges; ++seq) {
    const Exchange x = exchange_for(seq);
    e.request_body_wire += x.request_body_wire;
    e.response_body_wire += x.response_body_wire;
    e.request_body_max = std::max(e.request_body_max, x.request_body_wire);
    e.response_body_max = std::max(e.response_body_max, x.response_body_wire);
    e.statuses[x.status]++;
    e.injected_ms.push_back(x.delay);
  }
  return e;
}

// One "name{labels} value" sample line of the Prometheus text format.
struct PromSample {
  std::string name;
  std::string labels;  // without braces, "le" included
  double value = 0;
};

std::vector<PromSample> prom_samples(const std::string& text, std::string_view family) {
  std::vector<PromSample> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#' || line.substr(0, family.size()) != family) continue;
    PromSample s;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == std::string_view::npos) continue;
    if (brace != std::string_view::npos && brace < space) {
      s.name = std::string(line.substr(0, brace));
      const size_t close = line.rfind('}');
      s.labels = std::string(line.substr(brace + 1, close - brace - 1));
    } else {
      s.name = std::string(line.substr(0, space));
    }
    s.value = std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

// Splits `a="x",le="0.5"` into the series key (labels other than le) and the le value.
void split_le(const std::string& labels, std::string& series, std::string& le) {
  const size_t at = labels.find("le=\"");
  if (at == std::string::npos) {
    series = labels;
    le.clear();
    return;
  }
  const size_t close = labels.find('"', at + 4);
  le = labels.substr(at + 4, close - at - 4);
  series = labels.substr(0, at) + labels.substr(close + 1);
  if (!series.empty() && series.back() == ',') series.pop_back();
}

// ------------------------------------------------------------------ delay-mix tests

class MeasurementTest : public ProxyTest {
 protected:
  void run_delay_mix(int workers) {
    auto shared_log = std::make_shared<UpstreamLog>();
    UpstreamLog& log = *shared_log;
    start(delay_mix_upstream(shared_log), "", workers);
    ASSERT_FALSE(HasFatalFailure());
    std::vector<double> client_ttfb;
    const std::string client_problems = run_clients(port(), client_ttfb);
    ASSERT_EQ(client_problems, "");

    const Expected want = expected_totals();
    std::vector<double> held;
    {
      std::lock_guard<std::mutex> lock(log.mu);
      ASSERT_EQ(log.problems, "");
      for (int seq = 0; seq < kExchanges; ++seq) {
        ASSERT_EQ(log.times_seen[size_t(seq)], 1) << "upstream saw exchange " << seq;
        // A sleep never ends early; this guards the reference itself.
        ASSERT_GE(log.held_ms[size_t(seq)], want.injected_ms[size_t(seq)]) << seq;
      }
      held = log.held_ms;
    }

    std::optional<JsonValue> doc = settled_stats(proxy_->stats_port(), kExchanges);
    ASSERT_TRUE(doc.has_value());
    const JsonValue& s = *doc;

    // Exact counts.
    EXPECT_EQ(count(s, "windows.total.requests"), uint64_t(kExchanges));
    EXPECT_EQ(count(s, "windows.total.status.2xx"), want.statuses.at(200) + want.statuses.at(201));
    EXPECT_EQ(count(s, "windows.total.status.4xx"), want.statuses.at(404));
    EXPECT_EQ(count(s, "windows.total.status.5xx"), want.statuses.at(503));
    EXPECT_EQ(count(s, "windows.total.status.1xx"), 0u);
    EXPECT_EQ(count(s, "windows.total.status.3xx"), 0u);
    for (const auto& [code, n] : want.statuses) {
      EXPECT_EQ(count(s, "windows.total.status_codes." + std::to_string(code)), n) << code;
    }
    EXPECT_EQ(count(s, "windows.total.errors"), want.statuses.at(503));  // 5xx are errors
    EXPECT_EQ(sum_of(s, "windows.total.upstream_errors"), 0u);
    EXPECT_EQ(sum_of(s, "windows.total.downstream_errors"), 0u);
    EXPECT_EQ(count(s, "windows.total.retries"), 0u);
    EXPECT_EQ(count(s, "windows.total.latency_ms.count"), uint64_t(kExchanges));
    EXPECT_EQ(count(s, "windows.total.upstream_ttfb_ms.count"), uint64_t(kExchanges));

    // Body bytes as they crossed the sockets: request bodies as the client framed them,
    // response bodies as the upstream framed them (chunk framing included).
    EXPECT_EQ(count(s, "windows.total.request_bytes.total"), want.request_body_wire);
    EXPECT_EQ(count(s, "windows.total.response_bytes.total"), want.response_body_wire);
    EXPECT_EQ(count(s, "windows.total.request_bytes.max"), want.request_body_max);
    EXPECT_EQ(count(s, "windows.total.response_bytes.max"), want.response_body_max);

    // The routes split the same exchanges: together they hold all of them.
    const JsonValue* routes = s.get("routes");
    ASSERT_TRUE(routes != nullptr && routes->is_array());
    uint64_t route_requests = 0, route_req_bytes = 0, route_resp_bytes = 0;
    for (const JsonValue& r : routes->array) {
      route_requests += count(r, "windows.total.requests");
      route_req_bytes += count(r, "windows.total.request_bytes.total");
      route_resp_bytes += count(r, "windows.total.response_bytes.total");
    }
    EXPECT_EQ(route_requests, uint64_t(kExchanges));
    EXPECT_EQ(route_req_bytes, want.request_body_wire);
    EXPECT_EQ(route_resp_bytes, want.response_body_wire);

    // Percentiles, each checked against bounds that hold exchange by exchange, and so
    // rank by rank:
    //  - floor: the injected delay. The upstream cannot answer sooner, so only the
    //    histogram's bucket error (< 0.78 %) may take the figure below it.
    //  - ceiling: 1 % + 0.5 ms above the time the upstream really held the response (its
    //    sleep overshoots on a busy machine, which is the upstream's time, not an error).
    //    What is left above it is the proxy's own timestamping plus two loopback hops
    //    and thread wake-ups. On an overloaded machine (load 5 on 2 cores was seen to
    //    add ~1 ms at the median) those wake-ups alone exceed 0.5 ms; the client then
    //    measured at least as much delay around the same exchanges (its TTFB contains
    //    the proxy's), so the ceiling becomes what the client saw. A proxy that
    //    overstates TTFB fails either way.
    struct Check {
      const char* name;
      double q;
      double injected;
    };
    const Check checks[] = {{"p50", 0.50, 20}, {"p95", 0.95, 50}, {"p99", 0.99, 200}};
    for (const Check& c : checks) {
      ASSERT_EQ(rank_value(want.injected_ms, c.q), c.injected) << "mix broken for " << c.name;
      const double ttfb = num(s, std::string("windows.total.upstream_ttfb_ms.") + c.name);
      const double latency = num(s, std::string("windows.total.latency_ms.") + c.name);
      const double held_q = rank_value(held, c.q);
      const double client_q = rank_value(client_ttfb, c.q);
      const double tight = held_q * 1.01 + 0.5;
      const double ceiling = std::max(tight, client_q * 1.01);
      std::printf(
          "[ measure  ] workers=%d %s: injected %.0f, upstream held %.3f, proxy ttfb "
          "%.3f (%+.3f vs injected, %+.3f vs held; tight ceiling %.3f%s), client ttfb "
          "%.3f, proxy latency %.3f ms\n",
          workers, c.name, c.injected, held_q, ttfb, ttfb - c.injected, ttfb - held_q, tight,
          ttfb <= tight ? "" : " EXCEEDED, machine busy", client_q, latency);
      EXPECT_GE(ttfb, c.injected * 0.99) << c.name;
      EXPECT_LE(ttfb, ceiling) << c.name << ": upstream held " << held_q << ", client saw "
                               << client_q;
      // Every exchange's latency contains its TTFB, so each order statistic does too.
      EXPECT_GE(latency, ttfb) << c.name;
    }
    EXPECT_GE(num(s, "windows.total.upstream_ttfb_ms.max"), 200.0);
    EXPECT_GE(num(s, "windows.total.latency_ms.max"), num(s, "windows.total.upstream_ttfb_ms.max"));

    check_metrics_exposition(want);
  }

  // /metrics from the same snapshot sequence: counts agree with /stats, buckets are
  // cumulative and end in +Inf == _count, and no bucket of the service-wide histogram (the
  // fine bounds) claims an exchange faster than its injected delay.
  void check_metrics_exposition(const Expected& want) {
    constexpr std::string_view kFamily = "http_server_request_duration_seconds";
    std::vector<PromSample> samples;
    double total_count = 0;
    const Deadline deadline = deadline_in(std::chrono::seconds(10));
    while (Clock::now() < deadline) {
      samples = prom_samples(fetch_metrics(proxy_->stats_port()), kFamily);
      total_count = 0;
      for (const PromSample& p : samples) {
        if (p.name == std::string(kFamily) + "_count") total_count += p.value;
      }
      if (total_count >= kExchanges) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // external process
    }
    EXPECT_EQ(total_count, double(kExchanges));

    std::map<std::string, std::vector<std::pair<std::string, double>>> buckets;  // in order
    std::map<std::string, double> counts;
    std::map<std::string, uint64_t> per_code;
    for (const PromSample& p : samples) {
      std::string series, le;
      split_le(p.labels, series, le);
      if (p.name == std::string(kFamily) + "_bucket") {
        buckets[series].emplace_back(le, p.value);
      } else if (p.name == std::string(kFamily) + "_count") {
        counts[series] = p.value;
        const size_t at = series.find("http_response_status_code=\"");
        if (at != std::string::npos) per_code[series.substr(at + 27, 3)] += uint64_t(p.value);
      }
    }
    ASSERT_FALSE(counts.empty());
    double below_15ms = 0, upto_50ms = 0;
    for (const auto& [series, count_value] : counts) {
      const auto& b = buckets[series];
      ASSERT_FALSE(b.empty()) << series;
      double prev = 0, prev_le = -1;
      for (const auto& [le, v] : b) {
        EXPECT_GE(v, prev) << series << " le=" << le << " is not cumulative";
        prev = v;
        if (le == "+Inf") continue;
        const double bound = std::strtod(le.c_str(), nullptr);
        EXPECT_GT(bound, prev_le) << series << " bounds out of order";
        prev_le = bound;
      }
      EXPECT_EQ(b.back().first, "+Inf") << series;
      EXPECT_EQ(b.back().second, count_value) << series;
    }
    for (const auto& [code, n] : want.statuses) {
      EXPECT_EQ(per_code[std::to_string(code)], n) << "series for status " << code;
    }
    // The fine bounds are on the service-wide family (the per-route one has few bounds).
    int bounds_found = 0;
    const std::vector<PromSample> wide =
        prom_samples(fetch_metrics(proxy_->stats_port()), "sidemeter_request_duration_seconds");
    for (const PromSample& p : wide) {
      if (p.name != "sidemeter_request_duration_seconds_bucket") continue;
      std::string series, le;
      split_le(p.labels, series, le);
      if (le == "0.015") {
        below_15ms = p.value;
        bounds_found++;
      }
      if (le == "0.05") {
        upto_50ms = p.value;
        bounds_found++;
      }
    }
    EXPECT_EQ(bounds_found, 2) << "le=\"0.015\" / le=\"0.05\" missing";
    EXPECT_EQ(below_15ms, 0) << "an exchange finished before its injected 20 ms";
    // A duration above a bound is never counted under it (cumulative_at_bounds).
    const uint64_t twenty_ms =
        uint64_t(std::count(want.injected_ms.begin(), want.injected_ms.end(), 20.0));
    EXPECT_LE(upto_50ms, double(twenty_ms)) << "a 50 ms exchange was counted at <= 50 ms";
  }
};

TEST_F(MeasurementTest, DelayMixOneWorker) { run_delay_mix(1); }

// Four shards, merged at publish time: the exact figures must not change.
TEST_F(MeasurementTest, DelayMixFourWorkers) { run_delay_mix(4); }

// ------------------------------------------------------------------ blame

TEST_F(MeasurementTest, ClientAbortBeforeResponseIsBlamedOnTheClient) {
  auto upstream_saw_close = std::make_shared<std::atomic<bool>>(false);
  start([upstream_saw_close](UpstreamConn& c) {
    HttpMessage req;
    if (!c.read_request(req)) return;
    // Never answers: the exchange can only end by the client going away. The proxy
    // must then drop this connection (it has a response owed on it).
    *upstream_saw_close = c.wait_peer_close(soon());
  });
  RawClient client(port());
  ASSERT_TRUE(client.send(simple_get("/slow")));
  ASSERT_TRUE(upstream_->wait_requests(1, soon()));
  client.socket().reset();

  std::optional<JsonValue> doc = settled_stats(proxy_->stats_port(), 1);
  ASSERT_TRUE(doc.has_value());
  const JsonValue& s = *doc;
  EXPECT_EQ(count(s, "windows.total.requests"), 1u);
  EXPECT_EQ(count(s, "windows.total.downstream_errors.client_abort_response"), 1u);
  EXPECT_EQ(sum_of(s, "windows.total.downstream_errors"), 1u);
  EXPECT_EQ(sum_of(s, "windows.total.upstream_errors"), 0u) << "the upstream did nothing wrong";
  EXPECT_EQ(count(s, "windows.total.errors"), 0u);
  EXPECT_EQ(sum_of(s, "windows.total.status"), 0u) << "no status was sent";
  EXPECT_EQ(count(s, "windows.total.upstream_ttfb_ms.count"), 0u);
  upstream_.reset();  // joins the handler
  EXPECT_TRUE(*upstream_saw_close);
}

TEST_F(MeasurementTest, ClientAbortMidRequestIsBlamedOnTheClient) {
  auto head_arrived = std::make_shared<Latch>();
  start([head_arrived](UpstreamConn& c) {
    HttpMessage req;
    ReadOptions head_only;
    head_only.head_only = true;
    if (!c.read_request(req, head_only)) return;
    head_arrived->open();
    c.wait_peer_close(soon());  // the body never completes
  });
  RawClient client(port());
  ASSERT_TRUE(
      client.send("POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100\r\n"
                  "\r\n0123456789"));
  // The proxy streams the head on as soon as it has it: abort only once it is there, so
  // an upstream attempt is in flight when the client goes away.
  ASSERT_TRUE(head_arrived->wait(soon()));
  client.socket().reset();

  std::optional<JsonValue> doc = settled_stats(proxy_->stats_port(), 1);
  ASSERT_TRUE(doc.has_value());
  const JsonValue& s = *doc;
  EXPECT_EQ(count(s, "windows.total.requests"), 1u);
  EXPECT_EQ(count(s, "windows.total.downstream_errors.client_abort_request"), 1u);
  EXPECT_EQ(sum_of(s, "windows.total.downstream_errors"), 1u);
  EXPECT_EQ(sum_of(s, "windows.total.upstream_errors"), 0u) << "the upstream did nothing wrong";
  EXPECT_EQ(count(s, "windows.total.errors"), 0u);
}

TEST_F(MeasurementTest, RejectedRequestNeverReachesTheUpstreamFigures) {
  start(TestUpstream::fixed("ok"));
  HttpMessage resp = fetch(
      "POST / HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(resp.status, 400);

  std::optional<JsonValue> doc = settled_stats(proxy_->stats_port(), 1);
  ASSERT_TRUE(doc.has_value());
  const JsonValue& s = *doc;
  EXPECT_EQ(count(s, "windows.total.requests"), 1u);
  EXPECT_EQ(count(s, "windows.total.rejected.cl_and_te"), 1u);
  EXPECT_EQ(sum_of(s, "windows.total.rejected"), 1u);
  EXPECT_EQ(count(s, "windows.total.downstream_errors.request_rejected"), 1u);
  EXPECT_EQ(count(s, "windows.total.status.4xx"), 1u);
  EXPECT_EQ(count(s, "windows.total.status_codes.400"), 1u);
  EXPECT_EQ(sum_of(s, "windows.total.upstream_errors"), 0u);
  EXPECT_EQ(count(s, "windows.total.upstream_ttfb_ms.count"), 0u);
  EXPECT_EQ(count(s, "windows.total.upstream_connect_ms.count"), 0u);
  EXPECT_EQ(count(s, "windows.total.upstream_total_ms.count"), 0u);
  EXPECT_EQ(count(s, "windows.total.errors"), 0u) << "a 4xx of our own is not a server error";
  // The answer the client got is counted like any response: its body's bytes.
  EXPECT_EQ(count(s, "windows.total.response_bytes.total"), resp.body.size());
  EXPECT_GT(resp.body.size(), 0u);
  EXPECT_EQ(upstream_->connections(), 0u);
  EXPECT_EQ(upstream_->bytes_received(), 0u);
}

TEST_F(MeasurementTest, RefusedConnectIsCountedUnderItsMethod) {
  start(TestUpstream::fixed("ok"));
  HttpMessage resp = fetch("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  EXPECT_EQ(resp.status, 405);
  std::optional<JsonValue> doc = settled_stats(proxy_->stats_port(), 1);
  ASSERT_TRUE(doc.has_value());
  const JsonValue* routes = doc->get("routes");
  ASSERT_TRUE(routes && routes->array.size() == 1) << "one (route, method) pair";
  EXPECT_EQ(routes->array[0].get("method")->string, "CONNECT");
  EXPECT_EQ(count(*doc, "windows.total.rejected.connect_not_allowed"), 1u);
}

class MeasurementBlame : public MeasurementTest {
 protected:
  // The upstream ends the connection after reading the request, without a byte of answer.
  void expect_upstream_blamed(bool reset, const char* kind) {
    start([reset](UpstreamConn& c) {
      HttpMessage req;
      if (!c.read_request(req)) return;
      // The upstream holds the request a while before giving up on it: that wait is the
      // upstream's, not the proxy's overhead.
      std::this_thread::sleep_for(kUpstreamHold);
      if (reset) {
        c.reset();
      } else {
        c.close();
      }
    });
    HttpMessage resp = fetch(simple_get("/flaky"));
    EXPECT_EQ(resp.status, 502);

    std::optional<JsonValue> doc = settled_stats(proxy_->stats_port(), 1);
    ASSERT_TRUE(doc.has_value());
    const JsonValue& s = *doc;
    EXPECT_EQ(count(s, "windows.total.requests"), 1u);
    EXPECT_EQ(count(s, std::string("windows.total.upstream_errors.") + kind), 1u);
    EXPECT_EQ(sum_of(s, "windows.total.upstream_errors"), 1u);
    EXPECT_EQ(sum_of(s, "windows.total.downstream_errors"), 0u) << "the client did nothing wrong";
    EXPECT_EQ(count(s, "windows.total.status_codes.502"), 1u);
    EXPECT_EQ(count(s, "windows.total.errors"), 1u);
    EXPECT_EQ(count(s, "windows.total.retries"), 0u) << "a fresh connection is never retried";
    EXPECT_EQ(count(s, "windows.total.upstream_ttfb_ms.count"), 0u) << "no first byte came";
    const double latency = s.at("windows.total.latency_ms.max")->number;
    const double overhead = s.at("windows.total.proxy_overhead_ms.max")->number;
    EXPECT_GE(latency, double(kUpstreamHold.count()));
    // Overhead is what is left once the upstream's wait is taken out: well under the hold
    // on any machine (it was the whole hold before the failure time was recorded).
    EXPECT_LT(overhead, latency - 0.5 * double(kUpstreamHold.count()));
    EXPECT_EQ(upstream_->connections(), 1u);
  }
  static constexpr std::chrono::milliseconds kUpstreamHold{200};

  // The pooled-connection race, made deterministic: the upstream answers the first request
  // on its first connection, then drops that connection when the next request arrives on
  // it, as a backend does when its keep-alive timer fires as the request is in flight. The
  // proxy resends on a fresh connection; the client sees one exchange and so must the
  // figures.
  void expect_stale_pool_retry(bool reset) {
    start([reset](UpstreamConn& c) {
      HttpMessage req;
      while (c.read_request(req)) {
        if (c.index() == 0 && req.target == "/second") {
          if (reset) {
            c.reset();
          } else {
            c.close();
          }
          return;
        }
        if (!c.write(make_response(200, "OK", "body-of-" + req.target))) return;
      }
    });
    RawClient client(proxy_->listen_port());
    HttpMessage first, second;
    ASSERT_TRUE(client.exchange(simple_get("/first"), first).ok());
    EXPECT_EQ(first.status, 200);
    ASSERT_TRUE(client.exchange(simple_get("/second"), second).ok());
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.body, "body-of-/second");

    std::optional<JsonValue> doc = settled_stats(proxy_->stats_port(), 2);
    ASSERT_TRUE(doc.has_value());
    const JsonValue& s = *doc;
    EXPECT_EQ(count(s, "windows.total.requests"), 2u) << "the retry is not a second exchange";
    EXPECT_EQ(count(s, "windows.total.status.2xx"), 2u);
    EXPECT_EQ(count(s, "windows.total.retries"), 1u);
    EXPECT_EQ(sum_of(s, "windows.total.upstream_errors"), 0u) << "the retry succeeded";
    EXPECT_EQ(sum_of(s, "windows.total.downstream_errors"), 0u);
    EXPECT_EQ(count(s, "windows.total.errors"), 0u);
    EXPECT_EQ(count(s, "windows.total.upstream_ttfb_ms.count"), 2u);
    EXPECT_EQ(upstream_->connections(), 2u);
    EXPECT_EQ(upstream_->requests(), 3u);  // first, second (dropped), second again
  }
};

TEST_F(MeasurementBlame, UpstreamResetBeforeResponse) {
  expect_upstream_blamed(true, "reset_before_response");
}

TEST_F(MeasurementBlame, UpstreamClosedBeforeResponse) {
  expect_upstream_blamed(false, "closed_early");
}

TEST_F(MeasurementBlame, StalePooledConnectionClosedIsRetriedAsOneExchange) {
  expect_stale_pool_retry(false);
}

TEST_F(MeasurementBlame, StalePooledConnectionResetIsRetriedAsOneExchange) {
  expect_stale_pool_retry(true);
}

}  // namespace
}  // namespace sidemeter::testing
