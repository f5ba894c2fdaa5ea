#pragma once
// Shared by the TLS suites: a PKI made at test time, a proxy started with a `tls:`
// section (2 workers), readers for /metrics, and the openssl/curl command lines.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_message.h"
#include "tests/support/raw_client.h"
#include "tests/support/run_command.h"
#include "tests/support/sidemeter_process.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_upstream.h"
#include "tests/support/tls_client.h"

namespace sidemeter::testing {

inline Deadline soon() { return deadline_in(std::chrono::seconds(10)); }

// ------------------------------------------------------------------ /metrics

inline std::string fetch_metrics(uint16_t stats_port) {
  RawClient c(stats_port);
  HttpMessage m;
  if (!c.exchange(simple_get("/metrics"), m).ok() || m.status != 200) return {};
  return m.body;
}

using Labels = std::map<std::string, std::string>;

// Sum of the samples of `name` whose labels include every pair of `want`. nullopt if no
// sample matched (a family that is absent is not a zero).
inline std::optional<double> metric_sum(const std::string& text, std::string_view name,
                                        const Labels& want = {}) {
  std::optional<double> sum;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    if (line.substr(0, name.size()) != name) continue;
    std::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;
    Labels got;
    if (rest[0] == '{') {
      size_t close = rest.find("} ");
      if (close == std::string_view::npos) continue;
      std::string_view body = rest.substr(1, close - 1);
      rest = rest.substr(close + 1);
      while (!body.empty()) {
        size_t eq = body.find("=\"");
        size_t end = body.find('"', eq + 2);
        if (eq == std::string_view::npos || end == std::string_view::npos) break;
        got[std::string(body.substr(0, eq))] = std::string(body.substr(eq + 2, end - eq - 2));
        body = body.substr(end + 1);
        if (!body.empty() && body[0] == ',') body.remove_prefix(1);
      }
    }
    bool match = true;
    for (const auto& [k, v] : want) {
      auto it = got.find(k);
      if (it == got.end() || it->second != v) match = false;
    }
    if (!match) continue;
    sum = sum.value_or(0) + std::strtod(std::string(rest).c_str(), nullptr);
  }
  return sum;
}

inline double metric_now(uint16_t stats_port, std::string_view name, const Labels& want = {}) {
  return metric_sum(fetch_metrics(stats_port), name, want).value_or(-1);
}

// Aggregates move once a second (the stats thread merges the workers' shards), so a
// counter is polled until it reaches `at_least` or the deadline passes. Returns the
// last value read (-1: the sample never appeared).
inline double wait_metric(uint16_t stats_port, std::string_view name, const Labels& want,
                          double at_least,
                          Deadline deadline = deadline_in(std::chrono::seconds(15))) {
  double v = -1;
  for (;;) {
    v = metric_now(stats_port, name, want);
    if (v >= at_least || Clock::now() >= deadline) return v;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

inline constexpr std::string_view kHandshakes = "sidemeter_tls_handshakes_total";
inline constexpr std::string_view kFailures = "sidemeter_tls_handshake_failures_total";
inline constexpr std::string_view kUpstreamErrors = "sidemeter_upstream_errors_total";

// ------------------------------------------------------------------ the proxy

struct Pki {
  TempDir dir;
  TestCa ca{"sidemeter test root"};
  TestCa other_ca{"some other root"};
  std::string ca_file;
  std::string other_ca_file;
  PemFiles server;  // localhost, 127.0.0.1
  Pki() {
    ca_file = ca.write_certificate(dir.file("ca.pem"));
    other_ca_file = other_ca.write_certificate(dir.file("other-ca.pem"));
    CertOptions o;
    o.common_name = "localhost";
    o.dns = {"localhost"};
    o.ips = {"127.0.0.1"};
    server = ca.issue(o, dir.path(), "server");
  }
  PemFiles client(const std::string& stem, const TestCa& by, int64_t from_s = -3600,
                  int64_t until_s = 86400) {
    CertOptions o;
    o.common_name = stem;
    o.client = true;
    o.valid_from_s = from_s;
    o.valid_until_s = until_s;
    return by.issue(o, dir.path(), stem);
  }
};

inline std::string cert_entry(const PemFiles& f) {
  return "    - certificate_file: " + f.certificate_file +
         "\n      private_key_file: " + f.private_key_file + "\n";
}

// The `tls:` section for `certs` plus extra indented lines ("  client_certificate: x\n").
inline std::string tls_section(const std::vector<PemFiles>& certs, std::string_view extra = "") {
  std::string y = "tls:\n  certificates:\n";
  for (const PemFiles& f : certs) y += cert_entry(f);
  y += extra;
  return y;
}

constexpr int kWorkers = 2;

inline std::unique_ptr<SidemeterProcess> start_sidemeter(const std::string& upstream,
                                                         const std::string& extra) {
  auto p = std::make_unique<SidemeterProcess>(std::vector<std::string>{},
                                              make_config(upstream, extra, kWorkers));
  EXPECT_TRUE(p->started()) << p->error();
  EXPECT_TRUE(p->wait_listening()) << "no listening line\n" << p->log_text();
  return p;
}

// ------------------------------------------------------------------ command-line clients

inline std::string close_request(std::string_view target = "/") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

// `openssl s_client` to the port; `input` goes over TLS once the handshake is done, and
// the tool waits (-ign_eof) for the server to close.
inline CommandResult s_client(uint16_t port, std::vector<std::string> extra,
                              std::string_view input = "") {
  std::vector<std::string> argv = {"openssl", "s_client", "-connect",
                                   "127.0.0.1:" + std::to_string(port), "-ign_eof"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_command(argv, input, std::chrono::seconds(20));
}

// The "subject=..." line s_client prints for the served certificate.
inline std::string served_subject(const CommandResult& r) {
  const size_t at = r.out.find("\nsubject=");
  if (at == std::string::npos) return "";
  const size_t end = r.out.find('\n', at + 1);
  return r.out.substr(at + 1, end - at - 1);
}

inline bool tools_available() {
  static const bool ok = have_tool({"openssl", "version"}) && have_tool({"curl", "--version"});
  return ok;
}

}  // namespace sidemeter::testing
