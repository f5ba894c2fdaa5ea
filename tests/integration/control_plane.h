#pragma once
// Helpers for the control-plane suites (drain_test, readiness_test, reload_test): the
// issue 9 config file written out in full, requests to the stats port, /stats and
// /metrics read with the stats tests' parsers (tests/support/json_value.h,
// exposition_check.h), settled totals read from /stats/stream (frames come at ticks, so
// waiting on them needs no sleep), and the upstreams the suites share (a holding one and
// a WebSocket tunnel).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/proxy_fixture.h"
#include "tests/support/exposition_check.h"
#include "tests/support/json_line.h"
#include "tests/support/json_value.h"

namespace sidemeter::testing::control_plane {

using std::chrono::milliseconds;
using std::chrono::seconds;

// ------------------------------------------------------------------ config files

// The whole file in the issue 9 schema. Sections are lists of "key: value" lines so a
// test can vary any key without writing a section twice (a duplicate key is an error).
struct ConfigSpec {
  std::string listen = "127.0.0.1:0";
  int workers = 2;
  std::string upstream;                    // "127.0.0.1:port"
  std::vector<std::string> upstream_keys;  // e.g. "probe_interval: 200ms"
  std::vector<std::string> timeouts;       // e.g. "drain_delay: 100ms"
  std::vector<std::string> limits;
  std::string stats_address = "127.0.0.1:0";
  std::vector<std::string> stats_keys;  // e.g. "token: s3cret"
  std::vector<std::string> routes;      // e.g. "patterns: [\"/shop/{item}/detail\"]"
  std::string extra;                    // verbatim top-level lines at the end

  std::string render() const {
    auto section = [](std::string& y, const char* name, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      y += name;
      y += ":\n";
      for (const std::string& k : keys) y += "  " + k + "\n";
    };
    std::string y;
    y += "listen: " + listen + "\n";
    y += "workers: " + std::to_string(workers) + "\n";
    y += "upstream:\n  address: " + upstream + "\n";
    for (const std::string& k : upstream_keys) y += "  " + k + "\n";
    section(y, "timeouts", timeouts);
    section(y, "limits", limits);
    y += "stats:\n  address: " + stats_address + "\n";
    for (const std::string& k : stats_keys) y += "  " + k + "\n";
    section(y, "routes", routes);
    y += extra;
    return y;
  }
};

// A config file for runs that do not go through SidemeterProcess's --config (e.g.
// --check-config FILE). Removed on destruction.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    char tmpl[] = "/tmp/sidemeter-cp-XXXXXX.yaml";
    int fd = ::mkstemps(tmpl, 5);
    if (fd < 0) return;
    ok_ = ::write(fd, contents.data(), contents.size()) == ssize_t(contents.size());
    ::close(fd);
    path_ = tmpl;
  }
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool ok_ = false;
};

// ------------------------------------------------------------------ ports

// A loopback port held by a bound socket that does not listen: connects are refused and
// nobody else can take the port. listen() later turns it into a real listener on that
// exact port (the kernel completes handshakes from the backlog; nothing needs to accept).
class ReservedPort {
 public:
  ReservedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~ReservedPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool listen(int backlog = 64) { return ::listen(fd_, backlog) == 0; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// ------------------------------------------------------------------ the stats port

struct Answer {
  int status = -1;  // -1: no answer (connect or read failed)
  std::string body;
  std::string head;
};

inline Answer stats_call(uint16_t stats_port, std::string_view method, std::string_view target,
                         std::string_view token = "") {
  RawClient c(stats_port);
  Answer a;
  if (!c.connected()) return a;
  std::string req = std::string(method) + " " + std::string(target) +
                    " HTTP/1.1\r\nHost: stats\r\nConnection: close\r\n";
  if (method == "POST") req += "Content-Length: 0\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + std::string(token) + "\r\n";
  req += "\r\n";
  HttpMessage m;
  if (!c.exchange(req, m, method == "HEAD").ok()) return a;
  a.status = m.status;
  a.body = m.body;
  a.head = m.head_raw;
  return a;
}

inline Answer readyz(uint16_t stats_port) { return stats_call(stats_port, "GET", "/readyz"); }

// The stats server handles one event at a time on the control loop: an answer from it
// means every callback that ran before (a SIGHUP's reload, say) has finished.
inline bool control_loop_barrier(uint16_t stats_port) {
  return stats_call(stats_port, "GET", "/healthz").status == 200;
}

// ------------------------------------------------------------------ /stats and /metrics

inline std::optional<JsonValue> fetch_stats(uint16_t stats_port, std::string_view token = "") {
  Answer a = stats_call(stats_port, "GET", "/stats", token);
  if (a.status != 200) return std::nullopt;
  return parse_json(a.body);
}

// /metrics (Prometheus text format) as the exposition checker reads it: look samples up
// with sum(), find(), value(). No samples when the stats port did not answer 200.
inline ExpositionCheck fetch_metrics(uint16_t stats_port, std::string_view token = "") {
  Answer a = stats_call(stats_port, "GET", "/metrics", token);
  if (a.status != 200) {
    ExpositionCheck none;
    none.errors.push_back("GET /metrics answered " + std::to_string(a.status));
    return none;
  }
  return check_exposition(a.body, /*openmetrics=*/false);
}

inline uint64_t json_count(const JsonValue& doc, std::string_view path) {
  const JsonValue* j = doc.at(path);
  return j != nullptr && j->is_number() ? uint64_t(j->number) : UINT64_MAX;
}

// Subscribes to /stats/stream?format=ndjson and reads frames (one per tick) until one
// shows at least `requests` in windows.total.requests, then one more frame from a later
// tick, so anything recorded alongside them (a double count) is in it too. Returns that
// frame, or nullopt at the deadline (with *last_seen the highest total seen).
inline std::optional<JsonValue> settled_stats(uint16_t stats_port, uint64_t requests,
                                              std::string_view token = "",
                                              Deadline deadline = deadline_in(seconds(30)),
                                              uint64_t* last_seen = nullptr) {
  RawClient c(stats_port);
  if (!c.connected()) return std::nullopt;
  std::string req = "GET /stats/stream?format=ndjson HTTP/1.1\r\nHost: stats\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + std::string(token) + "\r\n";
  req += "\r\n";
  if (!c.send(req)) return std::nullopt;
  Socket& s = c.socket();
  size_t pos = 0;
  if (s.fill_until("\r\n\r\n", deadline, &pos) != IoStatus::kOk) return std::nullopt;
  if (s.buffer().compare(0, 12, "HTTP/1.1 200") != 0) return std::nullopt;
  s.take(pos + 4);
  double seen_at_tick = -1;
  while (Clock::now() < deadline) {
    size_t nl = 0;
    if (s.fill_until("\n", deadline, &nl) != IoStatus::kOk) return std::nullopt;
    std::string line = s.take(nl + 1);
    std::optional<JsonValue> doc = parse_json(line);
    if (!doc) return std::nullopt;
    const JsonValue* r = doc->at("windows.total.requests");
    const JsonValue* t = doc->get("ticks");
    if (r == nullptr || t == nullptr) return std::nullopt;
    if (last_seen) *last_seen = uint64_t(r->number);
    if (seen_at_tick < 0 && uint64_t(r->number) >= requests) seen_at_tick = t->number;
    if (seen_at_tick >= 0 && t->number > seen_at_tick) return doc;
  }
  return std::nullopt;
}

// config_hash as sidemeter_build_info carries it ("" if there is no such sample).
inline std::string build_info_hash(const ExpositionCheck& metrics) {
  const ExpositionSample* s = metrics.find("sidemeter_build_info");
  return s != nullptr ? s->label("config_hash") : std::string();
}

// ------------------------------------------------------------------ log helpers

inline bool is_hex16(std::string_view s) {
  if (s.size() != 16) return false;
  for (char ch : s) {
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  }
  return true;
}

// Events a clean shutdown must never log.
inline std::vector<std::string> unclean_loop_events(const SidemeterProcess& p) {
  std::vector<std::string> out;
  for (const char* e :
       {"worker_loop_not_closed", "worker_handle_open", "control_loop_not_closed"}) {
    for (std::string& l : p.events(e)) out.push_back(std::move(l));
  }
  return out;
}

// ------------------------------------------------------------------ upstreams

// Holds requests to "/slow" until `release` opens (or the upstream shuts down), answers
// everything else at once, and turns "/ws" upgrade requests into an echo tunnel that
// greets with "hello".
struct HoldState {
  std::atomic<int> held{0};  // "/slow" requests waiting
  std::atomic<int> tunnels{0};
  std::mutex mu;
  std::condition_variable cv;
  Latch release;

  void bump(std::atomic<int>& n) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++n;
    }
    cv.notify_all();
  }
  bool wait_held(int n, Deadline d) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_until(lock, d, [&] { return held.load() >= n; });
  }
};

inline void echo_tunnel(UpstreamConn& c) {
  Socket& s = c.socket();
  for (;;) {
    if (s.buffer().empty()) {
      IoStatus st = s.fill(deadline_in(seconds(60)));
      if (st != IoStatus::kOk) break;  // EOF, reset or the upstream shutting down
    }
    std::string data = s.take(s.buffer().size());
    if (s.write_all(data, deadline_in(seconds(20))) != IoStatus::kOk) break;
  }
  c.close();
}

inline UpstreamHandler holding_upstream(std::shared_ptr<HoldState> st) {
  return [st](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      if (req.target == "/ws") {
        if (!c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n\r\nhello"))
          return;
        st->bump(st->tunnels);
        echo_tunnel(c);
        return;
      }
      if (req.target == "/slow") {
        st->bump(st->held);
        if (!c.wait_for(st->release, deadline_in(seconds(60)))) return;
        if (!c.write(make_response(200, "OK", "slow-done"))) return;
        continue;
      }
      if (!c.write(make_response(200, "OK", "quick"))) return;
    }
  };
}

inline const char kUpgradeRequest[] =
    "GET /ws HTTP/1.1\r\nHost: test.local\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

// Opens a WebSocket tunnel through the proxy and checks it echoes; nullptr on failure
// (with a gtest failure recorded).
inline std::unique_ptr<RawClient> open_tunnel(uint16_t port) {
  auto c = std::make_unique<RawClient>(port);
  if (!c->connected()) {
    ADD_FAILURE() << "tunnel connect failed";
    return nullptr;
  }
  HttpMessage resp;
  ReadResult r = c->exchange(kUpgradeRequest, resp);
  if (!r.ok() || resp.status != 101) {
    ADD_FAILURE() << "no 101: " << to_string(r.status) << " " << resp.head_raw;
    return nullptr;
  }
  Socket& s = c->socket();
  if (s.fill_to(5, deadline_in(seconds(10))) != IoStatus::kOk || s.take(5) != "hello") {
    ADD_FAILURE() << "no greeting through the tunnel";
    return nullptr;
  }
  if (!c->send("ping") || s.fill_to(4, deadline_in(seconds(10))) != IoStatus::kOk ||
      s.take(4) != "ping") {
    ADD_FAILURE() << "tunnel does not echo";
    return nullptr;
  }
  return c;
}

}  // namespace sidemeter::testing::control_plane
