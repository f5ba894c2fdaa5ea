// Load balancers in front (issue 14): the PROXY protocol on the listener and trusted
// X-Forwarded-For / Forwarded. Two workers everywhere.
//   - Raw sockets: good v1/v2 headers give the exchange the header's client address
//     (X-Forwarded-For, access log); malformed, truncated, wrong-version, missing and
//     timed-out headers close the connection with no answer, count
//     sidemeter_downstream_proxy_protocol_errors_total{reason}, and forward nothing.
//   - HAProxy 2.6 (Debian) with send-proxy and send-proxy-v2 in front, the client bound
//     to 127.0.0.2 so its address differs from HAProxy's; and send-proxy-v2 with `ssl`
//     to a TLS listener (the header precedes the ClientHello).
//   - Spoofing: an untrusted client's X-Forwarded-For / Forwarded are replaced, a trusted
//     proxy's (judged after the PROXY protocol) kept and appended to.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "tests/integration/tls_support.h"
#include "tests/support/stats_invariants.h"

namespace sidemeter::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::string_view kErrors = "sidemeter_downstream_proxy_protocol_errors_total";
const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string be16(unsigned v) { return std::string{char(v >> 8), char(v & 0xff)}; }

std::string v2_tcp4(const char* src, unsigned sport, std::string tlvs = "") {
  in_addr s{}, d{};
  inet_pton(AF_INET, src, &s);
  inet_pton(AF_INET, "127.0.0.1", &d);
  std::string body(reinterpret_cast<const char*>(&s), 4);
  body.append(reinterpret_cast<const char*>(&d), 4);
  body += be16(sport) + be16(80) + tlvs;
  return kSig + "\x21\x11" + be16(unsigned(body.size())) + body;
}

std::string v2_tcp6(const char* src, unsigned sport) {
  in6_addr s{}, d{};
  inet_pton(AF_INET6, src, &s);
  inet_pton(AF_INET6, "::1", &d);
  std::string body(reinterpret_cast<const char*>(&s), 16);
  body.append(reinterpret_cast<const char*>(&d), 16);
  body += be16(sport) + be16(80);
  return kSig + "\x21\x21" + be16(unsigned(body.size())) + body;
}

const std::string kV2Local = kSig + std::string("\x20\x00\x00\x00", 4);

std::string request(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n" +
         std::string(extra) + "\r\n";
}

// A TCP connection to 127.0.0.1:port from `source` (any 127/8 address works on loopback).
Socket connect_from(const char* source, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Socket();
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    return Socket();
  }
  return Socket(fd);
}

// Sends `bytes` on a fresh connection and reads one response.
HttpMessage exchange(uint16_t port, const std::string& bytes) {
  RawClient c(port);
  EXPECT_TRUE(c.connected());
  EXPECT_TRUE(c.send(bytes));
  HttpMessage m;
  const ReadResult r = c.read_response(m);
  EXPECT_TRUE(r.ok()) << to_string(r.status) << " " << r.error;
  return m;
}

// The X-Forwarded-For the upstream saw on its last request.
std::string last_xff(const TestUpstream& up, const char* field = "x-forwarded-for") {
  auto seen = up.seen_requests();
  if (seen.empty()) return "<none>";
  return seen.back().header(field).value_or("<absent>");
}

class ProxyProtocolTest : public ::testing::Test {
 protected:
  void start(const std::string& extra) {
    upstream_ = std::make_unique<TestUpstream>(TestUpstream::fixed("ok"), 1);
    proxy_ = start_sidemeter(upstream_->address(), "access_log: {path: stderr}\n" + extra);
    ASSERT_TRUE(upstream_->wait_probes(soon())) << proxy_->log_text();
  }
  void TearDown() override {
    if (HasFailure() && proxy_) std::cerr << proxy_->log_text();
    proxy_.reset();
    upstream_.reset();
  }
  double errors(const char* reason) {
    return metric_now(proxy_->stats_port(), kErrors, {{"reason", reason}});
  }
  uint16_t port() const { return proxy_->listen_port(); }

  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<SidemeterProcess> proxy_;
};

TEST_F(ProxyProtocolTest, GoodHeadersGiveTheClientAddress) {
  start("proxy_protocol: any\n");
  // v1, the request in the same segment as the header: the bytes after it are not lost.
  HttpMessage m = exchange(port(), "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" + request("/v1"));
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(last_xff(*upstream_), "203.0.113.7");
  EXPECT_TRUE(proxy_->wait_for_log("\"client\":\"203.0.113.7:5555\"", soon()));
  // v2 over IPv6, header and request in separate writes.
  {
    RawClient c(port());
    ASSERT_TRUE(c.send(v2_tcp6("2001:db8::42", 4242)));
    ASSERT_TRUE(c.send(request("/v2")));
    HttpMessage r;
    ASSERT_TRUE(c.read_response(r).ok());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(last_xff(*upstream_), "2001:db8::42");
    EXPECT_TRUE(proxy_->wait_for_log("\"client\":\"[2001:db8::42]:4242\"", soon()));
  }
  // v2 with TLVs (skipped), then keep-alive: the second request on the connection keeps
  // the header's address.
  {
    RawClient c(port());
    const std::string tlvs = std::string("\x01", 1) + be16(2) + "h2" + "\x20" + be16(5) + "ssl!!";
    ASSERT_TRUE(c.send(v2_tcp4("198.51.100.9", 9999, tlvs) +
                       "GET /ka HTTP/1.1\r\nHost: test.local\r\n\r\n"));
    HttpMessage r;
    ASSERT_TRUE(c.read_response(r).ok());
    EXPECT_EQ(last_xff(*upstream_), "198.51.100.9");
    ASSERT_TRUE(c.send(request("/ka2")));
    ASSERT_TRUE(c.read_response(r).ok());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(last_xff(*upstream_), "198.51.100.9");
  }
  // LOCAL and UNKNOWN: the TCP peer (a balancer's own health check).
  exchange(port(), kV2Local + request("/local"));
  EXPECT_EQ(last_xff(*upstream_), "127.0.0.1");
  exchange(port(), "PROXY UNKNOWN\r\n" + request("/unknown"));
  EXPECT_EQ(last_xff(*upstream_), "127.0.0.1");
  // The header's bytes never reach the upstream.
  EXPECT_EQ(upstream_->requests(), 6u);
  EXPECT_EQ(upstream_->raw_received().find("PROXY"), std::string::npos);
  EXPECT_EQ(upstream_->raw_received().find("QUIT"), std::string::npos);
  for (const char* reason : {"missing", "malformed", "truncated", "timeout", "version"})
    EXPECT_EQ(errors(reason), 0) << reason;
}

// Each bad opening is closed without a byte of answer, counted under its reason, and
// nothing reaches the upstream (not even a connection).
TEST_F(ProxyProtocolTest, BadHeadersAreClosedCountedAndNothingForwarded) {
  start("proxy_protocol: any\ntimeouts:\n  request_header: 500ms\n");
  struct Case {
    std::string bytes;
    bool half_close;  // FIN after the bytes (a truncation)
    const char* reason;
  };
  const Case cases[] = {
      {request("/plain"), false, "missing"},
      {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false, "missing"},  // a ClientHello
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n" + request("/a"), false, "malformed"},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" + request("/a"), false, "malformed"},
      {"PROXY TCP4 " + std::string(120, '1'), false, "malformed"},
      {kSig + "\x21\x11" + be16(12) + std::string(11, 'x'), true, "truncated"},
      {v2_tcp4("1.2.3.4", 1, std::string("\x01\x00\x09x", 4)) + request("/a"), false, "malformed"},
      {kSig + "\x22\x11", false, "malformed"},  // command 2
      {kSig + "\x11\x11", false, "version"},    // version 1 in a v2 header
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1", true, "truncated"},
      {kSig.substr(0, 7), true, "truncated"},
      {"PROXY TCP4 1.2.3.4", false, "timeout"},  // then nothing: request_header passes
      {"", false, "timeout"},                    // nothing at all
  };
  std::map<std::string, double> want;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.bytes));
    RawClient client(port());
    ASSERT_TRUE(client.connected());
    if (!c.bytes.empty()) {
      ASSERT_TRUE(client.send(c.bytes));
    }
    if (c.half_close) client.socket().shutdown_write();
    std::string got;
    const IoStatus st = client.read_until_close(&got);
    EXPECT_TRUE(st == IoStatus::kClosed || st == IoStatus::kReset) << to_string(st);
    EXPECT_EQ(got, "");  // no HTTP answer
    want[c.reason] += 1;
  }
  // Counters merge once a second: wait for each total, then check none went further.
  for (const auto& [reason, n] : want)
    EXPECT_EQ(wait_metric(proxy_->stats_port(), kErrors, {{"reason", reason}}, n), n) << reason;
  // A connection that closes without a byte (a TCP health check) is not an error.
  {
    RawClient client(port());
    client.close();
  }
  // Nothing was forwarded: no upstream connection, no byte.
  EXPECT_EQ(upstream_->connections(), 0u);
  EXPECT_EQ(upstream_->bytes_received(), 0u);
  // And the listener still serves a good one.
  EXPECT_EQ(exchange(port(), "PROXY TCP4 192.0.2.1 127.0.0.1 1 80\r\n" + request("/ok")).status, 200);
  for (const auto& [reason, n] : want) EXPECT_EQ(errors(reason.c_str()), n) << reason;
  // The same in /stats.
  const std::optional<JsonValue> doc = fetch_stats_json(proxy_->stats_port());
  ASSERT_TRUE(doc);
  for (const auto& [reason, n] : want)
    EXPECT_EQ(json_number(*doc, "connections.downstream_proxy_protocol_errors." + reason), n)
        << reason;
}

// proxy_protocol: v1 refuses v2 and the other way round ("version"); a reload switches it
// for the connections accepted after it.
TEST_F(ProxyProtocolTest, VersionsAndReload) {
  start("proxy_protocol: v1\n");
  {
    RawClient c(port());
    ASSERT_TRUE(c.send(v2_tcp4("192.0.2.1", 1) + request("/a")));
    std::string got;
    c.read_until_close(&got);
    EXPECT_EQ(got, "");
  }
  EXPECT_EQ(wait_metric(proxy_->stats_port(), kErrors, {{"reason", "version"}}, 1), 1);
  EXPECT_EQ(exchange(port(), "PROXY TCP4 192.0.2.1 127.0.0.1 1 80\r\n" + request("/b")).status,
            200);
  // A connection accepted under v1 (its request answered proves it), kept alive across
  // the reload.
  RawClient before(port());
  ASSERT_TRUE(before.send("PROXY TCP4 192.0.2.5 127.0.0.1 1 80\r\n"
                          "GET /c HTTP/1.1\r\nHost: test.local\r\n\r\n"));
  HttpMessage r;
  ASSERT_TRUE(before.read_response(r).ok());

  ASSERT_TRUE(proxy_->rewrite_config(
      make_config(upstream_->address(), "access_log: {path: stderr}\nproxy_protocol: v2\n", kWorkers)));
  ASSERT_TRUE(proxy_->send_signal(SIGHUP));
  ASSERT_TRUE(proxy_->wait_for_log("\"event\":\"config_reloaded\"", soon()));
  // Workers take the new snapshot from their command queue: wait until a new connection
  // is served under v2 (until then a v2 header is refused as "version").
  bool v2_served = false;
  for (Deadline d = soon(); !v2_served && Clock::now() < d;) {
    RawClient c(port());
    HttpMessage m;
    if (c.send(v2_tcp4("192.0.2.2", 2) + request("/d")) && c.read_response(m).ok())
      v2_served = m.status == 200 && last_xff(*upstream_) == "192.0.2.2";
  }
  EXPECT_TRUE(v2_served);
  // The connection accepted before keeps its address and goes on.
  ASSERT_TRUE(before.send(request("/e")));
  ASSERT_TRUE(before.read_response(r).ok());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(last_xff(*upstream_), "192.0.2.5");
}

// X-Forwarded-For / Forwarded spoofing: replaced for untrusted clients, kept and appended
// to for trusted ones, trust judged on the address after the PROXY protocol.
TEST_F(ProxyProtocolTest, ForwardedTrust) {
  // 127.0.0.1 (the TCP peer) is trusted; so is 10.0.0.0/8 when a PROXY header says so.
  start("proxy_protocol: any\ntrusted_proxies: [\"10.0.0.0/8\", \"2001:db8::/32\"]\n");
  const std::string spoof = "X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6;proto=https\r\n";
  // Untrusted (203.0.113.7): both replaced.
  exchange(port(), "PROXY TCP4 203.0.113.7 127.0.0.1 1 80\r\n" + request("/u", spoof));
  EXPECT_EQ(last_xff(*upstream_), "203.0.113.7");
  EXPECT_EQ(last_xff(*upstream_, "forwarded"), "for=203.0.113.7");
  // Untrusted without a Forwarded: none is added.
  exchange(port(), "PROXY TCP4 203.0.113.7 127.0.0.1 1 80\r\n" +
                       request("/u2", "X-Forwarded-For: 6.6.6.6\r\n"));
  EXPECT_EQ(last_xff(*upstream_), "203.0.113.7");
  EXPECT_EQ(last_xff(*upstream_, "forwarded"), "<absent>");
  // Trusted (10.1.2.3 via the PROXY header): kept and appended to.
  exchange(port(), "PROXY TCP4 10.1.2.3 127.0.0.1 1 80\r\n" + request("/t", spoof));
  EXPECT_EQ(last_xff(*upstream_), "6.6.6.6, 10.1.2.3");
  EXPECT_EQ(last_xff(*upstream_, "forwarded"), "for=6.6.6.6;proto=https, for=10.1.2.3");
  // Trusted over IPv6: the Forwarded node is quoted and bracketed (RFC 7239 §6).
  exchange(port(), v2_tcp6("2001:db8::1", 7) + request("/t6", spoof));
  EXPECT_EQ(last_xff(*upstream_), "6.6.6.6, 2001:db8::1");
  EXPECT_EQ(last_xff(*upstream_, "forwarded"), "for=6.6.6.6;proto=https, for=\"[2001:db8::1]\"");
  // LOCAL: the TCP peer 127.0.0.1, not in the list: untrusted.
  exchange(port(), kV2Local + request("/l", spoof));
  EXPECT_EQ(last_xff(*upstream_), "127.0.0.1");
  EXPECT_EQ(last_xff(*upstream_, "forwarded"), "for=127.0.0.1");
}

// The default (trusted_proxies: []) trusts nobody, whatever its address.
TEST_F(ProxyProtocolTest, NobodyTrustedByDefault) {
  start("");
  exchange(port(), request("/d", "X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n"));
  EXPECT_EQ(last_xff(*upstream_), "127.0.0.1");
  EXPECT_EQ(last_xff(*upstream_, "forwarded"), "for=127.0.0.1");
  // Without the PROXY protocol the TCP peer is judged: 127.0.0.2 is not in 127.0.0.1/32.
}

TEST_F(ProxyProtocolTest, TrustJudgedOnTheTcpPeerWithoutProxyProtocol) {
  start("trusted_proxies: [\"127.0.0.1/32\"]\n");
  const std::string spoof = request("/x", "X-Forwarded-For: 6.6.6.6\r\n");
  {
    Socket s = connect_from("127.0.0.2", port());
    ASSERT_TRUE(s.valid());
    ASSERT_EQ(s.write_all(spoof, soon()), IoStatus::kOk);
    ASSERT_EQ(s.read_to_close(soon()), IoStatus::kClosed);
    EXPECT_NE(s.buffer().find(" 200 "), std::string::npos) << s.buffer();
  }
  EXPECT_EQ(last_xff(*upstream_), "127.0.0.2");
  exchange(port(), spoof);  // from 127.0.0.1: trusted
  EXPECT_EQ(last_xff(*upstream_), "6.6.6.6, 127.0.0.1");
}

// ------------------------------------------------------------------ HAProxy in front

// HAProxy 2.6 as a child process, in the foreground (-db), killed at the end.
class Haproxy {
 public:
  explicit Haproxy(const std::string& config) {
    path_ = dir_.file("haproxy.cfg");
    std::ofstream(path_) << config;
    log_ = dir_.file("haproxy.log");
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      FILE* f = freopen(log_.c_str(), "w", stderr);
      (void)f;
      if (freopen("/dev/null", "w", stdout) == nullptr) _exit(126);
      execl(kBinary, kBinary, "-f", path_.c_str(), "-db", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Haproxy() {
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Until the frontend accepts connections (HAProxy has no readiness signal of its own).
  bool wait_ready(uint16_t port) {
    for (Deadline d = soon(); Clock::now() < d;) {
      if (can_connect(port)) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(milliseconds(20));  // start-up polling, not pacing
    }
    return false;
  }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static bool available() { return access(kBinary, X_OK) == 0; }

 private:
  static constexpr const char* kBinary = "/usr/sbin/haproxy";
  TempDir dir_;
  std::string path_;
  std::string log_;
  pid_t pid_ = -1;
};

std::string haproxy_config(uint16_t v1_port, uint16_t v2_port, uint16_t sidemeter_port,
                           std::string_view server_options = "") {
  const std::string target = "127.0.0.1:" + std::to_string(sidemeter_port);
  std::string c =
      "global\n  maxconn 100\ndefaults\n  mode tcp\n  retries 0\n  timeout connect 5s\n"
      "  timeout client 20s\n  timeout server 20s\n";
  c += "frontend v1\n  bind 127.0.0.1:" + std::to_string(v1_port) + "\n  default_backend v1\n";
  c += "frontend v2\n  bind 127.0.0.1:" + std::to_string(v2_port) + "\n  default_backend v2\n";
  c += "backend v1\n  server s " + target + " send-proxy " + std::string(server_options) + "\n";
  c += "backend v2\n  server s " + target + " send-proxy-v2 " + std::string(server_options) + "\n";
  return c;
}

// Two distinct free ports for HAProxy's frontends (bound to port 0, noted, closed: HAProxy
// cannot report a port it chose itself).
std::pair<uint16_t, uint16_t> two_ports() {
  const uint16_t a = refused_port();
  uint16_t b = refused_port();
  while (b == a) b = refused_port();
  return {a, b};
}

// One request through HAProxy from 127.0.0.2; the response text.
std::string through(uint16_t port, std::string_view target) {
  Socket s = connect_from("127.0.0.2", port);
  if (!s.valid()) return "<connect failed>";
  if (s.write_all(request(target), soon()) != IoStatus::kOk) return "<write failed>";
  s.read_to_close(soon());
  return s.buffer();
}

TEST_F(ProxyProtocolTest, BehindHaproxySendProxyV1AndV2) {
  if (!Haproxy::available()) GTEST_SKIP() << "no /usr/sbin/haproxy";
  start("proxy_protocol: any\n");
  const auto [p1, p2] = two_ports();
  Haproxy h(haproxy_config(p1, p2, port()));
  ASSERT_TRUE(h.wait_ready(p1) && h.wait_ready(p2)) << h.log();
  for (int round = 0; round < 2; ++round) {  // several connections: both workers serve
    EXPECT_NE(through(p1, "/via-v1").find(" 200 "), std::string::npos) << h.log();
    EXPECT_EQ(last_xff(*upstream_), "127.0.0.2");
    EXPECT_NE(through(p2, "/via-v2").find(" 200 "), std::string::npos) << h.log();
    EXPECT_EQ(last_xff(*upstream_), "127.0.0.2");
  }
  EXPECT_EQ(proxy_->wait_for_count("\"client\":\"127.0.0.2:", 4, soon()), 4u);
  EXPECT_EQ(upstream_->raw_received().find("PROXY"), std::string::npos);
  for (const char* reason : {"missing", "malformed", "truncated", "timeout", "version"})
    EXPECT_EQ(errors(reason), 0) << reason;
}

TEST_F(ProxyProtocolTest, BehindHaproxySendProxyV2ToATlsListener) {
  if (!Haproxy::available()) GTEST_SKIP() << "no /usr/sbin/haproxy";
  Pki pki;
  start("proxy_protocol: v2\n" + tls_section({pki.server}));
  const auto [p1, p2] = two_ports();
  Haproxy h(haproxy_config(p1, p2, port(), "ssl verify none"));
  ASSERT_TRUE(h.wait_ready(p2)) << h.log();
  for (int round = 0; round < 2; ++round) {
    EXPECT_NE(through(p2, "/tls").find(" 200 "), std::string::npos) << h.log();
    EXPECT_EQ(last_xff(*upstream_), "127.0.0.2");
    EXPECT_EQ(last_xff(*upstream_, "x-forwarded-proto"), "https");
  }
  EXPECT_GE(wait_metric(proxy_->stats_port(), kHandshakes, {{"side", "downstream"}}, 2), 2);
  // The v1 backend sends a v1 header: refused as "version", no TLS attempted.
  EXPECT_EQ(through(p1, "/tls-v1").find("HTTP/1.1"), std::string::npos);
  EXPECT_EQ(wait_metric(proxy_->stats_port(), kErrors, {{"reason", "version"}}, 1), 1);
  EXPECT_EQ(upstream_->requests(), 2u);
}

}  // namespace
}  // namespace sidemeter::testing
