// Honest accounting of exchanges cut short after their status line went out, through the
// real binary with two workers (and one, for the client aborts): every exchange counted
// once, with a duration, in the same way on /stats and on /metrics; an upstream that cuts
// its response mid-body is an error (with its kind, and as error_type on the duration
// histogram); a client that leaves is not. The policy is stated in
// metrics/exchange_sample.h. Waits are latches and settled stats, never sleeps; the
// durations checked are the delays the test injects, with wide margins.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/proxy_fixture.h"
#include "tests/support/exposition_check.h"
#include "tests/support/json_value.h"

namespace sidemeter::testing {
namespace {

constexpr int kWorkers = 2;
constexpr size_t kBody = 1 << 20;          // the response each client asks for: 1 MiB
constexpr size_t kFirstPart = 512 * 1024;  // what the upstream sends before a cut
// Injected: the upstream waits this long before its first body byte, so every exchange
// here lasts at least that long. Checked from below only (a busy machine adds time).
constexpr std::chrono::milliseconds kHold{150};

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

uint64_t sum_of(const JsonValue& doc, std::string_view path) {
  const JsonValue* j = doc.at(path);
  EXPECT_TRUE(j != nullptr && j->is_object()) << "missing object " << path;
  uint64_t total = 0;
  if (j != nullptr) {
    for (const auto& [k, v] : j->object) total += uint64_t(v.number);
  }
  return total;
}

// The first snapshot holding `requests` exchanges that a later tick produced, so anything
// recorded with them (a double count, a late error) is in it too. The stats port is an
// external process's: polling it is the only way to wait.
std::optional<JsonValue> settled_stats(uint16_t stats_port, uint64_t requests) {
  const Deadline deadline = deadline_in(std::chrono::seconds(15));
  double seen_at_tick = -1;
  uint64_t last = 0;
  while (Clock::now() < deadline) {
    if (std::optional<JsonValue> doc = fetch_stats(stats_port)) {
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

// http_server_request_duration_seconds, series by series.
struct DurationSeries {
  std::string route, code, error_type;
  double count = 0, sum = 0;
};

std::vector<DurationSeries> duration_series(const ExpositionCheck& m) {
  std::vector<DurationSeries> out;
  const auto same = [](const ExpositionSample& a, const DurationSeries& d) {
    // label() reads a missing label as "": OTel leaves the status code out when none was
    // sent, and error_type out when the exchange completed normally.
    return a.label("http_route") == d.route && a.label("http_response_status_code") == d.code &&
           a.label("error_type") == d.error_type;
  };
  for (const ExpositionSample& s : m.samples) {
    if (s.name != "http_server_request_duration_seconds_count") continue;
    DurationSeries d{s.label("http_route"), s.label("http_response_status_code"),
                     s.label("error_type"), s.value, -1};
    for (const ExpositionSample& x : m.samples) {
      if (x.name == "http_server_request_duration_seconds_sum" && same(x, d)) d.sum = x.value;
    }
    out.push_back(d);
  }
  return out;
}

bool upstream_kind(std::string_view t) {
  for (std::string_view k : {"connect_refused", "connect_timeout", "reset_before_response",
                             "reset_mid_response", "response_timeout", "invalid_response",
                             "closed_early", "tls_handshake_failed"}) {
    if (t == k) return true;
  }
  return false;
}

// What must hold after any traffic, once the figures settled: /stats and /metrics count
// every exchange, the same exchanges the same way.
void expect_views_agree(const JsonValue& s, const ExpositionCheck& m) {
  const std::vector<DurationSeries> series = duration_series(m);
  double all = 0, no_status = 0, errors = 0, classes[6] = {};
  for (const DurationSeries& d : series) {
    all += d.count;
    if (d.code.empty()) {
      no_status += d.count;
    } else if (d.code != "other") {
      classes[d.code[0] - '0'] += d.count;
    }
    if ((!d.code.empty() && d.code[0] == '5') || upstream_kind(d.error_type)) errors += d.count;
  }
  EXPECT_EQ(all, num(s, "windows.total.requests")) << "every exchange has a duration";
  EXPECT_EQ(all, num(s, "windows.total.latency_ms.count"));
  EXPECT_EQ(all - no_status, double(sum_of(s, "windows.total.status")))
      << "the status classes count every exchange that sent a status";
  for (int c = 1; c <= 5; ++c) {
    const std::string name = "windows.total.status." + std::to_string(c) + "xx";
    EXPECT_EQ(classes[c], num(s, name)) << name;
  }
  EXPECT_EQ(errors, num(s, "windows.total.errors"))
      << "errors: 5xx sent, or the upstream failed (its kind as error_type)";
  EXPECT_LE(num(s, "windows.total.error_rate"), 1.0);
  EXPECT_EQ(m.sum("sidemeter_upstream_retries_total"), num(s, "windows.total.retries"));
}

class AccountingTest : public ProxyTest {
 protected:
  // Both views, once settled at `requests` exchanges; the /metrics text is checked for
  // validity.
  bool settle(uint64_t requests, JsonValue& stats, ExpositionCheck& metrics) {
    std::optional<JsonValue> doc = settled_stats(proxy_->stats_port(), requests);
    if (!doc) return false;
    stats = std::move(*doc);
    const std::string text = fetch_metrics(proxy_->stats_port());
    metrics = check_exposition(text, false);
    EXPECT_TRUE(metrics.errors.empty()) << metrics.errors.front();
    EXPECT_EQ(metrics.sum("http_server_request_duration_seconds_count"),
              num(stats, "windows.total.requests"))
        << "/metrics read at another tick than /stats" << text;
    return true;
  }

  // A GET of kBody bytes: head, kHold of silence, kFirstPart of body, then whatever
  // `after_first_part` does (cut the connection, fall silent, send the rest...).
  static UpstreamHandler download(std::function<void(UpstreamConn&)> after_first_part) {
    return [after_first_part](UpstreamConn& c) {
      HttpMessage req;
      if (!c.read_request(req)) return;
      const std::string head =
          "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n";
      if (!c.write(head)) return;
      std::this_thread::sleep_for(kHold);  // injected: checked from below
      if (!c.write(std::string(kFirstPart, 'x'))) return;
      after_first_part(c);
    };
  }
};

// Reads the response head, then body bytes until at least `n` arrived; returns how many
// did (the buffer is emptied), 0 if the head was not a 200 or the connection ended first.
size_t read_head_and(RawClient& client, size_t n) {
  size_t pos = 0;
  Socket& sock = client.socket();
  if (sock.fill_until("\r\n\r\n", soon(), &pos) != IoStatus::kOk) return 0;
  if (sock.buffer().compare(0, 15, "HTTP/1.1 200 OK") != 0) return 0;
  if (sock.fill_to(pos + 4 + n, soon()) != IoStatus::kOk) return 0;
  const size_t body = sock.buffer().size() - (pos + 4);
  sock.buffer().clear();
  return body;
}

// ------------------------------------------------------------------ upstream cut mid-body

// The upstream sent the status line and half the body, then cut the connection: the
// client got a truncated 200. Before this was fixed it counted as a plain 200, errors 0,
// and no duration.
class UpstreamCutMidBody : public AccountingTest {
 protected:
  void run(bool reset, std::string_view kind) {
    auto client_has_it = std::make_shared<Latch>();
    start(download([reset, client_has_it](UpstreamConn& c) {
            // Cut only once everything sent has reached the client, so the proxy has
            // read all of it (an RST may discard data not yet read).
            if (!c.wait_for(*client_has_it, soon())) return;
            if (reset) {
              c.reset();
            } else {
              c.close();
            }
          }),
          "", kWorkers);
    RawClient client(port());
    ASSERT_TRUE(client.send(simple_get("/download")));
    const size_t got = read_head_and(client, kFirstPart);
    ASSERT_GE(got, kFirstPart);
    client_has_it->open();
    std::string rest;
    const IoStatus end = client.read_until_close(&rest);
    EXPECT_TRUE(end == IoStatus::kReset || end == IoStatus::kClosed) << to_string(end);
    EXPECT_EQ(got + rest.size(), kFirstPart) << "what the upstream sent, then the cut";

    JsonValue s;
    ExpositionCheck m;
    ASSERT_TRUE(settle(1, s, m));
    EXPECT_EQ(count(s, "windows.total.requests"), 1u);
    EXPECT_EQ(count(s, "windows.total.status.2xx"), 1u) << "the status that went out";
    EXPECT_EQ(count(s, "windows.total.errors"), 1u) << "a truncated response is an error";
    EXPECT_EQ(num(s, "windows.total.error_rate"), 1.0);
    EXPECT_EQ(count(s, std::string("windows.total.upstream_errors.") + std::string(kind)), 1u);
    EXPECT_EQ(sum_of(s, "windows.total.upstream_errors"), 1u);
    EXPECT_EQ(sum_of(s, "windows.total.downstream_errors"), 0u) << "the client did nothing";
    EXPECT_EQ(count(s, "windows.total.response_bytes.total"), kFirstPart)
        << "the body bytes that came and went on";
    EXPECT_EQ(count(s, "windows.total.latency_ms.count"), 1u);
    EXPECT_GE(num(s, "windows.total.latency_ms.max"), double(kHold.count()));
    // The route's own figures say the same.
    const JsonValue* routes = s.get("routes");
    ASSERT_TRUE(routes != nullptr && routes->array.size() == 1u);
    EXPECT_EQ(count(routes->array[0], "windows.total.errors"), 1u);
    EXPECT_EQ(count(routes->array[0], "windows.total.latency_ms.count"), 1u);

    const std::vector<DurationSeries> series = duration_series(m);
    ASSERT_EQ(series.size(), 1u);
    EXPECT_EQ(series[0].route, "/download");
    EXPECT_EQ(series[0].code, "200");
    EXPECT_EQ(series[0].error_type, kind);
    EXPECT_EQ(series[0].count, 1);
    EXPECT_GE(series[0].sum, double(kHold.count()) / 1e3);
    EXPECT_EQ(m.value("sidemeter_upstream_errors_total", {{"error_type", std::string(kind)}}), 1);
    expect_views_agree(s, m);
  }
};

TEST_F(UpstreamCutMidBody, CloseIsClosedEarly) { run(false, "closed_early"); }
TEST_F(UpstreamCutMidBody, ResetIsResetMidResponse) { run(true, "reset_mid_response"); }

// The upstream falls silent mid-body: timeouts.upstream_response (re-armed by each byte)
// ends it, and the exchange lasted at least that long.
TEST_F(AccountingTest, UpstreamSilentMidBodyIsAResponseTimeout) {
  auto done = std::make_shared<Latch>();
  start(download([done](UpstreamConn& c) { c.wait_for(*done, soon()); }),
        "timeouts:\n  upstream_response: 300ms\n", kWorkers);
  RawClient client(port());
  ASSERT_TRUE(client.send(simple_get("/slow")));
  ASSERT_GE(read_head_and(client, kFirstPart), kFirstPart);
  std::string rest;
  const IoStatus end = client.read_until_close(&rest);
  EXPECT_TRUE(end == IoStatus::kReset || end == IoStatus::kClosed) << to_string(end);
  done->open();

  JsonValue s;
  ExpositionCheck m;
  ASSERT_TRUE(settle(1, s, m));
  EXPECT_EQ(count(s, "windows.total.errors"), 1u);
  EXPECT_EQ(count(s, "windows.total.status.2xx"), 1u);
  EXPECT_EQ(count(s, "windows.total.upstream_errors.response_timeout"), 1u);
  // kHold before the first body byte, then 300 ms of silence.
  EXPECT_GE(num(s, "windows.total.latency_ms.max"), double(kHold.count()) + 300);
  EXPECT_EQ(m.value("http_server_request_duration_seconds_count",
                    {{"http_response_status_code", "200"}, {"error_type", "response_timeout"}}),
            1);
  expect_views_agree(s, m);
}

// ------------------------------------------------------------------ clients that leave

// Three clients abort 1 MiB downloads midway. Before, /stats counted three 200s while the
// histogram counted those whose last byte happened to be written before the abort was
// noticed. Now: three requests, three 2xx, three client_abort_response, no error, and the
// histogram holds all three, with error_type="client_abort_response". The upstream holds
// back the second half until every client has left, so no response can complete.
class ClientAborts : public AccountingTest {
 protected:
  void run(int workers) {
    constexpr int kClients = 3;
    auto everyone_left = std::make_shared<Latch>();
    auto upstream_done = std::make_shared<std::atomic<int>>(0);
    start(download([everyone_left, upstream_done](UpstreamConn& c) {
            if (c.wait_for(*everyone_left, soon())) {
              (void)c.write(std::string(kBody - kFirstPart, 'y'));  // may fail: they left
            }
            upstream_done->fetch_add(1);
          }),
          "", workers);
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(std::make_unique<RawClient>(port()));
      ASSERT_TRUE(clients.back()->send(simple_get("/download")));
    }
    for (auto& c : clients) {
      ASSERT_GE(read_head_and(*c, kFirstPart / 2), kFirstPart / 2);  // midway
      c->socket().reset();                             // and gone
    }
    everyone_left->open();

    JsonValue s;
    ExpositionCheck m;
    ASSERT_TRUE(settle(kClients, s, m));
    EXPECT_EQ(count(s, "windows.total.requests"), uint64_t(kClients));
    EXPECT_EQ(count(s, "windows.total.status.2xx"), uint64_t(kClients));
    EXPECT_EQ(count(s, "windows.total.status_codes.200"), uint64_t(kClients));
    EXPECT_EQ(count(s, "windows.total.downstream_errors.client_abort_response"),
              uint64_t(kClients));
    EXPECT_EQ(sum_of(s, "windows.total.downstream_errors"), uint64_t(kClients));
    EXPECT_EQ(count(s, "windows.total.errors"), 0u) << "a client leaving is no server error";
    EXPECT_EQ(num(s, "windows.total.error_rate"), 0.0);
    EXPECT_EQ(sum_of(s, "windows.total.upstream_errors"), 0u) << "never blame the upstream";
    EXPECT_EQ(count(s, "windows.total.latency_ms.count"), uint64_t(kClients));
    EXPECT_GE(num(s, "windows.total.latency_ms.p50"), double(kHold.count()) * 0.99);

    const std::vector<DurationSeries> series = duration_series(m);
    double code200 = 0;
    for (const DurationSeries& d : series) {
      EXPECT_EQ(d.route, "/download");
      EXPECT_EQ(d.code, "200");
      EXPECT_EQ(d.error_type, "client_abort_response");
      code200 += d.count;
      EXPECT_GE(d.sum, d.count * double(kHold.count()) / 1e3);
    }
    EXPECT_EQ(code200, double(count(s, "windows.total.status.2xx")))
        << "the histogram, summed over error_type, counts what /stats counts";
    EXPECT_EQ(m.value("sidemeter_downstream_errors_total", {{"error_type", "client_abort_response"}}),
              kClients);
    expect_views_agree(s, m);
  }
};

TEST_F(ClientAborts, OneWorker) { run(1); }
TEST_F(ClientAborts, TwoWorkers) { run(kWorkers); }

// ------------------------------------------------------------------ retries

// A pooled connection the upstream dropped as the next request arrived: resent once on a
// fresh connection. One exchange, one retry, on both views.
TEST_F(AccountingTest, RetriesAreExportedAndNotExtraRequests) {
  start(
      [](UpstreamConn& c) {
        HttpMessage req;
        while (c.read_request(req)) {
          if (c.index() == 0 && req.target == "/second") {
            c.close();
            return;
          }
          if (!c.write(make_response(200, "OK", "body-of-" + req.target))) return;
        }
      },
      "", kWorkers);
  RawClient client(port());
  HttpMessage first, second;
  ASSERT_TRUE(client.exchange(simple_get("/first"), first).ok());
  ASSERT_TRUE(client.exchange(simple_get("/second"), second).ok());
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "body-of-/second");

  JsonValue s;
  ExpositionCheck m;
  ASSERT_TRUE(settle(2, s, m));
  EXPECT_EQ(count(s, "windows.total.requests"), 2u);
  EXPECT_EQ(count(s, "windows.total.retries"), 1u);
  EXPECT_EQ(count(s, "windows.total.errors"), 0u);
  EXPECT_EQ(m.types.at("sidemeter_upstream_retries_total"), "counter");
  EXPECT_EQ(m.value("sidemeter_upstream_retries_total"), 1);
  expect_views_agree(s, m);
}

// ------------------------------------------------------------------ all of it at once

// Whole responses, aborts, cuts and a refused 502 interleaved over two workers: the two
// views agree on every exchange, and the error rate is the share of the failed ones.
TEST_F(AccountingTest, MixedOutcomesAgreeOnBothViews) {
  auto cut_now = std::make_shared<Latch>();
  start(
      [cut_now](UpstreamConn& c) {
        HttpMessage req;
        while (c.read_request(req)) {
          if (req.target == "/ok") {
            if (!c.write(make_response(200, "OK", "fine"))) return;
            continue;
          }
          if (req.target == "/missing") {
            if (!c.write(make_response(404, "Not Found", "no"))) return;
            continue;
          }
          if (req.target == "/broken") {
            if (!c.write(make_response(503, "Service Unavailable", "down"))) return;
            continue;
          }
          // /cut: half a body, then the connection goes.
          if (!c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")) return;
          if (c.wait_for(*cut_now, soon())) c.close();
          return;
        }
      },
      // A configured route: an automatic one answered a single 503 would still be waiting
      // for admission under "other" (README "Routes").
      "routes:\n  patterns: [\"/broken\"]\n", kWorkers);
  for (const char* target : {"/ok", "/ok", "/missing", "/broken", "/ok"}) {
    HttpMessage r = fetch(simple_get(target));
    EXPECT_GT(r.status, 0) << target;
  }
  RawClient cut(port());
  ASSERT_TRUE(cut.send(simple_get("/cut")));
  size_t pos = 0;
  ASSERT_EQ(cut.socket().fill_until("0123456789", soon(), &pos), IoStatus::kOk);
  cut_now->open();
  EXPECT_NE(cut.read_until_close(nullptr), IoStatus::kTimeout);

  JsonValue s;
  ExpositionCheck m;
  ASSERT_TRUE(settle(6, s, m));
  EXPECT_EQ(count(s, "windows.total.requests"), 6u);
  EXPECT_EQ(count(s, "windows.total.errors"), 2u);  // the 503 and the cut 200
  EXPECT_NEAR(num(s, "windows.total.error_rate"), 2.0 / 6, 1e-5);  // JSON: 6 digits
  EXPECT_EQ(m.value("http_server_request_duration_seconds_count",
                    {{"http_route", "/broken"}, {"error_type", "503"}}),
            1);
  EXPECT_EQ(m.value("http_server_request_duration_seconds_count",
                    {{"http_route", "/cut"}, {"error_type", "closed_early"}}),
            1);
  expect_views_agree(s, m);
}

}  // namespace
}  // namespace sidemeter::testing
