// Hot reload (issue 9): ten SIGHUPs while four clients keep keep-alive connections busy
// through a proxy with several workers, three of them with invalid files, two changing
// route patterns, one moving the upstream to a second backend. Not one request may fail
// or see a reset, the proxy must count exactly what the clients sent, the reload counters
// must say 7 and 3, requests after the move must reach the second backend, and after a
// pattern reload a matching path must be counted under the pattern. Then POST /-/reload:
// bearer token, 200 with the new hash, 500 with every error and the running config kept,
// and keys that need a restart reported as such.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/control_plane.h"

namespace sidemeter::testing {
namespace {

using namespace control_plane;

// Answers every request "<name> <target>", so a client can tell which backend served it
// and that the body belongs to its own request.
UpstreamHandler named_backend(std::string name) {
  return [name](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      if (!c.write(make_response(200, "OK", name + " " + req.target))) return;
    }
  };
}

// 1-based line of the first line containing `needle` in `text`, 0 if none.
int line_of(const std::string& text, std::string_view needle) {
  size_t at = text.find(needle);
  if (at == std::string::npos) return 0;
  int line = 1;
  for (size_t i = 0; i < at; ++i) line += text[i] == '\n';
  return line;
}

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// ------------------------------------------------------------------ the load

constexpr int kClients = 4;
constexpr int kPerConnection = 40;  // then a fresh connection: spreads over the workers
constexpr uint64_t kTarget = 6000;  // requests in all (>= 5000 asked by the issue)
constexpr uint64_t kFirstReloadAt = 300;
constexpr uint64_t kReloadEvery = 450;  // completed requests between reloads
constexpr int kMaxConsecutiveFailures = 20;

struct Load {
  uint16_t port = 0;
  Deadline hard_deadline;

  std::mutex mu;
  std::condition_variable cv;
  uint64_t completed = 0;  // guarded by mu: answered 200 with the right body
  bool reloads_done = false;
  bool abort = false;

  std::atomic<uint64_t> sent{0};  // requests whose bytes were all written
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> resets{0};
  std::atomic<uint64_t> went_back{0};     // "one" after "two" on one connection
  std::atomic<uint64_t> close_header{0};  // responses with Connection: close
  std::atomic<uint64_t> idle_closed{0};   // proxy closed a connection between requests
  std::atomic<uint64_t> connections{0};
  std::vector<std::string> failures;  // first few, guarded by mu

  void note_ok() {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++completed;
    }
    cv.notify_all();
  }
  void note_failure(std::string what, bool reset) {
    ++failed;
    if (reset) ++resets;
    std::lock_guard<std::mutex> lock(mu);
    if (failures.size() < 10) failures.push_back(std::move(what));
  }
  bool should_stop() {
    std::lock_guard<std::mutex> lock(mu);
    return abort || Clock::now() >= hard_deadline || (reloads_done && sent.load() >= kTarget);
  }
  bool wait_completed(uint64_t n, Deadline deadline) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_until(lock, deadline, [&] { return completed >= n || abort; }) && !abort;
  }
  void stop(bool aborting) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (aborting) abort = true;
      reloads_done = true;
    }
    cv.notify_all();
  }
};

// True if the proxy closed the connection (or sent something unasked) while it was idle.
bool closed_while_idle(RawClient& c) {
  pollfd p{c.socket().fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

void client_loop(int id, Load& load) {
  std::unique_ptr<RawClient> conn;
  int on_conn = 0;
  bool saw_second = false;  // this connection has been served by backend "two"
  int consecutive_failures = 0;
  auto fail = [&](std::string what, bool reset) {
    load.note_failure("client " + std::to_string(id) + ": " + what, reset);
    conn.reset();
    if (++consecutive_failures >= kMaxConsecutiveFailures) load.stop(true);
  };
  for (uint64_t i = 0; !load.should_stop(); ++i) {
    if (conn && closed_while_idle(*conn)) {
      ++load.idle_closed;
      conn.reset();
    }
    if (!conn || on_conn >= kPerConnection) {
      conn = std::make_unique<RawClient>(load.port);
      on_conn = 0;
      saw_second = false;
      ++load.connections;
      if (!conn->connected()) {
        fail("connect failed, errno " + std::to_string(conn->connect_errno()), false);
        continue;
      }
    }
    // Every 8th request on the path the route patterns are about.
    const std::string target = i % 8 == 0
                                   ? std::string("/shop/apple/detail")
                                   : "/load/c" + std::to_string(id) + "/" + std::to_string(i % 5);
    IoStatus ws = conn->socket().write_all(simple_get(target), deadline_in(seconds(10)));
    if (ws != IoStatus::kOk) {
      fail(target + ": write " + to_string(ws), ws == IoStatus::kReset);
      continue;
    }
    ++load.sent;
    HttpMessage resp;
    ReadResult r = conn->read_response(resp);
    if (!r.ok()) {
      fail(target + ": read " + to_string(r.status) + " " + r.error, r.status == IoStatus::kReset);
      continue;
    }
    const bool from_first = resp.body == "one " + target;
    const bool from_second = resp.body == "two " + target;
    if (resp.status != 200 || (!from_first && !from_second)) {
      fail(target + ": " + std::to_string(resp.status) + " body '" + resp.body + "'", false);
      continue;
    }
    if (from_first && saw_second) {
      ++load.went_back;
      fail(target + ": served by the old upstream after the new one on the same connection", false);
      continue;
    }
    saw_second = saw_second || from_second;
    consecutive_failures = 0;
    ++on_conn;
    load.note_ok();
    if (resp.has_token("connection", "close")) {
      ++load.close_header;
      conn.reset();
    }
  }
}

// ------------------------------------------------------------------ the reload sequence

struct ConfigState {
  std::string upstream;
  std::vector<std::string> routes;
  std::vector<std::string> timeouts = {"upstream_response: 60s"};
  std::vector<std::string> limits;
  std::vector<std::string> upstream_keys;
  int workers = 3;

  std::string render() const {
    ConfigSpec s;
    s.workers = workers;
    s.upstream = upstream;
    s.upstream_keys = upstream_keys;
    s.timeouts = timeouts;
    s.limits = limits;
    s.routes = routes;
    return s.render();
  }
};

struct Step {
  std::string what;
  std::string yaml;
  bool valid;
};

class ReloadTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && proxy_) std::cerr << proxy_->log_text();
    proxy_.reset();
    first_.reset();
    second_.reset();
  }
  std::unique_ptr<TestUpstream> first_, second_;
  std::unique_ptr<SidemeterProcess> proxy_;
};

TEST_F(ReloadTest, TenSighupsUnderLoadLoseNoRequest) {
  first_ = std::make_unique<TestUpstream>(named_backend("one"));
  second_ = std::make_unique<TestUpstream>(named_backend("two"));

  ConfigState cfg;
  cfg.upstream = first_->address();
  proxy_ = std::make_unique<SidemeterProcess>(std::vector<std::string>{}, cfg.render());
  ASSERT_TRUE(proxy_->started()) << proxy_->error();
  ASSERT_TRUE(proxy_->wait_listening()) << proxy_->log_text();
  const uint16_t stats = proxy_->stats_port();
  ASSERT_EQ(json_int(proxy_->events("listening").at(0), "workers").value_or(-1), cfg.workers);

  // The ten files, each building on the last valid one.
  std::vector<Step> steps;
  cfg.timeouts = {"upstream_response: 50s"};
  steps.push_back({"timeout change", cfg.render(), true});
  {
    ConfigState bad = cfg;
    bad.timeouts = {"upstream_response: 5 parsecs", "upstrem_idle: 1s"};
    steps.push_back({"invalid: bad duration and unknown key", bad.render(), false});
  }
  cfg.routes = {"patterns: [\"/shop/{item}/detail\"]"};
  steps.push_back({"route patterns A", cfg.render(), true});
  cfg.upstream = second_->address();
  const size_t kMoveStep = steps.size();
  steps.push_back({"upstream moved", cfg.render(), true});
  steps.push_back({"invalid: YAML syntax", cfg.render() + "limits: [unclosed\n", false});
  cfg.limits = {"max_headers: 90"};
  steps.push_back({"limit change", cfg.render(), true});
  cfg.routes = {"patterns: [\"/shop/{product}/detail\"]"};
  steps.push_back({"route patterns B", cfg.render(), true});
  {
    ConfigState bad = cfg;
    bad.timeouts.push_back("drain_delay: 5s");
    bad.timeouts.push_back("drain_timeout: 1s");
    steps.push_back({"invalid: drain_timeout shorter than drain_delay", bad.render(), false});
  }
  cfg.upstream_keys = {"max_idle_per_worker: 64"};
  steps.push_back({"pool change", cfg.render(), true});
  cfg.timeouts.push_back("request_header: 9s");
  steps.push_back({"another timeout change", cfg.render(), true});
  ASSERT_EQ(steps.size(), 10u);

  Load load;
  load.port = proxy_->listen_port();
  load.hard_deadline = deadline_in(seconds(120));
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) clients.emplace_back([&load, i] { client_loop(i, load); });

  // Stops the clients however this block is left (an ASSERT returns early).
  struct Joiner {
    Load& load;
    std::vector<std::thread>& threads;
    bool aborting = true;
    ~Joiner() {
      load.stop(aborting);
      for (auto& t : threads) t.join();
    }
  };
  std::vector<std::string> reload_lines;
  double before_last_success = 0;
  {
    Joiner joiner{load, clients};
    for (size_t k = 0; k < steps.size(); ++k) {
      const uint64_t at = kFirstReloadAt + k * kReloadEvery;
      ASSERT_TRUE(load.wait_completed(at, deadline_in(seconds(60))))
          << "the load stalled before reload " << k + 1 << " (" << steps[k].what << ")";
      ASSERT_TRUE(proxy_->rewrite_config(steps[k].yaml));
      if (steps[k].valid) before_last_success = unix_now();
      ASSERT_TRUE(proxy_->send_signal(SIGHUP));
      const size_t seen =
          proxy_->wait_for_count("\"event\":\"config_reload", k + 1, deadline_in(seconds(20)));
      ASSERT_EQ(seen, k + 1) << "no outcome logged for reload " << k + 1 << " (" << steps[k].what
                             << ")";
    }
    joiner.aborting = false;
  }
  for (const std::string& l : proxy_->log_lines()) {
    if (l.find("\"event\":\"config_reload") != std::string::npos) reload_lines.push_back(l);
  }

  // Not one failed request, no reset, and the load was what the issue asks for.
  {
    std::lock_guard<std::mutex> lock(load.mu);
    std::string samples;
    for (const std::string& f : load.failures) samples += "  " + f + "\n";
    EXPECT_EQ(load.failed.load(), 0u) << samples;
    EXPECT_EQ(load.resets.load(), 0u) << samples;
    EXPECT_EQ(load.went_back.load(), 0u) << samples;
    EXPECT_GE(load.sent.load(), 5000u) << "the load stopped early: " << samples;
    EXPECT_EQ(load.completed, load.sent.load());
  }
  RecordProperty("requests", std::to_string(load.sent.load()));
  RecordProperty("connections", std::to_string(load.connections.load()));
  RecordProperty("idle_closed_by_proxy", std::to_string(load.idle_closed.load()));
  RecordProperty("connection_close_answers", std::to_string(load.close_header.load()));

  // Each reload logged its outcome in order: trigger, hash, generation, upstream.
  ASSERT_EQ(reload_lines.size(), steps.size());
  std::string last_hash;
  int64_t last_generation = -1;
  for (size_t k = 0; k < steps.size(); ++k) {
    const std::string& l = reload_lines[k];
    SCOPED_TRACE("reload " + std::to_string(k + 1) + " (" + steps[k].what + "): " + l);
    EXPECT_TRUE(json_has(l, "trigger", "SIGHUP"));
    if (!steps[k].valid) {
      EXPECT_TRUE(json_has(l, "event", "config_reload_failed"));
      EXPECT_GE(json_int(l, "error_count").value_or(0), 1);
      EXPECT_NE(json_field(l, "errors").value_or("").find(proxy_->config_path() + ":"),
                std::string::npos);
      continue;
    }
    EXPECT_TRUE(json_has(l, "event", "config_reloaded"));
    const std::string hash = json_field(l, "config_hash").value_or("");
    EXPECT_TRUE(is_hex16(hash)) << hash;
    EXPECT_NE(hash, last_hash) << "a changed file kept its hash";
    last_hash = hash;
    const int64_t generation = json_int(l, "generation").value_or(-1);
    EXPECT_GT(generation, last_generation);
    last_generation = generation;
    const TestUpstream& want = k >= kMoveStep ? *second_ : *first_;
    EXPECT_NE(json_field(l, "upstream").value_or("").find(":" + std::to_string(want.port())),
              std::string::npos);
  }
  EXPECT_EQ(proxy_->events("config_reloaded").size(), 7u);
  EXPECT_EQ(proxy_->events("config_reload_failed").size(), 3u);

  // The proxy counted exactly the requests the clients sent; so did the two backends.
  const uint64_t sent = load.sent.load();
  uint64_t last_seen = 0;
  std::optional<JsonValue> settled =
      settled_stats(stats, sent, "", deadline_in(seconds(30)), &last_seen);
  ASSERT_TRUE(settled) << "stats never reached " << sent << " requests (last " << last_seen << ")";
  EXPECT_EQ(json_count(*settled, "windows.total.requests"), sent);
  EXPECT_EQ(first_->requests() + second_->requests(), sent);
  EXPECT_GT(first_->requests(), 0u);
  EXPECT_GT(second_->requests(), 0u) << "nothing reached the upstream the reload moved to";

  ExpositionCheck metrics = fetch_metrics(stats);
  ASSERT_FALSE(metrics.samples.empty()) << ::testing::PrintToString(metrics.errors);
  EXPECT_EQ(metrics.sum("sidemeter_config_reloads_total", {{"result", "success"}}), 7);
  EXPECT_EQ(metrics.sum("sidemeter_config_reloads_total", {{"result", "failure"}}), 3);
  EXPECT_EQ(metrics.sum("http_server_request_duration_seconds_count"), double(sent));
  EXPECT_EQ(build_info_hash(metrics), last_hash);
  const double last_success = metrics.sum("sidemeter_config_last_reload_success_timestamp_seconds");
  EXPECT_GE(last_success, before_last_success - 1.0);
  EXPECT_LE(last_success, unix_now() + 1.0);
  const JsonValue* hash = settled->get("config_hash");
  ASSERT_TRUE(hash != nullptr);
  EXPECT_EQ(hash->string, last_hash);

  // Route patterns: the auto template before the first pattern reload, pattern A between
  // the two (about 1800 requests, an eighth of them on the path), then pattern B.
  auto route_count = [&](const ExpositionCheck& m, const std::string& route) {
    return m.sum("http_server_request_duration_seconds_count", {{"http_route", route}});
  };
  EXPECT_GT(route_count(metrics, "/shop/apple/detail"), 0);
  EXPECT_GT(route_count(metrics, "/shop/{item}/detail"), 0);
  const double item_before = route_count(metrics, "/shop/{item}/detail");
  const double product_before = route_count(metrics, "/shop/{product}/detail");
  const double apple_before = route_count(metrics, "/shop/apple/detail");
  // Now, on fresh connections (any worker): a path every worker has seen and cached, and
  // one none has seen. All count under pattern B and reach the second backend.
  const int checks = 4 * cfg.workers;
  for (int i = 0; i < checks; ++i) {
    const std::string target = i % 2 == 0 ? "/shop/apple/detail" : "/shop/fig/detail";
    RawClient c(load.port);
    HttpMessage resp;
    ASSERT_TRUE(c.exchange(simple_get(target), resp).ok()) << target;
    EXPECT_EQ(resp.status, 200);
    EXPECT_EQ(resp.body, "two " + target) << "a new connection after the move";
  }
  settled = settled_stats(stats, sent + checks, "", deadline_in(seconds(30)), &last_seen);
  ASSERT_TRUE(settled) << "stats never reached " << sent + checks << " (last " << last_seen << ")";
  EXPECT_EQ(json_count(*settled, "windows.total.requests"), sent + checks);
  metrics = fetch_metrics(stats);
  EXPECT_EQ(route_count(metrics, "/shop/{product}/detail") - product_before, double(checks))
      << "requests after the pattern reload not counted under its template";
  EXPECT_EQ(route_count(metrics, "/shop/{item}/detail"), item_before)
      << "counted under the replaced pattern";
  EXPECT_EQ(route_count(metrics, "/shop/apple/detail"), apple_before)
      << "counted under the automatic template despite the pattern";
  EXPECT_EQ(route_count(metrics, "/shop/fig/detail"), 0);
  EXPECT_EQ(second_->requests() + first_->requests(), sent + checks);
}

// ------------------------------------------------------------------ POST /-/reload

constexpr char kToken[] = "s3cret-token";

TEST_F(ReloadTest, HttpReloadNeedsTokenAndKeepsRunningConfigOnErrors) {
  first_ = std::make_unique<TestUpstream>(named_backend("one"));
  ConfigSpec spec;
  spec.upstream = first_->address();
  spec.stats_keys = {std::string("token: ") + kToken};
  spec.timeouts = {"upstream_response: 60s"};
  proxy_ = std::make_unique<SidemeterProcess>(std::vector<std::string>{}, spec.render());
  ASSERT_TRUE(proxy_->started()) << proxy_->error();
  ASSERT_TRUE(proxy_->wait_listening()) << proxy_->log_text();
  const uint16_t stats = proxy_->stats_port();

  auto stats_hash = [&](std::string_view token) -> std::string {
    std::optional<JsonValue> doc = fetch_stats(stats, token);
    if (!doc) return "<no /stats>";
    const JsonValue* h = doc->get("config_hash");
    return h ? h->string : "<no config_hash>";
  };
  const std::string hash0 = stats_hash(kToken);
  ASSERT_TRUE(is_hex16(hash0)) << hash0;
  EXPECT_NE(proxy_->events("listening").at(0).find(hash0), std::string::npos);

  // Without the token, or with a wrong one: 401, and nothing reloads.
  EXPECT_EQ(stats_call(stats, "POST", "/-/reload").status, 401);
  EXPECT_EQ(stats_call(stats, "POST", "/-/reload", "wrong").status, 401);
  // Reloading is POST only.
  EXPECT_EQ(stats_call(stats, "GET", "/-/reload", kToken).status, 405);
  EXPECT_TRUE(proxy_->events("config_reloaded").empty());
  EXPECT_TRUE(proxy_->events("config_reload_failed").empty());

  // A valid change: 200 with the new hash, which /stats then reports.
  spec.timeouts = {"upstream_response: 45s"};
  ASSERT_TRUE(proxy_->rewrite_config(spec.render()));
  Answer a = stats_call(stats, "POST", "/-/reload", kToken);
  EXPECT_EQ(a.status, 200) << a.body;
  const std::string prefix = "reloaded: config_hash=";
  ASSERT_EQ(a.body.compare(0, prefix.size(), prefix), 0) << a.body;
  const std::string hash1 = a.body.substr(prefix.size(), 16);
  EXPECT_TRUE(is_hex16(hash1)) << a.body;
  EXPECT_EQ(a.body, prefix + hash1 + "\n");
  EXPECT_NE(hash1, hash0);
  EXPECT_EQ(stats_hash(kToken), hash1);
  // The line is written before the answer, but this process reads stderr on its own
  // thread: wait for it rather than race the reader.
  ASSERT_TRUE(proxy_->wait_for_log("\"event\":\"config_reloaded\"", soon()));
  auto ok_lines = proxy_->events("config_reloaded");
  ASSERT_EQ(ok_lines.size(), 1u);
  EXPECT_TRUE(json_has(ok_lines[0], "trigger", "http")) << ok_lines[0];
  EXPECT_TRUE(json_has(ok_lines[0], "config_hash", hash1)) << ok_lines[0];

  // An invalid file: 500 with every error, and the running config stays.
  std::string bad = spec.render();
  const std::string workers_line = "workers: " + std::to_string(spec.workers) + "\n";
  bad.replace(bad.find(workers_line), workers_line.size(), "workers: lots\n");
  bad.replace(bad.find("upstream_response: 45s"), 22, "upstream_response: soon");
  const int bad_lines[] = {line_of(bad, "workers: lots"), line_of(bad, "upstream_response: soon")};
  ASSERT_TRUE(proxy_->rewrite_config(bad));
  a = stats_call(stats, "POST", "/-/reload", kToken);
  EXPECT_EQ(a.status, 500) << a.body;
  for (int line : bad_lines) {
    EXPECT_NE(a.body.find(proxy_->config_path() + ":" + std::to_string(line) + ":"),
              std::string::npos)
        << "no error for line " << line << " in:\n"
        << a.body;
  }
  EXPECT_EQ(stats_hash(kToken), hash1) << "the running config changed on a failed reload";
  ASSERT_TRUE(proxy_->wait_for_log("\"event\":\"config_reload_failed\"", soon()));
  auto failed_lines = proxy_->events("config_reload_failed");
  ASSERT_EQ(failed_lines.size(), 1u);
  EXPECT_TRUE(json_has(failed_lines[0], "trigger", "http")) << failed_lines[0];
  EXPECT_EQ(json_int(failed_lines[0], "error_count").value_or(-1), 2) << failed_lines[0];

  ExpositionCheck metrics = fetch_metrics(stats, kToken);
  EXPECT_EQ(metrics.sum("sidemeter_config_reloads_total", {{"result", "success"}}), 1);
  EXPECT_EQ(metrics.sum("sidemeter_config_reloads_total", {{"result", "failure"}}), 1);
  EXPECT_EQ(build_info_hash(metrics), hash1);
  // Traffic is unaffected.
  {
    RawClient c(proxy_->listen_port());
    HttpMessage resp;
    ASSERT_TRUE(c.exchange(simple_get("/after"), resp).ok());
    EXPECT_EQ(resp.body, "one /after");
  }

  // The token is a live option: rotated by a reload (asked with the old one), the old
  // token is refused at once and the new one accepted. /healthz and /readyz need none.
  const std::string rotated = "rotated-token";
  spec.stats_keys = {"token: " + rotated};
  ASSERT_TRUE(proxy_->rewrite_config(spec.render()));
  a = stats_call(stats, "POST", "/-/reload", kToken);
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(stats_call(stats, "GET", "/stats", kToken).status, 401);
  EXPECT_EQ(stats_call(stats, "GET", "/stats", rotated).status, 200);
  EXPECT_EQ(stats_call(stats, "GET", "/healthz").status, 200);
  // Ready once the probe's connect succeeded, which it logs; /readyz reads that live.
  ASSERT_TRUE(proxy_->wait_for_log("\"event\":\"upstream_reachable\"", soon()))
      << proxy_->log_text();
  a = readyz(stats);
  EXPECT_EQ(a.status, 200) << a.body;
}

TEST_F(ReloadTest, RestartOnlyKeysAreReportedNotApplied) {
  first_ = std::make_unique<TestUpstream>(named_backend("one"));
  ConfigSpec spec;
  spec.workers = 2;
  spec.upstream = first_->address();
  proxy_ = std::make_unique<SidemeterProcess>(std::vector<std::string>{}, spec.render());
  ASSERT_TRUE(proxy_->started()) << proxy_->error();
  ASSERT_TRUE(proxy_->wait_listening()) << proxy_->log_text();
  const uint16_t stats = proxy_->stats_port();

  spec.workers = 3;
  spec.timeouts = {"upstream_response: 30s"};  // applies live alongside
  ASSERT_TRUE(proxy_->rewrite_config(spec.render()));
  Answer a = stats_call(stats, "POST", "/-/reload");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("workers"), std::string::npos) << a.body;
  ASSERT_TRUE(proxy_->wait_for_log("\"event\":\"config_restart_required\"", soon()))
      << proxy_->log_text();
  auto restart = proxy_->events("config_restart_required");
  ASSERT_EQ(restart.size(), 1u) << proxy_->log_text();
  EXPECT_NE(json_field(restart[0], "keys").value_or("").find("workers"), std::string::npos)
      << restart[0];
  EXPECT_EQ(json_field(restart[0], "keys").value_or("").find("listen"), std::string::npos)
      << restart[0];
  // Still the same process serving on the same port.
  RawClient c(proxy_->listen_port());
  HttpMessage resp;
  ASSERT_TRUE(c.exchange(simple_get("/still"), resp).ok());
  EXPECT_EQ(resp.body, "one /still");
  EXPECT_EQ(proxy_->events("listening").size(), 1u);
}

}  // namespace
}  // namespace sidemeter::testing
