// Exhaustion (issue 12), two workers each: the configured connection limit, running out
// of file descriptors under a low RLIMIT_NOFILE, and many clients sending oversized
// header sections. Each asserts the answers and counters the README documents, that the
// proxy neither crashes nor spins, that it recovers, and then the shared at-rest
// invariants.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/fault_fixture.h"
#include "tests/support/json_line.h"

namespace sidemeter::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class ExhaustionTest : public FaultTest {};

constexpr std::string_view kQuickPoolExpiry = "  upstream_idle: 300ms\n";

uint64_t gauge(const JsonValue& frame, std::string_view name) {
  return uint64_t(json_number(frame, "connections." + std::string(name)).value_or(-1));
}

// ------------------------------------------------------------------ max_connections
// README: `limits.max_connections` counts downstream connections over the whole process;
// above it a connection gets 503 (with Connection: close) and is counted in
// sidemeter_connections_refused_total, not as a request.
TEST_F(ExhaustionTest, ConnectionLimitAnswers503AndCountsRefusals) {
  constexpr int kLimit = 8;
  start2(TestUpstream::fixed("ok"),
         "limits:\n  max_connections: 8\ntimeouts:\n" + std::string(kQuickPoolExpiry));
  std::vector<std::unique_ptr<RawClient>> held;
  uint64_t bytes_seen = 0;
  for (int i = 0; i < kLimit; ++i) {
    held.push_back(std::make_unique<RawClient>(port()));
    HttpMessage resp;
    ASSERT_TRUE(held.back()->exchange(simple_get("/held"), resp).ok()) << "client " << i;
    ASSERT_EQ(resp.status, 200);
    bytes_seen += resp.body.size();
  }
  uint64_t refused = 0;
  for (int i = 0; i < 2; ++i) {
    RawClient over(port());
    ASSERT_TRUE(over.connected());
    HttpMessage resp;
    // The answer comes without a request: the proxy writes it at accept.
    ASSERT_TRUE(over.read_response(resp).ok());
    EXPECT_EQ(resp.status, 503) << resp.head_raw;
    EXPECT_TRUE(resp.has_token("connection", "close"));
    EXPECT_TRUE(over.wait_closed(soon()));
    refused++;
  }
  // A slot frees when a held client leaves: the next connection is served.
  held.back()->close();
  held.pop_back();
  ASSERT_TRUE(wait_for_stats(proxy_->stats_port(), [&](const JsonValue& f) {
    return gauge(f, "downstream_active") == uint64_t(kLimit - 1);
  })) << "the proxy never released the slot";
  {
    RawClient again(port());
    HttpMessage resp;
    ASSERT_TRUE(again.exchange(simple_get("/again"), resp).ok());
    EXPECT_EQ(resp.status, 200);
    bytes_seen += resp.body.size();
  }
  held.clear();

  StatsExpect want;
  want.requests = kLimit + 1;  // refusals are connections, not requests
  want.status_codes = {{200, kLimit + 1}};
  want.errors = 0;
  want.downstream_refused = refused;
  want.response_body_bytes = bytes_seen;
  expect_at_rest(want);
}

// ------------------------------------------------------------------ file descriptors
// Under a low RLIMIT_NOFILE the proxy cannot raise (soft = hard = 128), clients come
// until the descriptors run short. The proxy caps its connections by what the limit
// allows (fd_limit.h, README "Command line"): over the cap a client gets the 503 of the
// connection limit, counted, instead of an accept failing; the stats port keeps a
// descriptor to answer with; a stream of refused clients costs next to no CPU (no
// spinning); and once clients leave, service comes back.
//
// Then the descriptors are taken by something else (idle stats-port connections) until
// accepts really fail with EMFILE: clients are dropped, the proxy neither crashes nor
// spins, and recovers when those descriptors are freed.
TEST_F(ExhaustionTest, FileDescriptorsExhaustedNoCrashNoSpinAndRecovers) {
  constexpr uint64_t kFdLimit = 128;
  upstream_ = std::make_unique<TestUpstream>(TestUpstream::fixed("ok"), /*probe_connections=*/1);
  proxy_ = std::make_unique<SidemeterProcess>(
      std::vector<std::string>{},
      make_config(upstream_->address(), "timeouts:\n" + std::string(kQuickPoolExpiry), kWorkers),
      kFdLimit);
  ASSERT_TRUE(proxy_->started()) << proxy_->error();
  ASSERT_TRUE(proxy_->wait_listening()) << proxy_->log_text();
  ASSERT_TRUE(upstream_->wait_probes(soon()));
  std::optional<std::string> low = proxy_->wait_for_log("\"fd_limit_low\"", soon());
  ASSERT_TRUE(low.has_value()) << "no fd_limit_low warning under a limit of " << kFdLimit;
  const std::optional<int64_t> cap = json_int(*low, "max_connections_effective");
  ASSERT_TRUE(cap.has_value()) << *low;
  ASSERT_GT(*cap, 4);
  ASSERT_LT(uint64_t(*cap), kFdLimit / 2) << "the cap leaves no descriptor for upstreams";

  // Fill up to the cap: every client served and held.
  std::vector<std::unique_ptr<RawClient>> held;
  uint64_t served = 0, refused = 0;
  for (int64_t i = 0; i < *cap; ++i) {
    auto c = std::make_unique<RawClient>(port());
    HttpMessage resp;
    ASSERT_TRUE(c->exchange(simple_get("/fill"), resp).ok()) << "client " << i;
    ASSERT_EQ(resp.status, 200) << "client " << i;
    served++;
    held.push_back(std::move(c));
  }
  auto expect_refused = [&](const char* when) {
    RawClient c(port());
    ASSERT_TRUE(c.connected()) << when;
    HttpMessage resp;
    ASSERT_TRUE(c.read_response(resp).ok()) << when;
    EXPECT_EQ(resp.status, 503) << when;
    EXPECT_TRUE(resp.has_token("connection", "close")) << when;
    refused++;
  };
  expect_refused("the first client over the cap");

  // Saturated: a refused client every 50 ms for 1.5 s. A proxy spinning on accept errors
  // burns a core; refusing 30 clients costs a few milliseconds.
  const double cpu_before = proxy_->cpu_seconds();
  const auto window_start = Clock::now();
  for (int i = 0; i < 30; ++i) {
    expect_refused("saturated");
    std::this_thread::sleep_until(window_start + milliseconds(50 * (i + 1)));  // the load's pace
  }
  const double cpu_used = proxy_->cpu_seconds() - cpu_before;
  const double window_s = std::chrono::duration<double>(Clock::now() - window_start).count();
  EXPECT_LT(cpu_used, 0.2 * window_s)
      << "the proxy used " << cpu_used << " s of CPU in " << window_s << " s while saturated";
  EXPECT_TRUE(fetch_stats_json(proxy_->stats_port()).has_value())
      << "the stats port did not answer while the traffic port was saturated";

  // Now something else takes the descriptors the cap kept: idle stats connections (each
  // proven open by an answer), until the stats port cannot accept any more.
  std::vector<std::unique_ptr<RawClient>> stats_conns;
  for (uint64_t i = 0; i < kFdLimit; ++i) {
    auto c = std::make_unique<RawClient>(proxy_->stats_port());
    HttpMessage resp;
    if (!c->connected() || !c->exchange(simple_get("/healthz"), resp).ok()) break;
    stats_conns.push_back(std::move(c));
  }
  ASSERT_LT(stats_conns.size(), kFdLimit) << "descriptors never ran out";
  // Accepts fail with EMFILE now: libuv accepts with its spare descriptor and closes, so
  // the client is dropped without an answer; the proxy must not spin on the error.
  const double cpu_before_emfile = proxy_->cpu_seconds();
  const auto emfile_start = Clock::now();
  int dropped = 0;
  for (int i = 0; i < 20; ++i) {
    RawClient c(port());
    HttpMessage resp;
    if (c.connected() && c.read_response(resp).ok()) {
      EXPECT_EQ(resp.status, 503);  // a descriptor came free in between: still over the cap
      refused++;
    } else {
      dropped++;
    }
    std::this_thread::sleep_until(emfile_start + milliseconds(50 * (i + 1)));  // the load's pace
  }
  const double cpu_emfile = proxy_->cpu_seconds() - cpu_before_emfile;
  const double emfile_s = std::chrono::duration<double>(Clock::now() - emfile_start).count();
  EXPECT_GT(dropped, 0) << "accepts never failed: the scenario did not happen";
  EXPECT_LT(cpu_emfile, 0.2 * emfile_s)
      << "the proxy used " << cpu_emfile << " s of CPU in " << emfile_s << " s of EMFILE";
  EXPECT_TRUE(proxy_->running()) << proxy_->log_text();

  // Recovery: everyone leaves, new clients are served.
  stats_conns.clear();
  held.clear();
  ASSERT_TRUE(wait_for_stats(proxy_->stats_port(), [](const JsonValue& f) {
    return gauge(f, "downstream_active") == 0;
  })) << "descriptors were not freed";
  for (int i = 0; i < 5; ++i) {
    HttpMessage resp = fetch(simple_get("/recovered"));
    EXPECT_EQ(resp.status, 200) << "after recovery, request " << i;
    served += resp.status == 200;
  }
  EXPECT_TRUE(proxy_->running());

  StatsExpect want;
  want.requests = served;  // refusals are connections, not requests
  want.status_codes = {{200, served}};
  want.errors = 0;
  want.response_body_bytes = 2 * served;
  want.downstream_refused = refused;
  expect_at_rest(want);
}

// ------------------------------------------------------------------ oversized headers
// Many clients at once send header sections over the limits: each gets 431 with
// Connection: close, counted by reason; nothing reaches the upstream, and other clients
// are served meanwhile.
TEST_F(ExhaustionTest, ManyLargeHeaderSectionsAnswered431AndCounted) {
  start2(TestUpstream::fixed("ok"),
         "limits:\n  max_header_bytes: 8192\n  max_headers: 50\ntimeouts:\n" +
             std::string(kQuickPoolExpiry));
  constexpr int kEach = 10;
  // Too large: 20 fields of 1 KiB (20 KiB > 8 KiB). Too many: 80 short fields (> 50).
  std::string too_large = "GET /large HTTP/1.1\r\nHost: test.local\r\n";
  for (int i = 0; i < 20; ++i) too_large += "X-Big-" + std::to_string(i) + ": " + std::string(1024, 'v') + "\r\n";
  too_large += "\r\n";
  std::string too_many = "GET /many HTTP/1.1\r\nHost: test.local\r\n";
  for (int i = 0; i < 80; ++i) too_many += "X-F-" + std::to_string(i) + ": v\r\n";
  too_many += "\r\n";

  std::vector<int> statuses(2 * kEach, 0);
  std::vector<bool> closed(2 * kEach, false);
  std::vector<uint64_t> body_bytes(2 * kEach, 0);
  std::vector<std::thread> clients;
  Bystander others(port(), 10);
  for (int i = 0; i < 2 * kEach; ++i) {
    clients.emplace_back([&, i] {
      RawClient c(port());
      HttpMessage resp;
      if (!c.exchange(i % 2 == 0 ? too_large : too_many, resp).ok()) return;
      statuses[size_t(i)] = resp.status;
      body_bytes[size_t(i)] = resp.body.size();
      closed[size_t(i)] = resp.has_token("connection", "close") && c.wait_closed(soon());
    });
  }
  for (std::thread& t : clients) t.join();
  others.join();
  EXPECT_EQ(others.ok(), 10) << others.first_error();
  uint64_t bytes_seen = others.body_bytes();
  for (int i = 0; i < 2 * kEach; ++i) {
    EXPECT_EQ(statuses[size_t(i)], 431) << "client " << i;
    EXPECT_TRUE(closed[size_t(i)]) << "client " << i << ": connection not closed after 431";
    bytes_seen += body_bytes[size_t(i)];
  }
  for (const HttpMessage& m : upstream_->seen_requests()) {
    EXPECT_EQ(m.target.rfind("/bystander/", 0), 0u) << m.target << " reached the upstream";
  }

  StatsExpect want;
  want.requests = 2 * kEach + 10;
  want.status_codes = {{431, 2 * kEach}, {200, 10}};
  want.errors = 0;
  want.downstream_errors = {{"request_rejected", 2 * kEach}};
  want.rejected = {{"headers_too_large", kEach}, {"too_many_headers", kEach}};
  want.response_body_bytes = bytes_seen;
  expect_at_rest(want);
}

}  // namespace
}  // namespace sidemeter::testing
